#!/usr/bin/env bash
# Hot reload under load: `dpuflow bench` (4 connections) and two checking clients send requests
# without pause while the model's artifact and registry entry are replaced 20 times (writers
# rename, as the registry code does). No request may fail (bench counts errors by status), each
# checking client sees versions only go up, and the server ends on the last version.
# Then: an invalid registry keeps the last good one (and says why); a version whose artifact
# does not load keeps the old version serving with status error and the reason.
. "$(dirname "$0")/serve_common.bash"
standard_registry
start_server --watch-interval 1 --log-dir ""

client() { # N: loop until $TMP/stop exists; one "status version" line per request
    while [ ! -e "$TMP/stop" ]; do
        curl -s -o "$TMP/cb$1" -w '%{http_code} ' -X POST "$URL/v1/tasks/intent_classify" -d '{"text":"我想办理护照"}'
        /usr/bin/python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1])).get("version"))
except Exception: print("unparsable")' "$TMP/cb$1"
    done >"$TMP/client$1"
}
client 1 & C1=$!
client 2 & C2=$!
"$BIN" bench --url "$URL" --task intent_classify --concurrency 4 --duration 6 --text "我想查询社保" \
    --out "$TMP/bench.json" >"$TMP/bench.out" 2>&1 & B=$!
EXTRA_PIDS="$C1 $C2 $B"
for v in $(seq 2 21); do
    # new bytes each time: op13 and op14 exports of the same weights give the same logits
    if [ $((v % 2)) = 0 ]; then src=$FIXM/bert_tiny_op14.onnx; else src=$FIXM/bert_tiny_op13.onnx; fi
    cp "$src" "$REG_DIR/.art.tmp" && mv -f "$REG_DIR/.art.tmp" "$REG_DIR/tinybert_v$v.onnx"
    write_registry "$REG_DIR" \
        "$(entry tinybert cpu $v tinybert_v$v.onnx intent_classify logits "$LABELS")" \
        "$(entry bertmean cpu 1 bertmean.onnx sentence_vector sentence_embedding null)"
    sleep 0.15
done
sleep 0.5
touch "$TMP/stop"
wait $C1 $C2
wait $B
EXTRA_PIDS=
bench_check=$(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
def find(o, k):
    if isinstance(o, dict):
        if k in o: return o[k]
        for v in o.values():
            r = find(v, k)
            if r is not None: return r
    return None
req = find(d, "requests") or find(d, "total") or 0
errs = find(d, "errors")
nerr = sum(errs.values()) if isinstance(errs, dict) else (errs or 0)
print("%d %d" % (req, nerr))' "$TMP/bench.json" 2>/dev/null)
set -- $bench_check
[ "${1:-0}" -gt 20 ] && [ "${2:-1}" = 0 ] && ok "dpuflow bench: ${1} requests during the reloads, 0 errors" ||
    bad "dpuflow bench during reloads" "$(cat "$TMP/bench.out" | tail -5)"
: 
n=$(cat "$TMP/client1" "$TMP/client2" | wc -l)
nok=$(cat "$TMP/client1" "$TMP/client2" | grep -c '^200 [0-9]')
echo "     $n requests during 20 reloads"
check "no request failed" "$n" "$nok"
[ "$n" -gt 40 ] && ok "traffic flowed ($n requests)" || bad "traffic flowed" "$n requests"
for c in 1 2; do
    mono=$(awk '{ if ($2+0 < last) bad=1; last=$2+0 } END { print bad ? "no" : "yes" }' "$TMP/client$c")
    check "client $c: versions never go back" yes "$mono"
done
distinct=$(cat "$TMP/client1" "$TMP/client2" | awk '{print $2}' | sort -u | wc -l)
[ "$distinct" -gt 3 ] && ok "responses came from $distinct versions" || bad "responses from several versions" "$distinct"
code=$(post /v1/tasks/intent_classify '{"text":"查询"}')
check "serves the last version" "200 21" "$code $(jget 'd["version"]')"
get /metrics >/dev/null
# One load per registry write at most; a slow machine (sanitizers) may skip versions that were
# already replaced before their load began, so fewer is fine as long as the last one is served.
loads=$(sed -n 's/^dpuflow_model_loads_total{model="tinybert",platform="cpu",result="ok"} \([0-9]*\)$/\1/p' "$TMP/body")
[ -n "$loads" ] && [ "$loads" -ge 2 ] && [ "$loads" -le 21 ] && ok "$loads loads counted (2..21)" ||
    bad "loads counted" "$(grep loads_total "$TMP/body")"

# --- an invalid registry keeps the last good one ---
echo '{"models": [' >"$REG_DIR/.bad" && mv -f "$REG_DIR/.bad" "$REG_DIR/model_registry.json"
post /v1/admin/reload '' >/dev/null
check "invalid registry: still serving" "200 21" "$(post /v1/tasks/intent_classify '{"text":"查询"}') $(jget 'd["version"]')"
get /v1/registry >/dev/null
check "invalid registry reported" True "$(jget 'd["error"] is not None and "model_registry.json" in d["error"]')"

# --- a version that fails to load keeps the old one serving, status error ---
head -c 1000 "$FIXM/bert_tiny_op13.onnx" >"$REG_DIR/broken.onnx"
write_registry "$REG_DIR" \
    "$(entry tinybert cpu 22 broken.onnx intent_classify logits "$LABELS")" \
    "$(entry bertmean cpu 1 bertmean.onnx sentence_vector sentence_embedding null)"
post /v1/admin/reload '' >/dev/null
check "failed load: old version serves" "200 21" "$(post /v1/tasks/intent_classify '{"text":"查询"}') $(jget 'd["version"]')"
get /v1/registry >/dev/null
check "failed load: status error with reason" "error True" "$(jget '[m["status"] for m in d["serving"] if m["model"]=="tinybert" and m["platform"]=="cpu"][0]') $(jget '"version 22 failed to load" in [m["reason"] for m in d["serving"] if m["model"]=="tinybert" and m["platform"]=="cpu"][0]')"
check "registry error cleared" None "$(jget 'd["error"]')"
stop_server && ok "exit 0" || bad "exit 0"
finish
