#!/usr/bin/env python3
"""Peers for fineline's DP insights benchmark: OpenDP (Python) and PipelineDP (local backend).

Runs the same grouped count and sum (category x region, public partitions, Laplace noise,
same epsilon, same bounds: max 4 groups per person, max 10 rows per group, values clamped
to [0, 100]) on the rows written by

    cargo run --release -p fineline-insights --example insights_bench -- --data bench/data/insights

and prints error (MAE against the clamped raw truth, and against the Laplace floor
1/sinh(eps/sensitivity)) and time, with ratios to fineline's figures (fineline.tsv).

Setup (ignored venv):
    python3 -m venv bench/.venv-insights
    bench/.venv-insights/bin/pip install opendp pipeline-dp numpy
    bench/.venv-insights/bin/python bench/insights_peers.py [--data DIR] [--pipelinedp-rows N]
"""

import argparse
import math
import os
import time

import numpy as np

MAX_GROUPS = 4
MAX_ROWS = 10
LOWER, UPPER = 0, 100


def load(data):
    subject = np.fromfile(os.path.join(data, "subject.u32"), dtype="<u4")
    category = np.fromfile(os.path.join(data, "category.u16"), dtype="<u2")
    region = np.fromfile(os.path.join(data, "region.u16"), dtype="<u2")
    value = np.fromfile(os.path.join(data, "value.i64"), dtype="<i8")
    regions = int(region.max()) + 1
    groups = (int(category.max()) + 1) * regions
    g = category.astype(np.int64) * regions + region.astype(np.int64)
    return subject.astype(np.int64), g, value, groups


def fineline_figures(data):
    out = {}
    with open(os.path.join(data, "fineline.tsv")) as f:
        next(f)
        for line in f:
            metric, secs, load_secs, mae, floor, mae_raw = line.rstrip("\n").split("\t")
            out[metric] = dict(secs=float(secs) + float(load_secs), mae=float(mae_raw),
                               mae_draws=float(mae), floor=float(floor))
    return out


def bound(subject, g, seed=7):
    """Per person: at most MAX_ROWS random rows per group, at most MAX_GROUPS random groups."""
    rng = np.random.default_rng(seed)
    n = len(subject)
    perm = rng.permutation(n)
    pair = subject[perm] * (1 << 20) + g[perm]
    order = np.argsort(pair, kind="stable")
    sp = pair[order]
    start = np.r_[0, np.flatnonzero(sp[1:] != sp[:-1]) + 1]
    run_len = np.diff(np.r_[start, n])
    rank = np.arange(n) - np.repeat(start, run_len)
    keep_rows = perm[order[rank < MAX_ROWS]]
    # groups per person
    pairs = sp[start]
    psub = pairs >> 20
    prio = rng.random(len(pairs))
    o2 = np.lexsort((prio, psub))
    ps = psub[o2]
    st2 = np.r_[0, np.flatnonzero(ps[1:] != ps[:-1]) + 1]
    rank2 = np.arange(len(ps)) - np.repeat(st2, np.diff(np.r_[st2, len(ps)]))
    kept_pairs = np.sort(pairs[o2[rank2 < MAX_GROUPS]])
    row_pairs = subject[keep_rows] * (1 << 20) + g[keep_rows]
    ok = np.isin(row_pairs, kept_pairs, assume_unique=False)
    return keep_rows[ok]


def truth(g, value, groups):
    count = np.bincount(g, minlength=groups)
    s = np.bincount(g, weights=np.clip(value, LOWER, UPPER), minlength=groups)
    return count.astype(np.int64), s.astype(np.int64)


def run_opendp(subject, g, value, groups, eps):
    import opendp.prelude as dp

    dp.enable_features("contrib")
    res = {}
    for metric, linf in (("count", MAX_ROWS), ("sum", MAX_ROWS * max(abs(LOWER), abs(UPPER)))):
        t = time.perf_counter()
        rows = bound(subject, g)
        bc, bs = truth(g[rows], value[rows], groups)
        sens = MAX_GROUPS * linf
        meas = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)),
                                 dp.l1_distance(T=int), scale=sens / eps)
        assert abs(meas.map(sens) - eps) < 1e-9
        noisy = np.array(meas((bc if metric == "count" else bs).tolist()))
        res[metric] = dict(secs=time.perf_counter() - t, noisy=noisy, floor=1 / math.sinh(eps / sens))
    return res


