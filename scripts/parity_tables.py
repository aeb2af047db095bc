"""The generated blocks of docs/parity.md, from results/parity/<grid>/ (study_results.py tables parity).

Each grid of the parity study has its own folder, written by study_results.py export from its store:
lastfm and beauty (examples/parity/), and the investigations lastfm-sasrec-variants, lastfm-recbole-settings and
beauty-poprec-ties (examples/parity/investigate/). The S3-Rec paper's numbers are ../shared/data/README.md's.
"""
import json
import os

PAPER = {  # (HR@10, NDCG@10): the S3-Rec paper, Table 2, as ../shared/data/README.md quotes it
    ("LastFM", "full"): {"PopRec": (.0440, .0203), "GRU4Rec": (.0367, .0187), "SASRec": (.0688, .0390), "FDSA": (.0413, .0254)},
    ("LastFM", "sampled"): {"PopRec": (.3037, .1687), "GRU4Rec": (.2817, .1550), "SASRec": (.4706, .2755), "FDSA": (.4055, .2225)},
    ("Beauty", "full"): {"PopRec": (.0152, .0068), "GRU4Rec": (.0283, .0137), "SASRec": (.0605, .0318), "FDSA": (.0407, .0208)},
    ("Beauty", "sampled"): {"PopRec": (.3386, .1803), "GRU4Rec": (.4106, .2584), "SASRec": (.4696, .3156), "FDSA": (.5096, .3324)},
}
SAMPLED = "candidates=sampled"
POP_TRAIN, POP_VALID = "PopRec (tower.counts=\"train\")", "PopRec (tower.counts=\"train+valid\")"
LASTFM_ROWS = [("PopRec (counts over train)", POP_TRAIN), ("PopRec (counts over train + validation)", POP_VALID),
               ("GRU4Rec", "GRU4Rec"), ("SASRec", "SASRec"), ("FDSA", "FDSA"), ("NextItNet", "NextItNet")]
BEAUTY_TRAINED = [("GRU4Rec (40-epoch budget)", "GRU4Rec"), ("SASRec", "SASRec"), ("FDSA", "FDSA"),
                  ("NextItNet", "NextItNet")]


def short(x):
    return f"{x:.4f}".lstrip("0") if x >= 0 else f"-{-x:.4f}".lstrip("0")


def stat_cell(stat):
    return "—" if stat is None else f"{short(stat[0])} ± {short(stat[1])}"


NEXT_BASELINES = [("SASRec, full softmax", "SASRec"), ("SASRec, BCE with 1 negative", "SASRec (BCE)"),
                  ("gSASRec, gBCE with 256 negatives, t = 0.75", "gSASRec"), ("BERT4Rec, Cloze task", "BERT4Rec")]


def paper_of(dataset, protocol, model):
    if model in ("SASRec (BCE)", "gSASRec", "BERT4Rec"):  # rows the S3-Rec paper does not have
        return None
    return PAPER[(dataset, "sampled" if protocol == SAMPLED else "full")].get(model.split(" (")[0])


def difference(res, model, protocol, paper):
    if paper is None:
        return None
    hr, ndcg = res.mean_sd(model, "hr@10", protocol=protocol), res.mean_sd(model, "ndcg@10", protocol=protocol)
    if hr is None or ndcg is None:
        return None
    return (hr[0] / paper[0] - 1) * 100, (ndcg[0] / paper[1] - 1) * 100


def diff_cell(d):
    return "" if d is None else f"{d[0]:+.0f}% / {d[1]:+.0f}%"


def paper_cell(paper):
    return "none published" if paper is None else f"{short(paper[0])} / {short(paper[1])}"


def lastfm_table(res, protocol):
    lines = ["| model | seeds | HR@10 | NDCG@10 | paper HR@10 / NDCG@10 | difference |", "|---|---|---|---|---|---|"]
    for label, model in LASTFM_ROWS:
        hr = res.mean_sd(model, "hr@10", protocol=protocol)
        if hr is None:
            lines.append(f"| {label} | not run yet | | | | |")
            continue
        paper = paper_of("LastFM", protocol, model)
        lines.append(f"| {label} | {hr[2]} | {stat_cell(hr)} | {stat_cell(res.mean_sd(model, 'ndcg@10', protocol=protocol))}"
                     f" | {paper_cell(paper)} | {diff_cell(difference(res, model, protocol, paper))} |")
    return "\n".join(lines)


