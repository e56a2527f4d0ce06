#!/usr/bin/env bash
# The Vitis AI adapters against the test doubles (tests/doubles): a build with
# "toolchain": "vitis" runs the fake vai_q_onnx and vai_c_xir and carries their numbers into
# meta.json and compile_log.txt; the vart backend on the fake libvart-runner gives the cpu
# backend's outputs; without the libraries, backend vart fails naming the missing one.
# None of this has touched the real Vitis AI toolchain or a board.
set -u
BIN=${DF_BIN:?DF_BIN must point at the dpuflow binary}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BLD=${DF_BUILD_DIR:-$(dirname "$BIN")}
FIX=$SRC/tests/fixtures
LIB=$BLD/doubles/lib
if [ ! -f "$LIB/libvart-runner.so" ] || ! "$BIN" build --help >/dev/null 2>&1; then
    echo "skip: no test doubles in $LIB or no build verb"; exit 77
fi
if ! "$BIN" run --help 2>&1 | grep -q -- --backend; then echo "skip: run has no --backend"; exit 77; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
run() { local name=$1 want=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ "$rc" = "$want" ]; then ok "$name"; else bad "$name: exit $rc, want $want"; cat "$TMP/out" "$TMP/err"; fi; }
has() { if grep -q -- "$2" "$3"; then ok "$1"; else bad "$1: no '$2' in $3"; cat "$3"; fi; }
export DF_BIN=$BIN
export PATH=$SRC/tests/doubles/bin:$PATH

mkdir -p cfg && ln -s "$FIX" cfg/fixtures
cat >cfg/v.json <<JSON
{"model_name": "bert_mean", "framework": "onnx", "model_path": "fixtures/models/bert_mean_op13.onnx",
 "tokenizer": "fixtures/hf/bert_mean/vocab.txt", "task": "sentence_vector", "input_shape": [1, 16],
 "calibration": {"samples": 8}, "target": {"platform": "cpu", "toolchain": "vitis", "tool_timeout_s": 60},
 "output_dir": "../bld/v"}
JSON
O=bld/v
run "vitis build" 0 "$BIN" build cfg/v.json --registry "$TMP/reg.json"
has "vai_q_onnx ran" "fake quantizer" $O/quant/vai_q_onnx.log
has "quant_info names the vendor quantizer" '"quantizer": "vai_q_onnx"' $O/quant/quant_info.json
has "vai_c_xir log kept" "Total device subgraph number 5, DPU subgraph number 1" $O/compiled/vitis/vai_c_xir.log
has "meta.json device subgraphs" '"device_subgraphs": 5' $O/compiled/meta.json
has "meta.json dpu subgraphs" '"dpu_subgraphs": 1' $O/compiled/meta.json
has "meta.json kernels" '"subgraph_bert_mean_dpu0"' $O/compiled/meta.json
has "meta.json md5" "\"md5\": \"$(md5sum $O/compiled/vitis/bert_mean.xmodel | cut -d' ' -f1)\"" $O/compiled/meta.json
has "compile log section" "== Vitis AI" $O/compiled/compile_log.txt
has "compile log counts" "DPU subgraph number 1" $O/compiled/compile_log.txt
run "rebuild cached" 0 "$BIN" build cfg/v.json --registry "$TMP/reg.json"
has "nothing to do" "nothing to do" out

# A compiler failure names the tool, its FATAL line and the log.
sed 's/"toolchain": "vitis"/"toolchain": "vitis"/; s#../bld/v#../bld/f#' cfg/v.json >cfg/f.json
FAKE_VAI_FAIL=1 run "compiler failure" 1 "$BIN" build cfg/f.json --registry "$TMP/reg.json"
has "failure names the FATAL line" "XCOM_OP_NOT_SUPPORT" err
has "failure names the log" "vai_c_xir.log" err
# A hung compiler is stopped at tool_timeout_s.
sed 's/"tool_timeout_s": 60/"tool_timeout_s": 1/; s#../bld/v#../bld/t#' cfg/v.json >cfg/t.json
FAKE_VAI_SLEEP=30 run "compiler timeout" 1 "$BIN" build cfg/t.json --registry "$TMP/reg.json"
has "timeout message" "still running after 1 s" err
# toolchain "vitis" without the tools on PATH says which is missing.
sed 's#../bld/v#../bld/n#' cfg/v.json >cfg/n.json
PATH=/usr/bin:/bin run "tool missing" 1 "$BIN" build cfg/n.json --registry "$TMP/reg.json"
has "missing tool named" "vai_q_onnx is not on PATH" err
# An unknown toolchain is a config error naming the key.
sed 's/"toolchain": "vitis"/"toolchain": "vitis-ai"/' cfg/v.json >cfg/bad.json
run "bad toolchain" 1 "$BIN" build cfg/bad.json --registry "$TMP/reg.json"
has "bad toolchain named" "target.toolchain" err

# ---- vart backend on the fake runtime: the .xmodel (an ONNX file by test convention) -----------
XM=$O/compiled/vitis/bert_mean.xmodel
cp "$FIX/models/bert_mean.inputs.npz" in.npz
run "cpu run" 0 "$BIN" run $O/quant/deploy_model.onnx --inputs in.npz --out cpu.npz
DF_VART_LIB_DIR=$LIB run "vart run" 0 "$BIN" run "$XM" --inputs in.npz --out vart.npz --backend vart
if cmp -s <(/usr/bin/python3 -c "import numpy as n,sys;d=n.load('cpu.npz');print({k:d[k].tobytes().hex() for k in sorted(d)})" 2>&1) \
          <(/usr/bin/python3 -c "import numpy as n,sys;d=n.load('vart.npz');print({k:d[k].tobytes().hex() for k in sorted(d)})" 2>&1); then
    ok "vart outputs == cpu outputs (bit for bit)"
else bad "vart outputs differ from cpu"; fi
DF_VART_LIB_DIR=$TMP/none run "vart without the libraries" 1 "$BIN" run "$XM" --inputs in.npz --out x.npz --backend vart
has "names the missing library" "backend 'vart' is unavailable: libxir.so not found" err
echo "vart_adapters: $pass passed, $fail failed"
[ "$fail" = 0 ]
