#!/usr/bin/env python3
"""The same model, data and protocol in RecBole (the Python tool most users would otherwise pick), for the peer checks
of docs/parity.md and the side-by-side comparison of docs/performance.md.

Reads an S3-Rec file (one user per line: uid i1 i2 ...), writes it as a RecBole atomic file (the line order as the
timestamp), and trains RecBole's SASRec, GRU4Rec, NextItNet or BERT4Rec under the S3-Rec protocol that mmsr's parity grids use:
leave-one-out by time, all items ranked with the user's history removed, full softmax (CE), the epoch chosen on
validation NDCG@10. Prints one JSON line per seed: test HR@10 / NDCG@10, the selected epoch, seconds per training
epoch and per evaluation, time to the first epoch, and peak memory.

  benchmarks/recbole_peer.py --data ../shared/data/s3rec/LastFM.txt --model SASRec --seeds 1 2 3 \\
      --batch-size 64 --dropout 0.5 --patience 40 --threads 1 > results/recbole-lastfm-sasrec.jsonl

Installs RecBole 1.2.1 into the project's .venv on first use (without its optional ray/plotly dependencies).

A converged run of RecBole's SASRec on Beauty takes hours on a small CPU, longer than one sitting: with --resume-dir
each seed keeps its state there at the start of every epoch (weights, optimiser, early-stopping counters, random
streams, timings so far, the best epoch's weights) and a rerun of the same command continues from the epoch that was
interrupted. Progress goes to stderr, one line per epoch.
"""
import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def ensure_recbole():
    # RecBole's own dependencies, less ray and plotly (its hyper-parameter search and charts, not used here).
    needed = {"colorlog": "colorlog", "colorama": "colorama", "pandas": "pandas", "yaml": "pyyaml",
              "tabulate": "tabulate", "texttable": "texttable", "thop": "thop", "tensorboard": "tensorboard",
              "psutil": "psutil", "scipy": "scipy", "sklearn": "scikit-learn", "tqdm": "tqdm"}
    import importlib.util
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    if importlib.util.find_spec("recbole") is None:
        subprocess.check_call(pip + ["recbole==1.2.1", "--no-deps"])
    missing = [package for module, package in needed.items() if importlib.util.find_spec(module) is None]
    if missing:
        subprocess.check_call(pip + missing)
    import numpy as np
    # RecBole 1.2.1 predates NumPy 2: it aliases names NumPy 2 removed.
    for old, new in (("float_", "float64"), ("complex_", "complex128"), ("unicode_", "str_")):
        if not hasattr(np, old):
            setattr(np, old, getattr(np, new))


def atomic_file(s3rec_path, work):
    name = os.path.splitext(os.path.basename(s3rec_path))[0].lower()
    folder = os.path.join(work, name)
    os.makedirs(folder, exist_ok=True)
    with open(s3rec_path) as src, open(os.path.join(folder, name + ".inter"), "w") as out:
        out.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for line in src:
            parts = line.split()
            for t, item in enumerate(parts[1:]):
                out.write(f"{parts[0]}\t{item}\t{t}\n")
    return name


def count_positions_from_the_end(model):
    """RecBole's SASRec.forward with one change: the newest item of every sequence gets the last position (L - 1),
    the one before it L - 2, and so on, whatever the sequence's length; padding positions are masked anyway."""
    import types
    import torch

    def forward(self, item_seq, item_seq_len):
        L = item_seq.size(1)
        steps = torch.arange(L, dtype=torch.long, device=item_seq.device).unsqueeze(0)
        position_ids = (steps - item_seq_len.unsqueeze(1) + L).clamp(0, L - 1)
        input_emb = self.item_embedding(item_seq) + self.position_embedding(position_ids)
        input_emb = self.dropout(self.LayerNorm(input_emb))
        output = self.trm_encoder(input_emb, self.get_attention_mask(item_seq), output_all_encoded_layers=True)[-1]
        return self.gather_indexes(output, item_seq_len - 1)

    model.forward = types.MethodType(forward, model)


