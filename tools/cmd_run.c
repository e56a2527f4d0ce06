/* dpuflow run MODEL.onnx --inputs IN.npz --out OUT.npz [--threads N] [--backend NAME] */
#include "cli.h"
#include "dpuflow/session.h"
#include "dpuflow/tensor.h"

static const char *USAGE = "MODEL.onnx --inputs IN.npz --out OUT.npz [--threads N] [--backend cpu|dpu-sim]";

int df_cmd_run(int argc, char **argv) {
    const char *model = NULL, *in_path = NULL, *out_path = NULL;
    const char *backend = NULL;
    long threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return df_cli_help("run", USAGE);
        if (!strcmp(argv[i], "--inputs") && i + 1 < argc) in_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if ((threads = df_cli_int(argv[++i])) < 0) return df_cli_usage("run", USAGE, "--threads takes a number");
        } else if (argv[i][0] == '-') return df_cli_usage("run", USAGE, "unknown option");
        else if (!model) model = argv[i];
        else return df_cli_usage("run", USAGE, "more than one model given");
    }
    if (!model || !in_path || !out_path) return df_cli_usage("run", USAGE, "MODEL, --inputs and --out are required");

    df_error err = {0};
    df_tensor_list inputs = {0}, outputs = {0};
    df_session *s = NULL;
    int rc = DF_EXIT_FAIL;
    if (df_npz_read(in_path, &inputs, &err)) goto fail;
    df_session_opts opts = {.threads = (int)threads, .backend = backend, .sample_inputs = &inputs};
    if (df_session_open(model, &opts, &s, &err)) goto fail;
    size_t n_in = df_session_input_count(s), n_out = df_session_output_count(s);
    df_tensor feed[64], got[64];
    if (n_in > 64 || n_out > 64) {
        df_error_set(&err, DF_EUNSUPPORTED, "%s: more than 64 inputs or outputs", model);
        goto fail;
    }
    for (size_t i = 0; i < n_in; i++) {
        const char *name;
        df_session_input_info(s, i, &name, NULL, NULL);
        const df_tensor *t = df_tensor_list_find(&inputs, name);
        if (!t) {
            df_error_set(&err, DF_ENOTFOUND, "%s: has no array named '%s' (an input of %s)", in_path, name, model);
            goto fail;
        }
        feed[i] = *t;
    }
    if (df_session_run(s, feed, n_in, got, n_out, &err)) goto fail;
    for (size_t i = 0; i < n_out; i++) {
        const char *name;
        df_session_output_info(s, i, &name, NULL, NULL);
        if (df_tensor_list_add(&outputs, name, &got[i], &err)) goto fail;
    }
    if (df_npz_write(out_path, &outputs, &err)) goto fail;
    rc = DF_EXIT_OK;
fail:
    if (rc) df_cli_fail("run", &err);
    df_session_close(s);
    df_tensor_list_free(&inputs);
    df_tensor_list_free(&outputs);
    return rc;
}
