#!/usr/bin/env bash
# Hybrid vart on the test doubles: `dpuflow build` of the bert_tiny fixture for fpga with the
# fake Vitis AI tools gives the .dfm and a fake xmodel with one ONNX file per DPU subgraph;
# `dpuflow run X.dfm --backend vart` runs the DPU subgraphs through the fake runners (DPU
# numerics, int8 at the boundaries) and the rest on the cpu kernels, and must equal dpu-sim
# bit for bit. An xmodel that does not match the .dfm fails naming the subgraph; without the
# libraries the backend is unavailable. None of this has touched real Vitis AI or a board.
set -u
BIN=${DF_BIN:?DF_BIN must point at the dpuflow binary}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BLD=${DF_BUILD_DIR:-$(dirname "$BIN")}
FIX=$SRC/tests/fixtures
LIB=$BLD/doubles/lib
PY=/usr/bin/python3
[ -f "$LIB/libvart-runner.so" ] || { echo "vart_hybrid: skipped (no test doubles in $LIB)"; exit 77; }
$PY -c 'import numpy, onnx' 2>/dev/null || { echo "vart_hybrid: skipped (no numpy/onnx for $PY)"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
run() { local name=$1 want=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ "$rc" = "$want" ]; then ok "$name"; else bad "$name: exit $rc, want $want"; cat "$TMP/out" "$TMP/err"; fi; }
has() { if grep -q -- "$2" "$3"; then ok "$1"; else bad "$1: no '$2' in $3"; cat "$3"; fi; }
same() { # name a.npz b.npz: every array equal byte for byte
    if $PY -c "import numpy as n,sys;a,b=n.load(sys.argv[1]),n.load(sys.argv[2]);sys.exit(not(sorted(a)==sorted(b) and all(a[k].dtype==b[k].dtype and a[k].tobytes()==b[k].tobytes() for k in a)))" "$2" "$3"
    then ok "$1"; else bad "$1"; fi; }
export DF_BIN=$BIN
export PATH=$SRC/tests/doubles/bin:$PATH

cat >model.json <<JSON
{"model_name": "bert_tiny", "framework": "pytorch", "model_path": "$FIX/hf/bert_tiny",
 "tokenizer": "$FIX/hf/bert_tiny/vocab.txt", "task": "intent_classify", "input_shape": [1, 16],
 "calibration": {"samples": 16}, "quantization": {"scale": "pof2"},
 "target": {"platform": "fpga", "arch": "DPUCZDX8G/ZCU104", "toolchain": "vitis", "tool_timeout_s": 120},
 "output_dir": "$TMP/bld"}
JSON
run "fpga build with the fake vitis tools" 0 "$BIN" build model.json --registry "$TMP/reg.json"
C=bld/compiled
DFM=$C/bert_tiny_fpga.dfm
XM=$C/vitis/bert_tiny.xmodel
has "fake xmodel lists DPU subgraphs" "^subgraph_dpu_13 DPU " $XM
has "fake xmodel lists CPU subgraphs" "^subgraph_cpu_0 CPU" $XM
has "compile log: 14 DPU subgraphs" "DPU subgraph number 14" $C/vitis/vai_c_xir.log
has "meta.json: the vendor's DPU subgraph count" '"dpu_subgraphs": 14' $C/meta.json
has "DPU convs have out_fix (calibration rows reach the compile)" "out_fix: 14 DPU conv outputs" $C/compile_log.txt

$PY - <<'PY'
import numpy as np
rng = np.random.default_rng(6)
ids = rng.integers(5, 100, size=(1, 16)).astype(np.int64); ids[0, 0] = 101; ids[0, -1] = 102
mask = np.ones((1, 16), np.int64); mask[0, 12:] = 0
np.savez("in.npz", input_ids=ids, attention_mask=mask, token_type_ids=np.zeros((1, 16), np.int64))
PY
run "dpu-sim run" 0 "$BIN" run $DFM --inputs in.npz --out sim.npz --backend dpu-sim
DF_VART_LIB_DIR=$LIB run "hybrid vart run" 0 "$BIN" run $DFM --inputs in.npz --out vart.npz --backend vart
same "hybrid vart == dpu-sim (bit for bit)" sim.npz vart.npz
DF_VART_LIB_DIR=$LIB run "hybrid vart, repeated runs of one session (bench-model)" 0 "$BIN" bench-model $DFM --seq 16 --backend vart

# Vendor-style names (unlike the .dfm's): subgraphs pair up by order, same answers.
cp $XM xm.bak
sed -i 's/^subgraph_dpu_\([0-9]*\) DPU/subgraph_bert_tiny_dpu\1 DPU/' $XM
DF_VART_LIB_DIR=$LIB run "renamed subgraphs" 0 "$BIN" run $DFM --inputs in.npz --out renamed.npz --backend vart
has "says it paired by order" "pairing 14 subgraphs by order" err
same "renamed subgraphs == dpu-sim" sim.npz renamed.npz
# A DPU subgraph missing from the xmodel: refused, naming it.
cp xm.bak $XM; sed -i '/^subgraph_dpu_13 /d' $XM
DF_VART_LIB_DIR=$LIB run "xmodel missing a DPU subgraph" 1 "$BIN" run $DFM --inputs in.npz --out x.npz --backend vart
has "names the missing subgraph" "DPU subgraph 'subgraph_dpu_13' of the .dfm is not in the xmodel" err
# Two subgraphs' files swapped: the tensors do not fit, and the error says where.
cp xm.bak $XM
sed -i 's#/subgraph_dpu_3.onnx#/SWAP#; s#/subgraph_dpu_4.onnx#/subgraph_dpu_3.onnx#; s#/SWAP#/subgraph_dpu_4.onnx#' $XM
DF_VART_LIB_DIR=$LIB run "mismatched subgraph tensors" 1 "$BIN" run $DFM --inputs in.npz --out x.npz --backend vart
has "names the subgraph and tensor" "DPU subgraph 'subgraph_dpu_3' (xmodel 'subgraph_dpu_3'): runner output" err
cp xm.bak $XM
# No vendor xmodel beside the .dfm.
mkdir alone && cp $DFM alone/
DF_VART_LIB_DIR=$LIB run "no xmodel beside the .dfm" 1 "$BIN" run alone/bert_tiny_fpga.dfm --inputs in.npz --out x.npz --backend vart
has "says what is missing" "no vendor xmodel beside it" err
# Without the libraries.
DF_VART_LIB_DIR=$TMP/none run "without the libraries" 1 "$BIN" run $DFM --inputs in.npz --out x.npz --backend vart
has "backend unavailable" "backend 'vart' is unavailable: libxir.so not found" err
echo "vart_hybrid: $pass passed, $fail failed"
[ "$fail" = 0 ]
