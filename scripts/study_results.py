#!/usr/bin/env python3
"""A study's committed results and the doc tables made from them (docs/multimodal.md, ...).

    study_results.py export STORE OUT_DIR [--baseline LABEL] [--mmsr BIN]
        writes OUT_DIR/runs.csv (every finished run's test metrics per protocol, seed and branch, its selected epoch
        and its training time; "main" is the grid's protocol, an [[also_evaluate]] one is named by what differs),
        OUT_DIR/popularity.csv (per seed, branch and popularity group) and OUT_DIR/report.json (mmsr's JSON report,
        Holm-corrected Wilcoxon tests against the baseline, without the per-epoch curves)
    study_results.py tables STUDY [--check]     (STUDY: multimodal, kdsr, parity, protocol, data)
        rebuilds the generated blocks of docs/STUDY.md from results/STUDY/; with --check, changes nothing and exits 1
        when a block differs from what the committed results give (the doc-drift test)

A generated block sits between "<!-- generated: NAME -->" and "<!-- end: NAME -->" lines. Standard library only.
"""
import argparse
import csv
import json
import math
import os
import re
import sqlite3
import statistics
import subprocess
import sys

import parity_tables  # noqa: E402 (beside this script)
import performance_tables  # noqa: E402
import protocol_tables  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def label_of(model, grid):
    return f"{model} ({grid})" if grid else model


def protocol_names(db):
    """A short name per protocol hash: "main" for the grid's own protocol, and for an [[also_evaluate]] one what
    differs from the protocol its epoch was selected under (e.g. "candidates=sampled ties=optimistic")."""
    protocols = {h: json.loads(p) for h, p in db.execute("SELECT DISTINCT protocol_hash, protocol FROM runs")}
    names = {}
    for h, p in protocols.items():
        main = protocols.get(p.get("selected_under"))
        if main is None:
            names[h] = "main"
            continue
        ignored = {"selected_under", "negatives_file", "negatives_seed", "negatives"}
        diff = [f"{k}={json.dumps(v).strip(chr(34)).lower()}" for k, v in sorted(p.items())
                if k not in ignored and main.get(k) != v]
        names[h] = " ".join(diff) or "main"
    return names


