#!/usr/bin/env bash
# calibrate -> quantize (every method x float/pof2, plus per-tensor) -> validate on the bert_tiny
# fixture; onnx.checker on each deploy_model.onnx; ONNX Runtime (when installable) runs it and
# agrees with dpuflow's run of the same file (atol 1e-4); bad input fails with a named error.
# Env (set by CTest): DF_BIN, DF_SOURCE_DIR. Exit 0 all passed, 1 any failed.
set -u
src="${DF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${DF_BIN:-$src/build/dpuflow}"
py=/usr/bin/python3
model="$src/tests/fixtures/models/bert_tiny_op13.onnx"
vocab="$src/tests/fixtures/hf/bert_tiny/vocab.txt"
peers="$src/tests/peers"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/df_quant.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass+1)); }
bad() { echo "FAIL $1"; fail=$((fail+1)); }
run() { # label, command...
  local label="$1"; shift
  if "$@" >"$tmp/out" 2>&1; then ok "$label"; else bad "$label"; sed 's/^/    /' "$tmp/out"; fi
}

# label, quantize output dir: ONNX Runtime and dpuflow run its deploy_model.onnx on row.npz
# and agree to 1e-4.
ort_agrees() {
  local label="$1" d="$2"
  if node "$peers/ort_run.mjs" "$d/deploy_model.onnx" "$tmp/row.npz" "$tmp/ort.npz" >"$tmp/out" 2>&1 &&
     "$bin" run "$d/deploy_model.onnx" --inputs "$tmp/row.npz" --out "$tmp/df.npz" >>"$tmp/out" 2>&1 &&
     "$py" "$peers/compare_npz.py" "$tmp/df.npz" "$tmp/ort.npz" --atol 1e-4 >>"$tmp/out" 2>&1; then
    ok "ONNX Runtime runs the $label deploy_model.onnx and agrees with dpuflow (atol 1e-4)"
  else bad "ORT vs dpuflow on $label"; sed 's/^/    /' "$tmp/out"; fi
}

have_py=0; "$py" -c 'import numpy, onnx' >/dev/null 2>&1 && have_py=1
have_ort=0
if [ "$have_py" = 1 ] && bash "$peers/install.sh" >/dev/null 2>&1; then have_ort=1; fi

run "calibrate built-in corpus, seq 16, held-out every 5th" \
  "$bin" calibrate --model "$model" --tokenizer "$vocab" --seq 16 --out "$tmp/calib.npz" --heldout "$tmp/held.npz"
if [ "$have_py" = 1 ]; then
  run "calib arrays are [40,16] and [10,16] int64 named as the model's inputs" "$py" -c "
import numpy as np
c = np.load('$tmp/calib.npz'); h = np.load('$tmp/held.npz')
assert sorted(c) == ['attention_mask', 'input_ids', 'token_type_ids'], list(c)
for k in c: assert c[k].shape == (40, 16) and c[k].dtype == np.int64 and h[k].shape == (10, 16), (k, c[k].shape)
assert (c['input_ids'][:, 0] == 2).all()  # [CLS]
"
  # one row for the ORT comparison
  "$py" -c "
import numpy as np
c = np.load('$tmp/calib.npz'); np.savez('$tmp/row.npz', **{k: v[7:8] for k, v in c.items()})"
fi

for scale in float pof2; do
  for method in minmax percentile entropy mse; do
    d="$tmp/q_${method}_$scale"
    label="$method/$scale"
    if ! "$bin" quantize "$model" --calib "$tmp/calib.npz" --method "$method" --scale "$scale" --out-dir "$d" >"$tmp/out" 2>&1; then
      bad "quantize $label"; sed 's/^/    /' "$tmp/out"; continue
    fi
    if [ -s "$d/deploy_model.onnx" ] && [ -s "$d/quant_info.json" ] && grep -q "sqnr_db" "$d/quant_log.txt"; then
      ok "quantize $label writes deploy_model.onnx, quant_info.json, quant_log.txt"
    else bad "quantize $label outputs"; fi
    if "$bin" validate "$model" "$d/deploy_model.onnx" --calib "$tmp/calib.npz" --heldout "$tmp/held.npz" \
         --log "$d/quant_log.txt" --json >"$tmp/v.json" 2>"$tmp/err"; then
      if [ "$have_py" = 1 ]; then
        if "$py" -c "