def run_pipelinedp(subject, g, value, groups, eps, n):
    import pipeline_dp

    rows = list(zip(subject[:n].tolist(), g[:n].tolist(), value[:n].tolist()))
    res = {}
    for metric, m in (("count", pipeline_dp.Metrics.COUNT), ("sum", pipeline_dp.Metrics.SUM)):
        t = time.perf_counter()
        acct = pipeline_dp.NaiveBudgetAccountant(total_epsilon=eps, total_delta=0)
        engine = pipeline_dp.DPEngine(acct, pipeline_dp.LocalBackend())
        params = pipeline_dp.AggregateParams(
            noise_kind=pipeline_dp.NoiseKind.LAPLACE, metrics=[m],
            max_partitions_contributed=MAX_GROUPS,
            max_contributions_per_partition=MAX_ROWS,
            min_value=LOWER, max_value=UPPER)
        ext = pipeline_dp.DataExtractors(privacy_id_extractor=lambda r: r[0],
                                         partition_extractor=lambda r: r[1],
                                         value_extractor=lambda r: r[2])
        out = engine.aggregate(rows, params, ext, public_partitions=list(range(groups)))
        acct.compute_budgets()
        noisy = np.zeros(groups)
        for part, v in out:
            noisy[part] = getattr(v, metric)
        res[metric] = dict(secs=time.perf_counter() - t, noisy=noisy)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="bench/data/insights")
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--pipelinedp-rows", type=int, default=0, help="0 = all rows")
    a = ap.parse_args()
    subject, g, value, groups = load(a.data)
    n = len(subject)
    ours = fineline_figures(a.data)
    rc, rs = truth(g, value, groups)
    print(f"rows={n} groups={groups} epsilon={a.epsilon} bounds: {MAX_GROUPS} groups x {MAX_ROWS} rows, values [{LOWER},{UPPER}]")

    od = run_opendp(subject, g, value, groups, a.epsilon)
    pn = a.pipelinedp_rows or n
    pd = run_pipelinedp(subject, g, value, groups, a.epsilon, pn)
    pc, ps = truth(g[:pn], value[:pn], groups)
    for metric in ("count", "sum"):
        raw = rc if metric == "count" else rs
        praw = pc if metric == "count" else ps
        f = ours[metric]
        o_mae = float(np.mean(np.abs(od[metric]["noisy"] - raw)))
        p_mae = float(np.mean(np.abs(pd[metric]["noisy"] - praw)))
        floor = od[metric]["floor"]
        p_secs = pd[metric]["secs"] * (n / pn)
        scaled = "" if pn == n else f" (measured on {pn} rows, scaled x{n / pn:.0f})"
        print(f"[{metric}] floor E|noise| = {floor:.2f}")
        print(f"  fineline    {f['secs']:8.3f}s  MAE {f['mae']:10.2f}  MAE/floor {f['mae'] / floor:.3f}"
              f"  (over 20 noise draws: {f['mae_draws'] / floor:.3f})")
        print(f"  opendp-py   {od[metric]['secs']:8.3f}s  MAE {o_mae:10.2f}  MAE/floor {o_mae / floor:.3f}"
              f"  | fineline error ratio {f['mae'] / o_mae:.3f}, speedup x{od[metric]['secs'] / f['secs']:.1f}")
        print(f"  pipelinedp  {p_secs:8.3f}s  MAE {p_mae:10.2f}  MAE/floor {p_mae / floor:.3f}"
              f"  | fineline error ratio {f['mae'] / p_mae:.3f}, speedup x{p_secs / f['secs']:.1f}{scaled}")


if __name__ == "__main__":
    main()
