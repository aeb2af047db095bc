"""The generated blocks of docs/protocol.md, from results/protocol/<grid>/ (study_results.py tables protocol).

The protocol study trains mmsr's ID models on MovieLens-100K twice, identical but for [protocol]: under leave-one-out
(examples/protocol/ml100k_leave_one_out.toml, grid ml100k-leave-one-out) and under a global temporal split
(ml100k_temporal.toml, grid ml100k-temporal). The blocks set the two boards side by side and say in one sentence how
the ranking of the models changes.
"""
import json
import os

from parity_tables import epochs_cell, short, stat_cell

GRIDS = [("leave-one-out", "ml100k-leave-one-out"), ("temporal", "ml100k-temporal")]
MODELS = ["PopRec", "GRU4Rec", "NextItNet", "SASRec", "SASRec (BCE)", "gSASRec", "BERT4Rec"]
METRICS = ["hr@10", "ndcg@10"]


def places(res, metric="ndcg@10"):
    """Each model's place by mean test metric (1 = best), among the models that have run."""
    means = {m: res.mean_sd(m, metric)[0] for m in MODELS if res.mean_sd(m, metric)}
    order = sorted(means, key=lambda m: -means[m])
    return {m: i + 1 for i, m in enumerate(order)}


def boards_table(boards):
    names = {"hr@10": "HR@10", "ndcg@10": "NDCG@10", "place": "place"}
    head = "| model | " + " | ".join(f"{split}: {names[m]}" for split, _ in GRIDS for m in METRICS + ["place"]) + " |"
    lines = [head, "|---" * (1 + len(GRIDS) * (len(METRICS) + 1)) + "|"]
    ranks = [places(res) for _, res in boards]
    for model in MODELS:
        cells = []
        for (_, res), place in zip(boards, ranks):
            if not res.has(model):
                cells += ["not run yet"] + [""] * len(METRICS)
                continue
            cells += [stat_cell(res.mean_sd(model, m)) for m in METRICS] + [str(place[model])]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def kendall_tau(a, b):
    """Kendall's tau-a between two placings of the same models."""
    models = sorted(set(a) & set(b))
    pairs = [(x, y) for i, x in enumerate(models) for y in models[i + 1:]]
    if not pairs:
        return None
    agree = sum(1 if (a[x] - a[y]) * (b[x] - b[y]) > 0 else -1 for x, y in pairs)
    return agree / len(pairs)


def flipped_pairs(a, b):
    """The pairs of models whose order differs between two placings."""
    models = sorted(a, key=a.get)
    return [(x, y) for i, x in enumerate(models) for y in models[i + 1:] if (a[x] - a[y]) * (b[x] - b[y]) < 0]


def ranking_sentence(boards):
    (loo_name, loo), (tmp_name, tmp) = boards
    a, b = places(loo), places(tmp)
    if set(a) != set(MODELS) or set(b) != set(MODELS):
        return "(the ranking of the models: not run yet; scripts/reproduce.sh protocol)"
    order = lambda p: " > ".join(sorted(p, key=p.get))
    moved = [f"{m} ({a[m]} → {b[m]})" for m in MODELS if a[m] != b[m]]
    ratio = [tmp.mean_sd(m, "ndcg@10")[0] / loo.mean_sd(m, "ndcg@10")[0] for m in MODELS
             if loo.mean_sd(m, "ndcg@10")[0] > 0]
    text = (f"By test NDCG@10, leave-one-out orders the models {order(a)}; the temporal split orders them {order(b)} "
            f"(Kendall's tau {kendall_tau(a, b):+.2f}). ")
    text += ("Every model keeps its place. " if not moved else "Places that change: " + ", ".join(moved) + ". ")
    for x, y in flipped_pairs(a, b):
        (mx, sx, _), (my, sy, _) = tmp.mean_sd(x, "ndcg@10"), tmp.mean_sd(y, "ndcg@10")
        (lx, lsx, _), (ly, lsy, _) = loo.mean_sd(x, "ndcg@10"), loo.mean_sd(y, "ndcg@10")
        within = lambda d, s1, s2: "within" if abs(d) <= max(s1, s2) else "beyond"
        text += (f"{x} and {y} trade places: {within(mx - my, sx, sy)} the seeds' spread under the temporal split "
                 f"({abs(mx - my):.4f} apart), {within(lx - ly, lsx, lsy)} it under leave-one-out "
                 f"({abs(lx - ly):.4f}). ")
    text += (f"The temporal split's NDCG@10 is {min(ratio):.2f} to {max(ratio):.2f} times the leave-one-out one.")
    return text


def split_summary(boards):
    lines = []
    for name, res in boards:
        if not res.boards:
            lines.append(f"- {name}: not run yet")
            continue
        card = res.boards[0]["protocol_card"]
        lines.append(f"- {name}: {card['split']}")
    return "\n".join(lines)


