#!/usr/bin/env bash
# Every fixture model (tests/fixtures/models/<name>_op<N>.onnx: HF-shaped BERT / XLM-R,
# exported by torch at opsets 11, 13, 14, 17 with dynamic batch and sequence axes) through
#   $DF_BIN run MODEL.onnx --inputs IN.npz --out OUT.npz
# on the [1,16] and [2,16] reference inputs, compared with PyTorch's eval-mode outputs
# (tests/fixtures/models/<name>_op<N>.expected[_b2].npz) at atol 1e-4.
# Env (set by CTest): DF_BIN, DF_SOURCE_DIR. Exit 0 all passed, 1 any failed, 77 skipped.
set -u
src="${DF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${DF_BIN:-$src/build/dpuflow}"
py=/usr/bin/python3
models="$src/tests/fixtures/models"
atol="${DF_ATOL:-1e-4}"

if ! "$py" -c 'import numpy' >/dev/null 2>&1; then
  echo "reference_models: $py with numpy not found (needed to compare outputs); skipping"
  exit 77
fi
if [ ! -x "$bin" ]; then
  echo "reference_models: dpuflow CLI not found at $bin (set DF_BIN)"
  exit 1
fi
shopt -s nullglob
onnx_files=("$models"/*_op*.onnx)
if [ ${#onnx_files[@]} -eq 0 ]; then
  echo "reference_models: no fixtures in $models (run tests/fixtures/make_models.py)"
  exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/df_refmodels.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
failed=()
for model in "${onnx_files[@]}"; do
  stem="$(basename "$model" .onnx)"       # bert_tiny_op13
  name="${stem%_op*}"                     # bert_tiny
  for v in "" _b2; do
    in="$models/$name.inputs$v.npz"
    exp="$models/$stem.expected$v.npz"
    out="$tmp/$stem$v.npz"
    label="$stem${v:+ (batch 2)}"
    [ -f "$in" ] && [ -f "$exp" ] || { echo "FAIL $label: missing $in or $exp"; fail=$((fail+1)); failed+=("$label"); continue; }
    "$bin" run "$model" --inputs "$in" --out "$out" >"$tmp/log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
      echo "FAIL $label: dpuflow run exited $rc:"
      tail -n 5 "$tmp/log" | sed 's/^/    /'
      fail=$((fail+1)); failed+=("$label"); continue
    fi
    if [ ! -f "$out" ]; then
      echo "FAIL $label: dpuflow run exited 0 but wrote no $out"
      fail=$((fail+1)); failed+=("$label"); continue
    fi
    if "$py" "$src/tests/peers/compare_npz.py" "$out" "$exp" --atol "$atol" >"$tmp/cmp" 2>&1; then
      echo "ok   $label"
      pass=$((pass+1))
    else
      echo "FAIL $label: outputs differ from PyTorch (atol $atol):"
      sed 's/^/    /' "$tmp/cmp"
      fail=$((fail+1)); failed+=("$label")
    fi
  done
done
echo "reference_models: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { printf '  failed: %s\n' "${failed[@]}"; exit 1; }
exit 0
