#!/usr/bin/env python3
"""An independent check of mmsr's evaluation protocol on the S3-Rec files, written from the protocol's
definition with numpy only: PopRec (rank by item frequency) under leave-one-out, full ranking, the user's history
removed from the candidates, count-based ranks. Compared with the S3-Rec paper's PopRec row
(../shared/data/README.md) it checks the split and the masking with no model in the way.

Popularity is counted two ways: over the training split only (mmsr's convention: no validation item is
training data), and over each user's whole test input (training + validation items), which is what the
S3-Rec numbers turn out to use (see docs/sasrec-beauty.md).

    .venv/bin/python scripts/checks/poprec_s3rec.py ../shared/data/s3rec/LastFM.txt
"""
import sys

import numpy as np


def evaluate(seqs, n_items, counts, k, tie):
    hr = ndcg = 0.0
    for s in seqs:
        history, target = s[:-1], s[-1]
        cand = np.ones(n_items + 1, dtype=bool)
        cand[0] = False
        cand[history] = False
        cand[target] = True
        t = counts[target]
        higher = np.count_nonzero((counts > t) & cand)
        ties = np.count_nonzero((counts == t) & cand) - 1
        rank = 1 + higher + tie * ties
        if rank <= k:
            hr += 1
            ndcg += 1 / np.log2(rank + 1)
    return hr / len(seqs), ndcg / len(seqs)


def main(path: str, k: int = 10) -> None:
    seqs = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                seqs.append([int(x) for x in parts[1:]])
    seqs = [s for s in seqs if len(s) >= 3]
    n_items = max(max(s) for s in seqs)
    for name, cut in (("training split", 2), ("test input (train + valid)", 1)):
        counts = np.zeros(n_items + 1)
        for s in seqs:
            for i in s[: len(s) - cut]:
                counts[i] += 1
        for tie_name, tie in (("expected", 0.5), ("optimistic", 0.0)):
            hr, ndcg = evaluate(seqs, n_items, counts, k, tie)
            print(f"test, popularity over {name}, ties {tie_name}: HR@{k} {hr:.4f}, NDCG@{k} {ndcg:.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
