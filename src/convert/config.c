/* Hugging Face config.json for BERT-family encoders.
 *
 * Keys without which the architecture is unknowable are required; keys that transformers'
 * BertConfig / XLMRobertaConfig give a default take that default (layer_norm_eps 1e-12,
 * pad_token_id 0 (1 for RoBERTa and XLM-R), type_vocab_size 2, max_position_embeddings 512,
 * hidden_act "gelu"), since upstream TinyBERT configs rely on them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "convert/convert_internal.h"

static df_status get_int(const df_hf_config *c, json_t *root, const char *key, int required, int64_t def, int64_t min,
                         int64_t *out, df_error *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return df_error_set(err, DF_ENOTFOUND, "%s: required key '%s' is missing", c->path, key);
        *out = def;
        return DF_OK;
    }
    if (!json_is_integer(v)) return df_error_set(err, DF_ETYPE, "%s: '%s' must be an integer", c->path, key);
    *out = json_integer_value(v);
    if (*out < min || *out > ((int64_t)1 << 31))
        return df_error_set(err, DF_ERANGE, "%s: '%s' = %lld is out of range", c->path, key, (long long)*out);
    return DF_OK;
}

void df_hf_config_free(df_hf_config *cfg) {
    if (cfg->labels)
        for (int64_t i = 0; i < cfg->num_labels; i++) free(cfg->labels[i]);
    free(cfg->labels);
    free(cfg->architectures_json);
    cfg->labels = NULL;
    cfg->architectures_json = NULL;
}

static df_status load_labels(df_hf_config *c, json_t *root, df_error *err) {
    json_t *id2 = json_object_get(root, "id2label");
    json_t *nl = json_object_get(root, "num_labels");
    int64_t n = 0;
    if (id2 && !json_is_object(id2)) return df_error_set(err, DF_ETYPE, "%s: 'id2label' must be an object", c->path);
    if (id2) n = (int64_t)json_object_size(id2);
    if (nl && !json_is_null(nl)) {
        if (!json_is_integer(nl) || json_integer_value(nl) < 1 || json_integer_value(nl) > 1000000)
            return df_error_set(err, DF_ETYPE, "%s: 'num_labels' must be a positive integer", c->path);
        if (id2 && json_integer_value(nl) != n)
            return df_error_set(err, DF_EINVAL, "%s: 'num_labels' = %lld but 'id2label' has %lld entries", c->path,
                                (long long)json_integer_value(nl), (long long)n);
        n = json_integer_value(nl);
    }
    c->num_labels = n;
    if (!n) return DF_OK;
    c->labels = calloc((size_t)n, sizeof *c->labels);
    if (!c->labels) return df_error_set(err, DF_ENOMEM, "%s: out of memory", c->path);
    for (int64_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)i);
        json_t *l = id2 ? json_object_get(id2, key) : NULL;
        if (id2 && !json_is_string(l))
            return df_error_set(err, DF_EINVAL, "%s: 'id2label' has no string label for id %lld (ids must be 0..%lld)", c->path,
                                (long long)i, (long long)(n - 1));
        char fallback[32];
        snprintf(fallback, sizeof fallback, "LABEL_%lld", (long long)i);
        if (!(c->labels[i] = strdup(l ? json_string_value(l) : fallback)))
            return df_error_set(err, DF_ENOMEM, "%s: out of memory", c->path);
    }
    return DF_OK;
}

df_status df_hf_config_load(const char *path, df_hf_config *c, df_error *err) {
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line < 0 || strstr(je.text, "unable to open"))
            return df_error_set(err, DF_EIO, "%s: cannot read: %s", path, je.text);
        return df_error_set(err, DF_EFORMAT, "%s: not valid JSON: %s (line %d)", path, je.text, je.line);
    }
    df_status st = DF_OK;
    if (!json_is_object(root)) {
        st = df_error_set(err, DF_EFORMAT, "%s: not a JSON object", path);
        goto done;
    }
    json_t *arch = json_object_get(root, "architectures");
    if (arch && !json_is_null(arch)) {
        if (!json_is_array(arch) || (json_array_size(arch) && !json_is_string(json_array_get(arch, 0)))) {
            st = df_error_set(err, DF_ETYPE, "%s: 'architectures' must be a list of class names", path);
            goto done;
        }
        if (json_array_size(arch))
            snprintf(c->architecture, sizeof c->architecture, "%s", json_string_value(json_array_get(arch, 0)));
        c->architectures_json = json_dumps(arch, JSON_COMPACT);
    }
    json_t *mt = json_object_get(root, "model_type");
    if (mt && !json_is_string(mt)) {
        st = df_error_set(err, DF_ETYPE, "%s: 'model_type' must be a string", path);
        goto done;
    }
    /* No model_type (TinyBERT's original configs): transformers guesses from the class name. */
    const char *type = mt ? json_string_value(mt)
                          : !strncmp(c->architecture, "XLMRoberta", 10) ? "xlm-roberta"
                          : !strncmp(c->architecture, "Roberta", 7)     ? "roberta"
                                                                        : "bert";
    if (strcmp(type, "bert") && strcmp(type, "roberta") && strcmp(type, "xlm-roberta")) {
        st = df_error_set(err, DF_EUNSUPPORTED, "%s: model_type '%s' is not supported (bert, roberta, xlm-roberta)", path, type);
        goto done;
    }
    snprintf(c->model_type, sizeof c->model_type, "%s", type);
    int roberta = strcmp(type, "bert") != 0;
    if ((st = get_int(c, root, "hidden_size", 1, 0, 1, &c->hidden_size, err)) ||
        (st = get_int(c, root, "num_hidden_layers", 1, 0, 1, &c->num_hidden_layers, err)) ||
        (st = get_int(c, root, "num_attention_heads", 1, 0, 1, &c->num_attention_heads, err)) ||
        (st = get_int(c, root, "intermediate_size", 1, 0, 1, &c->intermediate_size, err)) ||
        (st = get_int(c, root, "vocab_size", 1, 0, 1, &c->vocab_size, err)) ||
        (st = get_int(c, root, "max_position_embeddings", 0, 512, 1, &c->max_position_embeddings, err)) ||
        (st = get_int(c, root, "type_vocab_size", 0, 2, 0, &c->type_vocab_size, err)) ||
        (st = get_int(c, root, "pad_token_id", 0, roberta ? 1 : 0, 0, &c->pad_token_id, err)))
        goto done;
    if (c->hidden_size % c->num_attention_heads) {
        st = df_error_set(err, DF_EINVAL, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", path,
                          (long long)c->hidden_size, (long long)c->num_attention_heads);
        goto done;
    }
    if (c->pad_token_id >= c->vocab_size) {
        st = df_error_set(err, DF_ERANGE, "%s: pad_token_id %lld is not below vocab_size %lld", path, (long long)c->pad_token_id,
                          (long long)c->vocab_size);
        goto done;
    }
    json_t *eps = json_object_get(root, "layer_norm_eps");
    c->layer_norm_eps = 1e-12;
    if (eps && !json_is_null(eps)) {
        if (!json_is_number(eps) || json_number_value(eps) <= 0) {
            st = df_error_set(err, DF_ETYPE, "%s: 'layer_norm_eps' must be a positive number", path);
            goto done;
        }
        c->layer_norm_eps = json_number_value(eps);
    }
    json_t *act = json_object_get(root, "hidden_act");
    if (act && !json_is_string(act)) {
        st = df_error_set(err, DF_ETYPE, "%s: 'hidden_act' must be a string", path);
        goto done;
    }
    if (act && strcmp(json_string_value(act), "gelu")) {
        st = df_error_set(err, DF_EUNSUPPORTED, "%s: hidden_act '%s' is not supported (only 'gelu', the erf form)", path,
                          json_string_value(act));
        goto done;
    }
    json_t *pet = json_object_get(root, "position_embedding_type");
    if (pet && json_is_string(pet) && strcmp(json_string_value(pet), "absolute")) {
        st = df_error_set(err, DF_EUNSUPPORTED, "%s: position_embedding_type '%s' is not supported (only 'absolute')", path,
                          json_string_value(pet));
        goto done;
    }
    st = load_labels(c, root, err);
done:
    json_decref(root);
    if (st) df_hf_config_free(c);
    return st;
}
