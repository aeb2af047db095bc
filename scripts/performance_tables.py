"""The generated blocks of docs/performance.md, from results/performance/ (study_results.py tables performance).

- benchmarks.json: one run of the Google Benchmark suite's evaluation and loss benchmarks
  (`mmsr_bench --benchmark_out=... --benchmark_out_format=json`), in which the machine's sgemm peak is measured too,
  so that every ratio comes from one run.
- suite.json: one run of the rest of the suite (dropout, the evaluation's old whole-matrix path, ODMT's step, feature
  gathering, batching, a SASRec training step).
- imt-step-before-after.json: ODMT's training step (ImtStep/dedupe) in the build before its speed-ups and in this
  one, alternated in one sitting (benchmarks/imt_step_before_after.sh).
- quickstart.json: the quick start's wall time on the machine alone (scripts/time_quickstart.sh).
- million-items/runs.csv: the export of examples/performance/million_items.toml's store (peak memory, seconds, test
  metrics of SASRec against 1,000,000 items).
"""
import csv
import json
import os


def benchmarks(folder):
    path = os.path.join(folder, "benchmarks.json")
    if not os.path.exists(path):
        return None
    runs = json.load(open(path))["benchmarks"]
    return {b["name"]: b for b in runs if b.get("run_type", "iteration") == "iteration"}


def ranking_table(bench):
    """Full ranking in item blocks: users per second, GFLOP/s and the share of the run's sgemm peak."""
    if bench is None:
        return "not run yet (scripts/reproduce.sh performance)"
    rows = ["| items | users a batch | items a block | users ranked / s | GFLOP/s | of the sgemm peak | "
            "rows recounted |", "|---|---|---|---|---|---|---|"]
    peak = None
    for name, b in bench.items():
        if not name.startswith("RankInBlocks/"):
            continue
        items = int(name.split("items:")[1].split("/")[0])
        peak = b["sgemm_peak_gflops"]
        chosen = name.endswith("users:0/block:0")
        rows.append(f"| {items:,} | {int(b['users_per_batch']):,}{' (default)' if chosen else ''} | "
                    f"{int(b['items_per_block']):,}{' (default)' if chosen else ''} | "
                    f"{b['items_per_second']:,.0f} | {b['gflops']:.1f} | {b['gflops'] / peak:.0%} | "
                    f"{int(b['recounted_rows'])} |")
    rows.append("")
    rows.append(f"The machine's sgemm peak in the same run (`SgemmPeak`, one thread, the best of 20 products of two "
                f"1,024-square matrices): {peak:.1f} GFLOP/s.")
    return "\n".join(rows)


def before_after(bench):
    """The evaluation before item blocks (one [users, items] matrix, torch's comparisons under a candidate mask)
    against the blocks, per user ranked, on a Beauty-sized catalogue."""
    if bench is None:
        return "not run yet (scripts/reproduce.sh performance)"
    whole = bench.get("FullRanking/users:256")
    blocks = next((b for n, b in bench.items() if n.startswith("RankInBlocks/items:12101/users:0")), None)
    if not whole or not blocks:
        return "not run yet (scripts/reproduce.sh performance)"
    a, b = whole["items_per_second"], blocks["items_per_second"]
    return (f"On a Beauty-sized catalogue (12,101 items), 256 users a batch: {a:,.0f} users ranked a second as one "
            f"score matrix with a candidate mask (`FullRanking/users:256`, the evaluation before item blocks), "
            f"{b:,.0f} in blocks (`RankInBlocks/items:12101`): **{b / a:.1f}x**, in the same run.")


def million_items(folder):
    path = os.path.join(folder, "million-items", "runs.csv")
    if not os.path.exists(path):
        return "not run yet (scripts/reproduce.sh performance)"
    values = {}
    for row in csv.DictReader(open(path)):
        if row["protocol"] == "main":
            values.setdefault(row["model"], {})[row["metric"]] = float(row["value"])
    rows = ["| model | training epoch, s | peak memory after training (validation included), MB | "
            "peak memory of the run (test included), MB | test NDCG@10 | test HR@10 |", "|---|---|---|---|---|---|"]
    for model, v in values.items():
        rows.append(f"| {model} | {v.get('train_seconds', float('nan')):,.0f} | {v.get('train_peak_mb', 0):,.0f} | "
                    f"{v.get('peak_mb', 0):,.0f} | {v.get('ndcg@10', float('nan')):.4f} | "
                    f"{v.get('hr@10', float('nan')):.4f} |")
    return "\n".join(rows)


