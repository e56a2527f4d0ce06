/* dpuflow quantize MODEL.onnx --calib calib_data.npz [--method ...] [--scale float|pof2]
 *                  [--weights per_channel|per_tensor] [--percentile P] [--bins N] --out-dir DIR */
#include "cli.h"
#include "dpuflow/quant.h"

static const char *USAGE =
    "MODEL.onnx --calib calib_data.npz [--method percentile|minmax|entropy|mse] [--percentile 99.999] "
    "[--bins 2048] [--scale float|pof2] [--weights per_channel|per_tensor] [--weight-bits 8|7] [--act-bits 8|7] [--threads N] --out-dir DIR";

int df_cmd_quantize(int argc, char **argv) {
    const char *model = NULL, *calib = NULL, *out = NULL;
    df_quant_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) return df_cli_help("quantize", USAGE);
        bool has = i + 1 < argc;
        if (!strcmp(a, "--calib") && has) calib = argv[++i];
        else if (!strcmp(a, "--out-dir") && has) out = argv[++i];
        else if (!strcmp(a, "--method") && has) o.method = argv[++i];
        else if (!strcmp(a, "--scale") && has) o.scale = argv[++i];
        else if (!strcmp(a, "--weights") && has) o.weights = argv[++i];
        else if (!strcmp(a, "--weight-bits") && has) {
            long b = df_cli_int(argv[++i]);
            if (b != 7 && b != 8) return df_cli_usage("quantize", USAGE, "--weight-bits takes 8 or 7");
            o.weight_bits = (int)b;
        } else if (!strcmp(a, "--act-bits") && has) {
            long b = df_cli_int(argv[++i]);
            if (b != 7 && b != 8) return df_cli_usage("quantize", USAGE, "--act-bits takes 8 or 7");
            o.act_bits = (int)b;
        }
        else if (!strcmp(a, "--percentile") && has) {
            char *end;
            o.percentile = strtod(argv[++i], &end);
            if (*end || !(o.percentile > 0 && o.percentile <= 100))
                return df_cli_usage("quantize", USAGE, "--percentile takes a number in (0, 100]");
        } else if (!strcmp(a, "--bins") && has) {
            long b = df_cli_int(argv[++i]);
            if (b < 16) return df_cli_usage("quantize", USAGE, "--bins takes a number >= 16");
            o.bins = (int)b;
        } else if (!strcmp(a, "--threads") && has) {
            long t = df_cli_int(argv[++i]);
            if (t < 0) return df_cli_usage("quantize", USAGE, "--threads takes a number");
            o.threads = (int)t;
        } else if (a[0] == '-') return df_cli_usage("quantize", USAGE, "unknown option or missing value");
        else if (!model) model = a;
        else return df_cli_usage("quantize", USAGE, "more than one model given");
    }
    if (!model || !calib || !out) return df_cli_usage("quantize", USAGE, "MODEL, --calib and --out-dir are required");
    df_error err = {0};
    if (df_quantize(model, calib, &o, out, &err)) return df_cli_fail("quantize", &err);
    printf("quantize: wrote %s/deploy_model.onnx, quant_info.json, quant_log.txt\n", out);
    return DF_EXIT_OK;
}
