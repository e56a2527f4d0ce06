/* dpuflow validate FP32.onnx INT8.onnx --calib calib_data.npz [--heldout X.npz] [--cosine 0.99]
 *                  [--top1 0.99] [--log quant_log.txt] [--json]
 * Exit 0 for OK and for WARN alike (the verdict is printed): validate never aborts a build. */
#include "cli.h"
#include "dpuflow/quant.h"

static const char *USAGE = "FP32.onnx INT8.onnx --calib calib_data.npz [--heldout X.npz] [--cosine 0.99] "
                           "[--top1 0.99] [--log quant_log.txt] [--threads N] [--json]";

static void json_set(const char *what, const df_validate_set *vs) {
    printf("\"%s\": {\"rows\": %zu, \"outputs\": [", what, vs->rows);
    for (size_t k = 0; k < vs->n_outputs; k++) {
        const df_validate_output *o = &vs->out[k];
        printf("%s{\"name\": \"%s\", \"cosine_mean\": %.6f, \"cosine_min\": %.6f", k ? ", " : "", o->name,
               o->cos_mean, o->cos_min);
        if (o->classifier) printf(", \"top1\": %.6f", o->top1);
        printf("}");
    }
    printf("]}");
}

static int parse_frac(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return (*end || !(*out > 0 && *out <= 1)) ? -1 : 0;
}

int df_cmd_validate(int argc, char **argv) {
    const char *fp32 = NULL, *int8 = NULL, *calib = NULL, *heldout = NULL, *log = NULL;
    bool json = false;
    df_validate_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) return df_cli_help("validate", USAGE);
        bool has = i + 1 < argc;
        if (!strcmp(a, "--calib") && has) calib = argv[++i];
        else if (!strcmp(a, "--heldout") && has) heldout = argv[++i];
        else if (!strcmp(a, "--log") && has) log = argv[++i];
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--cosine") && has) {
            if (parse_frac(argv[++i], &o.cosine)) return df_cli_usage("validate", USAGE, "--cosine takes a number in (0, 1]");
        } else if (!strcmp(a, "--top1") && has) {
            if (parse_frac(argv[++i], &o.top1)) return df_cli_usage("validate", USAGE, "--top1 takes a number in (0, 1]");
        } else if (!strcmp(a, "--threads") && has) {
            long t = df_cli_int(argv[++i]);
            if (t < 0) return df_cli_usage("validate", USAGE, "--threads takes a number");
            o.threads = (int)t;
        } else if (a[0] == '-') return df_cli_usage("validate", USAGE, "unknown option or missing value");
        else if (!fp32) fp32 = a;
        else if (!int8) int8 = a;
        else return df_cli_usage("validate", USAGE, "more than two models given");
    }
    if (!fp32 || !int8 || !calib) return df_cli_usage("validate", USAGE, "FP32, INT8 and --calib are required");
    o.quiet = json;
    df_error err = {0};
    df_validate_result r;
    if (df_validate(fp32, int8, calib, heldout, &o, &r, log, &err)) return df_cli_fail("validate", &err);
    if (json) {
        printf("{\"verdict\": \"%s\", ", r.ok ? "OK" : "WARN");
        json_set("calib", &r.calib);
        if (r.heldout.rows) {
            printf(", ");
            json_set("heldout", &r.heldout);
        }
        printf(", \"layers\": %zu, \"layer_cosine_min\": %.6f}\n", r.layers, r.layer_cos_min);
    }
    return DF_EXIT_OK;
}
