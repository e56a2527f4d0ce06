#!/usr/bin/env bash
# dpuflow vs ONNX Runtime vs PyTorch (CPU), side by side, in one run, on the same ONNX files.
#
#   bash bench/peers/run.sh [--quick] [--threads "1 2"] [--batches "1 8"] [--models "tinybert bertbase"]
#                           [--opset 13] [--out bench/results/latest.md] [--doc docs/bench.md]
#
# Models (random weights, static [B,64], built once into $MODELS_DIR (build/bench-models) by
# bench/peers/make_bench_models.py): TinyBERT-shaped (4L/312/12h/FFN 1200) and BERT-base-
# shaped (12L/768/12h/3072) BertModel, output last_hidden_state. --quick = TinyBERT, [1,64],
# 1 thread only.
#
# Rows per case (model x batch x threads):
#   dpuflow FP32        $DF_BIN bench-model M.onnx --json
#   dpuflow FP32 1-32   the same on the batch-1 file with --max-batch 32: the one variable-batch
#                       plan the server loads, run at this batch
#   dpuflow INT8        the same on dpuflow's QDQ deploy_model.onnx (dpuflow calibrate +
#                       quantize on the batch-1 model, re-pinned to batch B by pin_batch.py)
#   dpuflow INT8 w7     the same quantized with --weight-bits 7 (the AVX2 int8 kernel's range)
#   dpuflow INT8 w7a7   --weight-bits 7 --act-bits 7 (the kernel's narrow form on every layer)
#   ORT FP32 / INT8 QDQ node tests/peers/ort_run.mjs bench on the FP32 file / the QDQ file
#   ORT INT8 dynamic    the same on make_dynamic_int8.py's DynamicQuantizeLinear+MatMulInteger
#   PyTorch FP32 / INT8 bench/peers/torch_bench.py (same module and weights; quantize_dynamic)
# Every engine prints {"p50_ms":..,"p90_ms":..,"min_ms":..,"runs":..}. Each round runs every
# engine once, in turn, a fresh process each; a cell is the median over ROUNDS rounds of the
# p50s. RUNS timed runs per process, scaled down for BERT-base and batch 8 (PyTorch FP32, on
# Debian's reference BLAS, gets a handful).
# Env: DF_BIN (default build/dpuflow), ROUNDS (3), RUNS (20), MODELS_DIR, VOCAB (bert-base-
# chinese vocab.txt for calibration; without it a random-id calibration set is used).
set -u
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$src" || exit 2
bin="${DF_BIN:-build/dpuflow}"
py=/usr/bin/python3
quick=0
runs="${RUNS:-20}"
repeats="${ROUNDS:-3}"
threads_list="1 2"
batches="1 8"
models_list="tinybert bertbase"
opset=13
seq=64
out="bench/results/latest.md"
doc="docs/bench.md"
mdir="${MODELS_DIR:-build/bench-models}"
vocab="${VOCAB:-/work/shared/data/vocab/bert-base-chinese/vocab.txt}"

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --threads) threads_list="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --models) models_list="$2"; shift 2 ;;
    --opset) opset="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --doc) doc="$2"; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$quick" -eq 1 ]; then threads_list=1; batches=1; models_list=tinybert; fi

if ! bash tests/peers/install.sh; then
  echo "run.sh: ONNX Runtime peer unavailable; cannot compare" >&2
  exit 77
fi
ort_version="$(node tests/peers/ort_run.mjs version)"
torch_version="$("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null)"
if [ ! -x "$bin" ]; then
  echo "run.sh: dpuflow CLI not found at $bin (set DF_BIN or make build)" >&2
  exit 1
fi
mkdir -p "$mdir"

