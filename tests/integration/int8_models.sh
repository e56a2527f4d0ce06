#!/usr/bin/env bash
# dpuflow's int8 path (QDQ MatMul/Gemm fused into ai.dpuflow.QMatMul) against ONNX Runtime on
# the QDQ fixtures (tests/fixtures/int8/*_qdq_{s8,u8}.onnx, made by make_qdq.py):
#   1. dpuflow vs ORT with graph optimizations disabled (ORT then runs the QDQ ops exactly as
#      the ONNX spec writes them): atol 1e-4. dpuflow's integer accumulation is exact and the
#      spec's float accumulation of dequantized values differs from it by float rounding only
#      (measured: under 1e-6 on these models).
#   2. dpuflow vs the FP32 PyTorch reference: atol 0.06 on the logits (quantization error;
#      measured 0.01-0.04 here).
# Not compared: ORT with its optimizer on. On CPUs without VNNI its fused int8 kernels
# saturate int16 pair sums (vpmaddubsw) for full-range int8 weights and drift by ~0.13 on
# these logits (measured on this AMD EPYC, AVX2); dpuflow splits the weights to stay exact.
# Env (CTest): DF_BIN, DF_SOURCE_DIR. Exit 0 all passed, 1 any failed, 77 skipped.
set -u
# Exercise the int8 GEMM path even on CPUs where sessions would dequantize instead (no VNNI).
export DF_INT8=1
src="${DF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${DF_BIN:-$src/build/dpuflow}"
py=/usr/bin/python3
peers="$src/tests/peers"
fx="$src/tests/fixtures/int8"
models="$src/tests/fixtures/models"

if ! "$py" -c 'import numpy' >/dev/null 2>&1; then
  echo "int8_models: $py with numpy not found; skipping"; exit 77
fi
if ! bash "$peers/install.sh"; then
  echo "int8_models: ONNX Runtime peer unavailable; skipping"; exit 77
fi
[ -x "$bin" ] || { echo "int8_models: dpuflow CLI not found at $bin"; exit 1; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/df_int8.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# The same peer, optimizer off: a copy in the peers folder so it resolves onnxruntime-node.
ort_ref="$peers/.ort_run_noopt.$$.mjs"
sed "s/graphOptimizationLevel: 'all'/graphOptimizationLevel: 'disabled'/" "$peers/ort_run.mjs" >"$ort_ref"
trap 'rm -rf "$tmp" "$ort_ref"' EXIT
grep -q "'disabled'" "$ort_ref" || { echo "int8_models: could not make the unoptimized ORT runner"; exit 1; }

pass=0; fail=0
check() {  # label candidate reference atol
  if "$py" "$peers/compare_npz.py" "$2" "$3" --atol "$4" >"$tmp/cmp" 2>&1; then
    echo "ok   $1 (atol $4)"; pass=$((pass+1))
  else
    echo "FAIL $1 (atol $4):"; sed 's/^/    /' "$tmp/cmp"; fail=$((fail+1))
  fi
}
for model in "$fx"/*_qdq_*.onnx; do
  stem="$(basename "$model" .onnx)"
  name="${stem%_qdq_*}"
  in="$models/$name.inputs.npz"
  if ! "$bin" run "$model" --inputs "$in" --out "$tmp/$stem.df.npz" --threads 1 >"$tmp/log" 2>&1; then
    echo "FAIL $stem: dpuflow run:"; tail -n 5 "$tmp/log" | sed 's/^/    /'; fail=$((fail+1)); continue
  fi
  if node "$ort_ref" "$model" "$in" "$tmp/$stem.ort.npz" --threads 1 >"$tmp/log" 2>&1; then
    check "$stem: dpuflow int8 vs ORT (QDQ as specified)" "$tmp/$stem.df.npz" "$tmp/$stem.ort.npz" 1e-4
  else
    echo "FAIL $stem: ORT run:"; tail -n 5 "$tmp/log" | sed 's/^/    /'; fail=$((fail+1))
  fi
  check "$stem: dpuflow int8 vs FP32 reference" "$tmp/$stem.df.npz" "$models/${name}_op13.expected.npz" 0.06
done
echo "int8_models: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
