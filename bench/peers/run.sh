#!/usr/bin/env bash
# dpuflow vs ONNX Runtime (Node binding, CPU), side by side, on the same ONNX files.
#
#   bash bench/peers/run.sh [--quick] [--runs N] [--repeats R] [--threads "1 2"]
#                           [--batches "1 8"] [--opset 13] [--out bench/results/latest.md]
#
# Models (random weights, static shapes, built once into build/bench-models/ by
# bench/peers/make_bench_models.py): TinyBERT-shaped (4L/312/12h/FFN 1200) and BERT-base-
# shaped (12L/768/12h/3072; skipped with --quick) BertModel, output last_hidden_state, at
# [1,64] and [8,64].
#
# For every model x batch x threads, the two engines run alternately, R times each
# (default 5), each time a fresh process timing N runs after warm-up:
#   $DF_BIN bench-model MODEL.onnx --seq 64 --batch B --threads T --runs N --json
#   node tests/peers/ort_run.mjs bench MODEL.onnx --seq 64 --batch B --threads T --runs N
# Both print one JSON line {"p50_ms":..,"p90_ms":..,"min_ms":..,"runs":..}. The table shows
# the median over the R repeats of each p50, and dpuflow/ORT (below 1 = dpuflow faster).
# The table also goes, as markdown with a machine description, to bench/results/latest.md.
# Env: DF_BIN (default build/dpuflow).
set -u
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$src" || exit 2
bin="${DF_BIN:-build/dpuflow}"
py=/usr/bin/python3
quick=0
runs=20
repeats=5
threads_list="1 2"
batches="1 8"
opset=13
seq=64
out="bench/results/latest.md"

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --runs) runs="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --threads) threads_list="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --opset) opset="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! bash tests/peers/install.sh; then
  echo "run.sh: ONNX Runtime peer unavailable; cannot compare" >&2
  exit 77
fi
ort_version="$(node tests/peers/ort_run.mjs version)"
if [ ! -x "$bin" ]; then
  echo "run.sh: warning: dpuflow CLI not found at $bin (set DF_BIN); ORT only" >&2
fi

