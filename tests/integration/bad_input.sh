#!/usr/bin/env bash
# Bad input never crashes: each case exits 1 (or 2 for usage) with one clear line on stderr
# naming the thing at fault. A crash (signal) or exit 0 fails the test.
set -u
src="${DF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${DF_BIN:-$src/build/dpuflow}"
models="$src/tests/fixtures/models"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/df_bad.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
# expect NAME EXIT_CODE PATTERN -- command...
expect() {
  local name="$1" want="$2" pattern="$3"
  shift 4
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -eq "$want" ] && grep -q -- "$pattern" "$tmp/err"; then
    echo "ok   $name: exit $rc: $(head -1 "$tmp/err")"
    pass=$((pass+1))
  else
    echo "FAIL $name: exit $rc (want $want), stderr:"; sed 's/^/    /' "$tmp/err" | head -5
    fail=$((fail+1))
  fi
}
model="$models/bert_tiny_op14.onnx"
inputs="$models/bert_tiny.inputs.npz"
head -c 3000 "$model" > "$tmp/truncated.onnx"
head -c 5000 /dev/urandom > "$tmp/garbage.onnx"
: > "$tmp/empty.onnx"
printf 'not a zip' > "$tmp/bad.npz"
/usr/bin/python3 - "$tmp" <<'PY' 2>/dev/null || true
import sys, numpy as np
d = sys.argv[1]
np.savez(f"{d}/missing.npz", input_ids=np.zeros((1, 16), np.int64))
np.savez(f"{d}/wrongshape.npz", input_ids=np.zeros((1, 16), np.int64), attention_mask=np.ones((1, 8), np.int64),
         token_type_ids=np.zeros((1, 16), np.int64))
np.savez(f"{d}/wrongtype.npz", input_ids=np.zeros((1, 16), np.float32), attention_mask=np.ones((1, 16), np.int64),
         token_type_ids=np.zeros((1, 16), np.int64))
PY
expect "truncated onnx" 1 "truncated.onnx" -- "$bin" run "$tmp/truncated.onnx" --inputs "$inputs" --out "$tmp/o.npz"
expect "garbage onnx" 1 "garbage.onnx" -- "$bin" run "$tmp/garbage.onnx" --inputs "$inputs" --out "$tmp/o.npz"
expect "empty onnx" 1 "empty.onnx" -- "$bin" inspect "$tmp/empty.onnx"
expect "missing model" 1 "nope.onnx" -- "$bin" run "$tmp/nope.onnx" --inputs "$inputs" --out "$tmp/o.npz"
expect "corrupt npz" 1 "bad.npz" -- "$bin" run "$model" --inputs "$tmp/bad.npz" --out "$tmp/o.npz"
if [ -f "$tmp/missing.npz" ]; then
  expect "npz lacks an input" 1 "attention_mask" -- "$bin" run "$model" --inputs "$tmp/missing.npz" --out "$tmp/o.npz"
  expect "npz shapes disagree" 1 "attention_mask" -- "$bin" run "$model" --inputs "$tmp/wrongshape.npz" --out "$tmp/o.npz"
  expect "npz dtype disagrees" 1 "input_ids" -- "$bin" run "$model" --inputs "$tmp/wrongtype.npz" --out "$tmp/o.npz"
fi
# An op the table lacks: rewrite one node's op_type with python3-onnx.
if /usr/bin/python3 -c "import onnx" 2>/dev/null; then
  /usr/bin/python3 - "$model" "$tmp/unknown_op.onnx" <<'PY'
import sys, onnx
m = onnx.load(sys.argv[1])
for n in m.graph.node:
    if n.op_type == "Erf":
        n.op_type = "FancyErf"
    if n.op_type == "Tanh":
        n.op_type = "FancyTanh"
onnx.save(m, sys.argv[2])
PY
  expect "unsupported ops are all listed" 1 "FancyErf.*FancyTanh" -- "$bin" run "$tmp/unknown_op.onnx" --inputs "$inputs" --out "$tmp/o.npz"
  expect "checker names unsupported ops" 1 "FancyTanh" -- "$bin" check "$tmp/unknown_op.onnx"
fi
if /usr/bin/python3 -c "import onnx" 2>/dev/null; then
  /usr/bin/python3 - "$tmp/dynamic.onnx" <<'PY'
import sys, onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "dyn", [x], [y])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
PY
  expect "dynamic dim left unresolved" 1 "'x'.*'N'" -- "$bin" check "$tmp/dynamic.onnx"
fi
expect "usage: no model" 2 "usage" -- "$bin" run --inputs "$inputs"
expect "usage: unknown verb" 2 "unknown verb" -- "$bin" frobnicate
expect "invalid UTF-8 text" 1 "UTF-8" -- "$bin" infer "$model" --vocab "$src/tests/fixtures/hf/bert_tiny/vocab.txt" --max-len 16 --text "$(printf 'ab\xff\xfecd')"
echo "bad_input: $pass passed, $fail failed"
[ $fail -eq 0 ]
