#!/usr/bin/env bash
# `make run`: the user's first command. Builds and registers the two demo models (a
# TinyBERT-shaped intent classifier and a SimCSE-style sentence embedder, both trained on the
# government-service dataset in models/demo/data) with `dpuflow build`, then serves them with
# `dpuflow serve` on 127.0.0.1:8080 (PORT=... to change), printing sample requests.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${DF_BIN:-build/dpuflow}
PORT=${PORT:-8080}
HOST=${HOST:-127.0.0.1}
REGISTRY=build/demo/model_registry.json
mkdir -p build/demo

for model in models/demo/tinybert-intent models/demo/simcse-embed; do
  if [ ! -f "$model/config.json" ]; then
    echo "run-demo: $model has no checkpoint (train it with tools/train_demo.py)" >&2
    exit 1
  fi
  echo "== dpuflow build $model/model.json"
  "$BIN" build "$model/model.json" --registry "$REGISTRY"
done

cat <<MSG

== serving the demo models on http://$HOST:$PORT  (Ctrl-C to stop)
Try, from another terminal:

  curl -s http://$HOST:$PORT/v1/tasks/intent_classify -H 'Content-Type: application/json' \\
       -d '{"text": "我想查询一下社保缴费记录"}'

  curl -s http://$HOST:$PORT/v1/embeddings -H 'Content-Type: application/json' \\
       -d '{"model": "simcse-embed", "input": ["怎么办理营业执照", "营业执照去哪里办"]}'

Status page: http://$HOST:$PORT/     Metrics: http://$HOST:$PORT/metrics
MSG
exec "$BIN" serve --registry "$REGISTRY" --host "$HOST" --port "$PORT"
