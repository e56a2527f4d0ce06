# Shared by tests/integration/serve_*.sh (sourced; not a test itself: CTest globs *.sh only).
# Builds a registry over the fixture models, starts `dpuflow serve --port 0` in the background,
# reads the port it printed, and always kills it on exit.
set -u
BIN=${DF_BIN:?DF_BIN must point at the dpuflow binary}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FIXM=$SRC/tests/fixtures/models
FIXH=$SRC/tests/fixtures/hf
if ! "$BIN" serve --help >/dev/null 2>&1; then echo "skip: $BIN has no serve verb"; exit 77; fi
command -v curl >/dev/null || { echo "skip: curl is not installed"; exit 77; }
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -9 "$SERVER_PID" 2>/dev/null; fi
    [ -n "${EXTRA_PIDS:-}" ] && kill $EXTRA_PIDS 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
PASS=0
FAIL=0
ok() { echo "ok   $1"; PASS=$((PASS + 1)); }
bad() { echo "FAIL $1"; [ $# -gt 1 ] && echo "     $2"; FAIL=$((FAIL + 1)); }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "want [$2] got [$3]"; fi; }
finish() { echo "$(basename "$0" .sh): $PASS passed, $FAIL failed"; [ "$FAIL" = 0 ]; exit $?; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

# registry DIR ENTRY_JSON... : writes DIR/model_registry.json atomically (temp + rename, as the
# registry writer does) with the given entries and the standard routes.
write_registry() {
    local dir=$1; shift
    local ents; ents=$(IFS=,; echo "$*")
    cat >"$dir/.reg.tmp" <<JSON
{"models":[${ents}],
 "task_routing_map":{"intent_classify":"tinybert","sentence_vector":"bertmean"},
 "fallback_chain":{"fpga":["tinybert"],"cpu":["tinybert","bertmean"]}}
JSON
    mv -f "$dir/.reg.tmp" "$dir/model_registry.json"
}
# entry NAME PLATFORM VERSION ARTIFACT TASK OUTPUT LABELS_JSON [STATUS]
entry() {
    local s; s=$(sha "$REG_DIR/$4")
    printf '{"model_name":"%s","platform":"%s","version":%s,"artifact_path":"%s","tokenizer":"vocab.txt","task":"%s","input_name":"input_ids","input_shape":[1,16],"output_name":"%s","labels":%s,"task_count":3,"batch_size":1,"sha256":"%s","deploy_time":"2026-01-01T00:00:00Z","status":"%s"}' \
        "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$s" "${8:-active}"
}
LABELS='["查询","办理","投诉"]'
REG_DIR=$TMP/reg
mkdir -p "$REG_DIR"
cp "$FIXM/bert_tiny_op13.onnx" "$REG_DIR/tinybert.onnx"
cp "$FIXM/bert_mean_op13.onnx" "$REG_DIR/bertmean.onnx"
cp "$FIXH/bert_tiny/vocab.txt" "$REG_DIR/vocab.txt"
standard_registry() {
    write_registry "$REG_DIR" \
        "$(entry tinybert fpga 1 tinybert.onnx intent_classify logits "$LABELS")" \
        "$(entry tinybert cpu 1 tinybert.onnx intent_classify logits "$LABELS")" \
        "$(entry bertmean cpu 1 bertmean.onnx sentence_vector sentence_embedding null)"
}

# start_server [serve options...]: PORT, URL, SERVER_PID; waits for /v2/health/ready.
start_server() {
    "$BIN" serve --registry "$REG_DIR/model_registry.json" --port 0 "$@" >"$TMP/server.out" 2>"$TMP/server.err" &
    SERVER_PID=$!
    PORT=
    for _ in $(seq 1 200); do
        PORT=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\)/.*#\1#p' "$TMP/server.out")
        [ -n "$PORT" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$PORT" ]; then echo "server did not start:"; cat "$TMP/server.err"; exit 1; fi
    URL=http://127.0.0.1:$PORT
    for _ in $(seq 1 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/health/ready")" = 200 ] && break
        sleep 0.05
    done
    # ready = registry read; wait until the cpu models have loaded too
    for _ in $(seq 1 200); do
        curl -s "$URL/v1/registry" | grep -q '"status":"loading"' || break
        sleep 0.05
    done
}
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null
    local rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=
    return $rc
}
# post PATH JSON -> body in $TMP/body, status echoed
post() { curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$URL$1" --data-binary "$2"; }
get() { curl -s -o "$TMP/body" -w '%{http_code}' "$URL$1"; }
jget() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/body" "$1"; }