def reference_rows(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def gsasrec_reference(loo, path):
    """mmsr's SASRec trained with BCE (one negative) and with gBCE (gSASRec), beside gSASRec's own code trained both
    ways on the same split (benchmarks/gsasrec_reference.py)."""
    lines = ["| implementation | training | test NDCG@10 | selected epoch |", "|---|---|---|---|"]
    for model, training in (("SASRec (BCE)", "BCE, 1 negative"), ("gSASRec", "gBCE, 256 negatives, t = 0.75")):
        lines.append(f"| mmsr (3 seeds) | {training} | {stat_cell(loo.mean_sd(model, 'ndcg@10'))} | "
                     f"{epochs_cell(loo, model)} |")
    refs = {(r["negatives"], r["calibration"]): r for r in reference_rows(path)}
    for key, training in (((1, 0.0), "BCE, 1 negative"), ((256, 0.75), "gBCE, 256 negatives, t = 0.75")):
        r = refs.get(key)
        cells = f"{short(r['test_ndcg@10'])} | {r['best_epoch']}" if r else "not run yet |"
        lines.append(f"| gSASRec's code (seed {r['seed'] if r else 1}) | {training} | {cells} |")
    ref_bce, ref_g = refs.get((1, 0.0)), refs.get((256, 0.75))
    ours_bce, ours_g = loo.mean_sd("SASRec (BCE)", "ndcg@10"), loo.mean_sd("gSASRec", "ndcg@10")
    if ref_bce and ref_g and ours_bce and ours_g:
        lines.append("")
        lines.append(f"gBCE with 256 negatives reaches {ref_g['test_ndcg@10'] / ref_bce['test_ndcg@10']:.2f} of the "
                     f"one-negative BCE's test NDCG@10 with gSASRec's own code and {ours_g[0] / ours_bce[0]:.2f} with "
                     f"mmsr's. mmsr's gSASRec is {ours_g[0] / ref_g['test_ndcg@10']:.2f} times the code's; mmsr's "
                     f"one-negative SASRec is {ours_bce[0] / ref_bce['test_ndcg@10']:.2f} times the code's.")
    return "\n".join(lines)


GSASREC_VARIANTS = ["gSASRec (as in the study)", "untied output table", "pre-LN blocks", "untied, pre-LN", "16 negatives",
                    "dropout 0.5", "ID tables from normal(0, 1)"]


def gsasrec_variants(res, loo):
    """gSASRec changed one thing at a time (examples/protocol/investigate/ml100k_gsasrec.toml, seed 1)."""
    lines = ["| gSASRec on MovieLens-100K, seed 1 | test HR@10 | test NDCG@10 | selected epoch |", "|---|---|---|---|"]
    for model in GSASREC_VARIANTS:
        hr, ndcg, epoch = (res.seeds(model, m).get(1) for m in ("hr@10", "ndcg@10", "best_epoch"))
        lines.append(f"| {model} | not run yet | | |" if ndcg is None else
                     f"| {model} | {short(hr)} | {short(ndcg)} | {int(epoch)} |")
    bce = loo.seeds("SASRec (BCE)", "ndcg@10").get(1)
    if bce is not None:
        lines.append(f"| for comparison: SASRec, BCE with 1 negative (the study's seed 1) | "
                     f"{short(loo.seeds('SASRec (BCE)', 'hr@10')[1])} | {short(bce)} | "
                     f"{int(loo.seeds('SASRec (BCE)', 'best_epoch')[1])} |")
    found = [res.seeds(m, "ndcg@10")[1] for m in GSASREC_VARIANTS if res.seeds(m, "ndcg@10").get(1) is not None]
    if bce is not None and len(found) == len(GSASREC_VARIANTS):
        lines.append("")
        lines.append(f"Every variant's test NDCG@10 lies between {short(min(found))} and {short(max(found))}: at most "
                     f"{max(found) / bce:.2f} of the one-negative BCE's {short(bce)}.")
    return "\n".join(lines)


def protocol_blocks(results_class, folder):
    boards = [(name, results_class(os.path.join(folder, grid))) for name, grid in GRIDS]
    return {
        "protocol_ml100k_splits": split_summary(boards),
        "protocol_ml100k_boards": boards_table(boards),
        "protocol_ml100k_ranking": ranking_sentence(boards),
        "protocol_gsasrec_variants": gsasrec_variants(results_class(os.path.join(folder, "ml100k-gsasrec")),
                                                      boards[0][1]),
        "protocol_gsasrec_reference": gsasrec_reference(
            boards[0][1], os.path.join(os.path.dirname(folder), "gsasrec-reference-ml100k.jsonl")),
    }