def export(args):
    os.makedirs(args.out, exist_ok=True)
    db = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True)
    names = protocol_names(db)
    runs = db.execute("SELECT id, model_name, grid_label, seed, protocol_hash, best_epoch FROM runs WHERE status = "
                      "'finished' ORDER BY model_name, grid_label, protocol NOT LIKE '%selected_under%' DESC, "
                      "protocol_hash, seed").fetchall()
    # One label must be one configuration: a store that also holds an older configuration under the same name (a
    # study file changed since) would mix their seeds in one row.
    for label, protocol, configs in db.execute(
            "SELECT model_name || '|' || grid_label, protocol_hash, COUNT(DISTINCT config_key) FROM runs "
            "WHERE status = 'finished' GROUP BY 1, 2 HAVING COUNT(DISTINCT config_key) > 1"):
        sys.exit(f"[study_results] {args.store}: '{label.replace('|', ' ').strip()}' names {configs} configurations; "
                 "remove the runs of the one the study file no longer holds")
    with open(os.path.join(args.out, "runs.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model", "protocol", "seed", "branch", "metric", "value"])
        for run_id, model, grid, seed, protocol, best_epoch in runs:
            label = [label_of(model, grid), names[protocol], seed]
            rows = db.execute("SELECT branch, name || '@' || k, value FROM metrics WHERE run_id = ? AND split = 'test' "
                              "ORDER BY branch, name, k", (run_id,)).fetchall()
            for branch, metric, value in rows:
                w.writerow(label + [branch, metric, f"{value:.6f}"])
            w.writerow(label + ["fused", "best_epoch", best_epoch])
            # An epoch's usual cost: the median is untouched by an epoch a busy or paused machine stretched.
            epochs = sorted(t for (t,) in db.execute("SELECT seconds FROM epochs WHERE run_id = ?", (run_id,)))
            if epochs:
                w.writerow(label + ["fused", "median_epoch_seconds", f"{statistics.median(epochs):.2f}"])
            for phase in ("train", "total"):  # training alone; the run's whole time (with its evaluations)
                t = db.execute("SELECT seconds FROM timings WHERE run_id = ? AND phase = ?", (run_id, phase)).fetchone()
                if t:
                    w.writerow(label + ["fused", phase + "_seconds", f"{t[0]:.1f}"])
            # The process's peak resident memory (VmHWM) by the end of training (its validations included) and by
            # the end of the run (its test evaluation included).
            for phase, name in (("train", "train_peak_mb"), ("total", "peak_mb")):
                t = db.execute("SELECT peak_rss_mb FROM timings WHERE run_id = ? AND phase = ?", (run_id, phase)).fetchone()
                if t and t[0] is not None:
                    w.writerow(label + ["fused", name, f"{t[0]:.0f}"])
    runs = [r[:4] for r in runs if names[r[4]] == "main"]  # breakdowns and ranks: the main protocol's
    with open(os.path.join(args.out, "popularity.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model", "seed", "branch", "group", "metric", "value", "users"])
        for run_id, model, grid, seed in runs:
            rows = db.execute("SELECT branch, grp, name || '@' || k, value, users FROM popularity_metrics "
                              "WHERE run_id = ? AND split = 'test' ORDER BY branch, grp, name, k", (run_id,)).fetchall()
            for branch, group, metric, value, users in rows:
                w.writerow([label_of(model, grid), seed, branch, group, metric, f"{value:.6f}", users])
    command = [args.mmsr, "report", "--store", args.store, "--format", "json"]
    done = subprocess.run(command + (["--baseline", args.baseline] if args.baseline else []), capture_output=True,
                          text=True)
    if done.returncode != 0 and args.baseline:  # the baseline has not finished yet: tests against it come with a later export
        print(f"[study_results] {done.stderr.strip()}; the report compares with its own reference", file=sys.stderr)
        done = subprocess.run(command, check=True, capture_output=True, text=True)
    report = done.stdout
    if args.unseen_from:
        export_unseen_ranks(db, runs, args.unseen_from, args.keep_last, args.out)
    boards = json.loads(report)
    for board in boards:
        for row in board["rows"]:
            row.pop("curve", None)
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(boards, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"[study_results] {len(runs)} finished runs -> {args.out}", file=sys.stderr)


def unseen_users(test_inter, keep_last):
    """The users (indices in the data's order) whose test target never occurs in training, from a UniSRec test file
    (history then target per user), the way mmsr splits it: each user's last keep_last items, the last one the test
    target, the one before it the validation target, the rest training."""
    seqs = []
    with open(test_inter) as f:
        next(f)
        for line in f:
            _, history, target = line.rstrip("\n").split("\t")
            seq = (history.split() + [target])[-keep_last:] if keep_last else history.split() + [target]
            if len(seq) >= 3:
                seqs.append(seq)
    trained = {item for seq in seqs for item in seq[:-2]}
    return [u for u, seq in enumerate(seqs) if seq[-1] not in trained]


def export_unseen_ranks(db, runs, test_inter, keep_last, out):
    """unseen_ranks.csv: where each never-seen test target lands, per run and branch. The users are found from the
    data file; the export stops if their hits in the top 10 differ from what mmsr stored for popularity group 0."""
    users = unseen_users(test_inter, keep_last)
    with open(os.path.join(out, "unseen_ranks.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model", "seed", "branch", "user", "rank"])
        for run_id, model, grid, seed in runs:
            for branch, stored, group_users in db.execute(
                    "SELECT branch, value, users FROM popularity_metrics WHERE run_id = ? AND split = 'test' AND grp = 0 "
                    "AND name IN ('recall', 'hr') AND k = 10", (run_id,)).fetchall():
                ranks = dict(db.execute("SELECT user, rank FROM user_ranks WHERE run_id = ? AND split = 'test' AND "
                                        "branch = ?", (run_id, branch)).fetchall())
                mine = [ranks[u] for u in users]
                hits = sum(1 for r in mine if r <= 10)
                if group_users != len(users) or abs(hits - stored * group_users) > 1e-6:
                    sys.exit(f"[study_results] {label_of(model, grid)} seed {seed} {branch}: the unseen users found in "
                             f"{test_inter} ({len(users)}, {hits} hits) are not mmsr's group 0 ({group_users}, "
                             f"{stored * group_users:.0f} hits)")
                for u, r in zip(users, mine):
                    w.writerow([label_of(model, grid), seed, branch, u, f"{r:g}"])


