#!/usr/bin/env bash
# The OpenAI Node SDK (npm "openai") calls /v1/embeddings with float and base64 encodings and
# gets the same vectors. Skips (77) when node is absent or the SDK cannot be installed.
. "$(dirname "$0")/serve_common.bash"
PEERS=$SRC/tests/peers
command -v node >/dev/null || { echo "skip: node is not installed"; exit 77; }
have() { (cd "$PEERS" && node -e "require('openai')") >/dev/null 2>&1; }
if ! have; then
    # One installer for every node peer (package-lock.json pins openai too), under its lock:
    # a second npm run in the same folder at the same time would corrupt node_modules.
    bash "$PEERS/install.sh" >/dev/null 2>&1
    have || { echo "skip: npm could not install openai (no network?)"; exit 77; }
fi
standard_registry
start_server --log-dir ""
out=$(timeout 60 node "$PEERS/openai_embeddings.mjs" "$URL" bertmean 2>&1); rc=$?
echo "     $out"
check "openai SDK: float and base64 agree" 0 "$rc"
stop_server && ok "exit 0" || bad "exit 0"
finish
