#!/bin/bash
# fpga entries on the vart backend (test doubles only): `dpuflow build` registers the
# bert_tiny fixture for fpga with the fake Vitis AI tools (a .dfm plus a multi-subgraph fake
# xmodel) and for cpu; `dpuflow serve` with DF_VART_LIB_DIR at the fake runtime answers the
# fpga route on vart (labelled so in responses and metrics) with dpu-sim's answers, keeps vart
# under --no-dpu-sim, and without the libraries answers on dpu-sim as before.
set -u
BIN=${DF_BIN:?DF_BIN must point at the dpuflow binary}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BLD=${DF_BUILD_DIR:-$(dirname "$BIN")}
LIB=$BLD/doubles/lib
command -v curl >/dev/null || { echo "serve_vart: skipped (curl is not installed)"; exit 77; }
[ -f "$LIB/libvart-runner.so" ] || { echo "serve_vart: skipped (no test doubles in $LIB)"; exit 77; }
/usr/bin/python3 -c 'import onnx' 2>/dev/null || { echo "serve_vart: skipped (no onnx for /usr/bin/python3)"; exit 77; }
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP" || exit 1
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; [ $# -gt 1 ] && echo "     $2"; fail=$((fail + 1)); }
FIX=$SRC/tests/fixtures
export DF_BIN=$BIN PATH=$SRC/tests/doubles/bin:$PATH
for platform in cpu fpga; do
    extra=""
    [ $platform = fpga ] && extra=', "quantization": {"scale": "pof2"}, "target": {"platform": "fpga", "arch": "DPUCZDX8G/ZCU104", "toolchain": "vitis", "tool_timeout_s": 120}'
    cat >model_$platform.json <<JSON
{"model_name": "tinybert", "framework": "pytorch", "model_path": "$FIX/hf/bert_tiny",
 "tokenizer": "$FIX/hf/bert_tiny/vocab.txt", "task": "intent_classify", "input_shape": [1, 16],
 "calibration": {"samples": 16}, "output_dir": "$TMP/out_$platform"$extra}
JSON
    if "$BIN" build model_$platform.json --registry "$TMP/model_registry.json" --quiet >build.out 2>&1; then
        ok "build and register for $platform"
    else
        bad "build for $platform" "$(tail -3 build.out)"
    fi
done
grep -q "DPU" "$TMP/out_fpga/compiled/vitis/tinybert.xmodel" && ok "the fpga build has a multi-subgraph fake xmodel" \
    || bad "multi-subgraph fake xmodel"

start_server() {
    "$BIN" serve --registry "$TMP/model_registry.json" --port 0 --workers 2 "$@" >server.out 2>server.err &
    SERVER_PID=$!
    PORT=
    for _ in $(seq 1 200); do
        PORT=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\)/.*#\1#p' server.out)
        [ -n "$PORT" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$PORT" ] || { echo "server did not start:"; cat server.err; exit 1; }
    URL=http://127.0.0.1:$PORT
    for _ in $(seq 1 300); do
        curl -s "$URL/v1/registry" | grep -q '"status":"loading"' || break
        sleep 0.05
    done
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }
TEXTS=("今天天气怎么样" "我要办理信用卡" "你们的服务太差了" "查询余额")
# The answer without what differs by design: the label and the trace id.
answers() {
    for t in "${TEXTS[@]}"; do
        curl -s "$URL/v1/tasks/intent_classify" -H 'Content-Type: application/json' -d "{\"text\": \"$t\", \"strict_platform\": true}" |
            sed 's/"platform":"[^"]*"//; s/"trace_id":"[^"]*"//; s/"timing_ms":{[^}]*}//'
        echo
    done
}

DF_VART_LIB_DIR=$TMP/none start_server
r=$(curl -s "$URL/v1/tasks/intent_classify" -H 'Content-Type: application/json' -d '{"text": "你好"}')
echo "$r" | grep -q '"platform":"dpu-sim"' && ok "without the libraries: dpu-sim answers" || bad "dpu-sim without libs" "$r"
answers >sim.txt
stop_server

DF_VART_LIB_DIR=$LIB start_server
r=$(curl -s "$URL/v1/tasks/intent_classify" -H 'Content-Type: application/json' -d '{"text": "你好"}')
echo "$r" | grep -q '"platform":"vart"' && ok "with the libraries: vart answers" || bad "vart answers" "$r"
curl -s "$URL/metrics" | grep -q 'platform="vart"' && ok "metrics label vart" || bad "metrics label vart"
grep -q "serving on vart" server.err && ok "the log says vart and why" || bad "log line" "$(cat server.err)"
answers >vart.txt
if cmp -s sim.txt vart.txt && [ -s vart.txt ] && ! grep -q error vart.txt; then ok "vart answers == dpu-sim answers"
else bad "vart answers differ from dpu-sim" "$(diff sim.txt vart.txt | head -5)"; fi
# Concurrent requests over both workers (each its own session and runners).
pids=""
for i in 1 2 3 4 5 6 7 8; do answers >par_$i.txt & pids="$pids $!"; done
wait $pids
n=0; for i in 1 2 3 4 5 6 7 8; do cmp -s sim.txt par_$i.txt && n=$((n + 1)); done
[ $n = 8 ] && ok "concurrent answers on two workers == dpu-sim" || bad "concurrent answers" "$n of 8 equal"
stop_server

DF_VART_LIB_DIR=$LIB start_server --no-dpu-sim
r=$(curl -s "$URL/v1/tasks/intent_classify" -H 'Content-Type: application/json' -d '{"text": "你好"}')
echo "$r" | grep -q '"platform":"vart"' && ok "--no-dpu-sim leaves vart serving" || bad "--no-dpu-sim with vart" "$r"
stop_server

DF_VART_LIB_DIR=$TMP/none start_server --no-dpu-sim
r=$(curl -s "$URL/v1/tasks/intent_classify" -H 'Content-Type: application/json' -d '{"text": "你好"}')
echo "$r" | grep -q '"platform":"cpu"' && ok "--no-dpu-sim without the libraries: falls back to cpu" || bad "cpu fallback" "$r"
stop_server
echo "serve_vart: $pass passed, $fail failed"
[ $fail = 0 ]
