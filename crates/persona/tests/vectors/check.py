#!/usr/bin/env python3
"""Recomputes persona-v1.json's vectors (pseudonyms, odds, draws,
randomized response, topics, the model digest, on-device recommendations
and one disclosure per level) with Python's standard library only:
a second, independent client of the same rules (the browser client will be
the third). Exits non-zero on the first mismatch.

    python3 crates/persona/tests/vectors/check.py
"""
import hashlib, hmac, json, os, struct, sys

d = json.load(open(os.path.join(os.path.dirname(__file__), "persona-v1.json")))
LABEL = b"fineline/persona/v1/business\0"
ONE = 1 << 20


def check(what, got, want):
    if got != want:
        sys.exit(f"MISMATCH {what}: got {got!r}, file has {want!r}")


def coins(seed, n):
    return bytes((i * 73 + seed * 151 + 11) % 256 for i in range(n))


class Coins:
    def __init__(self, b):
        self.b, self.at = b, 0

    def below(self, n):
        rem = (2**64) % n
        while True:
            if self.at + 8 > len(self.b):
                raise ValueError("out of coins")
            r = int.from_bytes(self.b[self.at:self.at + 8], "big")
            self.at += 8
            if r < 2**64 - rem:
                return r % n


def odds_q20(eps):
    term = s = 1 << 64
    n = 1
    while term:
        term = term * eps // (1_000_000 * n)
        s += term
        n += 1
    return s >> 44


def rr(k, eps, truth, c):
    odds = odds_q20(eps)
    r = c.below(odds + (k - 1) * ONE)
    if r < odds:
        return truth
    other = (r - odds) // ONE
    return other + 1 if other >= truth else other


for v in d["pseudonyms"]:
    mac = hmac.new(bytes.fromhex(v["secret"]), LABEL + v["business"].encode(), hashlib.sha256)
    check("pseudonym", mac.hexdigest(), v["id"])
for v in d["odds_q20"]:
    check("odds", odds_q20(v["epsilon_micro"]), v["odds_q20"])
for v in d["draws"]:
    check("draw", Coins(bytes.fromhex(v["coins"])).below(v["n"]), v["value"])
for v in d["randomized_response"]:
    got = rr(v["categories"], v["epsilon_micro"], v["truth"], Coins(bytes.fromhex(v["coins"])))
    check("randomized response", got, v["report"])
for v in d["topics"]:
    c, tax, picked = Coins(bytes.fromhex(v["coins"])), v["taxonomy"], set()
    for t in v["approved"]:
        picked.add(c.below(len(tax)) if c.below(100) < 5 else tax.index(t))
    check("topics", [tax[i] for i in sorted(picked)], v["topics"])

m = d["model"]
def text(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b
out = b"fineline-public-model/v2\n" + struct.pack(">QII", m["version"], m["min_support"], len(m["items"]))
for it in m["items"]:
    out += text(it["id"]) + struct.pack(">I", len(it["categories"]))
    out += b"".join(text(c) for c in it["categories"])
    out += struct.pack(">II", it["popularity"], len(it["neighbours"]))
    out += b"".join(struct.pack(">Ii", j, s) for j, s in it["neighbours"])
check("model digest", hashlib.sha256(out).hexdigest(), m["digest"])

items = m["items"]
index = {it["id"]: i for i, it in enumerate(items)}
for v in d["recommendations"]:
    held = sorted({index[h] for h in v["history"] if h in index})
    score, best = {}, {}
    for i in held:
        for j, s in items[i]["neighbours"]:
            score[j] = score.get(j, 0) + s
            if s > best.get(j, (0, None))[0]:
                best[j] = (s, i)
    ranked = sorted((j for j in score if score[j] > 0 and j not in held), key=lambda j: (-score[j], j))
    ranked = ranked[: v["n"]]
    recs = [{"item": items[j]["id"], "score": score[j], "because": items[best[j][1]]["id"]} for j in ranked]
    rest = sorted((j for j in range(len(items)) if items[j]["popularity"] > 0 and j not in held and j not in ranked),
                  key=lambda j: (-items[j]["popularity"], j))
    recs += [{"item": items[j]["id"], "score": 0, "because": None} for j in rest[: v["n"] - len(recs)]]
    check("recommendations", recs, v["recommendations"])

# One full disclosure per level, from the persona, terms, model and coins.
per = d["persona"]
terms, history = per["terms"], per["history"]
secret = bytes.fromhex(per["secret"])
pseudonym = hmac.new(secret, LABEL + terms["business"].encode(), hashlib.sha256).hexdigest()
tax = terms["taxonomy"]
distinct = list(dict.fromkeys(history))
for v in d["disclosures"]:
    c, level = Coins(bytes.fromhex(v["coins"])), v["level"]
    if level == 0:
        payload = {"kind": "nothing"}
    elif level == 1:
        counts = [0] * len(tax)
        for h in history:
            if h in index:
                for cat in items[index[h]]["categories"]:
                    if cat in tax:
                        counts[tax.index(cat)] += 1
        truth = len(tax)
        for t, n in enumerate(counts):
            if n > 0 and (truth == len(tax) or n > counts[truth]):
                truth = t
        answers = tax + ["(none)"]
        report = rr(len(answers), terms["report_epsilon_micro"], truth, c)
        payload = {"kind": "crowd", "category": answers[report], "epsilon_micro": terms["report_epsilon_micro"]}
    elif level == 2:
        picked = set()
        for t in per["approved"]:
            picked.add(c.below(len(tax)) if c.below(100) < 5 else tax.index(t))
        payload = {"kind": "interests", "pseudonym": pseudonym, "topics": [tax[i] for i in sorted(picked)]}
    elif level == 3:
        payload = {"kind": "history", "pseudonym": pseudonym, "items": distinct}
    else:
        payload = {"kind": "identified", "pseudonym": pseudonym, "items": distinct,
                   "identity": per["identity"]}
    check(f"disclosure at level {level}", payload, v["disclosure"]["payload"])

print("persona-v1.json: every vector reproduced")
