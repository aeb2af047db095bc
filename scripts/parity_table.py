#!/usr/bin/env python3
"""The parity table of docs/parity.md from a results store: HR@10 and NDCG@10 per model (mean and sample
standard deviation over seeds), under the full-ranking protocol and its [[also_evaluate]] 99-negative variant,
next to the S3-Rec paper's numbers (../shared/data/README.md).

    scripts/parity_table.py results/parity-lastfm.sqlite LastFM
"""
import json
import sqlite3
import statistics
import sys

PUBLISHED = {  # (HR@10, NDCG@10) from ../shared/data/README.md: S3-Rec paper, Table 2
    ("Beauty", "full"): {"PopRec": (.0152, .0068), "GRU4Rec": (.0283, .0137), "SASRec": (.0605, .0318), "FDSA": (.0407, .0208)},
    ("LastFM", "full"): {"PopRec": (.0440, .0203), "GRU4Rec": (.0367, .0187), "SASRec": (.0688, .0390), "FDSA": (.0413, .0254)},
    ("Beauty", "sampled"): {"PopRec": (.3386, .1803), "GRU4Rec": (.4106, .2584), "SASRec": (.4696, .3156), "FDSA": (.5096, .3324)},
    ("LastFM", "sampled"): {"PopRec": (.3037, .1687), "GRU4Rec": (.2817, .1550), "SASRec": (.4706, .2755), "FDSA": (.4055, .2225)},
}


def main(store, dataset):
    db = sqlite3.connect(store)
    rows = db.execute(
        """SELECT r.model_name, r.grid_label, r.config_key, r.protocol, r.seed, m.name, m.value, r.best_epoch
           FROM runs r JOIN metrics m ON m.run_id = r.id JOIN datasets d ON d.checksum = r.dataset_checksum
           WHERE r.status = 'finished' AND d.name = ? AND m.split = 'test' AND m.branch = 'fused'
             AND m.k = 10 AND m.name IN ('hr', 'ndcg') ORDER BY r.id""", (dataset,)).fetchall()
    groups = {}
    order = []
    for model, label, key, protocol, seed, name, value, best in rows:
        kind = json.loads(protocol)["candidates"]
        g = groups.setdefault((kind, key), {"model": model, "label": label, "hr": {}, "ndcg": {}, "best": {}})
        if (kind, key) not in order:
            order.append((kind, key))
        g[name][seed] = value
        g["best"][seed] = best
    for kind in ("full", "sampled"):
        title = "full ranking" if kind == "full" else "99 negatives"
        print(f"\n{dataset}, {title}\n")
        print("| model | seeds | HR@10 | NDCG@10 | paper HR@10 / NDCG@10 | difference |")
        print("|---|---|---|---|---|---|")
        for k in [o for o in order if o[0] == kind]:
            g = groups[k]
            seeds = sorted(g["hr"])
            cells = []
            for name in ("hr", "ndcg"):
                values = [g[name][s] for s in seeds]
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                cells.append((statistics.mean(values), sd))
            paper = PUBLISHED.get((dataset, kind), {}).get(g["model"])
            label = g["model"] + (f" ({g['label']})" if g["label"] else "")
            if sum(1 for o in order if o[0] == kind and groups[o]["model"] == g["model"]
                   and groups[o]["label"] == g["label"]) > 1:
                label += f" [config {k[1][:6]}]"
            if paper:
                diff = f"{100 * (cells[0][0] / paper[0] - 1):+.0f}% / {100 * (cells[1][0] / paper[1] - 1):+.0f}%"
                ref = f".{round(paper[0] * 1e4):04d} / .{round(paper[1] * 1e4):04d}"
            else:
                diff, ref = "", "none published"
            fmt = lambda m: f"{m[0]:.4f} ± {m[1]:.4f}"
            print(f"| {label} | {len(seeds)} | {fmt(cells[0])} | {fmt(cells[1])} | {ref} | {diff} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
