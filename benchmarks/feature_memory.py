#!/usr/bin/env python3
"""Peak memory of a training run against the size of its memory-mapped token feature files.

The same run (ODMT, one epoch on a synthetic catalogue, validation and test evaluation included, which read every
item's tokens) with token-level text and image features ([rows, tokens, dim] float32 .npy, ODMT's shape) in files
holding `factor` times more rows than the catalogue has items, as when features were extracted for a whole
catalogue and the dataset was filtered afterwards; the dataset's items are spread over the whole file (item i at
row (i - 1) * factor), so a run touches pages from end to end. Prints each run's peak memory (VmHWM, from the
store) next to the files' size. --mmsr takes several builds to compare them. Needs numpy (the .venv has it) and
a few GB of disk.

  .venv/bin/python benchmarks/feature_memory.py --factors 1 4 --mmsr build/bin/mmsr
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys

import numpy as np


def write_features(path, items, tokens, dim, seed):
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(items, tokens, dim))
    for start in range(0, items, 256):
        end = min(items, start + 256)
        out[start:end] = rng.standard_normal((end - start, tokens, dim), dtype=np.float32)
    out.flush()
    del out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--factors", type=int, nargs="+", default=[1, 4], help="rows of the files per item")
    p.add_argument("--tokens", type=int, default=50)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--work", default="/tmp/mmsr-feature-memory")
    p.add_argument("--mmsr", nargs="+", default=["build/bin/mmsr"])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = []
    items = args.items
    for factor in args.factors:
        d = os.path.join(args.work, f"items{items}-x{factor}")
        os.makedirs(d, exist_ok=True)
        for name, seed in (("text", 1), ("image", 2)):
            f = os.path.join(d, f"{name}.npy")
            if not os.path.exists(f):
                write_features(f, items * factor, args.tokens, args.dim, seed)
        with open(os.path.join(d, "ids.tsv"), "w") as out:
            for i in range(1, items + 1):
                out.write(f"i{i}\t{(i - 1) * factor}\n")
        toml = f"""
[experiment]
name = "feature memory"
seeds = [1]
[data]
format = "synthetic"
[data.synthetic]
users = {args.users}
items = {items}
clusters = 20
max_length = 30
[[modality]]
name = "text_tokens"
path = "text.npy"
id_map = "ids.tsv"
[[modality]]
name = "image_tokens"
path = "image.npy"
id_map = "ids.tsv"
[protocol]
max_len = 20
[train]
epochs = 1
batch_size = 128
threads = {args.threads}
[[model]]
name = "ODMT"
tower = {{ plugin = "imt", dim = 64, text = "text_tokens", image = "image_tokens" }}
backbone = {{ plugin = "sasrec" }}
loss = ["inbatch", {{ plugin = "distill", temperature = 0.5, alpha = 10 }}]
"""
        grid = os.path.join(d, "grid.toml")
        with open(grid, "w") as out:
            out.write(toml)
        for binary in args.mmsr:
            store = os.path.join(d, "run.sqlite")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(store + suffix):
                    os.remove(store + suffix)
            subprocess.run([binary, "run", grid, "--store", store, "-q", "--no-report", "--no-checkpoints"],
                           check=True)
            db = sqlite3.connect(store)
            peak = db.execute("SELECT MAX(peak_rss_mb) FROM timings").fetchone()[0]
            train = db.execute("SELECT seconds FROM timings WHERE phase = 'train'").fetchone()[0]
            db.close()
            file_mb = sum(os.path.getsize(os.path.join(d, f"{n}.npy")) for n in ("text", "image")) / 2**20
            rows.append({"mmsr": binary, "rows_per_item": factor, "feature_files_mb": round(file_mb),
                         "peak_memory_mb": round(peak), "train_seconds": round(train, 1)})
            print(json.dumps(rows[-1]), flush=True)
    for binary in args.mmsr:
        mine = [r for r in rows if r["mmsr"] == binary]
        if len(mine) >= 2:
            a, b = mine[0], mine[-1]
            print(f"{binary}: files {a['feature_files_mb']} -> {b['feature_files_mb']} MB, peak memory "
                  f"{a['peak_memory_mb']} -> {b['peak_memory_mb']} MB", flush=True)


if __name__ == "__main__":
    sys.exit(main())
