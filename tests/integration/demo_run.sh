#!/bin/bash
# `make run` as a new user runs it: scripts/run-demo.sh builds and registers both demo models
# (cached after the first time) and serves them; the printed curl examples must answer, and
# the classifier must get obvious government-service requests right.
set -u
BIN=${DF_BIN:?DF_BIN must point at the dpuflow binary}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v curl >/dev/null || { echo "demo_run: skipped (curl is not installed)"; exit 77; }
[ -f "$SRC/models/demo/tinybert-intent/model.safetensors" ] || { echo "demo_run: skipped (no demo checkpoints)"; exit 77; }
LOG=$(mktemp)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -f "$LOG"; }
trap cleanup EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18321)
DF_BIN=$BIN PORT=$PORT bash "$SRC/scripts/run-demo.sh" >"$LOG" 2>&1 &
PID=$!
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; [ $# -gt 1 ] && echo "     $2"; fail=$((fail + 1)); }
URL=http://127.0.0.1:$PORT
for _ in $(seq 1 600); do # builds take ~30 s here (longer under sanitizers)
    grep -q "listening on" "$LOG" && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.5
done
if ! grep -q "listening on" "$LOG"; then
    bad "run-demo.sh serves" "$(tail -20 "$LOG")"
    echo "demo_run: $pass passed, $fail failed"
    exit 1
fi
ok "run-demo.sh built, registered and serves the demo models"
grep -q "curl -s http://127.0.0.1:$PORT/v1/tasks/intent_classify" "$LOG" && ok "prints a sample request" || bad "sample request printed"
# Both models must have loaded (slow under sanitizers): KServe's per-model ready says so.
for m in tinybert-intent simcse-embed; do
    for _ in $(seq 1 1800); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/models/$m/ready")" = 200 ] && break
        sleep 0.1
    done
done
classify() {
    curl -s "$URL/v1/tasks/intent_classify" -H 'Content-Type: application/json' -d "{\"text\": \"$1\"}" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["label"])' 2>/dev/null
}
while IFS=$'\t' read -r want text; do
    got=$(classify "$text")
    [ "$got" = "$want" ] && ok "\"$text\" -> $want" || bad "\"$text\"" "want $want, got $got"
done <<'CASES'
社保查询	我想查询一下社保缴费记录
公积金提取	住房公积金怎么提取出来
营业执照	开公司要办营业执照需要什么材料
出入境证件	护照过期了去哪里换新的
CASES
r=$(curl -s "$URL/v1/embeddings" -H 'Content-Type: application/json' \
    -d '{"model": "simcse-embed", "input": ["怎么办理营业执照", "营业执照去哪里办", "护照过期了怎么办"]}')
echo "$r" | /usr/bin/python3 -c '
import json, sys, math
d = json.load(sys.stdin)["data"]
v = [x["embedding"] for x in d]
cos = lambda a, b: sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
print("same-intent cosine %.3f, different-intent %.3f" % (cos(v[0], v[1]), cos(v[0], v[2])))
assert cos(v[0], v[1]) > cos(v[0], v[2])
' && ok "embeddings: paraphrases are closer than different intents" || bad "embeddings" "$r"
kill -TERM "$PID"
wait "$PID" 2>/dev/null
PID=
echo "demo_run: $pass passed, $fail failed"
[ $fail = 0 ]
