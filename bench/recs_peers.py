"""Peers for the recommendation benchmark, trained on fineline's own split.

Usage: python bench/recs_peers.py DIR
Reads DIR/train.tsv and DIR/test.tsv (user<TAB>item, written by recs_bench),
trains implicit's ALS (64 factors, 15 iterations) and item-item cosine (K=50),
and writes DIR/peers.tsv (model, train seconds, implicit's precision@10 and
ndcg@10 from ranking_metrics_at_k) and DIR/lists_<n>.tsv (each test user's
top-10 with training items filtered) so fineline's evaluator can score the
very same lists.
"""

import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from implicit.als import AlternatingLeastSquares  # noqa: E402
from implicit.evaluation import ranking_metrics_at_k  # noqa: E402
from implicit.nearest_neighbours import CosineRecommender  # noqa: E402

K = 10


def read(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def main(d):
    train, test = read(os.path.join(d, "train.tsv")), read(os.path.join(d, "test.tsv"))
    users = sorted({u for u, _ in train + test})
    items = sorted({i for _, i in train + test})
    uix = {u: n for n, u in enumerate(users)}
    iix = {i: n for n, i in enumerate(items)}

    def matrix(rows):
        r = np.array([uix[u] for u, _ in rows])
        c = np.array([iix[i] for _, i in rows])
        m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (r, c)), shape=(len(users), len(items)))
        m.data[:] = 1.0  # duplicates count once, as in fineline's baskets
        return m

    train_m, test_m = matrix(train), matrix(test)
    test_users = np.unique(test_m.nonzero()[0])
    peers = [
        ("implicit ALS f=64 it=15", lambda: AlternatingLeastSquares(factors=64, iterations=15, random_state=42)),
        ("implicit item-item cosine K=50", lambda: CosineRecommender(K=50)),
    ]
    out = []
    for n, (name, make) in enumerate(peers):
        model = make()
        started = time.perf_counter()
        model.fit(train_m, show_progress=False)
        seconds = time.perf_counter() - started
        metrics = ranking_metrics_at_k(model, train_m, test_m, K=K, show_progress=False)
        ids, _ = model.recommend(test_users, train_m[test_users], N=K, filter_already_liked_items=True)
        with open(os.path.join(d, f"lists_{n}.tsv"), "w") as f:
            for u, row in zip(test_users, ids):
                f.write(users[u] + "\t" + ",".join(items[j] for j in row if j >= 0) + "\n")
        out.append(f"{name}\t{seconds:.6f}\t{metrics['precision']:.9f}\t{metrics['ndcg']:.9f}\n")
        print(f"{name}: {seconds:.3f}s precision {metrics['precision']:.4f} ndcg {metrics['ndcg']:.4f}", file=sys.stderr)
    with open(os.path.join(d, "peers.tsv"), "w") as f:
        f.writelines(out)


if __name__ == "__main__":
    main(sys.argv[1])
