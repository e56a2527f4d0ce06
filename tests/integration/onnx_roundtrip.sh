#!/usr/bin/env bash
# ONNX write path: load -> save (as loaded, and folded to a static [1,16] model), then
#   1. onnx.checker accepts both files (Debian's python3-onnx),
#   2. dpuflow gives the PyTorch reference outputs on both,
#   3. ONNX Runtime gives the same outputs on both (skipped when the peer is unavailable),
#   4. external data: saving with --external-data writes MODEL.onnx.data and still loads.
set -u
src="${DF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${DF_BIN:-$src/build/dpuflow}"
py=/usr/bin/python3
models="$src/tests/fixtures/models"
peers="$src/tests/peers"
if ! "$py" -c 'import onnx, numpy' >/dev/null 2>&1; then
  echo "onnx_roundtrip: $py with onnx and numpy not found; skipping"
  exit 77
fi
have_ort=1
bash "$peers/install.sh" >/dev/null 2>&1 || have_ort=0
[ $have_ort = 1 ] || echo "onnx_roundtrip: ONNX Runtime peer unavailable; ORT checks skipped"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/df_rt.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass+1)); }
bad() { echo "FAIL $1"; fail=$((fail+1)); }
compare() { "$py" "$peers/compare_npz.py" "$1" "$2" --atol 1e-4 >"$tmp/cmp" 2>&1 || { cat "$tmp/cmp"; return 1; }; }

for stem in bert_tiny_op11 bert_tiny_op17 xlmr_tiny_op14 bert_mean_op13; do
  name="${stem%_op*}"
  in="$models/$name.inputs.npz"
  exp="$models/$stem.expected.npz"
  seq=$("$py" -c "import numpy as np; print(np.load('$in')['input_ids'].shape[1])")
  "$bin" check "$models/$stem.onnx" --no-fold --out "$tmp/$stem.plain.onnx" >/dev/null || { bad "$stem: save as loaded"; continue; }
  "$bin" check "$models/$stem.onnx" --seq "$seq" --out "$tmp/$stem.static.onnx" >/dev/null || { bad "$stem: save folded"; continue; }
  "$bin" check "$models/$stem.onnx" --seq "$seq" --external-data 1024 --out "$tmp/$stem.ext.onnx" >/dev/null || { bad "$stem: save with external data"; continue; }
  for kind in plain static ext; do
    f="$tmp/$stem.$kind.onnx"
    if "$py" -c "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)" "$f" 2>"$tmp/err"; then
      ok "$stem.$kind: onnx.checker"
    else
      bad "$stem.$kind: onnx.checker: $(tail -1 "$tmp/err")"
    fi
    if "$bin" run "$f" --inputs "$in" --out "$tmp/out.npz" && compare "$tmp/out.npz" "$exp"; then
      ok "$stem.$kind: dpuflow matches PyTorch"
    else
      bad "$stem.$kind: dpuflow vs PyTorch"
    fi
    if [ $have_ort = 1 ]; then
      if node "$peers/ort_run.mjs" "$f" "$in" "$tmp/ort.npz" >/dev/null 2>"$tmp/err" && compare "$tmp/ort.npz" "$exp"; then
        ok "$stem.$kind: ONNX Runtime matches PyTorch on the saved file"
      else
        bad "$stem.$kind: ONNX Runtime on the saved file: $(tail -2 "$tmp/err")"
      fi
    fi
  done
  [ -s "$tmp/$stem.ext.onnx.data" ] && ok "$stem: external data file written" || bad "$stem: no external data file"
done
echo "onnx_roundtrip: $pass passed, $fail failed"
[ $fail -eq 0 ]
