#!/bin/bash
# fpga target end to end: `dpuflow build` of the bert_tiny fixture with platform fpga (pof2,
# DPUCZDX8G/ZCU104, [1,16]) -> the .dfm, meta.json, compile_log.txt, md5sum.txt and
# quant_info.json; the report's placement follows the rules; `dpuflow run --backend dpu-sim`
# on the artifact agrees with the quantizer's QDQ model run on cpu (cosine >= 0.99 per row).
set -u
BIN=${DF_BIN:?DF_BIN must point at the dpuflow binary}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
$PY -c 'import numpy' 2>/dev/null || { echo "fpga_build: skipped (no numpy for $PY)"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
has() { # name pattern file
    if grep -q -- "$2" "$3"; then ok "$1"; else bad "$1: no '$2' in $3"; fi
}
FIX=$SRC/tests/fixtures
cat >model.json <<JSON
{"model_name": "bert_tiny", "framework": "pytorch", "model_path": "$FIX/hf/bert_tiny",
 "tokenizer": "$FIX/hf/bert_tiny/vocab.txt", "task": "intent_classify", "input_shape": [1, 16],
 "calibration": {"samples": 16}, "quantization": {"scale": "pof2"},
 "target": {"platform": "fpga", "arch": "DPUCZDX8G/ZCU104"}, "output_dir": "$TMP/out"}
JSON
if "$BIN" build model.json --registry "$TMP/reg.json" >build.out 2>&1; then ok "build fpga"; else bad "build fpga"; cat build.out; fi
C=out/compiled
for f in bert_tiny_fpga.dfm meta.json compile_log.txt md5sum.txt quant_info.json; do
    [ -s "$C/$f" ] && ok "artifact $f" || bad "artifact $f missing"
done
(cd "$C" && md5sum -c md5sum.txt >/dev/null 2>&1) && ok "md5sum -c md5sum.txt" || bad "md5sum -c md5sum.txt"
L=$C/compile_log.txt
has "vendor-style summary" "Total device subgraph number [0-9]*, DPU subgraph number [0-9]*" "$L"
has "target and fingerprint" "DPUCZDX8G/ZCU104, B4096 x 2 cores @ 300 MHz, fingerprint 0x101000056010407" "$L"
has "Linear -> DPU conv" "DPU  QMatMul .*conv 1x1 in_ch 32" "$L"
has "QK^T -> CPU" "CPU  MatMul .*MatMul of two activations" "$L"
has "Softmax -> CPU" "CPU  Softmax .*no DPU engine" "$L"
has "LayerNorm decomposition -> CPU" "CPU  ReduceMean .*LayerNorm decomposition" "$L"
has "GELU -> CPU" "CPU  Erf .*GELU" "$L"
has "Gather -> CPU" "CPU  Gather .*no DPU engine" "$L"
has "int64 -> CPU" "CPU  Cast .*int64" "$L"
has "boundary tensors" "  in   .* bytes" "$L"
has "cost model" "latency [0-9.]* ms" "$L"
# No CPU QMatMul and no DPU Softmax/Erf/LayerNorm anywhere.
if grep -qE "CPU  QMatMul|DPU  (Softmax|Erf|ReduceMean|Gather|MatMul )" "$L"; then bad "placement rules"; else ok "placement rules"; fi
$PY - "$C/meta.json" <<'PY' && ok "meta.json fields" || bad "meta.json fields"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["target"] == "DPUCZDX8G/ZCU104" and m["fingerprint"] == "0x101000056010407"
assert m["kernels"] and all(k.startswith("subgraph_dpu_") for k in m["kernels"])
p = m["partition"]
assert p["dpu_subgraphs"] == len(m["kernels"]) and p["device_subgraphs"] == m["task_count"]
assert 50 < m["dpu_coverage_macs_pct"] <= 100, m["dpu_coverage_macs_pct"]
assert m["estimated_latency_ms"] > 0 and m["max_task_time_us"] > 0
assert m["fallback_ops"] and all(f["reason"] for f in m["fallback_ops"])
assert m["out_fix_measured"] == 14
print("meta: %d subgraphs, %d DPU, coverage %.1f%%, latency %.3f ms" % (m["task_count"], p["dpu_subgraphs"],
      m["dpu_coverage_macs_pct"], m["estimated_latency_ms"]))
PY
# dpu-sim vs the quantizer's QDQ model on cpu, row by row.
$PY - out/calib/calib_data.npz <<'PY'
import numpy as np, sys
d = np.load(sys.argv[1])
for r in range(8):
    np.savez("row%d.npz" % r, **{k: v[r:r + 1] for k, v in d.items()})
PY
rc=0
for r in 0 1 2 3 4 5 6 7; do
    "$BIN" run "$C/bert_tiny_fpga.dfm" --inputs row$r.npz --out sim$r.npz --backend dpu-sim 2>>run.err || rc=1
    "$BIN" run out/quant/deploy_model.onnx --inputs row$r.npz --out qdq$r.npz 2>>run.err || rc=1
    "$BIN" run "$C/bert_tiny_fpga.dfm" --inputs row$r.npz --out cpu$r.npz 2>>run.err || rc=1
done
[ $rc = 0 ] && ok "run dpu-sim / cpu" || { bad "run dpu-sim / cpu"; cat run.err; }
$PY - <<'PY' && ok "dpu-sim matches the QDQ model (cosine >= 0.99)" || bad "dpu-sim vs QDQ"
import numpy as np
cmin, dmax, cpu_dmax = 1.0, 0.0, 0.0
for r in range(8):
    a, b, c = np.load("sim%d.npz" % r), np.load("qdq%d.npz" % r), np.load("cpu%d.npz" % r)
    for k in b:
        x, y, z = (t[k].astype(np.float64).ravel() for t in (a, b, c))
        cmin = min(cmin, x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
        dmax = max(dmax, np.abs(x - y).max())
        cpu_dmax = max(cpu_dmax, np.abs(z - y).max())
print("dpu-sim vs QDQ on cpu: min cosine %.6f, max abs diff %.4g; .dfm on cpu vs QDQ: max abs diff %.3g"
      % (cmin, dmax, cpu_dmax))
assert cmin >= 0.99 and cpu_dmax < 1e-4
assert dmax > 0  # the DPU's rounding and requantization must show
PY
# The other profiles and arch.json files.
"$BIN" compile out/quant/deploy_model.onnx --name bt --platform fpga --arch "$FIX/fpga/arch_b1152.json" --shape 1,16 \
    --out c_b1152 >c.out 2>&1 && has "arch.json B1152 decodes" "PP 4 ICP 12 OCP 12: 1152 ops/cycle" c_b1152/compile_log.txt ||
    { bad "compile with arch.json"; cat c.out; }
"$BIN" compile out/quant/deploy_model.onnx --name bt --platform fpga --arch DPUCZDX8G/ZCU102 --shape 1,16 \
    --out c_zcu102 >c.out 2>&1 && has "ZCU102 profile" "B4096 x 3 cores @ 281 MHz" c_zcu102/compile_log.txt ||
    { bad "compile ZCU102"; cat c.out; }
if "$BIN" compile out/quant/deploy_model.onnx --name bt --platform fpga --arch "$FIX/fpga/arch_bad.json" --shape 1,16 \
    --out c_bad >c.out 2>&1; then bad "bad fingerprint accepted"; else has "bad fingerprint names the file" "arch_bad.json" c.out; fi
if "$BIN" run out/quant/deploy_model.onnx --inputs row0.npz --out x.npz --backend dpu-sim >c.out 2>&1; then
    bad "dpu-sim on a model without a partition"; else has "dpu-sim needs the .dfm" "no DPU subgraph" c.out; fi
echo "fpga_build: $pass passed, $fail failed"
[ $fail = 0 ]