def verdict(res, dataset, rows, protocols=("main", SAMPLED)):
    """Which models are within 10% of the paper (or above it) under every protocol, and which are not."""
    close, far, missing = [], [], []
    for label, model in rows:
        diffs = [difference(res, model, p, paper_of(dataset, p, model)) for p in protocols]
        if any(paper_of(dataset, p, model) is None for p in protocols):
            continue
        if any(d is None for d in diffs):
            missing.append(label)
        elif all(min(d) >= -10 for d in diffs):
            close.append(label)
        else:
            far.append(f"{label} ({', '.join(diff_cell(d) for d in diffs)})")
    parts = [f"Within 10% of the paper or above it under both protocols: {', '.join(close) or 'none'}."] \
        if close or far else []
    if far:
        parts.append(f"Not within 10% (full ranking, then 99 negatives): {'; '.join(far)}.")
    if missing:
        parts.append(f"Not run yet: {', '.join(missing)}.")
    return " ".join(parts)


def beauty_poprec(beauty, ties):
    rows = [("PopRec (counts over train), full", beauty, POP_TRAIN, "main"),
            ("PopRec (counts over train + validation), full", beauty, POP_VALID, "main"),
            ("the same, optimistic ties", ties, POP_VALID, "ties=optimistic"),
            ("PopRec (counts over train + validation), 99 negatives", beauty, POP_VALID, SAMPLED),
            ("the same, optimistic ties", ties, POP_VALID, "candidates=sampled ties=optimistic")]
    lines = ["| model | HR@10 | NDCG@10 | paper | difference |", "|---|---|---|---|---|"]
    for label, res, model, protocol in rows:
        hr, ndcg = res.mean_sd(model, "hr@10", protocol=protocol), res.mean_sd(model, "ndcg@10", protocol=protocol)
        paper = PAPER[("Beauty", "sampled" if "sampled" in protocol else "full")]["PopRec"]
        if hr is None or ndcg is None:
            lines.append(f"| {label} | not run yet | | {paper_cell(paper)} | |")
            continue
        lines.append(f"| {label} | {short(hr[0])} | {short(ndcg[0])} | {paper_cell(paper)} | "
                     f"{(hr[0] / paper[0] - 1) * 100:+.0f}% / {(ndcg[0] / paper[1] - 1) * 100:+.0f}% |")
    return "\n".join(lines)


def epochs_cell(res, model, protocol="main"):
    epochs = sorted(int(v) for v in res.seeds(model, "best_epoch", protocol=protocol).values())
    if not epochs:
        return "—"
    return str(epochs[0]) if epochs[0] == epochs[-1] else f"{epochs[0]} to {epochs[-1]}"


def beauty_trained(res):
    lines = ["| model | full HR@10 | full NDCG@10 | paper (full) | difference | 99-neg HR@10 | 99-neg NDCG@10 | "
             "paper (99 neg.) | difference | selected epochs |", "|---" * 10 + "|"]
    for label, model in BEAUTY_TRAINED:
        cells = []
        for protocol in ("main", SAMPLED):
            paper = paper_of("Beauty", protocol, model)
            cells += [stat_cell(res.mean_sd(model, "hr@10", protocol=protocol)),
                      stat_cell(res.mean_sd(model, "ndcg@10", protocol=protocol)),
                      paper_cell(paper) if paper else "(none)", diff_cell(difference(res, model, protocol, paper))]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {epochs_cell(res, model)} |")
    return "\n".join(lines)


def tied_share(res, model):
    """The share of test targets tied with another candidate, from the report's row of the full-ranking board."""
    for board in res.boards:
        if board.get("protocol", {}).get("candidates") != "full":
            continue
        for row in board["rows"]:
            if row["label"] == model and row.get("tied_share"):
                return row["tied_share"]["mean"]
    return None


def variants_table(parity, variants):
    rows = [("parity grid (softmax, dropout 0.5)", parity, "SASRec"), ("dropout 0.2", variants, "SASRec"),
            ("the paper's BCE loss, one negative", variants, "SASRec-BCE"),
            ("the S3-Rec code's block (`ff_dropout = false`: no dropout after the feed-forward's activation)", variants,
             "SASRec, S3-Rec's block")]
    lines = ["| SASRec variant | seeds | full HR@10 | full NDCG@10 | 99-neg HR@10 | 99-neg NDCG@10 | selected epochs |",
             "|---|---|---|---|---|---|---|"]
    for label, res, model in rows:
        hr = res.mean_sd(model, "hr@10")
        cells = [stat_cell(res.mean_sd(model, m, protocol=p)) for p in ("main", SAMPLED) for m in ("hr@10", "ndcg@10")]
        lines.append(f"| {label} | {hr[2] if hr else 'not run yet'} | " + " | ".join(cells) +
                     f" | {epochs_cell(res, model)} |")
    full, sampled = PAPER[("LastFM", "full")]["SASRec"], PAPER[("LastFM", "sampled")]["SASRec"]
    lines.append(f"| paper | | {short(full[0])} | {short(full[1])} | {short(sampled[0])} | {short(sampled[1])} | |")
    return "\n".join(lines)


