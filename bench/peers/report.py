#!/usr/bin/python3
"""Turn run.sh's results (TSV: model batch threads engine round p50 p90 min) into the table it
prints, bench/results/latest.md and docs/bench.md. Machine facts come from the environment
run.sh sets (CPU, FLAGS, MEM, LOADS, ...).

    /usr/bin/python3 bench/peers/report.py RESULTS.tsv LATEST.md DOC.md RUNS ROUNDS SEQ OPSET
"""
import datetime
import os
import statistics
import sys

ENGINES = [("df_fp32", "dpuflow FP32"), ("df_var", "dpuflow FP32, one plan for batch 1-32"), ("df_int8", "dpuflow INT8 (QDQ)"),
           ("df_int8w7", "dpuflow INT8 (QDQ, 7-bit weights)"),
           ("df_int8w7a7", "dpuflow INT8 (QDQ, 7-bit weights and activations)"), ("ort_fp32", "ORT FP32"),
           ("ort_qdq", "ORT INT8 (dpuflow QDQ)"), ("ort_dyn", "ORT INT8 (dynamic)"),
           ("torch_fp32", "PyTorch FP32"), ("torch_int8", "PyTorch INT8 (quantize_dynamic)")]
DF_INT8 = ("df_int8", "df_int8w7", "df_int8w7a7")
INT8 = set(DF_INT8) | {"ort_qdq", "ort_dyn", "torch_int8"}
NAMES = {"tinybert": "TinyBERT-shaped", "bertbase": "BERT-base-shaped"}
ORDER = {"tinybert": 0, "bertbase": 1}


def median_of(rows, model, eng):
    """This run's median p50 of one engine at 1 thread, [1,64]; None when not measured."""
    v = rows.get((model, 1, 1), {}).get(eng)
    return statistics.median(v) if v else None


def target_lines(rows, e):
    """Issue #5's targets (1 thread, [1,64]), met or not, from this run's medians."""
    def med(model, eng):
        return median_of(rows, model, eng)
    out = ["## Against the targets (1 thread, [1,64], this run)", "",
           "INT8 rows take the fastest dpuflow INT8 variant; the accuracy each variant costs is in the "
           "last table below.", "",
           "| target | measured | met |", "|---|---|---|"]
    for model, goal in (("tinybert", 1.5), ("bertbase", 1.3)):
        ort, df = med(model, "ort_fp32"), med(model, "df_fp32")
        if ort and df:
            out.append("| %s FP32 >= %.1fx ORT FP32 | %.2fx (%.2f vs %.2f ms) | %s |" % (
                NAMES[model], goal, ort / df, df, ort, "yes" if ort / df >= goal else "no"))
    q = min([x for x in (med("tinybert", v) for v in DF_INT8) if x], default=None)
    best = min([x for x in (med("tinybert", "ort_qdq"), med("tinybert", "ort_dyn")) if x], default=None)
    if q and best:
        out.append("| TinyBERT-shaped INT8 >= 1.5x best ORT INT8 | %.2fx (%.2f vs %.2f ms) | %s |" % (
            best / q, q, best, "yes" if best / q >= 1.5 else "no"))
    if q:
        out.append("| TinyBERT-shaped INT8 <= 1.0 ms | %.2f ms | %s |" % (q, "yes" if q <= 1.0 else "no"))
    q = min([x for x in (med("bertbase", v) for v in DF_INT8) if x], default=None)
    if q:
        out.append("| BERT-base-shaped INT8 <= 18 ms | %.2f ms | %s |" % (q, "yes" if q <= 18 else "no"))
    flags = (e("FLAGS") or "").split()
    if not any("vnni" in x for x in flags):
        out += ["", "This CPU has no VNNI. oneDNN 2.6's int8 matmul then runs about 2x slower than its FP32 "
                "one, so a QDQ model with full-range 8-bit weights runs on weights dequantized once at load "
                "(`dpuflow INT8 (QDQ)`: FP32 GEMMs plus the activation Q/DQ). Its MatMuls with 7-bit weights "
                "run on dpuflow's AVX2 int8 kernel instead (src/ops/qgemm.h: vpmaddubsw is exact when every "
                "|w| <= 64, about twice the FP32 multiply-add rate), which is the `7-bit weights` row; with "
                "7-bit activations as well it adds two products in int16 before widening, about 1.25x more. The "
                "1.0 ms and 18 ms targets assume int8 dot-product instructions (VNNI) and are out of reach "
                "on this CPU either way."]
    return out + [""]


