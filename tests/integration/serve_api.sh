#!/usr/bin/env bash
# dpuflow serve as clients use it: every endpoint with curl, every error status, fpga -> cpu
# fallback, strict platform, traceparent echo, admin restrictions, promtool on /metrics, the
# status page in headless Chromium (when installed), and SIGTERM exiting 0.
. "$(dirname "$0")/serve_common.bash"
standard_registry
start_server --max-texts 4 --max-body 4096 --log-dir "$TMP/logs"

# --- tasks: classification, with fallback from the fpga entry (its artifact is a plain ONNX
# without a DPU partition, so the DPU simulator refuses it and the entry is in error) ---
code=$(post /v1/tasks/intent_classify '{"text":"我想查询社保"}')
check "task classify 200" 200 "$code"
check "answered by cpu" "tinybert cpu 1" "$(jget 'd["model"]+" "+d["platform"]+" "+str(d["version"])')"
check "fallback from fpga reported" "fpga" "$(jget 'd["fallback"]["skipped"][0]["platform"]')"
check "label from registry" "True" "$(jget 'd["results"][0]["label"] in ["查询","办理","投诉"]')"
check "scores sum to 1" "True" "$(jget 'abs(sum(x["score"] for x in d["results"][0]["scores"])-1)<1e-5')"
check "trace id" "32" "$(jget 'len(d["trace_id"])')"
# the scores equal softmax of the fixture's logits for the same tokens (engine-level check of the path)
code=$(post /v1/tasks/intent_classify '{"texts":["办理护照","投诉噪音","查询"]}')
check "texts batch 200" "200 3" "$code $(jget 'len(d["results"])')"

