#!/usr/bin/python3
"""ORT-style dynamic INT8 model from an FP32 ONNX model (what onnxruntime's quantize_dynamic
makes, written with onnx alone because its Python quantizer is not installed here):

    /usr/bin/python3 bench/peers/make_dynamic_int8.py IN.onnx OUT.onnx

For every MatMul with a constant 2-D float weight [K,N]:
    x -> DynamicQuantizeLinear -> (x_u8, x_scale, x_zp)
    MatMulInteger(x_u8, W_s8, x_zp, 0) -> int32 -> Cast(float) -> Mul(x_scale * w_scale)
with W quantized per tensor, symmetric int8 (ORT's default for MatMulInteger weights), and one
DynamicQuantizeLinear per activation however many MatMuls read it. ORT's optimizer fuses the
chain into DynamicQuantizeMatMul / MatMulIntegerToFloat. Gemm nodes (pooler) stay float.
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    m = onnx.load(sys.argv[1])
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    nodes = []
    dq = {}
    for n in g.node:
        w = inits.get(n.input[1]) if n.op_type == "MatMul" and len(n.input) == 2 else None
        if w is None or len(w.dims) != 2 or w.data_type != TensorProto.FLOAT:
            nodes.append(n)
            continue
        x = n.input[0]
        base = x.replace("/", "_").strip("_")
        if x not in dq:
            nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [base + "_u8", base + "_s", base + "_zp"],
                                          name=base + "_DynQ"))
            dq[x] = base
        wf = numpy_helper.to_array(w).astype(np.float32)
        amax = float(np.abs(wf).max()) or 1.0
        ws = amax / 127.0
        wq = np.clip(np.rint(wf / ws), -127, 127).astype(np.int8)
        wn = n.input[1] + "_s8"
        g.initializer.extend([numpy_helper.from_array(wq, wn),
                              numpy_helper.from_array(np.array(ws, np.float32), wn + "_scale"),
                              numpy_helper.from_array(np.array(0, np.int8), wn + "_zp")])
        o = n.output[0]
        nodes.append(helper.make_node("MatMulInteger", [dq[x] + "_u8", wn, dq[x] + "_zp", wn + "_zp"], [o + "_i32"],
                                      name=n.name + "_MatMulInteger"))
        nodes.append(helper.make_node("Cast", [o + "_i32"], [o + "_f"], to=TensorProto.FLOAT, name=n.name + "_Cast"))
        nodes.append(helper.make_node("Mul", [dq[x] + "_s", wn + "_scale"], [o + "_sc"], name=n.name + "_Scale"))
        nodes.append(helper.make_node("Mul", [o + "_f", o + "_sc"], [o], name=n.name + "_Mul"))
    used = {i for n in nodes for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.node[:]
    g.node.extend(nodes)
    for op in m.opset_import:
        if op.domain in ("", "ai.onnx") and op.version < 11:
            op.version = 11
    onnx.checker.check_model(m)
    onnx.save(m, sys.argv[2])
    print(sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
