#!/usr/bin/env bash
# dpuflow against ONNX Runtime (the Node binding, CPU) on every fixture model and opset:
#   1. ORT vs the PyTorch references (checks the peer and the fixtures themselves),
#   2. dpuflow (`$DF_BIN run`) vs ORT, same inputs, atol 1e-4.
# Installs onnxruntime-node through tests/peers/install.sh; skips (77) when it cannot.
# Env (set by CTest): DF_BIN, DF_SOURCE_DIR. Exit 0 all passed, 1 any failed, 77 skipped.
set -u
src="${DF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${DF_BIN:-$src/build/dpuflow}"
py=/usr/bin/python3
models="$src/tests/fixtures/models"
peers="$src/tests/peers"
atol="${DF_ATOL:-1e-4}"

if ! "$py" -c 'import numpy' >/dev/null 2>&1; then
  echo "ort_compare: $py with numpy not found (needed to compare outputs); skipping"
  exit 77
fi
bash "$peers/install.sh"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "ort_compare: ONNX Runtime peer unavailable; skipping"
  exit 77
fi
echo "ort_compare: onnxruntime-node $(node "$peers/ort_run.mjs" version)"
have_df=1
if [ ! -x "$bin" ]; then
  echo "ort_compare: dpuflow CLI not found at $bin (set DF_BIN); dpuflow cases fail"
  have_df=0
fi
shopt -s nullglob
onnx_files=("$models"/*_op*.onnx)
if [ ${#onnx_files[@]} -eq 0 ]; then
  echo "ort_compare: no fixtures in $models (run tests/fixtures/make_models.py)"
  exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/df_ortcmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
failed=()
check() {  # label, candidate, reference, what
  if "$py" "$peers/compare_npz.py" "$2" "$3" --atol "$atol" >"$tmp/cmp" 2>&1; then
    echo "ok   $1: $4"
    pass=$((pass+1))
  else
    echo "FAIL $1: $4 (atol $atol):"
    sed 's/^/    /' "$tmp/cmp"
    fail=$((fail+1)); failed+=("$1: $4")
  fi
}
for model in "${onnx_files[@]}"; do
  stem="$(basename "$model" .onnx)"
  name="${stem%_op*}"
  for v in "" _b2; do
    in="$models/$name.inputs$v.npz"
    exp="$models/$stem.expected$v.npz"
    label="$stem${v:+ (batch 2)}"
    ort_out="$tmp/$stem$v.ort.npz"
    df_out="$tmp/$stem$v.df.npz"
    if node "$peers/ort_run.mjs" "$model" "$in" "$ort_out" --threads 1 >"$tmp/log" 2>&1; then
      check "$label" "$ort_out" "$exp" "ORT vs PyTorch"
    else
      echo "FAIL $label: ORT run failed:"; tail -n 5 "$tmp/log" | sed 's/^/    /'
      fail=$((fail+1)); failed+=("$label: ORT run"); continue
    fi
    if [ "$have_df" -eq 0 ]; then
      fail=$((fail+1)); failed+=("$label: dpuflow missing"); continue
    fi
    "$bin" run "$model" --inputs "$in" --out "$df_out" --threads 1 >"$tmp/log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] && [ ! -f "$df_out" ]; then
      echo "FAIL $label: dpuflow run exited 0 but wrote no output file"
      fail=$((fail+1)); failed+=("$label: dpuflow wrote nothing")
    elif [ "$rc" -eq 0 ]; then
      check "$label" "$df_out" "$ort_out" "dpuflow vs ORT"
    else
      echo "FAIL $label: dpuflow run exited $rc:"; tail -n 5 "$tmp/log" | sed 's/^/    /'
      fail=$((fail+1)); failed+=("$label: dpuflow run")
    fi
  done
done
echo "ort_compare: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { printf '  failed: %s\n' "${failed[@]}"; exit 1; }
exit 0