mk_args=(--out build/bench-models --opset "$opset" --seq "$seq" --batches "${batches// /,}")
[ "$quick" -eq 1 ] && mk_args+=(--quick)
mapfile -t models < <("$py" bench/peers/make_bench_models.py "${mk_args[@]}")
if [ ${#models[@]} -eq 0 ]; then
  echo "run.sh: could not build the benchmark models" >&2
  exit 1
fi

load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/df_bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
results="$tmp/results.tsv"   # model batch threads engine repeat p50 p90 min
: >"$results"

p50_of() { sed -n 's/.*"p50_ms"[[:space:]]*:[[:space:]]*\([0-9.eE+-]*\).*/\1/p' | tail -n 1; }
field_of() { sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\([0-9.eE+-]*\).*/\1/p" | tail -n 1; }

for model in "${models[@]}"; do
  base="$(basename "$model" .onnx)"          # tinybert_b8_s64_op13
  mname="${base%%_b*}"
  b="${base#*_b}"; b="${b%%_*}"
  n="$runs"
  # BERT-base at batch 8 takes ~1 s a run on one core: fewer runs keep the total sane.
  if [ "$mname" = bertbase ] && [ "$b" -ge 8 ]; then n=$(( runs / 4 > 3 ? runs / 4 : 3 )); fi
  for t in $threads_list; do
    for r in $(seq 1 "$repeats"); do
      for engine in dpuflow ort; do
        if [ "$engine" = dpuflow ]; then
          [ -x "$bin" ] || continue
          cmd=("$bin" bench-model "$model" --seq "$seq" --batch "$b" --threads "$t" --runs "$n" --json)
        else
          cmd=(node tests/peers/ort_run.mjs bench "$model" --seq "$seq" --batch "$b" --threads "$t" --runs "$n")
        fi
        OMP_NUM_THREADS="$t" "${cmd[@]}" >"$tmp/line" 2>"$tmp/err"
        rc=$?
        line=""
        [ "$rc" -eq 0 ] && line="$(grep '"p50_ms"' "$tmp/line" | tail -n 1)"
        p50="$(printf '%s' "$line" | field_of p50_ms)"
        if [ -z "$p50" ]; then
          echo "  $engine $base threads $t: no result (exit $rc: $(tail -n 1 "$tmp/err" 2>/dev/null))" >&2
          continue
        fi
        p90="$(printf '%s' "$line" | field_of p90_ms)"
        mn="$(printf '%s' "$line" | field_of min_ms)"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mname" "$b" "$t" "$engine" "$r" "$p50" "${p90:-}" "${mn:-}" >>"$results"
        echo "  $engine $mname batch $b threads $t repeat $r: p50 ${p50} ms" >&2
      done
    done
  done
done

cpu_model="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)"
cpus="$(nproc 2>/dev/null)"
cpus_all="$(lscpu 2>/dev/null | sed -n 's/^CPU(s):[[:space:]]*//p' | head -n 1)"
dnnl="$(dpkg-query -W -f='${Package} ${Version}\n' 'libdnnl*' 2>/dev/null | grep -v '^libdnnl[^ ]* $' | head -n 3 | paste -sd ',' - | sed 's/,/, /g')"
commit="$(git rev-parse --short HEAD 2>/dev/null)"
load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"

mkdir -p "$(dirname "$out")"
"$py" - "$results" "$out" "$runs" "$repeats" "$seq" "$opset" <<PYEOF
import statistics, sys, datetime
res, out, runs, repeats, seq, opset = sys.argv[1:7]
rows = {}
for line in open(res):
    m, b, t, eng, r, p50, p90, mn = line.rstrip("\n").split("\t")
    rows.setdefault((m, int(b), int(t)), {}).setdefault(eng, []).append(float(p50))
order = {"tinybert": 0, "bertbase": 1}
keys = sorted(rows, key=lambda k: (order.get(k[0], 9), k[1], k[2]))
def med(v):
    return statistics.median(v) if v else None
def fmt(x):
    return "n/a" if x is None else "%.2f" % x
table = ["| model | batch x seq | threads | dpuflow p50 ms | ORT p50 ms | dpuflow/ORT |",
         "|---|---|---|---:|---:|---:|"]
for k in keys:
    d, o = med(rows[k].get("dpuflow", [])), med(rows[k].get("ort", []))
    ratio = "n/a" if d is None or o is None or o == 0 else "%.2f" % (d / o)
    table.append("| %s | %d x %s | %d | %s | %s | %s |" % (k[0], k[1], seq, k[2], fmt(d), fmt(o), ratio))
print("\n".join(table))
names = {"tinybert": "TinyBERT-shaped BertModel: 4 layers, hidden 312, 12 heads, FFN 1200, vocab 21128",
         "bertbase": "BERT-base-shaped BertModel: 12 layers, hidden 768, 12 heads, FFN 3072, vocab 21128"}
md = ["# dpuflow vs ONNX Runtime (CPU)", "",
      "Generated by \`bench/peers/run.sh\` on %s (commit %s)." % (
          datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "$commit" or "?"), "",
      "## Machine", "",
      "- CPU: $cpu_model",
      "- cores available to the run: $cpus (lscpu CPU(s): $cpus_all)",
      "- oneDNN: ${dnnl:-not found by dpkg}",
      "- load average (1/5/15 min) before: ${load_before:-?}, after: ${load_after:-?} "
      "(a load above the core count means other work shared the CPUs: treat timings as noisy)",
      "- ONNX Runtime: onnxruntime-node $ort_version (CPU EP; graphOptimizationLevel all, "
      "interOpNumThreads 1, sequential)", "",
      "## Method", "",
      "- Models: random weights, static shapes, ONNX opset %s, output last_hidden_state:" % opset]
for m in sorted({k[0] for k in keys}, key=lambda x: order.get(x, 9)):
    md.append("  - %s" % names.get(m, m))
md += ["- Each cell: median over %s repeats (engines alternating, a fresh process each) of the "
       "p50 of %s timed runs after warm-up (fewer runs for BERT-base at batch 8)." % (repeats, runs),
       "- dpuflow/ORT below 1.00 means dpuflow is faster.", "",
       "## Results", ""] + table + [""]
open(out, "w").write("\n".join(md))
print("wrote %s" % out, file=sys.stderr)
PYEOF
