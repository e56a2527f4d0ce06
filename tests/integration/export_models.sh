#!/usr/bin/env bash
# dpuflow export on every Hugging Face fixture (tests/fixtures/hf/): the static ONNX it writes
# must reproduce the PyTorch references (atol 1e-4) when run by dpuflow, pass
# onnx.checker (full_check) and, when the ONNX Runtime peer installs, match under ORT too.
# Covers model.safetensors fp32 and fp16, pytorch_model.bin, XLM-R, every head, batch 2.
# Env (set by CTest): DF_BIN, DF_SOURCE_DIR. Exit 0 all passed, 1 any failed, 77 skipped.
set -u
src="${DF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${DF_BIN:-$src/build/dpuflow}"
py=/usr/bin/python3
hf="$src/tests/fixtures/hf"
models="$src/tests/fixtures/models"
peers="$src/tests/peers"
atol="${DF_ATOL:-1e-4}"

if ! "$py" -c 'import numpy' >/dev/null 2>&1; then
  echo "export_models: $py with numpy not found (needed to compare outputs); skipping"
  exit 77
fi
have_onnx=0
"$py" -c 'import onnx' >/dev/null 2>&1 && have_onnx=1
have_ort=0
if bash "$peers/install.sh" >/dev/null 2>&1; then have_ort=1; fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/df_export.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
failed=()
ok() { echo "ok   $1"; pass=$((pass+1)); }
bad() { echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/    /' "$2"; fail=$((fail+1)); failed+=("$1"); }

# case: label model_dir inputs.npz expected.npz batch ref_array_name export args...
run_case() {
  local label="$1" dir="$2" inputs="$3" expected="$4" batch="$5" refname="$6"; shift 6
  local onnx="$tmp/$label.onnx" meta="$tmp/$label.json" out="$tmp/$label.out.npz"
  if ! "$bin" export "$dir" --out "$onnx" --metadata "$meta" --seq 16 --batch "$batch" "$@" >"$tmp/log" 2>&1; then
    bad "$label: export" "$tmp/log"; return
  fi
  ok "$label: export"
  local name
  name="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["output_name"])' "$meta")"
  "$py" - "$meta" >"$tmp/meta" 2>&1 <<'EOF' && ok "$label: metadata" || bad "$label: metadata" "$tmp/meta"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["export_status"] == "ok", m
assert m["opset_version"] == 13 and m["input_name"] == "input_ids", m
assert m["parameter_count"] > 0
files = {s["file"] for s in m["source_files"]}
assert "config.json" in files and all(len(s["sha256"]) == 64 for s in m["source_files"]), files
EOF
  # The reference npz names the array refname; rename our output to it for the comparison.
  if "$bin" run "$onnx" --inputs "$inputs" --out "$out" --threads 1 >"$tmp/log" 2>&1 &&
     "$py" - "$out" "$name" "$refname" >"$tmp/log" 2>&1 <<'EOF'
import sys, numpy as np
d = dict(np.load(sys.argv[1])); d[sys.argv[3]] = d.pop(sys.argv[2]); np.savez(sys.argv[1], **d)
EOF
  then
    if "$py" "$peers/compare_npz.py" "$out" "$expected" --atol "$atol" --only "$refname" >"$tmp/cmp" 2>&1; then
      ok "$label: dpuflow vs PyTorch ($(grep -o 'max_abs_diff [^ ]*' "$tmp/cmp"))"
    else
      bad "$label: dpuflow vs PyTorch" "$tmp/cmp"
    fi
  else
    bad "$label: dpuflow run" "$tmp/log"
  fi
  if [ "$have_onnx" -eq 1 ]; then
    if "$py" -c 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' "$onnx" >"$tmp/log" 2>&1; then
      ok "$label: onnx.checker full_check"
    else
      bad "$label: onnx.checker" "$tmp/log"
    fi
  fi
  if [ "$have_ort" -eq 1 ]; then
    local ort="$tmp/$label.ort.npz"
    if node "$peers/ort_run.mjs" "$onnx" "$inputs" "$ort" --threads 1 >"$tmp/log" 2>&1 &&
       "$py" - "$ort" "$name" "$refname" >>"$tmp/log" 2>&1 <<'EOF'
import sys, numpy as np
d = dict(np.load(sys.argv[1])); d[sys.argv[3]] = d.pop(sys.argv[2]); np.savez(sys.argv[1], **d)
EOF
    then
      if "$py" "$peers/compare_npz.py" "$ort" "$expected" --atol "$atol" --only "$refname" >"$tmp/cmp" 2>&1; then
        ok "$label: ORT vs PyTorch"
      else
        bad "$label: ORT vs PyTorch" "$tmp/cmp"
      fi
    else
      bad "$label: ORT run" "$tmp/log"
    fi
  fi
}

if [ ! -x "$bin" ]; then echo "export_models: dpuflow CLI not found at $bin"; exit 1; fi
[ "$have_onnx" -eq 1 ] || echo "export_models: python3-onnx missing; onnx.checker part skipped"
[ "$have_ort" -eq 1 ] || echo "export_models: ONNX Runtime peer unavailable; ORT part skipped"

m="$models"
run_case bert_tiny_st      "$hf/bert_tiny"   "$m/bert_tiny.inputs.npz"      "$m/bert_tiny_op13.expected.npz"      1 logits
run_case bert_tiny_bin     "$hf/bert_tiny"   "$m/bert_tiny.inputs.npz"      "$m/bert_tiny_op13.expected.npz"      1 logits \
  --weights "$hf/bert_tiny/pytorch_model.bin"
run_case bert_tiny_b2      "$hf/bert_tiny"   "$m/bert_tiny.inputs_b2.npz"   "$m/bert_tiny_op13.expected_b2.npz"   2 logits --output logits
run_case bert_mean_fp16    "$hf/bert_mean"   "$m/bert_mean.inputs.npz"      "$m/bert_mean_op13.expected.npz"      1 sentence_embedding --output mean
run_case bert_mean_fp16_b2 "$hf/bert_mean"   "$m/bert_mean.inputs_b2.npz"   "$m/bert_mean_op13.expected_b2.npz"   2 sentence_embedding --output mean
run_case bert_mean_lhs     "$hf/bert_mean"   "$m/bert_mean.inputs.npz"      "$m/bert_mean_op13.expected.npz"      1 last_hidden_state --output last_hidden_state
run_case bert_pooler       "$hf/bert_pooler" "$m/bert_pooler.inputs.npz"    "$m/bert_pooler_op13.expected.npz"    1 pooler_output --output pooler
run_case bert_pooler_lhs   "$hf/bert_pooler" "$m/bert_pooler.inputs_b2.npz" "$m/bert_pooler_op13.expected_b2.npz" 2 last_hidden_state
run_case xlmr_cls          "$hf/xlmr_tiny"   "$m/xlmr_tiny.inputs.npz"      "$m/xlmr_tiny_op13.expected.npz"      1 sentence_embedding --output cls --normalize
run_case xlmr_cls_b2       "$hf/xlmr_tiny"   "$m/xlmr_tiny.inputs_b2.npz"   "$m/xlmr_tiny_op13.expected_b2.npz"   2 sentence_embedding --output cls --normalize
run_case xlmr_lhs          "$hf/xlmr_tiny"   "$m/xlmr_tiny.inputs.npz"      "$m/xlmr_tiny_op13.expected.npz"      1 last_hidden_state
run_case bert_pooler_no_tt "$hf/bert_pooler" "$m/bert_pooler.inputs.npz"    "$m/bert_pooler_op13.expected.npz"    1 pooler_output \
  --output pooler --no-token-type-ids
rc_dir="$src/tests/fixtures/convert/roberta_cls"
run_case roberta_cls       "$rc_dir"         "$m/xlmr_tiny.inputs.npz"      "$rc_dir/expected.npz"                1 logits
run_case roberta_cls_b2    "$rc_dir"         "$m/xlmr_tiny.inputs_b2.npz"   "$rc_dir/expected_b2.npz"             2 logits

# opset 17 uses LayerNormalization; same numbers.
run17() {
  if "$bin" export "$hf/bert_pooler" --out "$tmp/op17.onnx" --seq 16 --opset 17 >"$tmp/log" 2>&1 &&
     "$bin" run "$tmp/op17.onnx" --inputs "$models/bert_pooler.inputs.npz" --out "$tmp/op17.npz" --threads 1 >>"$tmp/log" 2>&1 &&
     "$py" "$peers/compare_npz.py" "$tmp/op17.npz" "$models/bert_pooler_op17.expected.npz" --atol "$atol" --only last_hidden_state >"$tmp/cmp" 2>&1; then
    ok "bert_pooler opset 17 (LayerNormalization) vs PyTorch"
    if [ "$have_onnx" -eq 1 ]; then
      if "$py" -c 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' "$tmp/op17.onnx" >"$tmp/log" 2>&1
      then ok "bert_pooler opset 17: onnx.checker full_check"; else bad "bert_pooler opset 17: onnx.checker" "$tmp/log"; fi
    fi
  else
    cat "$tmp/cmp" >>"$tmp/log" 2>/dev/null; bad "bert_pooler opset 17" "$tmp/log"
  fi
}
run17

# Bad input: each is exit 1 with one line naming the file and field.
expect_fail() {  # label, pattern, args...
  local label="$1" pat="$2"; shift 2
  "$bin" export "$@" >"$tmp/log" 2>&1
  local rc=$?
  if [ "$rc" -eq 1 ] && grep -q -- "$pat" "$tmp/log"; then ok "bad input: $label"; else echo "    exit $rc"; bad "bad input: $label" "$tmp/log"; fi
}
bad_dir="$src/tests/fixtures/convert"
expect_fail "corrupt safetensors header" "header" "$hf/bert_pooler" --weights "$bad_dir/corrupt_header.safetensors" --out "$tmp/x.onnx"
expect_fail "pickle global os.system" "pickle global 'os.system' is not allowed" "$hf/bert_tiny" --weights "$bad_dir/evil_global.bin" --out "$tmp/x.onnx"
expect_fail "missing config key" "required key 'hidden_size'" "$hf/bert_pooler" --config "$bad_dir/config_missing_hidden_size.json" --out "$tmp/x.onnx"
expect_fail "shape mismatch" "expects \[" "$hf/bert_pooler" --config "$bad_dir/config_wrong_intermediate.json" --out "$tmp/x.onnx"
expect_fail "truncated zip" "truncated_model.bin" "$hf/bert_tiny" --weights "$bad_dir/truncated_model.bin" --out "$tmp/x.onnx"
expect_fail "unknown head" "output 'bogus' is unknown" "$hf/bert_pooler" --output bogus --out "$tmp/x.onnx"
if [ -e "$tmp/x.onnx" ]; then bad "bad input left an output file behind"; else ok "bad input: no output file written"; fi

echo "export_models: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { printf '  failed: %s\n' "${failed[@]}"; exit 1; }
exit 0
