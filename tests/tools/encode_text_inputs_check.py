#!/usr/bin/env python3
"""scripts/encode_text.py without its encoder: the item tables it reads (RecBole TSV, Amazon 2023 metadata JSON lines)
and the provenance sidecar it writes beside each feature file (the fields mmsr's protocol card shows)."""
import json
import os
import subprocess
import sys
import tempfile

root = sys.argv[1]
sys.path.insert(0, os.path.join(root, "scripts"))
import encode_text  # noqa: E402

with tempfile.TemporaryDirectory() as d:
    meta = os.path.join(d, "meta_All_Beauty.jsonl")
    with open(meta, "w") as f:
        f.write('{"parent_asin": "B1", "title": "Soap", "features": ["mild", "5 oz"], "description": [], '
                '"categories": ["Beauty", "Bath"]}\n\n{"parent_asin": "B2", "title": "Brush"}\n')
    items, texts = encode_text.read_items(meta, ["title", "features", "description", "categories"])
    assert items == ["B1", "B2"] and texts == ["Soap. mild 5 oz. Beauty Bath", "Brush"], (items, texts)

    table = os.path.join(d, "x.item")
    with open(table, "w") as f:
        f.write("item_id:token\ttitle:token_seq\tbrand:token\nA\tRed pen\tAcme\nB\tBlue pen\t\n")
    items, texts = encode_text.read_items(table, ["title", "brand"])
    assert items == ["A", "B"] and texts == ["Red pen. Acme", "Blue pen"], (items, texts)

    encode_text.write_provenance(os.path.join(d, "t.tokens.npy"), "token vectors", (2, 30, 384), "float16",
                                 encode_text.inputs_provenance(meta, ["title"]))
    p = json.load(open(os.path.join(d, "t.tokens.npy.provenance.json")))
    assert p["encoder"] == "all-MiniLM-L6-v2" and p["shape"] == [2, 30, 384] and p["dtype"] == "float16", p
    assert p["input"] == "meta_All_Beauty.jsonl" and len(p["input_sha256"]) == 64, p

    bad = os.path.join(d, "bad.jsonl")
    with open(bad, "w") as f:
        f.write('{"parent_asin": "B1"}\n{"title": "no key"}\n')
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {os.path.join(root, 'scripts')!r}); "
                           f"import encode_text; encode_text.read_items({bad!r}, ['title'])"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and f"{bad}:2: expected a JSON object with a 'parent_asin' key" in done.stderr, done
print("encode_text.py: item tables read, provenance sidecar written")
