#!/usr/bin/env bash
# `make run`: the user's first command. Until the build pipeline and the server land, it runs
# the engine on a committed fixture model with the fixture vocabulary, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DF_BIN:-build/dpuflow}
MODEL=tests/fixtures/models/bert_tiny_op14.onnx
VOCAB=tests/fixtures/hf/bert_tiny/vocab.txt
echo "dpuflow: the build pipeline (dpuflow build) and server (dpuflow serve) are not implemented yet."
echo "dpuflow: running the engine on a fixture classifier instead:"
echo
echo "\$ $BIN inspect $MODEL"
"$BIN" inspect "$MODEL"
echo
TEXT="今天天气怎么样"
echo "\$ $BIN infer $MODEL --vocab $VOCAB --max-len 16 --text \"$TEXT\""
"$BIN" infer "$MODEL" --vocab "$VOCAB" --max-len 16 --text "$TEXT"