import json, sys
v = json.load(open('$tmp/v.json'))
o = v['calib']['outputs'][0]; h = v['heldout']['outputs'][0]
print('    %-18s verdict %-4s calib cos mean %.6f min %.6f top1 %.3f | heldout cos mean %.6f top1 %.3f | worst layer cos %.6f'
      % ('$label', v['verdict'], o['cosine_mean'], o['cosine_min'], o['top1'], h['cosine_mean'], h['top1'], v['layer_cosine_min']))
sys.exit(0 if o['cosine_mean'] >= 0.98 and h['cosine_mean'] >= 0.98 else 1)
"; then ok "validate $label: cosine >= 0.98"; else bad "validate $label: cosine below 0.98"; fi
      else ok "validate $label ran"; fi
    else bad "validate $label"; sed 's/^/    /' "$tmp/err"; fi
    grep -q "== validate:" "$d/quant_log.txt" && ok "validate $label appended to quant_log.txt" || bad "validate $label log"
    if [ "$have_py" = 1 ]; then
      run "onnx.checker $label" "$py" -c "import onnx; onnx.checker.check_model(onnx.load('$d/deploy_model.onnx'), full_check=True)"
      if [ "$scale" = pof2 ]; then
        run "quant_info $label: pof2 scales, act fix_pos <= 12, DPU round modes" "$py" -c "
import json
q = json.load(open('$d/quant_info.json'))
assert q['round_mode'] == {'activation': 'half_up', 'weight': 'half_away_from_zero'}, q['round_mode']
for t in q['tensors']:
    assert t['scale'] == 2.0 ** -t['fix_pos'], t
    assert t['axis'] is None and t['dtype'] == 'int8', t
    if t['role'] == 'activation': assert t['fix_pos'] <= 12, t
"
      fi
    fi
    [ "$have_ort" = 1 ] && ort_agrees "$label" "$d"
  done
done

run "quantize per-tensor float weights" \
  "$bin" quantize "$model" --calib "$tmp/calib.npz" --weights per_tensor --out-dir "$tmp/q_pt"
if [ "$have_py" = 1 ]; then
  run "per-channel weights carry one scale per output channel (axis 1 / Gemm transB axis 0)" "$py" -c "
import json
q = json.load(open('$tmp/q_percentile_float/quant_info.json'))
ws = [t for t in q['tensors'] if t['role'] == 'weight']
assert ws and all(isinstance(t['scale'], list) and t['axis'] in (0, 1) for t in ws), ws[0]
"
fi

# 7-bit weights: every weight in [-64, 64], validate still passes, and on a CPU without VNNI
# the session runs them on the AVX2 int8 kernel (QMatMul, GELU fused in) instead of dequantizing.
run "quantize --weight-bits 7" \
  "$bin" quantize "$model" --calib "$tmp/calib.npz" --weight-bits 7 --out-dir "$tmp/q_w7"
if [ "$have_py" = 1 ]; then
  run "7-bit weights stay in [-64, 64]" "$py" -c "
