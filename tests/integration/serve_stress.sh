#!/usr/bin/env bash
# dpuflow serve under pressure: a full queue answers 429 at once, a request that waits past
# --timeout-ms answers 504, a model whose backend fails falls back to the next on the route
# (the server stays up), and SIGTERM drains in-flight requests (they succeed) and exits 0.
# Uses the test-only hooks DF_SERVE_TEST_DELAY_US (sleep per batch) and
# DF_SERVE_TEST_FAIL_MODEL (the named model's runs fail).
. "$(dirname "$0")/serve_common.bash"
standard_registry

# --- 429: queue of 1, one worker blocked 400 ms per batch, 6 concurrent requests ---
DF_SERVE_TEST_DELAY_US=400000 start_server --queue 1 --max-batch 1 --batch-delay-us 0 --log-dir ""
for i in 1 2 3 4 5 6; do
    curl -s -o /dev/null -w '%{http_code}\n' -X POST "$URL/v1/tasks/intent_classify" -d '{"text":"查询"}' >"$TMP/c$i" &
done
wait $(jobs -p | grep -v "^$SERVER_PID$") 2>/dev/null
codes=$(cat "$TMP"/c? | sort | uniq -c | tr -s ' ' | tr '\n' ';')
echo "     statuses: $codes"
grep -q 429 "$TMP"/c? && ok "429 when the queue is full" || bad "429 when the queue is full" "$codes"
grep -q 200 "$TMP"/c? && ok "the queued ones succeed" || bad "the queued ones succeed" "$codes"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' "$URL/v1/errors")
check "overload recorded" True "$(jget 'd["counts"]["overload"]>0')"
stop_server && ok "exit 0" || bad "exit 0"

# --- 504: a 600 ms batch ahead of it, timeout 100 ms (wide margins: CI machines are loaded) ---
DF_SERVE_TEST_DELAY_US=600000 start_server --queue 8 --max-batch 1 --batch-delay-us 0 --timeout-ms 100 --log-dir ""
curl -s -o /dev/null -X POST "$URL/v1/tasks/intent_classify" -d '{"text":"查询"}' &
first=$!
sleep 0.2 # the first request must be in the worker before the second queues behind it
code=$(post /v1/tasks/intent_classify '{"text":"办理"}')
check "504 after waiting in the queue" "504 timeout" "$code $(jget 'd["error_type"]')"
wait $first
stop_server && ok "exit 0" || bad "exit 0"

# --- run-time backend failure: tinybert fails, tinybert2 (same task, cpu) answers ---
cp "$REG_DIR/tinybert.onnx" "$REG_DIR/tinybert2.onnx"
write_registry "$REG_DIR" \
    "$(entry tinybert cpu 1 tinybert.onnx intent_classify logits "$LABELS")" \
    "$(entry tinybert2 cpu 4 tinybert2.onnx intent_classify logits "$LABELS")" \
    "$(entry bertmean cpu 1 bertmean.onnx sentence_vector sentence_embedding null)"
sed -i 's/"cpu":\["tinybert","bertmean"\]/"cpu":["tinybert","tinybert2","bertmean"]/' "$REG_DIR/model_registry.json"
DF_SERVE_TEST_FAIL_MODEL=tinybert start_server --log-dir ""
code=$(post /v1/tasks/intent_classify '{"text":"查询"}')
check "backend failure falls back" "200 tinybert2 4" "$code $(jget 'd["model"]') $(jget 'd["version"]')"
check "fallback says why" True "$(jget '"backend failure" in d["fallback"]["skipped"][0]["reason"]')"
check "strict: backend failure is 503" 503 "$(post /v1/tasks/intent_classify '{"text":"查询","strict_platform":true}')"
check "server still up" 200 "$(get /v2/health/live)"
stop_server && ok "exit 0" || bad "exit 0"

# --- SIGTERM drain: 3 requests in flight behind a 300 ms worker all succeed; ready goes 503 ---
standard_registry
DF_SERVE_TEST_DELAY_US=300000 start_server --max-batch 1 --batch-delay-us 0 --log-dir ""
for i in 1 2 3; do
    curl -s -o /dev/null -w '%{http_code}\n' -X POST "$URL/v1/tasks/intent_classify" -d '{"text":"查询"}' >"$TMP/d$i" &
done
# SIGTERM only once all three are inside the server (one running, two queued): on a loaded
# machine a fixed sleep can fire before curl has even connected.
for _ in $(seq 1 100); do
    [ "$(curl -s "$URL/metrics" | sed -n 's/^dpuflow_queue_depth{model="tinybert",platform="cpu"} \([0-9]*\)$/\1/p')" = 2 ] && break
    sleep 0.02
done
kill -TERM "$SERVER_PID"
sleep 0.1
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=
wait $(jobs -p)
check "drain: exit 0" 0 "$rc"
check "drain: in-flight requests answered 200" "200 200 200" "$(cat "$TMP"/d1 "$TMP"/d2 "$TMP"/d3 | tr '\n' ' ' | sed 's/ $//')"
grep -q draining "$TMP/server.err" && ok "drain logged" || bad "drain logged"
finish
