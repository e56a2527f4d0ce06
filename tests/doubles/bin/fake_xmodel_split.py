#!/usr/bin/python3
"""Fake vai_c_xir's partitioner (tests only): fake_xmodel_split.py DFM META_JSON OUTDIR NET

Writes OUTDIR/NET.xmodel as a fake-xmodel manifest (tests/doubles/fake_vitis.h) over the
partition that dpuflow's own fpga compile wrote (the .dfm's dpu_subgraph attributes, and
meta.json's subgraph list), with one ONNX file per DPU subgraph under OUTDIR/NET_subgraphs/:
the subgraph's nodes, its boundary inputs as graph inputs, and each boundary output passed
through QuantizeLinear(scale 2^-fix) so the "DPU" hands back int8 at the fix position its
conv writes (out_fix), as a DPU does. Prints "<device subgraphs> <DPU subgraphs> <kernels...>".
FAKE_VAI_RENAME=1 names the DPU subgraphs as a vendor compiler would (not the .dfm's names)."""
import json
import os
import sys

import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

LAYOUT = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Relu"}


def attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return None


def main():
    dfm, meta_path, outdir, net = sys.argv[1:5]
    model = onnx.load(dfm)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    # Types and shapes of every value: QMatMul (ai.dpuflow) stood in for by MatMulInteger + Cast,
    # which have the same output shape, so ONNX's own inference covers the whole graph.
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    nodes = []
    for n in probe.graph.node:
        if n.op_type == "QMatMul":
            nodes.append(helper.make_node("MatMulInteger", [n.input[0], n.input[3]], [n.output[0] + "__probe"]))
            nodes.append(helper.make_node("Cast", [n.output[0] + "__probe"], [n.output[0]], to=TensorProto.FLOAT))
        else:
            nodes.append(n)
    del probe.graph.node[:]
    probe.graph.node.extend(nodes)
    inferred = shape_inference.infer_shapes(probe)
    types = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        types[vi.name] = vi.type.tensor_type

    producer = {o: n for n in g.node for o in n.output}
    graph_outputs = {o.name for o in g.output}
    order = []
    members = {}
    for n in g.node:
        sg = attr(n, "dpu_subgraph")
        if sg is None:
            continue
        sg = sg.decode() if isinstance(sg, bytes) else sg
        if sg not in members:
            members[sg] = []
            order.append(sg)
        members[sg].append(n)

    def out_fix(value, sub):
        for _ in range(64):
            n = producer.get(value)
            if n is None or n not in sub:
                break
            if n.op_type == "QMatMul":
                return attr(n, "out_fix")
            if n.op_type not in LAYOUT:
                break
            value = n.input[0]
        return None

    sub_dir = os.path.join(outdir, net + "_subgraphs")
    os.makedirs(sub_dir, exist_ok=True)
    rename = os.environ.get("FAKE_VAI_RENAME") == "1"
    files = {}
    kernels = []
    for i, name in enumerate(order):
        sub = members[name]
        made = {o for n in sub for o in n.output}
        ins, outs = [], []
        for n in sub:
            for x in n.input:
                if x and x not in made and x not in inits and x not in ins:
                    ins.append(x)
        outside = {x for n in g.node if n not in sub for x in n.input}
        for n in sub:
            for y in n.output:
                if (y in outside or y in graph_outputs) and y not in outs:
                    outs.append(y)
        body = []
        for n in sub:
            c = onnx.NodeProto()
            c.CopyFrom(n)
            for k, y in enumerate(c.output):
                if y in outs:
                    c.output[k] = y + "__float"
            for k, x in enumerate(c.input):
                if x in outs:
                    c.input[k] = x + "__float"
            body.append(c)
        inits_used = [inits[x] for n in sub for x in n.input if x in inits]
        extra = []
        for y in outs:
            fix = out_fix(y, sub)
            if fix is None:
                sys.exit("[UNILOG][FATAL][XCOM_FIX_ERROR] %s: output %s of %s has no out_fix" % (dfm, y, name))
            extra += [numpy_helper.from_array(__import__("numpy").array(2.0 ** -fix, dtype="float32"), y + "__scale"),
                      numpy_helper.from_array(__import__("numpy").array(0, dtype="int8"), y + "__zp")]
            body.append(helper.make_node("QuantizeLinear", [y + "__float", y + "__scale", y + "__zp"], [y]))

        def vi(name, elem):
            t = types[name]
            return helper.make_tensor_value_info(name, elem, [d.dim_value for d in t.shape.dim])

        seen = set()
        uniq = [t for t in inits_used if not (t.name in seen or seen.add(t.name))]
        sg = helper.make_graph(body, name, [vi(x, types[x].elem_type) for x in ins],
                               [vi(y, TensorProto.INT8) for y in outs], uniq + extra)
        m = helper.make_model(sg, opset_imports=model.opset_import, ir_version=model.ir_version)
        kname = "subgraph_%s_dpu%d" % (net, i) if rename else name
        path = os.path.join(net + "_subgraphs", kname + ".onnx")
        onnx.save(m, os.path.join(outdir, path))
        files[name] = (kname, path)
        kernels.append(kname)

    with open(meta_path) as f:
        subgraphs = json.load(f)["partition"]["subgraphs"]
    lines = ["FAKE-XMODEL 1", "subgraph_input USER"]
    for s in subgraphs:
        if s["device"] == "DPU":
            kname, path = files[s["name"]]
            lines.append("%s DPU %s" % (kname, path))
        else:
            lines.append("%s CPU" % s["name"])
    with open(os.path.join(outdir, net + ".xmodel"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(len(subgraphs), len(order), " ".join(kernels))


if __name__ == "__main__":
    main()
