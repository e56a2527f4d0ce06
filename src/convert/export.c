/* df_export_hf: config.json + checkpoint -> static ONNX + metadata.json.
 *
 * The graph is shape-inferred (without folding, so it stays the graph the builder wrote)
 * before anything is written: a mistake in the builder or a checkpoint the shape checks
 * missed fails here, not in a later stage. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "convert/convert_internal.h"
#include "dpuflow/base.h"
#include "dpuflow/onnx.h"
#include "graph/ir.h"

df_status df_export_build(const df_checkpoint *ck, const df_hf_config *cfg, const df_export_opts *o, df_graph **out,
                          df_export_info *info, df_error *err);

static df_status load_all(const char *model_dir, const df_export_opts *o, df_hf_config *cfg, df_checkpoint **ck,
                          df_error *err) {
    char cpath[4096];
    if (o->config_path) snprintf(cpath, sizeof cpath, "%s", o->config_path);
    else snprintf(cpath, sizeof cpath, "%s/config.json", model_dir);
    df_status st = df_hf_config_load(cpath, cfg, err);
    if (st) return st;
    st = df_checkpoint_open(o->weights_path ? o->weights_path : model_dir, ck, err);
    if (st) df_hf_config_free(cfg);
    return st;
}

df_status df_export_hf_graph(const char *model_dir, const df_export_opts *opts, df_graph **out, df_export_info *info,
                             df_error *err) {
    df_export_opts o = opts ? *opts : (df_export_opts){0};
    df_hf_config cfg;
    df_checkpoint *ck = NULL;
    df_status st = load_all(model_dir, &o, &cfg, &ck, err);
    if (st) return st;
    if (info) memset(info, 0, sizeof *info);
    st = df_export_build(ck, &cfg, &o, out, info, err);
    df_checkpoint_close(ck);
    df_hf_config_free(&cfg);
    return st;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static df_status add_source(json_t *arr, const char *path, df_error *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) return DF_OK; /* optional files (vocab) simply are not listed */
    char hex[65];
    df_status st = df_sha256_file(path, hex, err);
    if (st) return st;
    json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "file", base_name(path), "sha256", hex, "bytes", (json_int_t)sb.st_size));
    return DF_OK;
}

static df_status write_metadata(const char *path, const char *model_dir, const df_export_opts *o, const df_hf_config *cfg,
                                const df_checkpoint *ck, const df_export_info *info, df_error *err) {
    json_t *m = json_object();
    json_t *inputs = json_array();
    for (int k = 0; k < info->n_inputs; k++) json_array_append_new(inputs, json_string(info->input_names[k]));
    json_t *oshape = json_array();
    for (int k = 0; k < info->output_rank; k++) json_array_append_new(oshape, json_integer(info->output_shape[k]));
    json_object_set_new(m, "export_status", json_string("ok"));
    json_object_set_new(m, "input_name", json_string(info->input_names[0]));
    json_object_set_new(m, "input_names", inputs);
    json_object_set_new(m, "input_shape", json_pack("[I, I]", (json_int_t)info->batch, (json_int_t)info->seq));
    json_object_set_new(m, "output_name", json_string(info->output_name));
    json_object_set_new(m, "output_shape", oshape);
    json_object_set_new(m, "output", json_string(o->output ? o->output : !strcmp(info->output_name, "logits") ? "logits" : "last_hidden_state"));
    json_object_set_new(m, "normalized", json_boolean(o->normalize));
    json_object_set_new(m, "opset_version", json_integer(info->opset));
    json_object_set_new(m, "model_type", json_string(cfg->model_type));
    json_object_set_new(m, "architecture", json_string(info->architecture));
    json_t *arch = cfg->architectures_json ? json_loads(cfg->architectures_json, 0, NULL) : NULL;
    json_object_set_new(m, "architectures", arch ? arch : json_array());
    json_object_set_new(m, "hidden_size", json_integer(cfg->hidden_size));
    json_object_set_new(m, "num_hidden_layers", json_integer(cfg->num_hidden_layers));
    json_object_set_new(m, "parameter_count", json_integer(info->parameters));
    if (cfg->num_labels && !strcmp(info->output_name, "logits")) {
        json_object_set_new(m, "num_labels", json_integer(cfg->num_labels));
        json_t *labels = json_array(), *id2 = json_object();
        for (int64_t i = 0; i < cfg->num_labels; i++) {
            char k[32];
            snprintf(k, sizeof k, "%" PRId64, i);
            json_array_append_new(labels, json_string(cfg->labels[i]));
            json_object_set_new(id2, k, json_string(cfg->labels[i]));
        }
        json_object_set_new(m, "labels", labels);
        json_object_set_new(m, "id2label", id2);
    }
    json_t *src = json_array();
    df_status st = add_source(src, cfg->path, err);
    size_t nf = 0;
    const char *const *files = df_checkpoint_files(ck, &nf);
    for (size_t k = 0; k < nf && !st; k++) st = add_source(src, files[k], err);
    const char *vocabs[] = {"vocab.txt", "tokenizer.json", "sentencepiece.bpe.model", "tokenizer_config.json"};
    for (size_t k = 0; k < sizeof vocabs / sizeof vocabs[0] && !st; k++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", model_dir, vocabs[k]);
        st = add_source(src, p, err);
    }
    json_object_set_new(m, "source_files", src);
    char *text = st ? NULL : json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(m);
    if (st) return st;
    if (!text) return df_error_set(err, DF_ENOMEM, "%s: out of memory writing metadata", path);
    size_t len = strlen(text);
    char *buf = realloc(text, len + 2);
    if (!buf) {
        free(text);
        return df_error_set(err, DF_ENOMEM, "%s: out of memory", path);
    }
    buf[len] = '\n';
    st = df_file_write_atomic(path, buf, len + 1, err);
    free(buf);
    return st;
}

df_status df_export_hf(const char *model_dir, const df_export_opts *opts, const char *out_onnx, const char *out_metadata_json,
                       df_error *err) {
    df_export_opts o = opts ? *opts : (df_export_opts){0};
    df_hf_config cfg;
    df_checkpoint *ck = NULL;
    df_graph *g = NULL;
    df_export_info info;
    memset(&info, 0, sizeof info);
    df_status st = load_all(model_dir, &o, &cfg, &ck, err);
    if (st) return st;
    st = df_export_build(ck, &cfg, &o, &g, &info, err);
    if (!st && (st = df_graph_infer_opts(g, false, err))) df_error_prefix(err, "exported graph: ");
    /* Past protobuf's 2 GiB limit (BGE-M3 in fp32) the weights go to "<file>.data". */
    df_onnx_save_opts so = {.external_threshold = info.parameters * 4 > ((int64_t)3 << 29) ? 1024 : 0};
    if (!st) st = df_onnx_save(g, out_onnx, &so, err);
    if (!st && out_metadata_json) st = write_metadata(out_metadata_json, model_dir, &o, &cfg, ck, &info, err);
    df_graph_free(g);
    df_checkpoint_close(ck);
    df_hf_config_free(&cfg);
    return st;
}
