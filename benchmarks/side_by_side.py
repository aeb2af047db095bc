#!/usr/bin/env python3
"""mmsr and RecBole side by side: the same models, data, samples and hyper-parameters, trained for a few epochs by
each tool in one sitting, reported as ratios (docs/performance.md).

For each model (SASRec, GRU4Rec, NextItNet), on an S3-Rec file (one user per line): RecBole 1.2.1 through
benchmarks/recbole_peer.py, then mmsr through a generated experiment file with the same settings: prefix-augmented
training samples (RecBole's only kind), the full softmax cross-entropy, Adam, the same batch size and epochs,
leave-one-out full ranking with the history masked, validation after every epoch. Both use the same number of CPU
threads. Reported per tool: seconds per training epoch, seconds per validation (full ranking of every user), seconds
from the command's start to the first training step, peak resident memory, and test HR@10 / NDCG@10 after the last
epoch's selection.

  benchmarks/side_by_side.py --data ../shared/data/s3rec/Beauty.txt --epochs 2 --threads 2 \\
      --mmsr build/bin/mmsr --out results/side-by-side-beauty.json

The two tools run one after the other, never at once; on a shared machine run the whole script twice and compare.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MMSR_MODELS = {  # the settings recbole_peer.py gives RecBole, as mmsr plugin parameters
    "SASRec": '''tower = { plugin = "id", dim = 64 }
backbone = { plugin = "sasrec", layers = 2, heads = 2, activation = "gelu", dropout = 0.5, attn_dropout = 0.5, norm = "post", layer_norm_eps = 1e-12, ff_dropout = false }''',
    "GRU4Rec": '''tower = { plugin = "id", dim = 64, init = "xavier" }
backbone = { plugin = "gru4rec", dropout = 0.3 }''',
    "NextItNet": '''tower = { plugin = "id", dim = 64 }
backbone = { plugin = "nextitnet", dilations = [1, 4], repeats = 2 }''',
}


def run_recbole(args, model):
    cmd = [sys.executable, os.path.join(HERE, "recbole_peer.py"), "--data", args.data, "--model", model,
           "--seeds", "1", "--epochs", str(args.epochs), "--patience", str(args.epochs + 1),
           "--batch-size", str(args.batch_size), "--threads", str(args.threads)] + (["--as-shipped"] if args.as_shipped else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_mmsr(args, model, work, fast):
    # RecBole's protocol: its full ranking of a sequential model keeps the user's earlier items among the candidates
    # (no history removal), so mmsr's does too here.
    # fast: mmsr's own speed options, which change the random stream or the batch composition but not the model or
    # the loss (counter-based dropout masks; batches of similar lengths, so less padding is computed).
    # Both ways said outright: the plain run is mmsr with the speed options off (they are the defaults now).
    extra = "fast_dropout = {0}\nlength_buckets = {0}\n".format("true" if fast else "false")
    tag = f"{model}-{'fast' if fast else 'plain'}"
    toml = os.path.join(work, f"{tag}.toml")
    with open(toml, "w") as f:
        f.write(f'''[experiment]
name = "side-by-side"
seeds = [1]

[data]
format = "s3rec"
path = "{os.path.abspath(args.data)}"

[protocol]
max_len = 50
train_samples = "prefix"
mask_history = false
metrics = ["hr", "ndcg"]
ks = [10]
select = "ndcg@10"

[train]
optimizer = "adam"
lr = 0.001
batch_size = {args.batch_size}
epochs = {args.epochs}
patience = 0
threads = {args.threads}
{extra}
[[model]]
name = "{model}"
{MMSR_MODELS[model]}
loss = "softmax"
''')
    store = os.path.join(work, f"{tag}.sqlite")
    start = time.perf_counter()
    subprocess.run([args.mmsr, "run", toml, "--store", store, "-q", "--no-report"], check=True)
    wall = time.perf_counter() - start
    db = sqlite3.connect(store)
    run_id, = db.execute("SELECT id FROM runs WHERE status = 'finished'").fetchone()
    timings = {phase: (seconds, peak) for phase, seconds, peak in
               db.execute("SELECT phase, seconds, peak_rss_mb FROM timings WHERE run_id = ?", (run_id,))}
    epochs = db.execute("SELECT COUNT(*) FROM epochs WHERE run_id = ?", (run_id,)).fetchone()[0]
    metric = dict(db.execute("SELECT name, value FROM metrics WHERE run_id = ? AND split = 'test' AND branch = 'fused'"
                             " AND k = 10", (run_id,)).fetchall())
    return {
        "tool": "mmsr (fast options)" if fast else "mmsr", "model": model, "hr@10": metric["hr"], "ndcg@10": metric["ndcg"], "epochs": epochs,
        "seconds_per_epoch": timings["train"][0] / epochs, "seconds_per_eval": timings["valid_eval"][0] / epochs,
        "seconds_to_first_epoch": timings["to_first_step"][0] if "to_first_step" in timings else None,
        "peak_rss_mb": max(peak for _, peak in timings.values()), "wall_seconds": wall,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", nargs="+", default=["SASRec", "GRU4Rec", "NextItNet"], choices=list(MMSR_MODELS))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mmsr", default=os.path.join(ROOT, "build", "bin", "mmsr"))
    ap.add_argument("--as-shipped", action="store_true",
                    help="RecBole with the anomaly detection its import switches on (recbole_peer.py --as-shipped)")
    ap.add_argument("--out", help="also write the rows as JSON here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmsr-side-by-side-") as work:
        for model in args.models:
            peer = run_recbole(args, model)
            ours = run_mmsr(args, model, work, False)
            fast = run_mmsr(args, model, work, True)
            rows.append({"model": model, "recbole": peer, "mmsr": ours, "mmsr_fast": fast})
            print(f"{model}: done", file=sys.stderr, flush=True)
    print(f"\n{os.path.basename(args.data)}, {args.epochs} epochs, batch {args.batch_size}, {args.threads} threads "
          "(RecBole / mmsr = how many times faster or smaller mmsr is)\n")
    print("| model | tool | s / epoch | s / validation | s to first step | peak MB | HR@10 | NDCG@10 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        for tool in ("recbole", "mmsr", "mmsr_fast"):
            x = r[tool]
            first = x["seconds_to_first_epoch"]
            print(f"| {r['model']} | {x['tool']} | {x['seconds_per_epoch']:.1f} | {x['seconds_per_eval']:.2f} | "
                  f"{first if first is None else round(first, 2)} | {x['peak_rss_mb']:.0f} | {x['hr@10']:.4f} | "
                  f"{x['ndcg@10']:.4f} |")
        p = r["recbole"]
        for tool in ("mmsr", "mmsr_fast"):
            m = r[tool]
            ratio = lambda k: p[k] / m[k] if p[k] and m[k] else float("nan")
            print(f"| {r['model']} | RecBole / {m['tool']} | **{ratio('seconds_per_epoch'):.2f}x** | "
                  f"**{ratio('seconds_per_eval'):.2f}x** | {ratio('seconds_to_first_epoch'):.2f}x | "
                  f"{ratio('peak_rss_mb'):.2f}x | | |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