def accuracy_lines(path):
    """validate's mean cosine (INT8 vs FP32, calibration rows) of each dpuflow INT8 variant."""
    acc = {}
    try:
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            if len(f) == 3:
                acc[(f[0], f[1])] = f[2]
    except OSError:
        return []
    if not acc:
        return []
    labels = dict(ENGINES)
    out = ["## What each dpuflow INT8 variant costs in accuracy", "",
           "`dpuflow validate` on the calibration rows: mean cosine of last_hidden_state, INT8 vs FP32 "
           "(random-weight models, so only the ordering is meaningful; the demo models' held-out figures "
           "are in the closing notes and `build/demo/*/quant/`).", "",
           "| model | variant | cosine mean |", "|---|---|---:|"]
    for (m, v), c in sorted(acc.items(), key=lambda kv: (ORDER.get(kv[0][0], 9), DF_INT8.index(kv[0][1])
                                                           if kv[0][1] in DF_INT8 else 9)):
        out.append("| %s | %s | %s |" % (NAMES.get(m, m), labels.get(v, v), c))
    return out + [""]


def limits_lines(rows, path):
    """The GEMM floors bench_kernels measured, beside this run's medians: the best ratio to ORT
    any amount of fusion could reach on this CPU, and whether the absolute targets are within it."""
    import json
    k = {}
    try:
        for line in open(path):
            line = line.strip()
            if line:
                d = json.loads(line)
                if d.get("available"):
                    k[(d["model"], d["kernel"])] = d
    except (OSError, ValueError):
        return []
    if not k:
        return []

    def med(model, eng):
        return median_of(rows, model, eng)
    out = ["## How close to this CPU's limits (1 thread, [1,64])", "",
           "`build/bench_kernels` times one layer's four weight GEMMs (M = 64, weights prepacked) on "
           "dpuflow's kernels and multiplies by the layer count: the *GEMM floor*, what a model would take "
           "if attention, LayerNorm and everything else were free. ORT's time over that floor is the "
           "largest ratio any fusion could reach here; dpuflow's time over it says how much is left.", "",
           "| model | kernel | G multiply-adds/s | GEMM floor ms | dpuflow p50 ms (floor as % of it) | "
           "compared with | its p50 ms | best ratio possible | target |",
           "|---|---|---:|---:|---:|---|---:|---:|---|"]
    plan = [("tinybert", "fp32", "df_fp32", ("ort_fp32",), "ORT FP32", ">= 1.5x"),
            ("tinybert", "int8_wide", "df_int8w7", ("ort_qdq", "ort_dyn"), "best ORT INT8", ">= 1.5x, <= 1.0 ms"),
            ("tinybert", "int8_narrow", "df_int8w7a7", ("ort_qdq", "ort_dyn"), "best ORT INT8", ">= 1.5x, <= 1.0 ms"),
            ("bertbase", "fp32", "df_fp32", ("ort_fp32",), "ORT FP32", ">= 1.3x"),
            ("bertbase", "int8_wide", "df_int8w7", ("ort_qdq", "ort_dyn"), "best ORT INT8", "<= 18 ms"),
            ("bertbase", "int8_narrow", "df_int8w7a7", ("ort_qdq", "ort_dyn"), "best ORT INT8", "<= 18 ms")]
    for model, kern, eng, peers, peer_label, target in plan:
        d = k.get((model, kern))
        if not d:
            continue
        floor = d["gemm_floor_ms"]
        mine = med(model, eng)
        peer = min([x for x in (med(model, p) for p in peers) if x], default=None)
        out.append("| %s | %s | %.1f | %.2f | %s | %s | %s | %s | %s |" % (
            NAMES[model], kern.replace("_", " "), d["gmacs"], floor,
            "%.2f (%.0f%%)" % (mine, 100.0 * floor / mine) if mine else "n/a", peer_label,
            "%.2f" % peer if peer else "n/a", "%.2fx" % (peer / floor) if peer else "n/a", target))
    return out + [""]


