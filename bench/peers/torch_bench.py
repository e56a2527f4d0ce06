#!/usr/bin/python3
"""Time PyTorch (Debian's python3-torch, eager, no_grad) on the benchmark architecture.

    /usr/bin/python3 bench/peers/torch_bench.py --model tinybert|bertbase [--seq 64]
                     [--batch 1] [--threads 1] [--runs 20] [--warmup N] [--int8]

Builds the same module and weights that bench/peers/make_bench_models.py exports (same
seeds, so the same FP32 weights as the ONNX files dpuflow and ORT run), optionally applies
torch.quantization.quantize_dynamic to its nn.Linear layers (--int8: per-tensor int8 weights,
activations quantized on the fly, FBGEMM), and prints the same one-line JSON as
`dpuflow bench-model --json` and `ort_run.mjs bench`:
    {"p50_ms": .., "p90_ms": .., "min_ms": .., "runs": ..}
Inputs: random ids in [0, vocab) (seeded), attention_mask all ones, token_type_ids zeros.
"""
import argparse
import json
import math
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_bench_models as mbm  # noqa: E402  (LastHidden, SHAPES, the fixture modules)


def percentile(sorted_v, p):
    # nearest rank, as ort_run.mjs does
    k = max(0, min(len(sorted_v) - 1, math.ceil(p / 100.0 * len(sorted_v)) - 1))
    return sorted_v[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(mbm.SHAPES), required=True)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=-1)
    ap.add_argument("--int8", action="store_true", help="torch.quantization.quantize_dynamic (nn.Linear, qint8)")
    a = ap.parse_args()
    if min(a.seq, a.batch, a.threads, a.runs) < 1:
        print("torch_bench: sizes must be >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    # One op at a time, as the other two engines run (sequential, no inter-op pool).
    torch.set_num_interop_threads(1)

    c = mbm.mm.bert_cfg(vocab_size=21128, max_position_embeddings=512, **mbm.SHAPES[a.model])
    torch.manual_seed(0)
    model = mbm.LastHidden(c)
    mbm.mm.init_weights(model, 0, c.pad_token_id)
    model.eval()
    if a.int8:
        model = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, c.vocab_size, (a.batch, a.seq), generator=g)
    mask = torch.ones(a.batch, a.seq, dtype=torch.long)
    tt = torch.zeros(a.batch, a.seq, dtype=torch.long)

    warm = a.warmup if a.warmup >= 0 else max(3, (a.runs + 9) // 10)
    times = []
    with torch.inference_mode():
        for _ in range(warm):
            model(ids, mask, tt)
        for _ in range(a.runs):
            t0 = time.perf_counter()
            model(ids, mask, tt)
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    r = lambda x: round(x, 3)  # noqa: E731
    print(json.dumps({"p50_ms": r(percentile(times, 50)), "p90_ms": r(percentile(times, 90)),
                      "min_ms": r(times[0]), "runs": a.runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