# ---- models: FP32 static per batch, a batch-1 QDQ via dpuflow itself, ORT dynamic INT8 ----
calib_note=""
prep() {  # model -> fills the global arrays for that model, or returns 1
  local m="$1" quick_arg=()
  [ "$m" = tinybert ] && quick_arg=(--quick)
  local files
  mapfile -t files < <("$py" bench/peers/make_bench_models.py --out "$mdir" --opset "$opset" --seq "$seq" \
                         --batches "1,${batches// /,}" "${quick_arg[@]}" | grep "/${m}_b")
  local b1="$mdir/${m}_b1_s${seq}_op${opset}.onnx"
  [ -f "$b1" ] || { echo "run.sh: no $b1" >&2; return 1; }
  local calib="$mdir/calib_s${seq}.npz"
  if [ ! -f "$calib" ]; then
    if [ -f "$vocab" ]; then
      "$bin" calibrate --model "$b1" --tokenizer "$vocab" --seq "$seq" --out "$calib" >&2 || return 1
    else
      "$py" - "$calib" "$seq" <<'PYEOF' || return 1
import sys, numpy as np
rng = np.random.default_rng(0)
n, s = 50, int(sys.argv[2])
ids = rng.integers(1000, 21128, size=(n, s), dtype=np.int64); ids[:, 0] = 101; ids[:, -1] = 102
np.savez(sys.argv[1], input_ids=ids, attention_mask=np.ones((n, s), np.int64),
         token_type_ids=np.zeros((n, s), np.int64))
PYEOF
    fi
  fi
  if [ -f "$vocab" ]; then calib_note="dpuflow calibrate, built-in corpus, tokenized with $vocab (50 rows)"
  else calib_note="random ids in [1000, 21128) (no vocab at $vocab), 50 rows"; fi
  local qdir="$mdir/${m}_s${seq}_op${opset}_int8" q7dir="$mdir/${m}_s${seq}_op${opset}_int8w7"
  local q77dir="$mdir/${m}_s${seq}_op${opset}_int8w7a7"
  if [ ! -f "$qdir/deploy_model.onnx" ]; then
    "$bin" quantize "$b1" --calib "$calib" --out-dir "$qdir" >&2 || return 1
  fi
  if [ ! -f "$q7dir/deploy_model.onnx" ]; then
    "$bin" quantize "$b1" --calib "$calib" --weight-bits 7 --out-dir "$q7dir" >&2 || return 1
  fi
  if [ ! -f "$q77dir/deploy_model.onnx" ]; then
    "$bin" quantize "$b1" --calib "$calib" --weight-bits 7 --act-bits 7 --out-dir "$q77dir" >&2 || return 1
  fi
  # What each INT8 variant costs in accuracy: validate's mean cosine to FP32 on the calibration rows.
  local v d cos
  for v in df_int8:"$qdir" df_int8w7:"$q7dir" df_int8w7a7:"$q77dir"; do
    d="${v#*:}"
    cos="$("$bin" validate "$b1" "$d/deploy_model.onnx" --calib "$calib" --json 2>/dev/null |
           sed -n 's/.*"cosine_mean": *\([0-9.]*\).*/\1/p' | head -n 1)"
    printf '%s\t%s\t%s\n' "$m" "${v%%:*}" "${cos:-?}" >>"$accuracy"
  done
  local b
  for b in $batches; do
    local f="$mdir/${m}_b${b}_s${seq}_op${opset}"
    [ -f "$f.onnx" ] || return 1
    [ -f "${f}_qdq.onnx" ] || "$py" bench/peers/pin_batch.py "$qdir/deploy_model.onnx" "${f}_qdq.onnx" "$b" >/dev/null || return 1
    [ -f "${f}_qdq7.onnx" ] || "$py" bench/peers/pin_batch.py "$q7dir/deploy_model.onnx" "${f}_qdq7.onnx" "$b" >/dev/null || return 1
    [ -f "${f}_qdq77.onnx" ] || "$py" bench/peers/pin_batch.py "$q77dir/deploy_model.onnx" "${f}_qdq77.onnx" "$b" >/dev/null || return 1
    [ -f "${f}_dynq.onnx" ] || "$py" bench/peers/make_dynamic_int8.py "$f.onnx" "${f}_dynq.onnx" >/dev/null || return 1
  done
}

# The GEMM ceilings of this CPU on dpuflow's own kernels (bench/kernels.c), for the report's
# "limits" section: measured first, while nothing else of this run competes.
kernels="$(mktemp "${TMPDIR:-/tmp}/df_kernels.XXXXXX")"
kbin="$(dirname "$bin")/bench_kernels"
if [ -x "$kbin" ]; then "$kbin" >"$kernels" 2>/dev/null || : >"$kernels"; else : >"$kernels"; fi

load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
loads=("$load_before")
tmp="$(mktemp -d "${TMPDIR:-/tmp}/df_bench.XXXXXX")"
trap 'rm -rf "$tmp" "$kernels"' EXIT
results="$tmp/results.tsv"   # model batch threads engine round p50 p90 min
accuracy="$tmp/accuracy.tsv" # model engine cosine_mean
: >"$results"
: >"$accuracy"

