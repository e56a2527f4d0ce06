/* dpuflow export MODEL_DIR --out model.onnx [--metadata metadata.json] [--output HEAD] ... */
#include "cli.h"
#include "dpuflow/convert.h"

int df_cmd_export(int argc, char **argv);

static const char *USAGE =
    "MODEL_DIR --out model.onnx [--metadata metadata.json] [--output logits|last_hidden_state|cls|mean|pooler]\n"
    "       [--normalize] [--seq 64] [--batch 1] [--opset 13] [--config config.json] [--weights FILE] [--no-token-type-ids]";

int df_cmd_export(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *meta = NULL;
    df_export_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return df_cli_help("export", USAGE);
        else if (!strcmp(a, "--out") && more) out = argv[++i];
        else if (!strcmp(a, "--metadata") && more) meta = argv[++i];
        else if (!strcmp(a, "--output") && more) o.output = argv[++i];
        else if (!strcmp(a, "--config") && more) o.config_path = argv[++i];
        else if (!strcmp(a, "--weights") && more) o.weights_path = argv[++i];
        else if (!strcmp(a, "--normalize")) o.normalize = true;
        else if (!strcmp(a, "--no-token-type-ids")) o.no_token_type_ids = true;
        else if ((!strcmp(a, "--seq") || !strcmp(a, "--batch") || !strcmp(a, "--opset")) && more) {
            long v = df_cli_int(argv[++i]);
            if (v < 1) return df_cli_usage("export", USAGE, "--seq, --batch and --opset take a positive number");
            if (a[2] == 's') o.seq = v;
            else if (a[2] == 'b') o.batch = v;
            else o.opset = (int)v;
        } else if (a[0] == '-') {
            fprintf(stderr, "dpuflow export: unknown option or missing value: %s\n", a);
            return df_cli_usage("export", USAGE, NULL);
        } else if (!dir) dir = a;
        else return df_cli_usage("export", USAGE, "more than one MODEL_DIR given");
    }
    if (!dir || !out) return df_cli_usage("export", USAGE, "MODEL_DIR and --out are required");
    df_error err = {0};
    if (df_export_hf(dir, &o, out, meta, &err)) return df_cli_fail("export", &err);
    printf("exported %s -> %s%s%s\n", dir, out, meta ? " + " : "", meta ? meta : "");
    return DF_EXIT_OK;
}
