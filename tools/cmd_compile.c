/* dpuflow compile MODEL.onnx --name NAME [--platform cpu|fpga] [--arch PROFILE|arch.json] [--out DIR]
 *                  [--shape 1,64] [--opt-level N] [--quant-info quant_info.json]
 * cpu:  DIR/<NAME>_cpu.onnx (a static ONNX every dpuflow verb loads as-is), meta.json and
 *       compile_log.txt.
 * fpga: DIR/<NAME>_fpga.dfm (the partitioned graph; run it with --backend dpu-sim), meta.json,
 *       compile_log.txt (the partition report and cost model), md5sum.txt, quant_info.json. */
#include "cli.h"
#include "dpuflow/compile.h"

static const char *USAGE = "MODEL.onnx --name NAME [--platform cpu|fpga] [--arch DPUCZDX8G/ZCU104|arch.json] [--out DIR] [--shape 1,64] [--opt-level 0-3] "
                           "[--quant-info FILE] [--threads N]";

static int parse_shape(const char *s, int64_t *dims, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0) return -1;
        dims[n++] = v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return *s ? -1 : n;
}

int df_cmd_compile(int argc, char **argv) {
    const char *model = NULL, *out = "compiled";
    df_compile_opts o = {.platform = "cpu", .opt_level = 2};
    int64_t shape[8] = {1, 64};
    int rank = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return df_cli_help("compile", USAGE);
        if (!strcmp(argv[i], "--name") && i + 1 < argc) o.model_name = argv[++i];
        else if (!strcmp(argv[i], "--platform") && i + 1 < argc) o.platform = argv[++i];
        else if (!strcmp(argv[i], "--arch") && i + 1 < argc) o.arch = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--quant-info") && i + 1 < argc) o.quant_info = argv[++i];
        else if (!strcmp(argv[i], "--opt-level") && i + 1 < argc) {
            long v = df_cli_int(argv[++i]);
            if (v < 0 || v > 3) return df_cli_usage("compile", USAGE, "--opt-level must be 0..3");
            o.opt_level = (int)v;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) o.threads = (int)df_cli_int(argv[++i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            if ((rank = parse_shape(argv[++i], shape, 8)) <= 0)
                return df_cli_usage("compile", USAGE, "--shape wants positive integers like 1,64");
        } else if (argv[i][0] == '-') return df_cli_usage("compile", USAGE, "unknown option or missing value");
        else model = argv[i];
    }
    if (!model || !o.model_name) return df_cli_usage("compile", USAGE, "MODEL and --name are required");
    o.input_shape = shape;
    o.input_rank = rank;
    df_error err = {0};
    df_compile_result r;
    if (df_compile(model, &o, out, &r, &err)) return df_cli_fail("compile", &err);
    if (!strcmp(o.platform, "fpga")) {
        printf("compiled %s -> %s: %d device subgraphs, %d on the DPU, DPU coverage %.1f%% of MACs, estimated "
               "latency %.3f ms, sha256 %s\n",
               model, r.artifact, r.dpu_subgraphs + r.cpu_subgraphs, r.dpu_subgraphs, r.dpu_mac_coverage,
               r.latency_ms, r.sha256);
        return DF_EXIT_OK;
    }
    printf("compiled %s -> %s: %zu tasks, %.3f GFLOP, arena %zu bytes, sha256 %s\n", model, r.artifact, r.task_count,
           r.flops / 1e9, r.arena_bytes, r.sha256);
    return DF_EXIT_OK;
}
