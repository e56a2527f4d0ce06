#!/usr/bin/python3
"""Export the benchmark models (random weights, static shapes) for bench/peers/run.sh.

    /usr/bin/python3 bench/peers/make_bench_models.py [--out build/bench-models]
                     [--quick] [--opset 13] [--batches 1,8] [--seq 64] [--dynamic-batch]

Models (BertModel, HF names and forward from tests/fixtures/make_models.py, output
`last_hidden_state`, inputs input_ids / attention_mask / token_type_ids, int64, static):

  tinybert   4 layers, hidden 312, 12 heads, FFN 1200, vocab 21128, max_pos 512
  bertbase  12 layers, hidden 768, 12 heads, FFN 3072, vocab 21128, max_pos 512  (not --quick)

Writes <out>/<model>_b<B>_s<S>_op<N>.onnx, skipping files that already exist, and prints
one path per line on stdout (what run.sh benchmarks).
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))
import make_models as mm  # noqa: E402  (HF-shaped modules and the deterministic init)

SHAPES = {
    "tinybert": dict(num_hidden_layers=4, hidden_size=312, num_attention_heads=12,
                     intermediate_size=1200),
    "bertbase": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12,
                     intermediate_size=3072),
}


class LastHidden(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = mm.BertModel(c, add_pooling_layer=False)

    def forward(self, input_ids, attention_mask, token_type_ids):
        seq, _ = self.model(input_ids, attention_mask, token_type_ids)
        return seq


def build(name, batch, seq, opset, path, dynamic_batch=False):
    c = mm.bert_cfg(vocab_size=21128, max_position_embeddings=512, **SHAPES[name])
    torch.manual_seed(0)
    model = LastHidden(c)
    mm.init_weights(model, 0, c.pad_token_id)
    model.eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, c.vocab_size, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    tt = torch.zeros(batch, seq, dtype=torch.long)
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask, tt), tmp,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], opset_version=opset,
                          do_constant_folding=True,
                          dynamic_axes=({n: {0: "batch"} for n in ("input_ids", "attention_mask",
                                         "token_type_ids", "last_hidden_state")}
                                        if dynamic_batch else None))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "build", "bench-models"))
    ap.add_argument("--quick", action="store_true", help="TinyBERT only")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--dynamic-batch", action="store_true",
                    help="also export <model>_bdyn_s<S>_op<N>.onnx (batch axis dynamic: what "
                         "dpuflow quantize calibrates row by row), printed first")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = ["tinybert"] if args.quick else ["tinybert", "bertbase"]
    for name in names:
        if args.dynamic_batch:
            path = os.path.join(os.path.abspath(args.out), "%s_bdyn_s%d_op%d.onnx" % (name, args.seq, args.opset))
            if not os.path.exists(path):
                print("make_bench_models: exporting %s" % path, file=sys.stderr)
                build(name, 1, args.seq, args.opset, path, dynamic_batch=True)
            print(path)
        for b in [int(x) for x in args.batches.split(",") if x]:
            path = os.path.join(os.path.abspath(args.out),
                                "%s_b%d_s%d_op%d.onnx" % (name, b, args.seq, args.opset))
            if not os.path.exists(path):
                print("make_bench_models: exporting %s" % path, file=sys.stderr)
                build(name, b, args.seq, args.opset, path)
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