def recbole_rows(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def peer_rows(res, model, recbole_path, protocols):
    """RecBole's converged seeds and mmsr's, at their selected epochs: HR@10 and NDCG@10 under RecBole's protocol,
    then HR@10 / NDCG@10 of the same mmsr models under each further protocol."""
    blank = " |" * len(protocols)
    lines = [f"| {r['tool']}, seed {r['seed']} | {r['best_epoch']} | {short(r['hr@10'])} | {short(r['ndcg@10'])} |{blank}"
             for r in recbole_rows(recbole_path)]
    seeds = sorted(res.seeds(model, "hr@10"))
    for seed in seeds:
        v = lambda metric, protocol="main": res.seeds(model, metric, protocol=protocol).get(seed)
        pair = lambda p: (f"{short(v('hr@10', p))} / {short(v('ndcg@10', p))}" if v("hr@10", p) is not None else "—")
        lines.append(f"| mmsr, seed {seed} | {int(v('best_epoch'))} | {short(v('hr@10'))} | {short(v('ndcg@10'))} | "
                     + " | ".join(pair(p) for p in protocols) + " |")
    if not seeds:
        lines.append("| mmsr | not run yet | | |" + blank)
    return lines


def recbole_table(res, recbole_path):
    lines = ["| SASRec on LastFM | selected epoch | HR@10 | NDCG@10 | same model, history removed HR@10 / NDCG@10 | "
             "99-neg HR@10 / NDCG@10 |", "|---|---|---|---|---|---|"]
    lines += peer_rows(res, "SASRec (RecBole settings)", recbole_path,
                       ["mask_history=true", "candidates=sampled mask_history=true"])
    full, sampled = PAPER[("LastFM", "full")]["SASRec"], PAPER[("LastFM", "sampled")]["SASRec"]
    lines.append(f"| paper | | | | {short(full[0])} / {short(full[1])} | {short(sampled[0])} / {short(sampled[1])} |")
    return "\n".join(lines)


def bert4rec_recbole_table(res, recbole_path):
    """BERT4Rec beside RecBole's on Beauty under RecBole's protocol, with one standard error of the test sample."""
    model = "BERT4Rec (RecBole settings)"
    lines = ["| BERT4Rec on Beauty | selected epoch | HR@10 | NDCG@10 | same model, history removed HR@10 / NDCG@10 |",
             "|---|---|---|---|---|"]
    lines += peer_rows(res, model, recbole_path, ["mask_history=true"])
    hr = res.mean_sd(model, "hr@10")
    users = res.boards[0]["dataset_stats"].get("users") if res.boards else None
    if hr and users:  # HR@10 is a proportion over the test users: its standard error is sqrt(p (1 - p) / n)
        se = (hr[0] * (1 - hr[0]) / users) ** 0.5
        lines.append(f"| one standard error of HR@10 ({users:,} test users) | | {short(se)} | | |")
    return "\n".join(lines)


def beauty_ties_sentence(beauty):
    share = tied_share(beauty, POP_VALID)
    if share is None:
        return "(the share of tied test targets: not run yet)"
    return f"on Beauty {share * 100:.0f}% of PopRec's test targets are tied with at least one other candidate"


def next_baselines_table(grids):
    """SASRec's softmax, BCE and gBCE trainings and BERT4Rec, under both of the paper's protocols."""
    lines = ["| dataset | model | full HR@10 | full NDCG@10 | 99-neg HR@10 | 99-neg NDCG@10 | NDCG@10 / SASRec's | "
             "Holm p vs SASRec | selected epochs | seconds an epoch |", "|---" * 10 + "|"]
    for dataset, res in grids:
        softmax = res.mean_sd("SASRec", "ndcg@10")
        for label, model in NEXT_BASELINES:
            ndcg = res.mean_sd(model, "ndcg@10")
            if ndcg is None:
                lines.append(f"| {dataset} | {label} | not run yet |" + " |" * 7)
                continue
            ratio = f"{ndcg[0] / softmax[0]:.2f}" if softmax and softmax[0] > 0 else "—"
            p = "" if model == "SASRec" else p_cell(res.holm_p(model, "ndcg@10", baseline="SASRec"))
            seconds = res.mean_sd(model, "median_epoch_seconds")
            lines.append(f"| {dataset} | {label} | {stat_cell(res.mean_sd(model, 'hr@10'))} | {stat_cell(ndcg)} | "
                         f"{stat_cell(res.mean_sd(model, 'hr@10', protocol=SAMPLED))} | "
                         f"{stat_cell(res.mean_sd(model, 'ndcg@10', protocol=SAMPLED))} | {ratio} | {p} | "
                         f"{epochs_cell(res, model)} | {'—' if seconds is None else f'{seconds[0]:.1f}'} |")
    return "\n".join(lines)


def p_cell(p):
    return "—" if p is None else ("< .001" if p < 0.001 else f"{p:.3f}".lstrip("0"))


def bert4rec_claim(grids):
    """BERT4Rec against SASRec, the comparison its reproducibility studies keep revisiting."""
    parts = []
    for dataset, res in grids:
        b, s = res.mean_sd("BERT4Rec", "ndcg@10"), res.mean_sd("SASRec", "ndcg@10")
        if None in (b, s):
            parts.append(f"{dataset}: not run yet")
            continue
        p = res.holm_p("BERT4Rec", "ndcg@10", baseline="SASRec")
        verdict = "not significant" if p is None or p >= 0.05 else ("higher" if b[0] > s[0] else "lower")
        parts.append(f"{dataset}: BERT4Rec's NDCG@10 is {b[0] / s[0]:.2f} of SASRec's ({verdict}, Holm p "
                     f"{p_cell(p)})")
    return "BERT4Rec against SASRec (full ranking, 3 seeds): " + "; ".join(parts) + "."


def gsasrec_claim(grids):
    """gSASRec's claim: gBCE with many negatives approaches the full softmax at a lower cost."""
    parts = []
    for dataset, res in grids:
        g, s, b = (res.mean_sd(m, "ndcg@10") for m in ("gSASRec", "SASRec", "SASRec (BCE)"))
        tg, ts = res.mean_sd("gSASRec", "median_epoch_seconds"), res.mean_sd("SASRec", "median_epoch_seconds")
        if None in (g, s, b, tg, ts):
            parts.append(f"{dataset}: not run yet")
            continue
        parts.append(f"{dataset}: gSASRec's NDCG@10 is {g[0] / s[0]:.2f} of the softmax SASRec's and {g[0] / b[0]:.2f} "
                     f"times the one-negative BCE's, at {tg[0] / ts[0]:.2f} times the softmax's time an epoch")
    return "gSASRec against SASRec (full ranking, 3 seeds): " + "; ".join(parts) + "."


def parity_blocks(results_class, folder):
    grid = lambda name: results_class(os.path.join(folder, name))
    lastfm, beauty = grid("lastfm"), grid("beauty")
    return {
        "parity_lastfm_full": lastfm_table(lastfm, "main"),
        "parity_lastfm_sampled": lastfm_table(lastfm, SAMPLED),
        "parity_lastfm_verdict": verdict(lastfm, "LastFM", LASTFM_ROWS),
        "parity_beauty_poprec": beauty_poprec(beauty, grid("beauty-poprec-ties")),
        "parity_beauty_trained": beauty_trained(beauty),
        "parity_beauty_verdict": verdict(beauty, "Beauty", [("PopRec (counts over train + validation)", POP_VALID)] +
                                         BEAUTY_TRAINED),
        "parity_beauty_ties": beauty_ties_sentence(beauty),
        "parity_lastfm_variants": variants_table(lastfm, grid("lastfm-sasrec-variants")),
        "parity_next_baselines": next_baselines_table([("LastFM", lastfm), ("Beauty", beauty)]),
        "parity_gsasrec_claim": gsasrec_claim([("LastFM", lastfm), ("Beauty", beauty)]),
        "parity_bert4rec_claim": bert4rec_claim([("LastFM", lastfm), ("Beauty", beauty)]),
        "parity_beauty_bert4rec_recbole": bert4rec_recbole_table(
            grid("beauty-recbole-bert4rec"), os.path.join(os.path.dirname(folder), "recbole-beauty-bert4rec.jsonl")),
        "parity_lastfm_recbole": recbole_table(grid("lastfm-recbole-settings"),
                                               os.path.join(os.path.dirname(folder), "recbole-lastfm-sasrec.jsonl")),
    }
