/* dpuflow infer MODEL.onnx (--vocab V | --tokenizer T | --spm M) --text "..." [--max-len 64]
 *                [--threads N] [--json]
 * Tokenizes one text, runs the model and prints every output with its shape. */
#include <jansson.h>

#include "cli.h"
#include "dpuflow/session.h"
#include "dpuflow/text.h"

static const char *USAGE =
    "MODEL.onnx (--vocab vocab.txt | --tokenizer tokenizer.json | --spm spm.model) --text TEXT [--max-len 64] [--threads 1] [--json] [--backend cpu|dpu-sim]";

static json_t *tensor_json(const char *name, const df_tensor *t) {
    json_t *shape = json_array(), *data = json_array();
    for (int d = 0; d < t->shape.rank; d++) json_array_append_new(shape, json_integer(t->shape.dims[d]));
    size_t n = (size_t)df_shape_numel(&t->shape);
    for (size_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case DF_F32: json_array_append_new(data, json_real(((const float *)t->data)[i])); break;
        case DF_F64: json_array_append_new(data, json_real(((const double *)t->data)[i])); break;
        case DF_I64: json_array_append_new(data, json_integer(((const int64_t *)t->data)[i])); break;
        case DF_I32: json_array_append_new(data, json_integer(((const int32_t *)t->data)[i])); break;
        case DF_I8: json_array_append_new(data, json_integer(((const int8_t *)t->data)[i])); break;
        case DF_U8: case DF_BOOL: json_array_append_new(data, json_integer(((const uint8_t *)t->data)[i])); break;
        default: break;
        }
    }
    return json_pack("{s:s, s:s, s:o, s:o}", "name", name, "dtype", df_dtype_name(t->dtype), "shape", shape, "data", data);
}

/* Which token tensor a model input wants, by the names exporters use. */
static const int64_t *pick_source(const char *name, const int64_t *ids, const int64_t *mask, const int64_t *types) {
    if (strstr(name, "mask")) return mask;
    if (strstr(name, "type")) return types;
    return ids;
}

int df_cmd_infer(int argc, char **argv) {
    const char *model = NULL, *vocab = NULL, *tjson = NULL, *spm = NULL, *text = NULL;
    long max_len = 64, threads = 1;
    bool as_json = false;
    const char *backend = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return df_cli_help("infer", USAGE);
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc) vocab = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tjson = argv[++i];
        else if (!strcmp(argv[i], "--spm") && i + 1 < argc) spm = argv[++i];
        else if (!strcmp(argv[i], "--text") && i + 1 < argc) text = argv[++i];
        else if (!strcmp(argv[i], "--max-len") && i + 1 < argc) max_len = df_cli_int(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = df_cli_int(argv[++i]);
        else if (!strcmp(argv[i], "--json")) as_json = true;
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (argv[i][0] == '-') return df_cli_usage("infer", USAGE, "unknown option or missing value");
        else model = argv[i];
    }
    if (!model || !text || (!!vocab + !!tjson + !!spm) != 1)
        return df_cli_usage("infer", USAGE, "MODEL, --text and exactly one of --vocab/--tokenizer/--spm are required");
    if (max_len < 2 || max_len > 8192 || threads < 0) return df_cli_usage("infer", USAGE, "--max-len must be 2..8192");

    df_error err = {0};
    df_tokenizer *tok = NULL;
    df_session *s = NULL;
    int64_t *ids = NULL, *mask = NULL, *types = NULL;
    df_tensor feed[16];
    size_t n_feed = 0;
    int rc = DF_EXIT_FAIL;
    df_status st = vocab ? df_tokenizer_load_vocab(vocab, NULL, &tok, &err)
                   : tjson ? df_tokenizer_load_json(tjson, NULL, &tok, &err)
                           : df_tokenizer_load_spm(spm, NULL, &tok, &err);
    if (st) goto out;
    ids = calloc((size_t)max_len, sizeof *ids);
    mask = calloc((size_t)max_len, sizeof *mask);
    types = calloc((size_t)max_len, sizeof *types);
    size_t n_real = 0;
    if (!ids || !mask || !types) {
        df_error_set(&err, DF_ENOMEM, "out of memory");
        goto out;
    }
    if (df_tokenizer_encode(tok, text, strlen(text), (size_t)max_len, ids, mask, types, &n_real, &err)) goto out;
    df_session_opts opts = {.threads = (int)threads, .backend = backend, .batch = 1, .seq = max_len};
    if (df_session_open(model, &opts, &s, &err)) goto out;
    size_t n_in = df_session_input_count(s), n_out = df_session_output_count(s);
    if (n_in > 16 || n_out > 64) {
        df_error_set(&err, DF_EUNSUPPORTED, "%s: too many inputs or outputs for infer", model);
        goto out;
    }
    for (; n_feed < n_in; n_feed++) {
        const char *name;
        df_dtype dt;
        df_shape sh;
        df_session_input_info(s, n_feed, &name, &dt, &sh);
        if (sh.rank != 2 || sh.dims[0] != 1 || sh.dims[1] != max_len || (dt != DF_I64 && dt != DF_I32)) {
            char b[128];
            df_error_set(&err, DF_ESHAPE, "%s: input '%s' is %s %s; infer feeds token tensors of int64 [1,%ld]", model,
                         name, df_dtype_name(dt), df_shape_str(&sh, b, sizeof b), max_len);
            goto out;
        }
        if (df_tensor_alloc(&feed[n_feed], dt, &sh, &err)) goto out;
        const int64_t *src = pick_source(name, ids, mask, types);
        for (long k = 0; k < max_len; k++) {
            if (dt == DF_I64) ((int64_t *)feed[n_feed].data)[k] = src[k];
            else ((int32_t *)feed[n_feed].data)[k] = (int32_t)src[k];
        }
    }
    df_tensor got[64];
    if (df_session_run(s, feed, n_in, got, n_out, &err)) goto out;
    json_t *root = json_object(), *outs = json_array();
    json_object_set_new(root, "model", json_string(model));
    json_object_set_new(root, "tokens", json_integer((json_int_t)n_real));
    for (size_t i = 0; i < n_out; i++) {
        const char *name;
        df_session_output_info(s, i, &name, NULL, NULL);
        json_array_append_new(outs, tensor_json(name, &got[i]));
    }
    json_object_set_new(root, "outputs", outs);
    char *dump = json_dumps(root, as_json ? JSON_COMPACT | JSON_REAL_PRECISION(9) : JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    if (dump) puts(dump);
    free(dump);
    json_decref(root);
    rc = DF_EXIT_OK;
out:
    if (rc) df_cli_fail("infer", &err);
    for (size_t i = 0; i < n_feed; i++) df_tensor_free(&feed[i]);
    free(ids);
    free(mask);
    free(types);
    df_session_close(s);
    df_tokenizer_free(tok);
    return rc;
}