field_of() { sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\([0-9.eE+-]*\).*/\1/p" | tail -n 1; }

engines="df_fp32 df_var df_int8 df_int8w7 df_int8w7a7 ort_fp32 ort_qdq ort_dyn torch_fp32 torch_int8"
for m in $models_list; do
  if ! prep "$m"; then echo "run.sh: could not prepare the $m models" >&2; continue; fi
  for b in $batches; do
    f="$mdir/${m}_b${b}_s${seq}_op${opset}"
    n="$runs"
    [ "$m" = bertbase ] && n=$(( runs / 4 > 3 ? runs / 4 : 3 ))
    [ "$b" -ge 8 ] && n=$(( n / 2 > 3 ? n / 2 : 3 ))
    # Netlib BLAS makes PyTorch FP32 ~100x slower than the rest: a few runs are plenty.
    nt=3; [ "$m" = bertbase ] || [ "$b" -ge 8 ] && nt=2
    [ "$m" = bertbase ] && [ "$b" -ge 8 ] && nt=1
    for t in $threads_list; do
      for r in $(seq 1 "$repeats"); do
        for e in $engines; do
          dfc=("$bin" bench-model --seq "$seq" --batch "$b" --threads "$t" --runs "$n" --json)
          ortc=(node tests/peers/ort_run.mjs bench --seq "$seq" --batch "$b" --threads "$t" --runs "$n" --vocab 21128)
          tc=("$py" bench/peers/torch_bench.py --model "$m" --seq "$seq" --batch "$b" --threads "$t")
          case "$e" in
            df_fp32) cmd=("${dfc[@]}" "$f.onnx") ;;
            df_var) cmd=("${dfc[@]}" --max-batch 32 "$mdir/${m}_b1_s${seq}_op${opset}.onnx") ;;
            df_int8) cmd=("${dfc[@]}" "${f}_qdq.onnx") ;;
            df_int8w7) cmd=("${dfc[@]}" "${f}_qdq7.onnx") ;;
            df_int8w7a7) cmd=("${dfc[@]}" "${f}_qdq77.onnx") ;;
            ort_fp32) cmd=("${ortc[@]}" "$f.onnx") ;;
            ort_qdq) cmd=("${ortc[@]}" "${f}_qdq.onnx") ;;
            ort_dyn) cmd=("${ortc[@]}" "${f}_dynq.onnx") ;;
            torch_fp32) cmd=("${tc[@]}" --runs "$nt" --warmup 1) ;;
            torch_int8) cmd=("${tc[@]}" --runs "$n" --int8) ;;
          esac
          OMP_NUM_THREADS="$t" "${cmd[@]}" >"$tmp/line" 2>"$tmp/err"
          rc=$?
          line=""
          [ "$rc" -eq 0 ] && line="$(grep '"p50_ms"' "$tmp/line" | tail -n 1)"
          p50="$(printf '%s' "$line" | field_of p50_ms)"
          if [ -z "$p50" ]; then
            echo "  $e $m b$b t$t: no result (exit $rc: $(tail -n 1 "$tmp/err" 2>/dev/null))" >&2
            continue
          fi
          p90="$(printf '%s' "$line" | field_of p90_ms)"
          mn="$(printf '%s' "$line" | field_of min_ms)"
          printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$b" "$t" "$e" "$r" "$p50" "${p90:-}" "${mn:-}" >>"$results"
          echo "  $e $m [$b,$seq] threads $t round $r: p50 ${p50} ms" >&2
        done
        loads+=("$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)")
      done
    done
  done
done

cpu_model="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
cpus="$(nproc 2>/dev/null)"
cpus_all="$(lscpu 2>/dev/null | sed -n 's/^CPU(s):[[:space:]]*//p' | head -n 1)"
tpc="$(lscpu 2>/dev/null | sed -n 's/^Thread(s) per core:[[:space:]]*//p' | head -n 1)"
flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512[a-z_0-9]*|avx_vnni|amx[a-z_0-9]*)$' | sort -u | paste -sd ' ' -)"
mem="$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo 2>/dev/null)"
dnnl="$(dpkg-query -W -f='${Package} ${Version}\n' 'libdnnl*' 2>/dev/null | grep -v '^libdnnl[^ ]* $' | head -n 3 | paste -sd ',' - | sed 's/,/, /g')"
commit="$(git rev-parse --short HEAD 2>/dev/null)"
loads+=("$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)")
blas="$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null)"

mkdir -p "$(dirname "$out")" "$(dirname "$doc")"
env CPU="$cpu_model" CPUS="$cpus" CPUS_ALL="$cpus_all" TPC="$tpc" FLAGS="$flags" MEM="$mem" DNNL="$dnnl" \
    COMMIT="$commit" LOADS="$(printf '%s;' "${loads[@]}")" ORTV="$ort_version" TORCHV="$torch_version" \
    BLAS="$blas" CALIB="$calib_note" QUICK="$quick" ACCURACY="$accuracy" KERNELS="$kernels" \
    "$py" bench/peers/report.py "$results" "$out" "$doc" "$runs" "$repeats" "$seq" "$opset"