# ---- reading the committed results ----

class Results:
    def __init__(self, folder):
        self.by_protocol = {}  # protocol -> (model, branch, metric) -> {seed: value}
        self.values = {}  # the main protocol's
        self.groups = {}  # (model, branch, group, metric) -> ({seed: value}, users)
        self.boards, self.rows, self.reference = [], {}, None
        if not os.path.exists(os.path.join(folder, "runs.csv")):
            return  # the study has not been run yet: every row says so
        with open(os.path.join(folder, "runs.csv")) as f:
            for r in csv.DictReader(f):
                values = self.by_protocol.setdefault(r.get("protocol", "main"), {})
                values.setdefault((r["model"], r["branch"], r["metric"]), {})[int(r["seed"])] = float(r["value"])
        self.values = self.by_protocol.get("main", {})
        with open(os.path.join(folder, "popularity.csv")) as f:
            for r in csv.DictReader(f):
                key = (r["model"], r["branch"], int(r["group"]), r["metric"])
                seeds, _ = self.groups.get(key, ({}, 0))
                seeds[int(r["seed"])] = float(r["value"])
                self.groups[key] = (seeds, int(r["users"]))
        with open(os.path.join(folder, "report.json")) as f:
            self.boards = json.load(f)
        self.unseen = {}  # (model, branch) -> {seed: [ranks]}
        path = os.path.join(folder, "unseen_ranks.csv")
        if os.path.exists(path):
            with open(path) as f:
                for r in csv.DictReader(f):
                    self.unseen.setdefault((r["model"], r["branch"]), {}).setdefault(int(r["seed"]), []).append(float(r["rank"]))
        self.rows = {row["label"]: row for row in self.boards[0]["rows"]} if self.boards else {}
        self.reference = self.boards[0]["reference"] if self.boards else None

    def has(self, model):
        return any(k[0] == model and k[1] == "fused" and k[2] == "ndcg@10" for k in self.values)

    def seeds(self, model, metric, branch="fused", protocol="main"):
        return self.by_protocol.get(protocol, {}).get((model, branch, metric), {})

    def mean_sd(self, model, metric, branch="fused", protocol="main"):
        v = list(self.seeds(model, metric, branch, protocol).values())
        if not v:
            return None
        return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0), len(v)

    def holm_p(self, model, metric, baseline="SASRec+LF"):
        if self.reference != baseline:
            return None
        m = self.rows.get(model, {}).get("metrics", {}).get(metric, {}).get("vs_reference")
        return m["wilcoxon"]["p_holm"] if m and "wilcoxon" in m else None


def cell(stat, digits=4):
    if stat is None:
        return "—"
    mean, sd, n = stat
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" + ("" if n == 3 else f" (n={n})")


def p_cell(p):
    if p is None:
        return "—"
    return "< .001" if p < 0.001 else f"{p:.3f}".lstrip("0")


METRICS = ["recall@10", "ndcg@10", "recall@20", "ndcg@20"]


def metric_table(res, models, baseline, metrics=METRICS):
    lines = ["| model | " + " | ".join(m.replace("recall", "Recall").replace("ndcg", "NDCG").replace("hr", "HR")
                                       for m in metrics) +
             f" | p vs {baseline} (NDCG@10) | selected epoch | train time |", "|---" * (len(metrics) + 4) + "|"]
    for label, model in models:
        if not res.has(model):
            lines.append(f"| {label} | not run yet |" + " |" * (len(metrics) + 2))
            continue
        p = "baseline" if model == baseline else p_cell(res.holm_p(model, "ndcg@10", baseline))
        t = res.mean_sd(model, "train_seconds")
        epoch = res.rows.get(model, {}).get("best_epoch")
        lines.append(f"| {label} | " + " | ".join(cell(res.mean_sd(model, m)) for m in metrics) +
                     f" | {p} | {epoch:.1f} | {t[0]:.0f} s |")
    return "\n".join(lines)


