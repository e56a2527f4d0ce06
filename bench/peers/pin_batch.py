#!/usr/bin/python3
"""Copy a batch-1 ONNX model as a batch-B one, so the QDQ model that `dpuflow quantize` makes
(it calibrates row by row, so it takes a batch-1 or dynamic-batch model and folds batch 1 into
the attention Reshape shapes) runs at the same static [B, S] shapes as the FP32 files:

    /usr/bin/python3 bench/peers/pin_batch.py IN.onnx OUT.onnx B

Sets dim 0 of every graph input and output to B, and rewrites every constant Reshape target
of rank >= 3 whose first entry is the old batch (1): in these BERT graphs those are exactly the
[batch, seq, heads, head_dim] and [batch, seq, hidden] reshapes. Only meant for the
bench models, not a general tool.
"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    if len(sys.argv) != 4 or not sys.argv[3].isdigit() or int(sys.argv[3]) < 1:
        print(__doc__, file=sys.stderr)
        return 2
    m = onnx.load(sys.argv[1])
    b = int(sys.argv[3])
    for v in list(m.graph.input) + list(m.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims) >= 1 and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = b
        elif len(dims) >= 1 and dims[0].dim_value != b:
            if dims[0].dim_value != 1:
                print("pin_batch: %s: '%s' has static batch %d; only 1 or dynamic can be re-pinned"
                      % (sys.argv[1], v.name, dims[0].dim_value), file=sys.stderr)
                return 1
            dims[0].dim_value = b
    inits = {i.name: i for i in m.graph.initializer}
    done = set()
    for n in m.graph.node:
        if n.op_type != "Reshape" or len(n.input) < 2 or n.input[1] not in inits or n.input[1] in done:
            continue
        t = numpy_helper.to_array(inits[n.input[1]])
        if t.ndim == 1 and t.size >= 3 and t[0] == 1:
            t = t.copy()
            t[0] = b
            inits[n.input[1]].CopyFrom(numpy_helper.from_array(t.astype(np.int64), n.input[1]))
            done.add(n.input[1])
    del m.graph.value_info[:]  # intermediate shapes recorded for batch 1 no longer hold
    tmp = sys.argv[2] + ".tmp"
    onnx.save(m, tmp)
    os.replace(tmp, sys.argv[2])
    print(sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