def main():
    res, out, doc, runs, rounds, seq, opset = sys.argv[1:8]
    e = os.environ.get
    rows = {}
    for line in open(res):
        f = line.rstrip("\n").split("\t")
        if len(f) < 6:
            continue
        rows.setdefault((f[0], int(f[1]), int(f[2])), {}).setdefault(f[3], []).append(float(f[5]))
    keys = sorted(rows, key=lambda k: (ORDER.get(k[0], 9), k[1], k[2]))
    table = ["| model | input | threads | engine | p50 ms | vs ORT FP32 | INT8 vs best ORT INT8 | rounds |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for k in keys:
        med = {eng: statistics.median(v) for eng, v in rows[k].items() if v}
        ort = med.get("ort_fp32")
        best8 = min([med[x] for x in ("ort_qdq", "ort_dyn") if x in med], default=None)
        for eng, label in ENGINES:
            if eng not in med:
                table.append("| %s | [%d,%s] | %d | %s | n/a | | | 0 |" % (NAMES.get(k[0], k[0]), k[1], seq, k[2], label))
                continue
            v = med[eng]
            r1 = "%.2fx" % (ort / v) if ort else "n/a"
            r8 = "%.2fx" % (best8 / v) if (eng in INT8 and best8) else ""
            table.append("| %s | [%d,%s] | %d | %s | %.2f | %s | %s | %d |" % (
                NAMES.get(k[0], k[0]), k[1], seq, k[2], label, v, r1, r8, len(rows[k][eng])))
    print("\n".join(table))

    when = e("WHEN") or datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    loads = [x for x in (e("LOADS") or "").split(";") if x]
    flags = (e("FLAGS") or "").split()
    has512 = any(x.startswith("avx512") for x in flags)
    vnni = [x for x in flags if "vnni" in x]
    machine = [
        "- CPU: %s" % (e("CPU") or "?"),
        "- cores available to the run: %s (lscpu CPU(s): %s, threads per core: %s)" % (
            e("CPUS") or "?", e("CPUS_ALL") or "?", e("TPC") or "?"),
        "- memory: %s" % (e("MEM") or "?"),
        "- SIMD flags: %s" % (" ".join(flags) or "?"),
        "- AVX-512: %s; VNNI (int8 dot products): %s" % (
            "yes" if has512 else "no", ", ".join(vnni) if vnni else "no"),
        "- load average (1/5/15 min), before the run, after each round, after: %s" % (" | ".join(loads) or "?"),
        "- oneDNN (dpuflow): %s" % (e("DNNL") or "not found by dpkg"),
        "- ONNX Runtime: onnxruntime-node %s (CPU EP, graphOptimizationLevel all, sequential, "
        "interOpNumThreads 1)" % (e("ORTV") or "?"),
        "- PyTorch: %s (Debian python3-torch, eager, inference_mode, set_num_threads(T), BLAS: %s)" % (
            e("TORCHV") or "?", e("BLAS") or "?"),
        "- dpuflow: Release build of DF_BIN; checkout HEAD when the report was written: %s (the binary may predate it)" % (e("COMMIT") or "?"),
    ]
    method = [
        "- Models: random weights, static shapes, ONNX opset %s, output last_hidden_state; "
        "TinyBERT-shaped = 4 layers, hidden 312, 12 heads, FFN 1200; BERT-base-shaped = 12 layers, "
        "hidden 768, 12 heads, FFN 3072; vocab 21128 (bert-base-chinese)." % opset,
        "- INT8 models: dpuflow's QDQ `deploy_model.onnx` from `dpuflow calibrate` + `dpuflow quantize` "
        "(defaults: percentile, per-channel weights) on the batch-1 FP32 file; calibration: %s; "
        "re-pinned to batch 8 by `bench/peers/pin_batch.py`; the `7-bit weights` row is the same with "
        "`--weight-bits 7` (every weight in [-64, 64], what the AVX2 int8 kernel multiplies exactly), the "
        "`7-bit weights and activations` row adds `--act-bits 7` (int8 activations in [-63, 63]: the "
        "kernel's narrow form). ORT dynamic INT8 from "
        "`bench/peers/make_dynamic_int8.py` (DynamicQuantizeLinear + MatMulInteger, per-tensor s8 weights). "
        "PyTorch INT8 = `torch.quantization.quantize_dynamic` on nn.Linear (qint8)." % (e("CALIB") or "?"),
        "- Each cell: median over %s rounds of the p50 of one fresh process; in a round every engine "
        "runs once, one after the other, so all rows of a case share the machine's state. %s timed runs "
        "per process after warm-up (BERT-base /4, batch 8 /2; PyTorch FP32 only 1-3 runs)." % (rounds, runs),
        "- `dpuflow FP32, one plan for batch 1-32` = `bench-model --max-batch 32` on the batch-1 file: the "
        "variable-batch plan the server loads (sized for 32 rows, run at this batch), against the static "
        "plan of the row above.",
        "- `vs ORT FP32` = ORT FP32 p50 / this p50 (above 1.00x = faster than ORT FP32). "
        "`INT8 vs best ORT INT8` = the faster of the two ORT INT8 rows / this p50.",
    ]
    latest = ["# dpuflow vs ONNX Runtime vs PyTorch (CPU)", "",
              "Generated by `bench/peers/run.sh` on %s." % when, "", "## Machine", ""] + machine + \
             ["", "## Method", ""] + method + ["", "## Results (p50 latency)", ""] + table + [""]
    with open(out + ".tmp", "w") as fh:
        fh.write("\n".join(latest))
    os.replace(out + ".tmp", out)

    targets = target_lines(rows, e) + limits_lines(rows, e("KERNELS") or "") + accuracy_lines(e("ACCURACY") or "")
    quick = e("QUICK") == "1"
    d = ["# Benchmarks: dpuflow vs ONNX Runtime vs PyTorch on CPU", "",
         "The numbers below come from one run of `bench/peers/run.sh`%s on %s, every engine measured "
         "side by side in that run. Regenerated by every run of the script (it overwrites this file and "
         "`bench/results/latest.md`)." % (" --quick" if quick else "", when), "",
         "## Machine", ""] + machine + ["", "## Method", ""] + method + \
        ["", "## Results (p50 latency)", ""] + table + [""] + targets
    cases = {(k[0], k[1], k[2]) for k in keys}
    missing = [c for c in [(m, b, t) for m in ("tinybert", "bertbase") for b in (1, 8) for t in (1, 2)]
               if c not in cases]
    if missing:
        d += ["Not measured in this run: " + ", ".join(
            "%s [%d,%s] %d thread%s" % (NAMES[m], b, seq, t, "s" if t > 1 else "") for m, b, t in missing) +
            ". No figures are given for them here; run the full `make bench` to get them.", ""]
    d += ["## Reproduce", "",
          "```sh",
          "make build                      # Release build of build/dpuflow",
          "bash tests/peers/install.sh     # onnxruntime-node 1.30 (needs npm; skips if unavailable)",
          "make bench                      # = bash bench/peers/run.sh: every case (BERT-base is slow)",
          "bash bench/peers/run.sh --quick # TinyBERT-shaped [1,64], 1 thread only",
          "ROUNDS=5 RUNS=40 DF_BIN=build-x/dpuflow bash bench/peers/run.sh --models tinybert --threads 1",
          "```", "",
          "Models and INT8 variants are cached in `build/bench-models/` (MODELS_DIR); delete it after "
          "changing the quantizer.", "",
          "## Noise, honestly", "",
          "This machine has 2 cores shared with other work (builds, tests of other engineers); the load "
          "averages above show how busy it was. A load above the core count means the timed processes "
          "were competing for CPU: absolute numbers are then inflated and a single p50 can move by 20% "
          "or more between rounds. Alternating the engines within each round and taking medians makes "
          "the ratios within one case more trustworthy than the absolute latencies, but a ratio from a "
          "loaded run is still only indicative; compare ratios, not milliseconds, across runs. The "
          "2-thread rows are the least reliable here: two threads on two shared cores rarely both get a "
          "core. PyTorch FP32 is slow because Debian's python3-torch calls the reference (netlib) BLAS "
          "for nn.Linear; it is shown as shipped, not as PyTorch's best.", ""]
    with open(doc + ".tmp", "w") as fh:
        fh.write("\n".join(d))
    os.replace(doc + ".tmp", doc)
    print("wrote %s and %s" % (out, doc), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