TABLE2 = [("GRU4Rec", "GRU4Rec"), ("NextItNet", "NextItNet"), ("SASRec", "SASRec"), ("FDSA (text, image)", "FDSA"),
          ("UniSRec (text, ID)", "UniSRec"), ("SASRec+EF", "SASRec+EF"), ("SASRec+LF", "SASRec+LF"), ("ODMT", "ODMT")]
TABLE3 = [("ODMT", "ODMT"), ("ID init: text [CLS] only", "ODMT init text"), ("ID init: image only", "ODMT init image"),
          ("ID init: random", "ODMT no init"), ("no ID mask", "ODMT no ID mask"),
          ("separate encoders, 1 layer each", "ODMT separate (tower.layers=1)"),
          ("separate encoders, 2 layers each", "ODMT separate (tower.layers=2)"),
          ("no online distillation (late-fusion loss)", "ODMT no distillation"), ("no ID branch", "ODMT no ID")]
FIGURE5 = [("GRU4Rec (ID)", "GRU4Rec"), ("ODMT on GRU4Rec", "ODMT GRU4Rec"), ("NextItNet (ID)", "NextItNet"),
           ("ODMT on NextItNet", "ODMT NextItNet"), ("SASRec (ID)", "SASRec"), ("ODMT on SASRec", "ODMT")]
FIGURE7 = [("1", "ODMT depth (tower.layers=1)"), ("2 (ODMT)", "ODMT"), ("3", "ODMT depth (tower.layers=3)"),
           ("4", "ODMT depth (tower.layers=4)")]


UNSEEN_BRANCHES = [("SASRec+LF", "SASRec+LF"), ("ODMT", "ODMT"),
                   ("ODMT, separate encoders (2 layers)", "ODMT separate (tower.layers=2)"),
                   ("ODMT without distillation", "ODMT no distillation")]


def table4_model(t, a):
    if t == 0.5 and a == 20:
        return "ODMT"
    if a == 20:
        return f"ODMT T (loss2.temperature={t})"
    return f"ODMT T/alpha (loss2.alpha={a:.1f}, loss2.temperature={t})"


def table4_claim(res):
    """Where the T x alpha sweep peaks, and whether the peak stands out from ODMT's T = 0.5, alpha = 20."""
    cells = {(t, a): res.mean_sd(table4_model(t, a), "ndcg@10") for t in [0.3, 0.5, 0.7] for a in [10, 20, 40]}
    measured = {k: v for k, v in cells.items() if v}
    if len(measured) < len(cells):
        return f"The T and alpha optimum: {len(measured)} of {len(cells)} settings measured yet."
    (t, a), best = max(measured.items(), key=lambda kv: kv[1][0])
    base = measured[(0.5, 20)]
    spread = max(best[1], base[1])
    verdict = ("stands out from T = 0.5, alpha = 20 by more than twice the seeds' spread"
               if best[0] - base[0] > 2 * spread else "is within the seeds' spread of T = 0.5, alpha = 20")
    return (f"The T and alpha optimum: NDCG@10 peaks at T = {t}, alpha = {a} ({best[0]:.4f}, against {base[0]:.4f} "
            f"at T = 0.5, alpha = 20) and {verdict} (the paper's optima lie between T = 0.3 and 0.5, alpha 20 to 60).")


def table4(res):
    temps, alphas = [0.3, 0.5, 0.7], [10, 20, 40]
    lines = ["| T \\ alpha | " + " | ".join(str(a) for a in alphas) + " |", "|---" * (len(alphas) + 1) + "|"]
    for t in temps:
        lines.append(f"| {t} | " + " | ".join(cell(res.mean_sd(table4_model(t, a), "ndcg@10")) for a in alphas) + " |")
    return "\n".join(lines)