import onnx, numpy as np
from onnx import numpy_helper
m = onnx.load('$tmp/q_w7/deploy_model.onnx')
ws = [numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
assert ws and all(int(np.abs(w.astype(np.int32)).max()) <= 64 for w in ws), [int(np.abs(w.astype(np.int32)).max()) for w in ws]
"
fi
run "validate 7-bit weights" "$bin" validate "$model" "$tmp/q_w7/deploy_model.onnx" --calib "$tmp/calib.npz"
if ! grep -qw vnni /proc/cpuinfo && grep -qw avx2 /proc/cpuinfo; then
  "$bin" inspect "$tmp/q_w7/deploy_model.onnx" --seq 16 --passes >"$tmp/out" 2>&1
  if grep -qE "^  QMatMul +[1-9]" "$tmp/out" && grep -qE "qmatmul_gelu +[1-9]" "$tmp/out"; then
    ok "7-bit weights run as QMatMul with GELU fused on this CPU"
  else bad "7-bit weights are not on the int8 kernel"; sed 's/^/    /' "$tmp/out"; fi
fi
# 7-bit activations too: int8 activation scales cover their threshold in 63 levels, uint8 in
# 127, so the AVX2 kernel takes its narrow form; validate still passes.
run "quantize --weight-bits 7 --act-bits 7" \
  "$bin" quantize "$model" --calib "$tmp/calib.npz" --weight-bits 7 --act-bits 7 --out-dir "$tmp/q_w7a7"
run "7-bit activations: 63 / 127 levels up to the threshold, recorded in quant_info.json" "$py" -c "
import json
d = json.load(open('$tmp/q_w7a7/quant_info.json'))
assert d['activation_bits'] == 7 and d['weight_bits'] == 7, d
acts = [t for t in d['tensors'] if t['role'] == 'activation']
assert acts
for t in acts:
    levels = 63 if t['dtype'] == 'int8' else 127
    assert abs(t['scale'] * levels - t['threshold']) <= 1e-5 * t['threshold'], t
"
grep -q "activation bits: 7" "$tmp/q_w7a7/quant_log.txt" && ok "quant_log.txt names the activation bits" ||
  bad "quant_log.txt lacks the activation bits"
run "validate 7-bit weights and activations" \
  "$bin" validate "$model" "$tmp/q_w7a7/deploy_model.onnx" --calib "$tmp/calib.npz"
# The AVX2 int8 kernel (wide for 7-bit weights, narrow with 7-bit activations too) against
# ONNX Runtime's reference QDQ execution of the same files.
if [ "$have_ort" = 1 ]; then
  for v in w7 w7a7; do ort_agrees "$v" "$tmp/q_$v"; done
fi
if "$bin" quantize "$model" --calib "$tmp/calib.npz" --act-bits 9 --out-dir "$tmp/q_a9" 2>"$tmp/err"; then
  bad "--act-bits 9 is refused"
else grep -q "act-bits" "$tmp/err" && ok "--act-bits 9 is refused" || bad "--act-bits 9 message"; fi
if "$bin" quantize "$model" --calib "$tmp/calib.npz" --scale pof2 --act-bits 7 --out-dir "$tmp/q_pa7" 2>"$tmp/err"; then
  bad "pof2 with 7-bit activations is refused"
else grep -q "7-bit activations" "$tmp/err" && ok "pof2 with 7-bit activations is refused: $(cat "$tmp/err")" ||
  bad "pof2 with 7-bit activations message"; fi
if "$bin" quantize "$model" --calib "$tmp/calib.npz" --weight-bits 6 --out-dir "$tmp/q_w6" 2>"$tmp/err"; then
  bad "--weight-bits 6 is refused"
else grep -q "weight-bits" "$tmp/err" && ok "--weight-bits 6 is refused" || bad "--weight-bits 6 message"; fi

# bad input
printf '\n \n' >"$tmp/empty.txt"
if "$bin" calibrate --model "$model" --tokenizer "$vocab" --corpus "$tmp/empty.txt" --out "$tmp/x.npz" 2>"$tmp/err"; then
  bad "empty corpus is refused"
else grep -q "empty" "$tmp/err" && ok "empty corpus is refused: $(cat "$tmp/err")" || bad "empty corpus message"; fi
printf 'good\n\xc3\x28 bad\n' >"$tmp/bad.txt"
if "$bin" calibrate --model "$model" --tokenizer "$vocab" --corpus "$tmp/bad.txt" --out "$tmp/x.npz" 2>"$tmp/err"; then
  bad "invalid UTF-8 is refused"
else grep -q "bad.txt:2" "$tmp/err" && ok "invalid UTF-8 names file:line: $(cat "$tmp/err")" || bad "invalid UTF-8 message"; fi
if "$bin" quantize "$model" --calib "$tmp/calib.npz" --method nope --out-dir "$tmp/q_bad" 2>"$tmp/err"; then
  bad "unknown method is refused"
else grep -q "nope" "$tmp/err" && ok "unknown method is refused" || bad "unknown method message"; fi

echo "quantize_models: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
