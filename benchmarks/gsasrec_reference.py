#!/usr/bin/env python3
"""gSASRec's reference code (asash/gSASRec-pytorch: its GSASRec model and the training loop of train_gsasrec.py,
gBCE included) on a RecBole .inter file under mmsr's leave-one-out protocol, for docs/protocol.md's peer check of
mmsr's gSASRec: each user's interactions in time order, the last for test and the one before for validation,
windows of 50, every item ranked with the user's earlier items removed (the target kept), NDCG@10 on validation
every epoch, the test NDCG@10 of the best validation epoch. Prints one JSON line.

  git clone https://github.com/asash/gSASRec-pytorch /tmp/gSASRec-pytorch
  .venv/bin/python benchmarks/gsasrec_reference.py --reference /tmp/gSASRec-pytorch \\
      --data ../shared/data/ml-100k/ml-100k.inter --negatives 256 --calibration 0.75 --init 0.02 \\
      >> results/gsasrec-reference-ml100k.jsonl

The model is the reference's (pre-LN blocks, a final LayerNorm, separate output embeddings unless --tied) at mmsr's
protocol-study size (d = 64, 2 blocks, 2 heads, dropout 0.2, batch 128, Adam lr 1e-3); --init 0.02 starts its
embeddings at normal(0, 0.02) as mmsr's ID tower does (the reference keeps PyTorch's normal(0, 1)).
"""
import argparse
import collections
import json
import math
import random
import sys
import time


def sequences(path):
    """Each user's items in time order (stable: equal timestamps keep the file's order), ids from 1."""
    rows, ids = collections.defaultdict(list), {}
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        user, item, when = (next(i for i, h in enumerate(header) if h.startswith(name)) for name in
                            ("user_id", "item_id", "timestamp"))
        for line in f:
            parts = line.rstrip("\n").split("\t")
            rows[parts[user]].append((float(parts[when]), ids.setdefault(parts[item], len(ids) + 1)))
    return [[i for _, i in sorted(v, key=lambda x: x[0])] for v in rows.values()], len(ids)


def gbce_loss(torch, logits, negatives, num_items, t, mask):
    """train_gsasrec.py's loss, line for line: the positive's logit transformed so that BCE gives -beta log s(pos)."""
    gt = torch.zeros_like(logits)
    gt[:, :, 0] = 1
    alpha = negatives / (num_items - 1)
    beta = alpha * ((1 - 1 / alpha) * t + 1 / alpha)
    positive_logits = logits[:, :, 0:1].to(torch.float64)
    negative_logits = logits[:, :, 1:].to(torch.float64)
    eps = 1e-10
    positive_probs = torch.clamp(torch.sigmoid(positive_logits), eps, 1 - eps)
    positive_probs_adjusted = torch.clamp(positive_probs.pow(-beta), 1 + eps, torch.finfo(torch.float64).max)
    to_log = torch.clamp(torch.div(1.0, (positive_probs_adjusted - 1)), eps, torch.finfo(torch.float64).max)
    logits = torch.cat([to_log.log(), negative_logits], -1)
    per_element = torch.nn.functional.binary_cross_entropy_with_logits(logits, gt.double(), reduction="none").mean(-1)
    return (per_element * mask).sum() / mask.sum()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="a checkout of asash/gSASRec-pytorch")
    ap.add_argument("--data", required=True, help="a RecBole .inter file with user_id, item_id and timestamp")
    ap.add_argument("--negatives", type=int, default=256)
    ap.add_argument("--calibration", type=float, default=0.75)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--patience", type=int, default=30)
    ap.add_argument("--init", type=float, default=0.0, help="std of a normal initialisation of the item tables "
                    "(0 keeps the reference's PyTorch default)")
    ap.add_argument("--tied", action="store_true", help="score against the input embeddings (reuse_item_embeddings)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, args.reference)
    import torch
    from gsasrec import GSASRec

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(1)
    seqs, n = sequences(args.data)
    pad_id, L = n + 1, 50
    model = GSASRec(n, sequence_length=L, embedding_dim=64, num_heads=2, num_blocks=2, dropout_rate=0.2,
                    reuse_item_embeddings=args.tied)
    if args.init > 0:
        with torch.no_grad():
            model.item_embedding.weight.normal_(0, args.init)
            if not args.tied:
                model.output_embedding.weight.normal_(0, args.init)
    optimiser = torch.optim.Adam(model.parameters())

    def window(s, length):
        s = s[-length:]
        return [pad_id] * (length - len(s)) + s

    def ndcg_at_10(cut):
        model.eval()
        total = 0.0
        with torch.no_grad():
            for b in range(0, len(seqs), 256):
                chunk = seqs[b:b + 256]
                states = model(torch.tensor([window(s[:-cut], L) for s in chunk]))[0][:, -1]
                scores = states @ model.get_output_embeddings().weight.T
                scores[:, 0] = -math.inf
                scores[:, pad_id:] = -math.inf
                for r, s in enumerate(chunk):
                    target = s[-cut]
                    keep = scores[r, target].item()
                    scores[r, torch.tensor(s[:-cut])] = -math.inf
                    rank = (scores[r] > keep).sum().item()  # rank 0 = first
                    total += 1 / math.log2(rank + 2) if rank < 10 else 0.0
        model.train()
        return total / len(seqs)

    train = [s[:-2] for s in seqs]
    curve, best, since, start = [], (-1.0, 0, 0.0), 0, time.time()
    for epoch in range(1, args.epochs + 1):
        random.shuffle(train)
        for b in range(0, len(train), 128):
            batch = torch.tensor([window(s, L + 1) for s in train[b:b + 128]])
            inputs, labels = batch[:, :-1], batch[:, 1:]
            negatives = torch.randint(1, pad_id, (inputs.size(0), L, args.negatives))
            states = model(inputs)[0]
            vectors = model.get_output_embeddings()(torch.cat([labels.unsqueeze(-1), negatives], -1))
            logits = torch.einsum("bse,bsne->bsn", states, vectors)
            mask = (inputs != pad_id).float() * (labels != pad_id).float()
            loss = gbce_loss(torch, logits, args.negatives, n, args.calibration, mask)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        valid = ndcg_at_10(2)
        curve.append(round(valid, 5))
        print(f"epoch {epoch}: valid NDCG@10 {valid:.4f}", file=sys.stderr, flush=True)
        if valid > best[0]:
            best, since = (valid, epoch, ndcg_at_10(1)), 0
        else:
            since += 1
            if since >= args.patience:
                break
    print(json.dumps({"tool": "gSASRec-pytorch (reference code)", "data": args.data.split("/")[-1],
                      "negatives": args.negatives, "calibration": args.calibration, "init": args.init,
                      "tied": args.tied, "seed": args.seed, "best_epoch": best[1], "valid_ndcg@10": round(best[0], 5),
                      "test_ndcg@10": round(best[2], 5), "epochs": len(curve), "valid_curve": curve,
                      "seconds": round(time.time() - start)}))


if __name__ == "__main__":
    main()
