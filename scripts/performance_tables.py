"""The generated blocks of docs/performance.md, from results/performance/ (study_results.py tables performance).

- benchmarks.json: one run of the Google Benchmark suite's evaluation and loss benchmarks
  (`mmsr_bench --benchmark_out=... --benchmark_out_format=json`), in which the machine's sgemm peak is measured too,
  so that every ratio comes from one run.
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


def imt_step(folder):
    path = os.path.join(folder, "imt-step-before-after.json")
    if not os.path.exists(path):
        return "not run yet (benchmarks/imt_step_before_after.sh)"
    r = json.load(open(path))
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
                f"{r['context'].get('num_cpus', '?')} cores; the issue's 18.6 s (a cold first step, timed without "
                f"the allocator settings) is {18600 / b['after']['median_ms']:.1f}x the median now.")
    return "\n".join(rows)


def quickstart(folder):
    path = os.path.join(folder, "quickstart.json")
    if not os.path.exists(path):
        return "not run yet (scripts/time_quickstart.sh)"
    r = json.load(open(path))
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
        "performance_imt_step": imt_step(folder),
        "performance_quickstart": quickstart(folder),
        "performance_ranking": ranking_table(bench),
        "performance_ranking_before": before_after(bench),
        "performance_million_items": million_items(folder),
    }