def popularity_table(res, models, metric="ndcg@10", branch="fused"):
    groups = sorted({g for (m, b, g, k) in res.groups if b == branch and k == metric})
    users = {g: u for (m, b, g, k), (_, u) in res.groups.items() if b == branch and k == metric}
    head = " | ".join(f"group {g} ({users[g]:,} users)" for g in groups)
    lines = [f"| model | {head} |", "|---" * (len(groups) + 1) + "|"]
    for label, model in models:
        cells = []
        for g in groups:
            seeds, _ = res.groups.get((model, branch, g, metric), ({}, 0))
            v = list(seeds.values())
            cells.append(cell((statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))) if v else "—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def branch_table(res, models, metric="ndcg@10"):
    branches = ["fused", "id", "text", "image"]
    lines = ["| model | " + " | ".join(branches) + " |", "|---" * (len(branches) + 1) + "|"]
    for label, model in models:
        lines.append(f"| {label} | " + " | ".join(cell(res.mean_sd(model, metric, b)) for b in branches) + " |")
    return "\n".join(lines)


def unseen_hits(res, models, branches=("fused",)):
    """Per model and branch: how many never-seen test targets (popularity group 0) each seed ranks in its top 10."""
    lines = ["| model | branch | unseen targets in the top 10, per seed | Recall@20 on them |", "|---|---|---|---|"]
    for label, model in models:
        for branch in branches:
            seeds, users = res.groups.get((model, branch, 0, "recall@10"), ({}, 0))
            if not seeds:
                continue
            hits = ", ".join(f"{round(v * users)} of {users}" for _, v in sorted(seeds.items()))
            r20, _ = res.groups.get((model, branch, 0, "recall@20"), ({}, 0))
            stat = (statistics.mean(r20.values()), statistics.stdev(r20.values()) if len(r20) > 1 else 0.0, len(r20))
            lines.append(f"| {label} | {branch} | {hits} | {cell(stat) if r20 else '—'} |")
    return "\n".join(lines)


def unseen_rank_table(res, models, branches=("fused", "id", "text", "image")):
    """Where the never-seen targets land: the mean and median rank over the group, per seed, averaged over seeds."""
    lines = ["| model | branch | mean rank | median rank |", "|---|---|---|---|"]
    for label, model in models:
        for branch in branches:
            per_seed = res.unseen.get((model, branch))
            if not per_seed:
                continue
            means = [statistics.mean(v) for v in per_seed.values()]
            medians = [statistics.median(v) for v in per_seed.values()]
            sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
            lines.append(f"| {label} | {branch} | {statistics.mean(means):.0f} ± {sd(means):.0f} | "
                         f"{statistics.mean(medians):.0f} ± {sd(medians):.0f} |")
    return "\n".join(lines)


def claim(res, better, worse, metric="ndcg@10", alpha=0.05, baseline="SASRec+LF"):
    """One plain sentence: does `better` beat `worse` here?"""
    a, b = res.mean_sd(better, metric), res.mean_sd(worse, metric)
    if a is None or b is None:
        return f"{better} > {worse}: not measured yet."
    pb, pw = res.holm_p(better, metric, baseline), res.holm_p(worse, metric, baseline)
    rel = (a[0] - b[0]) / b[0] * 100 if b[0] else float("nan")
    # Against the board's baseline the report's test is the paired one; otherwise compare seed spreads.
    p = pb if worse == baseline else (pw if better == baseline else None)
    if p is not None:
        verdict = ("holds" if a[0] > b[0] else "does not hold") if p < alpha else "not significant here"
        return f"{better} > {worse} ({metric} {a[0]:.4f} against {b[0]:.4f}, {rel:+.1f}%, Holm-corrected Wilcoxon p {p_cell(p)}): {verdict}."
    spread = max(a[1], b[1])
    verdict = ("holds" if a[0] > b[0] else "does not hold") if abs(a[0] - b[0]) > 2 * spread else "within the seeds' spread here"
    return f"{better} > {worse} ({metric} {a[0]:.4f} against {b[0]:.4f}, {rel:+.1f}%; seed sd up to {spread:.4f}): {verdict}."


