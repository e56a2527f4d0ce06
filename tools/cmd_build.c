/* dpuflow build model.json [--registry PATH] [--from STAGE] [--force] [--threads N] [--quiet]
 * Runs export, check, calibrate, quantize, validate, compile and register in order, skipping
 * stages whose inputs did not change (content hashes in output_dir/.stamps/). */
#include "cli.h"
#include "dpuflow/pipeline.h"

static const char *USAGE =
    "model.json [--registry PATH] [--from export|check|calibrate|quantize|validate|compile|register] [--force] "
    "[--threads N] [--quiet]";

int df_cmd_build(int argc, char **argv) {
    const char *config = NULL;
    df_build_opts o = {.from = -1};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return df_cli_help("build", USAGE);
        if (!strcmp(argv[i], "--registry") && i + 1 < argc) o.registry = argv[++i];
        else if (!strcmp(argv[i], "--from") && i + 1 < argc) {
            o.from = df_build_stage_parse(argv[++i]);
            if (o.from < 0) return df_cli_usage("build", USAGE, "--from names no stage");
        } else if (!strcmp(argv[i], "--force")) o.force = true;
        else if (!strcmp(argv[i], "--quiet")) o.quiet = true;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            long t = df_cli_int(argv[++i]);
            if (t < 0) return df_cli_usage("build", USAGE, "--threads must be a number");
            o.threads = (int)t;
        } else if (argv[i][0] == '-') return df_cli_usage("build", USAGE, "unknown option or missing value");
        else if (config) return df_cli_usage("build", USAGE, "one model.json at a time");
        else config = argv[i];
    }
    if (!config) return df_cli_usage("build", USAGE, "model.json is required");
    df_error err = {0};
    df_model_config *c = NULL;
    if (df_model_config_load(config, &c, &err)) return df_cli_fail("build", &err);
    df_build_result r;
    df_status st = df_build(c, &o, &r, &err);
    df_model_config_free(c);
    if (st) return df_cli_fail("build", &err);
    return DF_EXIT_OK;
}
