#!/usr/bin/env bash
# dpuflow bench against a tiny local HTTP/1.1 responder: JSON report fields, SVG, refusals.
set -u
name=bench_cli
PY=/usr/bin/python3
command -v $PY >/dev/null || { echo "$name: python3 missing; skipped"; exit 77; }
tmp=$(mktemp -d)
pass=0; fail=0
ok() { pass=$((pass+1)); }
bad() { echo "FAIL: $1"; fail=$((fail+1)); }
cat > "$tmp/responder.py" <<'PYEOF'
import http.server, json, sys, socketserver
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    n = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        json.loads(body)
        H.n += 1
        code = 429 if H.n % 10 == 0 else 200
        out = json.dumps({"label": "ok"}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("Server-Timing", "tokenize;dur=0.050, queue;dur=0.010, infer;dur=1.200, post;dur=0.005, total;dur=1.265")
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PYEOF
$PY "$tmp/responder.py" > "$tmp/port" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for i in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(head -1 "$tmp/port")
[ -n "$port" ] || { echo "$name: responder did not start"; exit 1; }

if "$DF_BIN" bench --url "http://127.0.0.1:$port" --task intent --concurrency 2 --duration 1.5 \
     --text "今天天气怎么样" --out "$tmp/b.json" --svg "$tmp/b.svg" > "$tmp/out.txt" 2>&1; then ok; else bad "closed loop run: $(cat "$tmp/out.txt")"; fi
if $PY - "$tmp/b.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
for k in ["requests", "ok", "errors", "qps", "latency_ms", "errors_by_status", "server_timing_ms", "per_second", "mode"]:
    assert k in r, k
assert r["mode"] == "closed" and r["requests"] > 10, r
assert r["ok"] + r["errors"] == r["requests"]
assert r["errors_by_status"].get("429", 0) >= 1, r["errors_by_status"]
L = r["latency_ms"]; assert 0 < L["p50"] <= L["p90"] <= L["p99"] <= L["max"], L
assert abs(r["server_timing_ms"]["infer"]["p50"] - 1.2) < 1e-6, r["server_timing_ms"]
assert abs(r["server_timing_ms"]["post"]["mean"] - 0.005) < 1e-6
assert len(r["per_second"]) >= 1
PYEOF
then ok; else bad "report fields"; fi
if grep -q "<svg" "$tmp/b.svg" && grep -q "latency (ms)" "$tmp/b.svg" && grep -q "time since start (s)" "$tmp/b.svg" && grep -q "<circle" "$tmp/b.svg"; then ok; else bad "svg"; fi
if $PY -c "import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])" "$tmp/b.svg"; then ok; else bad "svg is not well-formed XML"; fi

# open loop at a fixed rate: about rate x duration requests
if "$DF_BIN" bench --url "http://localhost:$port/v1/tasks/intent" --concurrency 4 --duration 1 --rate 50 --out "$tmp/o.json" >/dev/null 2>&1 \
   && $PY -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['mode']=='open-fixed' and 45 <= r['requests'] <= 51, r['requests']" "$tmp/o.json"; then ok; else bad "open loop"; fi

# refusals: non-loopback host, bad options
if "$DF_BIN" bench --url http://example.com:80 --task t --duration 1 2> "$tmp/err.txt"; then bad "accepted a remote host"
elif grep -q "not loopback" "$tmp/err.txt"; then ok; else bad "remote host message: $(cat "$tmp/err.txt")"; fi
"$DF_BIN" bench --url "http://127.0.0.1:$port" --concurrency 0 2>/dev/null; [ $? -eq 2 ] && ok || bad "--concurrency 0 is a usage error"
"$DF_BIN" bench --url "https://127.0.0.1:$port" --task t --duration 1 2>/dev/null; [ $? -eq 1 ] && ok || bad "https refused"

echo "$name: $pass passed, $fail failed"
[ $fail -eq 0 ]