def multimodal_blocks(res):
    blocks = {
        "table2": metric_table(res, TABLE2, "SASRec+LF"),
        "table3": metric_table(res, TABLE3, "SASRec+LF"),
        "table4": table4(res),
        "figure5": metric_table(res, FIGURE5, "SASRec+LF"),
        "figure7": metric_table(res, FIGURE7, "SASRec+LF"),
        "branches": branch_table(res, [("SASRec+LF", "SASRec+LF"), ("ODMT", "ODMT")]),
        "popularity": popularity_table(res, TABLE2),
        "unseen": unseen_hits(res, TABLE2),
        "unseen_branches": unseen_hits(res, UNSEEN_BRANCHES, ("fused", "id", "text", "image")),
        "unseen_ranks": unseen_rank_table(res, [("SASRec", "SASRec"), ("UniSRec", "UniSRec"),
                                                ("SASRec+EF", "SASRec+EF")] + UNSEEN_BRANCHES),
    }
    claims = [claim(res, "ODMT", "SASRec+LF"), claim(res, "SASRec+LF", "SASRec+EF"), claim(res, "SASRec+EF", "SASRec"),
              claim(res, "ODMT", "ODMT no ID mask"), claim(res, "ODMT", "ODMT separate (tower.layers=2)"),
              claim(res, "ODMT", "ODMT no distillation")]
    claims.append(table4_claim(res))
    claims += [claim(res, "ODMT GRU4Rec", "GRU4Rec"), claim(res, "ODMT NextItNet", "NextItNet"), depth_claim(res)]
    blocks["claims"] = "\n".join("- " + c for c in claims)
    blocks["runtime"] = runtime(res)
    return blocks


def depth_claim(res):
    """Figure 7: the IMT depth with the best NDCG@10, against the paper's 2 layers."""
    depths = {d: res.mean_sd(m, "ndcg@10") for d, m in [(1, FIGURE7[0][1]), (2, "ODMT"), (3, FIGURE7[2][1]), (4, FIGURE7[3][1])]}
    measured = {d: v for d, v in depths.items() if v}
    if len(measured) < len(depths):
        return f"The IMT depth: {len(measured)} of {len(depths)} depths measured yet."
    best = max(measured, key=lambda d: measured[d][0])
    spread = max(v[1] for v in measured.values())
    low, high = min(v[0] for v in measured.values()), max(v[0] for v in measured.values())
    verdict = ("the depths differ by more than twice the seeds' spread" if high - low > 2 * spread
               else "every depth is within twice the seeds' spread of the others")
    return (f"The IMT depth: NDCG@10 is highest at {best} layer{'s' if best > 1 else ''} ({measured[best][0]:.4f}; "
            f"from {low:.4f} to {high:.4f} over 1 to 4 layers) and {verdict} (the paper finds 2 best on most datasets).")


def runtime(res):
    """What the study cost on this machine: the runs measured and their training time, from runs.csv."""
    def of(metric):
        return [v for (m, b, k), seeds in res.values.items() if k == metric for v in seeds.values()]
    seconds, what = of("total_seconds"), "training and evaluation"
    if not seconds:
        seconds, what = of("train_seconds"), "training (without the evaluations)"
    if not seconds:
        return "Not run yet."
    total = sum(seconds) / 3600
    return (f"{len(seconds)} runs measured; their {what} took {total:.1f} hours on one thread each "
            f"(mean {statistics.mean(seconds) / 60:.1f} minutes a run), so about {total / 2:.1f} hours of wall time "
            f"with the two runners `scripts/reproduce.sh` starts on this 2-core machine.")


KDSR_ROWS = [("SASRec (ID only)", "SASRec"), ("SASRec+gate frozen (two-stage: the frozen vectors)", "SASRec+gate frozen"),
             ("SASRec+gate (trainable embeddings, no supervision)", "SASRec+gate"),
             ("KDSR (+ holistic + dissected, asynchronous step)", "KDSR"),
             ("KDSR with the autoencoder teacher (128-d, as its code)", "KDSR autoencoder teacher"),
             ("KDSR w/o holistic", "KDSR w/o holistic"), ("KDSR w/o dissected", "KDSR w/o dissected"),
             ("KDSR w/o asynchronous step", "KDSR w/o async"), ("ODMT (frozen vectors)", "ODMT"),
             ("ODMT adapted (trainable embeddings, no supervision)", "ODMT adapted"), ("ODMT+KDSR", "ODMT+KDSR")]


