#!/usr/bin/env python3
"""Score any ONNX model (FP32 export or INT8 QDQ deploy_model.onnx) on the demo held-out set,
through `dpuflow infer --json`, so FP32 and INT8 are measured the same way.

    python3 tools/eval_demo.py MODEL.onnx --vocab models/demo/tinybert-intent/vocab.txt
        [--task classify] [--data models/demo/data/heldout.tsv]
        [--labels models/demo/data/labels.txt] [--output NAME] [--dpuflow build/dpuflow]
        [--max-len 64] [--json RESULT.json]

    python3 tools/eval_demo.py MODEL.onnx --vocab models/demo/simcse-embed/vocab.txt --task embed
        [--index models/demo/data/train.tsv]

classify: argmax of the output (--output, default the first) against the label's line in
labels.txt; prints accuracy and every miss.
embed: embeds the index set and the held-out set; the nearest index sentence by cosine gives a
predicted intent (nearest-neighbour accuracy); also the mean cosine of same-intent and of
different-intent held-out pairs.

Plain python3 (no numpy): one `dpuflow infer` process per sentence. Exit 0 on success, 1 when
dpuflow fails, 2 on usage errors.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "models", "demo", "data")


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if "\t" not in line:
                sys.exit(f"eval_demo: {path}:{n}: expected 'label<TAB>text'")
            rows.append(tuple(line.split("\t", 1)))
    return rows


def infer(args, text):
    cmd = [args.dpuflow, "infer", args.model, "--vocab", args.vocab, "--text", text,
           "--max-len", str(args.max_len), "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"eval_demo: {' '.join(cmd[:3])} failed on {text!r}: {res.stderr.strip()}", file=sys.stderr)
        sys.exit(1)
    outs = json.loads(res.stdout)["outputs"]
    if args.output:
        for o in outs:
            if o["name"] == args.output:
                return o["data"]
        sys.exit(f"eval_demo: {args.model} has no output {args.output!r} "
                 f"(it has {', '.join(o['name'] for o in outs)})")
    return outs[0]["data"]


def normalize(v):
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser(description="score an ONNX model on the demo held-out set via dpuflow infer")
    ap.add_argument("model")
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--task", choices=["classify", "embed"], default="classify")
    ap.add_argument("--data", default=os.path.join(DATA, "heldout.tsv"))
    ap.add_argument("--labels", default=os.path.join(DATA, "labels.txt"))
    ap.add_argument("--index", default=os.path.join(DATA, "train.tsv"), help="embed: the sentences searched")
    ap.add_argument("--output", default=None, help="output name (default: the model's first output)")
    ap.add_argument("--dpuflow", default=os.path.join(ROOT, "build", "dpuflow"))
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args()
    for p in (args.model, args.vocab, args.data, args.dpuflow):
        if not os.path.exists(p):
            print(f"eval_demo: {p}: no such file", file=sys.stderr)
            return 2

    t0 = time.time()
    held = read_tsv(args.data)
    result = {"model": args.model, "task": args.task, "data": args.data, "n": len(held)}
    if args.task == "classify":
        with open(args.labels, encoding="utf-8") as f:
            labels = [l.strip() for l in f if l.strip()]
        hits = 0
        for gold, text in held:
            logits = infer(args, text)
            if len(logits) != len(labels):
                print(f"eval_demo: {args.model} gives {len(logits)} logits, {args.labels} has "
                      f"{len(labels)} labels", file=sys.stderr)
                return 1
            pred = labels[max(range(len(logits)), key=logits.__getitem__)]
            if pred == gold:
                hits += 1
            else:
                print(f"miss: {text}  (is {gold}, said {pred})")
        result["accuracy"] = round(hits / len(held), 4)
        print(f"accuracy {hits}/{len(held)} = {hits / len(held):.4f}")
    else:
        index = read_tsv(args.index)
        idx_vecs = [normalize(infer(args, t)) for _, t in index]
        held_vecs = [normalize(infer(args, t)) for _, t in held]
        hits = 0
        for (gold, text), v in zip(held, held_vecs):
            best = max(range(len(index)), key=lambda j: dot(v, idx_vecs[j]))
            hits += index[best][0] == gold
        same, diff = [], []
        for i in range(len(held)):
            for j in range(i + 1, len(held)):
                (same if held[i][0] == held[j][0] else diff).append(dot(held_vecs[i], held_vecs[j]))
        result.update({"nn_intent_accuracy": round(hits / len(held), 4), "index_n": len(index),
                       "mean_cos_same_intent": round(sum(same) / len(same), 4),
                       "mean_cos_diff_intent": round(sum(diff) / len(diff), 4)})
        print(f"nearest-neighbour intent accuracy {hits}/{len(held)} = {hits / len(held):.4f}; "
              f"mean cosine same intent {result['mean_cos_same_intent']:.4f}, "
              f"different intent {result['mean_cos_diff_intent']:.4f}")
    result["seconds"] = round(time.time() - t0, 1)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, ensure_ascii=False, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
