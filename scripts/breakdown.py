#!/usr/bin/env python3
"""Per-branch and per-popularity-group tables from a results store (mean ± sample std over seeds), for the boards
of one dataset under its main protocols (not [[also_evaluate]] variants). Until `mmsr report` shows these
breakdowns itself, this is how docs/multimodal.md's tables are made.

    scripts/breakdown.py build/studies/multimodal.sqlite Scientific [--metric ndcg --k 10]
"""
import argparse
import json
import sqlite3
import statistics
from collections import OrderedDict, defaultdict


def cell(values):
    if not values:
        return ""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("dataset")
    ap.add_argument("--metric", default="ndcg")
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()
    db = sqlite3.connect(a.store)
    runs = db.execute(
        """SELECT r.id, r.model_name, r.grid_label, r.config_key, r.protocol FROM runs r
           JOIN datasets d ON d.checksum = r.dataset_checksum
           WHERE r.status = 'finished' AND d.name = ? ORDER BY r.id""", (a.dataset,)).fetchall()
    rows = OrderedDict()
    for rid, model, label, key, protocol in runs:
        if "selected_under" in json.loads(protocol):
            continue
        name = model + (f" ({label})" if label else "")
        rows.setdefault((name, key), []).append(rid)

    branches = defaultdict(lambda: defaultdict(list))
    groups = defaultdict(lambda: defaultdict(list))
    users = {}
    for (name, key), ids in rows.items():
        for rid in ids:
            for branch, value in db.execute(
                    "SELECT branch, value FROM metrics WHERE run_id = ? AND split = 'test' AND name = ? AND k = ?",
                    (rid, a.metric, a.k)):
                branches[(name, key)][branch].append(value)
            for grp, value, n in db.execute(
                    """SELECT grp, value, users FROM popularity_metrics WHERE run_id = ? AND split = 'test'
                       AND branch = 'fused' AND name = ? AND k = ?""", (rid, a.metric, a.k)):
                groups[(name, key)][grp].append(value)
                users[grp] = n
    label = f"{a.metric.upper() if a.metric != 'ndcg' else 'NDCG'}@{a.k}"
    all_branches = []
    for r in rows:
        for b in branches[r]:
            if b not in all_branches:
                all_branches.append(b)
    order = ["fused"] + [b for b in all_branches if b != "fused"]
    print(f"\nTest {label} by branch (fused = the model's score)\n")
    print("| model | seeds | " + " | ".join(order) + " |")
    print("|---|---|" + "---|" * len(order))
    for r, ids in rows.items():
        print(f"| {r[0]} | {len(ids)} | " + " | ".join(cell(branches[r].get(b, [])) for b in order) + " |")
    if users:
        gs = sorted(users)
        print(f"\nTest {label} by popularity group of the target (0 = never seen in training; users per group: "
              + ", ".join(f"{g}: {users[g]}" for g in gs) + ")\n")
        print("| model | " + " | ".join(f"group {g}" for g in gs) + " |")
        print("|---|" + "---|" * len(gs))
        for r in rows:
            print(f"| {r[0]} | " + " | ".join(cell(groups[r].get(g, [])) for g in gs) + " |")


if __name__ == "__main__":
    main()