def drop_inside_feed_forward(model):
    """RecBole's FeedForward with one change: its dropout (the hidden dropout) is also applied after the activation,
    before the second layer."""
    import types
    from recbole.model.layers import FeedForward

    def forward(self, input_tensor):
        hidden = self.dropout(self.intermediate_act_fn(self.dense_1(input_tensor)))
        hidden = self.dropout(self.dense_2(hidden))
        return self.LayerNorm(hidden + input_tensor)

    for module in model.modules():
        if isinstance(module, FeedForward):
            module.forward = types.MethodType(forward, module)


def remove_history(model, dataset, s3rec_path, phase):
    """Evaluation under the S3-Rec protocol: every item of the user's input history (the whole of it, not only the
    last MAX_ITEM_LIST_LENGTH) leaves the candidates, except the target itself, as mmsr's mask_history does. RecBole
    removes nothing for sequential models. phase["name"] says whether the validation input (all but the last two
    items) or the test input (all but the last) is being ranked."""
    import torch
    users, items = dataset.field2token_id[dataset.uid_field], dataset.field2token_id[dataset.iid_field]
    sequences = {}
    with open(s3rec_path) as f:
        for line in f:
            parts = line.split()
            sequences[users[parts[0]]] = torch.tensor([items[t] for t in parts[1:]], dtype=torch.long)
    predict = model.full_sort_predict

    def predict_without_history(interaction):
        scores = predict(interaction)
        cut = 2 if phase["name"] == "valid" else 1
        user_ids, targets = interaction[dataset.uid_field].tolist(), interaction[dataset.iid_field]
        histories = [sequences[u][:-cut] for u in user_ids]
        rows = torch.cat([torch.full((len(h),), r, dtype=torch.long) for r, h in enumerate(histories)])
        scores = scores.view(len(user_ids), -1).clone()
        everyone = torch.arange(len(user_ids))
        target_scores = scores[everyone, targets].clone()
        scores[rows, torch.cat(histories)] = -float("inf")
        scores[everyone, targets] = target_scores
        return scores

    model.full_sort_predict = predict_without_history


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="SASRec", choices=["SASRec", "GRU4Rec", "NextItNet", "BERT4Rec"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--as-shipped", action="store_true",
                    help="leave autograd's anomaly detection on, as importing RecBole 1.2.1 switches it on")
    ap.add_argument("--positions", choices=["from_start", "from_end"], default="from_start",
                    help="SASRec's learned positions: from_start is RecBole's (sequences padded on the right, the first "
                         "item at position 0); from_end counts back from the newest item, as the original SASRec, "
                         "S3-Rec and mmsr do (left padding): an investigation of the two tools' difference, not RecBole")
    ap.add_argument("--ffn-dropout", action="store_true",
                    help="SASRec: dropout also between the feed-forward's two layers (after the activation), as the "
                         "original SASRec and mmsr's transformer apply it; RecBole applies it only after the second")
    ap.add_argument("--mask-history", action="store_true",
                    help="evaluate under the S3-Rec protocol (mmsr's mask_history = true): the user's earlier items "
                         "leave the candidates; RecBole keeps them for sequential models")
    ap.add_argument("--resume-dir", help="keep each seed's state here every epoch; rerunning continues from it")
    args = ap.parse_args()
    # The script works in a folder of its own (RecBole writes its logs into the current one): paths given relative to
    # where it was started are made absolute first.
    args.data = os.path.abspath(args.data)
    if args.resume_dir:
        args.resume_dir = os.path.abspath(args.resume_dir)
    # RecBole reloads the best epoch it saved itself with torch.load, which PyTorch >= 2.6 restricts by default.
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    ensure_recbole()
    import torch
    torch.set_num_threads(args.threads)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    work = tempfile.mkdtemp(prefix="mmsr-recbole-")
    dataset = atomic_file(args.data, work)
    os.chdir(work)  # RecBole writes its logs (log/, log_tensorboard/) into the current folder
    model_settings = {
        "SASRec": {"n_layers": 2, "n_heads": 2, "hidden_size": args.dim, "inner_size": 4 * args.dim,
                   "hidden_dropout_prob": args.dropout, "attn_dropout_prob": args.dropout, "hidden_act": "gelu",
                   "layer_norm_eps": 1e-12, "initializer_range": 0.02},
        "GRU4Rec": {"embedding_size": args.dim, "hidden_size": args.dim, "num_layers": 1, "dropout_prob": 0.3},
        "NextItNet": {"embedding_size": args.dim, "block_num": 2, "dilations": [1, 4], "kernel_size": 3, "reg_weight": 0},
        # The Cloze task's mask_ratio 0.2 and ft_ratio 0.5 are RecBole's BERT4Rec.yaml defaults, as mmsr's bert4rec's.
        "BERT4Rec": {"n_layers": 2, "n_heads": 2, "hidden_size": args.dim, "inner_size": 4 * args.dim,
                     "hidden_dropout_prob": args.dropout, "attn_dropout_prob": args.dropout, "hidden_act": "gelu",
                     "layer_norm_eps": 1e-12, "initializer_range": 0.02, "mask_ratio": 0.2, "ft_ratio": 0.5},
    }[args.model]
    for seed in args.seeds:
        settings = {
            "data_path": work, "dataset": dataset, "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id",
            "TIME_FIELD": "timestamp", "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "MAX_ITEM_LIST_LENGTH": args.max_len,
            "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
            "train_neg_sample_args": None, "loss_type": "CE", "epochs": args.epochs,
            "stopping_step": args.patience, "train_batch_size": args.batch_size, "eval_batch_size": 4096,
            "learning_rate": args.lr, "metrics": ["Hit", "NDCG"], "topk": [10], "valid_metric": "NDCG@10",
            "seed": seed, "reproducibility": True, "show_progress": False, "device": "cpu", "use_gpu": False,
            "checkpoint_dir": os.path.join(work, "saved"), "log_wandb": False, "state": "WARNING",
        }
        settings.update(model_settings)
        state_file = None
        if args.resume_dir:
            # The state belongs to one seed under one set of settings; a changed setting starts afresh.
            identity = [args.model, os.path.abspath(args.data), {
                k: v for k, v in settings.items() if k not in ("data_path", "checkpoint_dir")}]
            if args.positions != "from_start":
                identity.append(args.positions)
            if args.ffn_dropout:
                identity.append("ffn_dropout")
            if args.mask_history:
                identity.append("mask_history")
            key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
            folder = os.path.join(os.path.abspath(args.resume_dir), f"{args.model}-seed{seed}-{key}")
            os.makedirs(folder, exist_ok=True)
            settings["checkpoint_dir"] = folder
            state_file = os.path.join(folder, "latest.pth")
        start = time.perf_counter()
        config = Config(model=args.model, config_dict=settings)
        init_seed(seed, True)
        data = create_dataset(config)
        train, valid, test = data_preparation(config, data)
        model = get_model(args.model)(config, train.dataset)
        # Importing RecBole's models runs recbole/model/sequential_recommender/sine.py, which switches autograd's
        # anomaly detection on for the whole process: a debugging mode that records a Python stack trace for every
        # operation and checks every backward result, several times slower on a CPU and no different in what it
        # computes. A careful RecBole user turns it off, so the comparison does too unless asked for RecBole as shipped.
        torch.autograd.set_detect_anomaly(args.as_shipped)
        if args.positions == "from_end":
            if args.model != "SASRec":
                ap.error("--positions from_end is for SASRec")
            count_positions_from_the_end(model)
        if args.ffn_dropout:
            if args.model != "SASRec":
                ap.error("--ffn-dropout is for SASRec")
            drop_inside_feed_forward(model)
        trainer = get_trainer(config["MODEL_TYPE"], args.model)(config, model)
        if args.mask_history:
            phase = {"name": "valid"}
            remove_history(model, data, args.data, phase)
            evaluate = trainer.evaluate

            def evaluate_in_phase(eval_data, *a, **k):
                phase["name"] = "valid" if eval_data is valid else "test"
                return evaluate(eval_data, *a, **k)

            trainer.evaluate = evaluate_in_phase
        epoch_times, eval_times, scores, first_epoch, peak_before = [], [], [], None, 0.0
        if state_file and os.path.exists(state_file):
            import numpy as np
            state = torch.load(state_file, map_location="cpu", weights_only=False)
            model.load_state_dict(state["model"])
            trainer.optimizer.load_state_dict(state["optimizer"])
            trainer.start_epoch, trainer.cur_step = state["epoch"], state["cur_step"]
            trainer.best_valid_score, trainer.best_valid_result = state["best_valid_score"], state["best_valid_result"]
            trainer.saved_model_file = state["saved_model_file"]
            torch.set_rng_state(state["torch_rng"])
            np.random.set_state(state["numpy_rng"])
            random.setstate(state["python_rng"])
            train.generator.set_state(state["loader_rng"])
            epoch_times, eval_times, scores = state["epoch_times"], state["eval_times"], state["scores"]
            first_epoch, peak_before = state["seconds_to_first_epoch"], state["peak_rss_mb"]
            print(f"seed {seed}: resuming at epoch {trainer.start_epoch + 1} from {state_file}", file=sys.stderr)
        resumed_at = trainer.start_epoch
        train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch

        def peak_rss_mb():
            return max(peak_before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)

        def save_state(epoch_idx):
            # Called as epoch epoch_idx starts: every update of the previous epoch (early stopping, best weights) is
            # done and nothing of this one has drawn a random number yet.
            import numpy as np
            torch.save({
                "model": model.state_dict(), "optimizer": trainer.optimizer.state_dict(), "epoch": epoch_idx,
                "cur_step": trainer.cur_step, "best_valid_score": trainer.best_valid_score,
                "best_valid_result": trainer.best_valid_result, "saved_model_file": trainer.saved_model_file,
                "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
                "python_rng": random.getstate(), "loader_rng": train.generator.get_state(),
                "epoch_times": epoch_times, "eval_times": eval_times, "scores": scores,
                "seconds_to_first_epoch": first_epoch, "peak_rss_mb": peak_rss_mb(),
            }, state_file + ".tmp")
            os.replace(state_file + ".tmp", state_file)

        def timed_train(data_loader, epoch_idx, *a, **k):
            nonlocal first_epoch
            if state_file and epoch_idx > resumed_at:
                save_state(epoch_idx)
            t = time.perf_counter()
            if first_epoch is None:
                first_epoch = t - start
            out = train_epoch(data_loader, epoch_idx, *a, **k)
            epoch_times.append(time.perf_counter() - t)
            print(f"seed {seed} epoch {epoch_idx + 1} loss {float(sum(out) if isinstance(out, tuple) else out):.4f} ({epoch_times[-1]:.1f}s)",
                  file=sys.stderr, flush=True)
            return out

        def timed_valid(*a, **k):
            t = time.perf_counter()
            out = valid_epoch(*a, **k)
            eval_times.append(time.perf_counter() - t)
            scores.append(float(out[0]))
            print(f"seed {seed} validation ndcg@10 {scores[-1]:.4f} ({eval_times[-1]:.1f}s)", file=sys.stderr,
                  flush=True)
            return out

        trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid
        trainer.fit(train, valid, saved=True, show_progress=False)
        result = trainer.evaluate(test, load_best_model=True, show_progress=False)
        print(json.dumps({
            "tool": "RecBole 1.2.1", "model": args.model, "data": os.path.basename(args.data), "seed": seed,
            "hr@10": float(result["hit@10"]), "ndcg@10": float(result["ndcg@10"]),
            "best_epoch": 1 + max(range(len(scores)), key=lambda i: (scores[i], -i)) if scores else 0,
            "epochs": len(epoch_times), "seconds_per_epoch": sum(epoch_times) / max(1, len(epoch_times)),
            "seconds_per_eval": sum(eval_times) / max(1, len(eval_times)), "seconds_to_first_epoch": first_epoch,
            "peak_rss_mb": peak_rss_mb(), "resumed": bool(state_file) and resumed_at > 0,
            "anomaly_detection": args.as_shipped, "positions": args.positions,
            "ffn_dropout": args.ffn_dropout, "mask_history": args.mask_history,
            "settings": {k: v for k, v in settings.items() if k not in ("data_path", "checkpoint_dir")},
        }), flush=True)


if __name__ == "__main__":
    main()
