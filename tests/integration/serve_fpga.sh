#!/bin/bash
# fpga entries served without a board: `dpuflow build` registers the bert_tiny fixture for
# fpga (pof2, ZCU104) and for cpu under one name; `dpuflow serve` answers the fpga route on the
# DPU simulator (labelled dpu-sim in responses and metrics), and with --no-dpu-sim the same
# requests fall back to cpu and say so.
set -u
BIN=${DF_BIN:?DF_BIN must point at the dpuflow binary}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v curl >/dev/null || { echo "serve_fpga: skipped (curl is not installed)"; exit 77; }
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
for platform in cpu fpga; do
    extra=""
    [ $platform = fpga ] && extra=', "quantization": {"scale": "pof2"}, "target": {"platform": "fpga", "arch": "DPUCZDX8G/ZCU104"}'
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

start_server() {
    "$BIN" serve --registry "$TMP/model_registry.json" --port 0 "$@" >server.out 2>server.err &
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
ask() { curl -s "$URL/v1/tasks/intent_classify" -H 'Content-Type: application/json' -d '{"text": "今天天气怎么样"}'; }

start_server
r=$(ask)
echo "$r" | grep -q '"platform":"dpu-sim"' && ok "fpga route answered by dpu-sim" || bad "fpga route via dpu-sim" "$r"
curl -s "$URL/metrics" | grep -q 'platform="dpu-sim"' && ok "metrics label dpu-sim" || bad "metrics label dpu-sim"
stop_server

start_server --no-dpu-sim
r=$(ask)
echo "$r" | grep -q '"platform":"cpu"' && ok "--no-dpu-sim: falls back to cpu" || bad "--no-dpu-sim fallback" "$r"
echo "$r" | grep -q 'fallback' && ok "the response says it fell back" || bad "fallback reported" "$r"
r=$(curl -s "$URL/v1/tasks/intent_classify" -H 'Content-Type: application/json' -d '{"text": "你好", "strict_platform": true}' -w ' %{http_code}')
[ "${r##* }" = 503 ] && ok "strict_platform with dpu-sim off: 503" || bad "strict_platform" "$r"
stop_server
echo "serve_fpga: $pass passed, $fail failed"
[ $fail = 0 ]