SUITE_ROWS = [
    ("Dropout/torch", "Dropout/torch, [256, 50, 64]", "LibTorch's CPU dropout"),
    ("Dropout/fast", "Dropout/fast", "ratio:Dropout/torch:faster"),
    ("FullRanking/users:128", "FullRanking/users:128", "scores of a batch of users against 12,102 items as one "
     "matrix, history masked, count-based ranks (the evaluation before item blocks)"),
    ("FullRanking/users:256", "FullRanking/users:256", ""),
    ("FullRanking/users:512", "FullRanking/users:512", ""),
    ("FullRanking/users:1024", "FullRanking/users:1024", "per-user:FullRanking/users:256"),
    ("ImtStep/dedupe", "ImtStep/dedupe (2,159 distinct items)", "ODMT step, IMT over 30 text + 50 image tokens per "
     "item, B = 64, L = 50, Zipf catalogue of 12,101"),
    ("ImtStep/per_slot", "ImtStep/per_slot (6,400 slots)", "ratio:ImtStep/dedupe:slower than computing each "
     "distinct item once"),
    ("FeatureGather/rows:1024", "FeatureGather/rows:1024, [16, 128] tokens", "bandwidth"),
    ("Batching/all_position", "Batching/all_position, 256 users", "host-side batch construction"),
    ("TrainStep/sasrec/B:256", "TrainStep/sasrec/B:256, all positions", "the full softmax over 12,101 items at all "
     "12,800 positions"),
]


def format_ms(ms):
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.3g} ms"


def suite_table(folder):
    """The rest of the suite, one run: time per iteration and what each shows."""
    doc = load(folder, "suite.json")
    if doc is None:
        return "not run yet (scripts/reproduce.sh performance)"
    bench = {b["name"]: b for b in doc["benchmarks"] if b.get("run_type", "iteration") == "iteration"}
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
    ms = {n: b["real_time"] * scale[b["time_unit"]] for n, b in bench.items()}
    rows = ["| benchmark | time per iteration | what it shows |", "|---|---|---|"]
    for name, label, note in SUITE_ROWS:
        if name not in ms:
            continue
        if note.startswith("ratio:"):
            _, other, words = note.split(":", 2)
            ratio = ms[other] / ms[name] if "faster" in words else ms[name] / ms[other]
            note = f"**{ratio:.1f}x {words}**"
        elif note.startswith("per-user:"):
            other = note.split(":", 1)[1]
            per_user = ms[name] / 1024 / (ms[other] / 256)
            note = f"{per_user:.1f}x the time per user of 256 users a batch"
        elif note == "bandwidth":
            note = f"{bench[name]['bytes_per_second'] / 1e9:.1f} GB/s from a memory-mapped .npy"
        rows.append(f"| {label} | {format_ms(ms[name])} | {note} |")
    rows.append("")
    rows.append(f"One run on {doc['context'].get('num_cpus', '?')} cores, load average "
                f"{doc['context'].get('load_avg', [0])[0]:.2f} at its start.")
    return "\n".join(rows)


def load(folder, name):
    """A results file's JSON, or None when it has not been made."""
    path = os.path.join(folder, name)
    return json.load(open(path)) if os.path.exists(path) else None


def imt_step(folder):
    r = load(folder, "imt-step-before-after.json")
    if r is None:
        return "not run yet (benchmarks/imt_step_before_after.sh)"
    b = r["builds"]
    label = {"before": "before (commit 50c4e7f, warm step, mmsr's allocator settings)",
             "after": "now, default settings (fast dropout masks)",
             "after_torch_dropout": "now, LibTorch's dropout"}
    rows = ["| build | median, ms | every step timed, ms | speed-up |", "|---|---|---|---|"]
    for name in ("before", "after", "after_torch_dropout"):
        steps = ", ".join(f"{t:,.0f}" for t in b[name]["per_round_ms"])
        ratio = b["before"]["median_ms"] / b[name]["median_ms"]
        rows.append(f"| {label[name]} | {b[name]['median_ms']:,.0f} | {steps} | {ratio:.2f}x |")
    rows.append("")
    rows.append(f"{r['rounds']} rounds, each timing the three in turn (two steps each, after an untimed one) on "
                f"{r['context'].get('num_cpus', '?')} cores; the 18.6 s the suite's first runs reported (a cold first "
                f"step, timed without the allocator settings) is {18600 / b['after']['median_ms']:.1f}x the median now.")
    return "\n".join(rows)


def quickstart(folder):
    r = load(folder, "quickstart.json")
    if r is None:
        return "not run yet (scripts/time_quickstart.sh)"
    per_model = {}
    for run in r["run_seconds"]:
        per_model[run["model"]] = per_model.get(run["model"], 0) + run["seconds"]
    slowest = sorted(per_model.items(), key=lambda kv: -kv[1])[:3]
    parts = ", ".join(f"{m} {t:.0f} s" for m, t in slowest)
    return (f"{r['runs']} runs in **{r['wall_seconds']:.0f} s ({r['wall_seconds'] / 60:.1f} minutes)**, "
            f"{r['jobs']} at a time on {r['cores']} cores (load average {r['load_average_before']:.2f} before it "
            f"started; commit {r['commit']}). The runs' own seconds, summed per model, largest first: {parts}.")


def performance_blocks(results_class, folder):
    bench = benchmarks(folder)
    return {
        "performance_suite": suite_table(folder),
        "performance_imt_step": imt_step(folder),
        "performance_quickstart": quickstart(folder),
        "performance_ranking": ranking_table(bench),
        "performance_ranking_before": before_after(bench),
        "performance_million_items": million_items(folder),
    }