def memory_table(folder):
    path = os.path.join(folder, "memory.txt")
    if not os.path.exists(path):
        return "not measured yet (scripts/reproduce.sh kdsr writes results/kdsr/memory.txt)"
    lines = ["| catalogue | loss peak | the released code's two N x N matrices |", "|---|---|---|"]
    for row in open(path):
        parts = row.split()
        if len(parts) == 3 and parts[0].isdigit():
            lines.append(f"| {int(parts[0]):,} items | {float(parts[1]):,.0f} MB | {int(parts[2]):,} MB |")
    return "\n".join(lines)


def kdsr_blocks(res, folder):
    g = "SASRec+gate"
    claims = [claim(res, "KDSR", g, baseline=g), claim(res, "KDSR autoencoder teacher", g, baseline=g),
              claim(res, "KDSR", "ODMT", baseline=g), claim(res, "KDSR", "KDSR w/o holistic", baseline=g),
              claim(res, "KDSR", "KDSR w/o dissected", baseline=g), claim(res, "KDSR", "KDSR w/o async", baseline=g),
              claim(res, "ODMT+KDSR", "ODMT", baseline=g)]
    return {"kdsr_table": metric_table(res, KDSR_ROWS, g, ["hr@10", "ndcg@10", "ndcg@20"]),
            "kdsr_claims": "\n".join("- " + c for c in claims),
            "kdsr_memory": memory_table(folder)}


def data_blocks(folder):
    """docs/data.md: each dataset's `mmsr data stats` output as results/data/NAME.txt keeps it."""
    blocks = {}
    for name in ["lastfm", "beauty", "ml100k", "scientific"]:
        path = os.path.join(folder, name + ".txt")
        text = open(path).read().rstrip("\n") if os.path.exists(path) else "not run yet (scripts/data_stats.sh)"
        blocks["data_" + name] = "```\n" + text + "\n```"
    return blocks


STUDIES = {"multimodal": lambda res, folder: multimodal_blocks(res), "kdsr": kdsr_blocks,
           "data": lambda res, folder: data_blocks(folder),
           "parity": lambda res, folder: parity_tables.parity_blocks(Results, folder),
           "protocol": lambda res, folder: protocol_tables.protocol_blocks(Results, folder),
           "performance": lambda res, folder: performance_tables.performance_blocks(Results, folder)}


def tables(args):
    folder = args.results or os.path.join(ROOT, "results", args.study)
    res = Results(folder)
    blocks = STUDIES[args.study](res, folder)
    doc_path = args.doc or os.path.join(ROOT, "docs", args.study + ".md")
    with open(doc_path) as f:
        doc = f.read()
    new = doc
    for name, text in blocks.items():
        pattern = re.compile(r"(<!-- generated: %s -->\n).*?(<!-- end: %s -->)" % (re.escape(name), re.escape(name)), re.S)
        if not pattern.search(new):
            sys.exit(f"{doc_path}: no generated block '{name}' (add <!-- generated: {name} --> and <!-- end: {name} --> lines)")
        new = pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), new)
    if args.check:
        if new != doc:
            changed = [n for n, t in blocks.items() if ("<!-- generated: %s -->\n%s\n" % (n, t)) not in doc]
            sys.exit(f"{doc_path}: the blocks {', '.join(changed)} differ from results/{args.study}/; "
                     f"run scripts/study_results.py tables {args.study}")
        return
    with open(doc_path, "w") as f:
        f.write(new)
    print(f"[study_results] {doc_path}: {len(blocks)} blocks from results/{args.study}/", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export")
    e.add_argument("store")
    e.add_argument("out")
    e.add_argument("--baseline", help="the row every other is tested against (default: the report's own reference)")
    e.add_argument("--mmsr", default=os.path.join(ROOT, "build", "bin", "mmsr"))
    e.add_argument("--unseen-from", help="UniSRec test file: also export the ranks of never-seen test targets")
    e.add_argument("--keep-last", type=int, default=0, help="the study's [data] keep_last")
    t = sub.add_parser("tables")
    t.add_argument("study", choices=sorted(STUDIES))
    t.add_argument("--check", action="store_true")
    t.add_argument("--doc", help="the doc to rebuild or check (default docs/STUDY.md)")
    t.add_argument("--results", help="the results folder (default results/STUDY)")
    args = p.parse_args()
    export(args) if args.command == "export" else tables(args)


if __name__ == "__main__":
    main()