# --- embeddings ---
code=$(post /v1/tasks/sentence_vector '{"text":"今天天气很好"}')
check "task embedding" "200 32 bertmean" "$code $(jget 'len(d["results"][0]["embedding"])') $(jget 'd["model"]')"
post /v1/tasks/sentence_vector '{"text":"今天天气很好"}' >/dev/null; cp "$TMP/body" "$TMP/e1"
code=$(post /v1/embeddings '{"model":"bertmean","input":["今天天气很好","x"]}')
check "openai embeddings float" "200 2 list" "$code $(jget 'len(d["data"])') $(jget 'd["object"]')"
check "usage counted" "True" "$(jget 'd["usage"]["prompt_tokens"]>0 and d["usage"]["total_tokens"]==d["usage"]["prompt_tokens"]')"
cp "$TMP/body" "$TMP/ef"
code=$(post /v1/embeddings '{"model":"bertmean","input":"今天天气很好","encoding_format":"base64"}')
check "openai embeddings base64" 200 "$code"
same=$(/usr/bin/python3 - "$TMP/body" "$TMP/ef" "$TMP/e1" <<'PY'
import base64, json, struct, sys
b = json.load(open(sys.argv[1])); f = json.load(open(sys.argv[2])); t = json.load(open(sys.argv[3]))
raw = base64.b64decode(b["data"][0]["embedding"]); v = struct.unpack("<%df" % (len(raw)//4), raw)
ok = all(abs(x-y) < 1e-6 for x, y in zip(v, f["data"][0]["embedding"])) and all(abs(x-y) < 1e-6 for x, y in zip(v, t["results"][0]["embedding"]))
print(len(v) == 32 and ok)
PY
)
check "base64 = float = task vector" True "$same"
check "embeddings for a classifier 422" 422 "$(post /v1/embeddings '{"model":"tinybert","input":"x"}')"

# --- KServe v2 ---
check "v2 live" 200 "$(get /v2/health/live)"
check "v2 ready" 200 "$(get /v2/health/ready)"
code=$(get /v2/models/tinybert)
check "v2 model metadata" "200 logits 16" "$code $(jget 'd["outputs"][0]["name"]') $(jget 'd["inputs"][0]["shape"][1]')"
check "v2 model ready" 200 "$(get /v2/models/tinybert/ready)"
check "v2 unknown model 404" 404 "$(get /v2/models/nope)"
ids=$(/usr/bin/python3 -c 'import numpy as np; d=np.load("'"$FIXM"'/bert_tiny.inputs.npz"); print(",".join(map(str,d["input_ids"][0])) + " " + ",".join(map(str,d["attention_mask"][0])) + " " + ",".join(map(str,d["token_type_ids"][0])))')
set -- $ids
code=$(post /v2/models/tinybert/infer "{\"id\":\"r1\",\"inputs\":[{\"name\":\"input_ids\",\"datatype\":\"INT64\",\"shape\":[1,16],\"data\":[$1]},{\"name\":\"attention_mask\",\"datatype\":\"INT64\",\"shape\":[1,16],\"data\":[$2]},{\"name\":\"token_type_ids\",\"datatype\":\"INT64\",\"shape\":[1,16],\"data\":[$3]}]}")
check "v2 infer 200" "200 r1 FP32" "$code $(jget 'd["id"]') $(jget 'd["outputs"][0]["datatype"]')"
close=$(/usr/bin/python3 - "$TMP/body" "$FIXM/bert_tiny_op13.expected.npz" <<'PY'
import json, sys, numpy as np
d = json.load(open(sys.argv[1])); e = np.load(sys.argv[2])["logits"]
print(np.allclose(np.array(d["outputs"][0]["data"]).reshape(e.shape), e, atol=1e-4))
PY
)
check "v2 infer logits = PyTorch's" True "$close"
check "v2 infer bad shape 422" 422 "$(post /v2/models/tinybert/infer '{"inputs":[{"name":"input_ids","datatype":"INT64","shape":[1,8],"data":[1,2,3,4,5,6,7,8]}]}')"
check "v2 infer bad dtype 422" 422 "$(post /v2/models/tinybert/infer '{"inputs":[{"name":"input_ids","datatype":"FP32","shape":[1,1],"data":[1]}]}')"
code=$(post /v2/repository/index '{}')
check "v2 repository index" "200 True" "$code $(jget 'any(m["name"]=="tinybert" and m["state"]=="READY" for m in d)')"

# --- observability endpoints ---
code=$(get /metrics)
check "metrics 200" 200 "$code"
grep -q 'dpuflow_requests_total{task="intent_classify",model="tinybert",platform="cpu",status="200"}' "$TMP/body" && ok "metrics count requests" || bad "metrics count requests"
grep -q 'dpuflow_fallbacks_total{from="tinybert@fpga",to="tinybert@cpu"} [1-9]' "$TMP/body" && ok "metrics count fallbacks" || bad "metrics count fallbacks"
grep -q 'dpuflow_request_duration_seconds_bucket{stage="infer",le="+Inf"}' "$TMP/body" && ok "stage histogram" || bad "stage histogram"
if command -v promtool >/dev/null; then
    promtool check metrics <"$TMP/body" >"$TMP/promtool" 2>&1 && ok "promtool check metrics" || bad "promtool check metrics" "$(cat "$TMP/promtool")"
else echo "skip promtool (not installed)"; fi
code=$(get /v1/registry)
check "registry view" "200 None 3" "$code $(jget 'd["error"]') $(jget 'len(d["models"])')"
check "registry routing" "['tinybert@fpga', 'tinybert@cpu']" "$(jget 'd["routing"]["intent_classify"]')"
check "fpga entry in error" "error" "$(jget '[m["status"] for m in d["serving"] if m["platform"]=="fpga"][0]')"
code=$(get /v1/usage)
check "usage" "200 True" "$code $(jget '"tinybert" in d["models"]')"
code=$(get /)
check "status page" 200 "$code"
grep -q '<script>' "$TMP/body" && ok "status page has its script" || bad "status page has its script"

# --- traceparent and timing headers ---
tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
curl -s -D "$TMP/h" -o "$TMP/body" -X POST -H "traceparent: $tp" "$URL/v1/tasks/intent_classify" -d '{"text":"你好"}'
grep -qi '^traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-' "$TMP/h" && ok "traceparent echoed" || bad "traceparent echoed"
check "trace id from traceparent" 4bf92f3577b34da6a3ce929d0e0e4736 "$(jget 'd["trace_id"]')"
grep -qi '^server-timing: tokenize;dur=.*queue;dur=.*infer;dur=.*post;dur=' "$TMP/h" && ok "Server-Timing" || bad "Server-Timing"

# --- errors ---
check "400 malformed JSON" "400 malformed" "$(post /v1/tasks/intent_classify '{"text":') $(jget 'd["error_type"]')"
check "400 not an object" 400 "$(post /v1/tasks/intent_classify '[1]')"
check "404 unknown task" "404 not_found" "$(post /v1/tasks/nope '{"text":"x"}') $(jget 'd["error_type"]')"
check "404 unknown path" 404 "$(get /v9/x)"
check "404 unknown embedding model" 404 "$(post /v1/embeddings '{"model":"nope","input":"x"}')"
big=$(head -c 5000 /dev/zero | tr '\0' a)
check "413 big body" 413 "$(post /v1/tasks/intent_classify "{\"text\":\"$big\"}")"
check "422 empty text" 422 "$(post /v1/tasks/intent_classify '{"text":"  "}')"
check "422 no text" 422 "$(post /v1/tasks/intent_classify '{"txt":"a"}')"
check "422 too many texts" 422 "$(post /v1/tasks/intent_classify '{"texts":["a","b","c","d","e"]}')"
printf '{"text":"\xff\xfe"}' >"$TMP/bad"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST "$URL/v1/tasks/intent_classify" --data-binary @"$TMP/bad")
check "422 invalid UTF-8" 422 "$code"
check "422 text too long without truncation" 422 "$(post /v1/tasks/intent_classify '{"text":"查询 办理 投诉 查询 办理 投诉 查询 办理 投诉 查询 办理 投诉 查询 办理 投诉 查询 办理","truncate":false}')"
check "truncation flag" "200 True" "$(post /v1/tasks/intent_classify '{"text":"查询 办理 投诉 查询 办理 投诉 查询 办理 投诉 查询 办理 投诉 查询 办理 投诉 查询 办理"}') $(jget 'd["results"][0]["truncated"]')"
code=$(post /v1/tasks/intent_classify '{"text":"查询","strict_platform":true}')
check "503 strict platform (fpga first)" "503 unavailable" "$code $(jget 'd["error_type"]')"
check "405 wrong method" 405 "$(get /v1/tasks/intent_classify)"
code=$(get /v1/errors)
check "errors recorded by category" "200 True True" "$code $(jget 'd["counts"]["input"]>0') $(jget 'd["counts"]["routing"]>0')"

# --- admin: loopback allowed; reload answers after the reload ---
code=$(post /v1/admin/reload '')
check "admin reload" "200 True" "$code $(jget 'd["reloaded"]')"
code=$(post /v2/repository/models/bertmean/unload '')
check "v2 unload" 200 "$code"
check "unloaded model not ready" 503 "$(get /v2/models/bertmean/ready)"
check "unloaded task 503" 503 "$(post /v1/tasks/sentence_vector '{"text":"x"}')"
check "v2 load" 200 "$(post /v2/repository/models/bertmean/load '')"
check "loaded again" 200 "$(post /v1/tasks/sentence_vector '{"text":"x"}')"
check "v2 load unknown 404" 404 "$(post /v2/repository/models/nope/load '')"

# --- status page in headless Chromium ---
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
    timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --virtual-time-budget=3000 --dump-dom "$URL/" >"$TMP/dom" 2>/dev/null
    grep -q 'tinybert' "$TMP/dom" && grep -q 'bertmean' "$TMP/dom" && ok "status page lists models (chromium)" || bad "status page lists models (chromium)"
    timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --virtual-time-budget=3000 --screenshot="$TMP/status.png" "$URL/" >/dev/null 2>&1 || true
else echo "skip chromium status page (chromium not installed)"; fi

# --- SIGTERM: exit 0 ---
stop_server && ok "SIGTERM exits 0" || bad "SIGTERM exits 0"
ls "$TMP"/logs/trace/*/trace-* >/dev/null 2>&1 && ok "trace log written" || bad "trace log written" "$(ls -R "$TMP/logs" 2>&1 | head)"
finish
