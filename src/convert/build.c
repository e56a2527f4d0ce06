/* Architecture builders: BERT / RoBERTa / XLM-R encoders and their heads as dpuflow IR with
 * standard ONNX ops and static shapes.
 *
 * The forward pass follows transformers' eager code (modeling_bert.py, modeling_roberta.py):
 * embeddings word + token type, then + position, LayerNorm; the extended attention mask
 * (1 - mask) * finfo(float32).min added to the scaled scores; erf GELU; post-LN residuals.
 * Linear weights are stored [out, in] in checkpoints and are transposed once here so every
 * projection is a plain MatMul + Add, the pattern torch.onnx.export emits and that the
 * engine, the quantizer and ONNX Runtime all know. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert_internal.h"
#include "graph/ir.h"

typedef struct gb {
    df_graph *g;
    df_error *err;
    df_status st;
    const df_checkpoint *ck;
    const df_hf_config *cfg;
    const char *prefix;     /* "bert.", "roberta." or "" */
    int64_t params;
    int opset;
    int64_t B, S, H;
} gb;

static int fail_oom(gb *b) {
    if (!b->st) b->st = df_error_set(b->err, DF_ENOMEM, "out of memory building the graph");
    return -1;
}

/* A fresh value name: name, or name_2, name_3... if taken. */
static int fresh(gb *b, const char *name) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", name);
    for (int k = 2; df_graph_find_value(b->g, buf) >= 0; k++) snprintf(buf, sizeof buf, "%s_%d", name, k);
    int v = df_graph_value(b->g, buf);
    return v < 0 ? fail_oom(b) : v;
}

static int node(gb *b, const char *op, const char *name, int n_in, const int *in) {
    if (b->st) return -1;
    for (int k = 0; k < n_in; k++)
        if (in[k] < 0) return -1;
    char out[512];
    snprintf(out, sizeof out, "%s_output_0", name);
    int o = fresh(b, out);
    if (o < 0) return -1;
    if (df_graph_add_node(b->g, op, name, "", in, n_in, &o, 1) < 0) return fail_oom(b);
    return o;
}

static df_node *last(gb *b) { return &b->g->nodes[b->g->n_nodes - 1]; }

static void attr_int(gb *b, const char *name, int64_t v) {
    if (b->st) return;
    df_attr a = {.name = (char *)name, .type = DF_ATTR_INT, .i = v};
    b->st = df_node_add_attr(last(b), &a, b->err);
}

static void attr_float(gb *b, const char *name, float v) {
    if (b->st) return;
    df_attr a = {.name = (char *)name, .type = DF_ATTR_FLOAT, .f = v};
    b->st = df_node_add_attr(last(b), &a, b->err);
}

static void attr_ints(gb *b, const char *name, const int64_t *v, size_t n) {
    if (b->st) return;
    df_attr a = {.name = (char *)name, .type = DF_ATTR_INTS, .ints = (int64_t *)v, .count = n};
    b->st = df_node_add_attr(last(b), &a, b->err);
}

/* A constant value holding t (ownership taken). */
static int cst(gb *b, const char *name, df_tensor *t) {
    if (b->st) {
        df_tensor_free(t);
        return -1;
    }
    int v = fresh(b, name);
    if (v < 0) {
        df_tensor_free(t);
        return -1;
    }
    df_value_set_const(&b->g->values[v], t);
    b->g->values[v].is_initializer = true;
    return v;
}

static int cst_f32(gb *b, const char *name, int rank, const int64_t *dims, const float *data) {
    if (b->st) return -1;
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    if ((b->st = df_tensor_alloc(&t, DF_F32, &s, b->err))) return -1;
    memcpy(t.data, data, t.nbytes);
    return cst(b, name, &t);
}

static int scalar_f32(gb *b, const char *name, float x) { return cst_f32(b, name, 0, NULL, &x); }

static int cst_i64(gb *b, const char *name, int rank, const int64_t *dims, const int64_t *data) {
    if (b->st) return -1;
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    if ((b->st = df_tensor_alloc(&t, DF_I64, &s, b->err))) return -1;
    memcpy(t.data, data, t.nbytes);
    return cst(b, name, &t);
}

static int ints1(gb *b, const char *name, int n, const int64_t *v) {
    int64_t d = n;
    return cst_i64(b, name, 1, &d, v);
}

static int has(gb *b, const char *key) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", b->prefix, key);
    return df_checkpoint_find(b->ck, full) >= 0;
}

static const char *config_field(const df_hf_config *c, int64_t v) {
    if (v == c->hidden_size) return "hidden_size";
    if (v == c->intermediate_size) return "intermediate_size";
    if (v == c->vocab_size) return "vocab_size";
    if (v == c->max_position_embeddings) return "max_position_embeddings";
    if (v == c->type_vocab_size) return "type_vocab_size";
    if (v == c->num_labels) return "num_labels";
    return NULL;
}

/* Loads checkpoint tensor prefix+key (or key as is when top_level), checks its shape against
 * what the config implies, and returns it as F32 (owned). */
static int load(gb *b, const char *key, int top_level, int rank, const int64_t *dims, df_tensor *out) {
    if (b->st) return -1;
    char full[256];
    snprintf(full, sizeof full, "%s%s", top_level ? "" : b->prefix, key);
    int i = df_checkpoint_find(b->ck, full);
    if (i < 0) {
        /* Older BERT checkpoints (TF-converted: bert-base-chinese, MacBERT) name LayerNorm's
         * parameters gamma and beta; transformers renames them on load, and so do we. */
        char alt[256];
        size_t l = strlen(full);
        if (l > 16 && !strcmp(full + l - 16, "LayerNorm.weight")) {
            snprintf(alt, sizeof alt, "%.*sgamma", (int)(l - 6), full);
            i = df_checkpoint_find(b->ck, alt);
        } else if (l > 14 && !strcmp(full + l - 14, "LayerNorm.bias")) {
            snprintf(alt, sizeof alt, "%.*sbeta", (int)(l - 4), full);
            i = df_checkpoint_find(b->ck, alt);
        }
    }
    if (i < 0) {
        b->st = df_error_set(b->err, DF_ENOTFOUND, "%s: tensor '%s' is missing (needed by %s)", df_checkpoint_files(b->ck, &(size_t){0})[0],
                             full, b->cfg->architecture[0] ? b->cfg->architecture : b->cfg->model_type);
        return -1;
    }
    df_shape want = df_shape_make(rank, dims), got;
    df_checkpoint_info(b->ck, (size_t)i, NULL, NULL, &got);
    if (!df_shape_equal(&want, &got)) {
        char ws[96], gs[96], why[160] = "";
        /* Name the config field behind the first disagreeing dim, so the user knows what to fix. */
        for (int d = 0; d < want.rank && !why[0]; d++) {
            if (d < got.rank && got.dims[d] == want.dims[d]) continue;
            const char *field = config_field(b->cfg, want.dims[d]);
            if (field) snprintf(why, sizeof why, " (dim %d from %s = %lld)", d, field, (long long)want.dims[d]);
        }
        b->st = df_error_set(b->err, DF_ESHAPE, "%s: tensor '%s' has shape %s, but %s expects %s%s", df_checkpoint_file(b->ck, (size_t)i),
                             full, df_shape_str(&got, gs, sizeof gs), b->cfg->path, df_shape_str(&want, ws, sizeof ws), why);
        return -1;
    }
    if ((b->st = df_checkpoint_get(b->ck, (size_t)i, out, b->err))) return -1;
    if (out->dtype != DF_F32) {
        df_tensor_free(out);
        b->st = df_error_set(b->err, DF_ETYPE, "%s: tensor '%s' is an integer tensor, a float weight was expected",
                             df_checkpoint_file(b->ck, (size_t)i), full);
        return -1;
    }
    b->params += df_shape_numel(&got);
    return 0;
}

static int weight(gb *b, const char *key, int top_level, int rank, const int64_t *dims) {
    df_tensor t;
    if (load(b, key, top_level, rank, dims, &t)) return -1;
    char full[256];
    snprintf(full, sizeof full, "%s%s", top_level ? "" : b->prefix, key);
    return cst(b, full, &t);
}

/* x @ W^T + bias for an nn.Linear called key (W stored [out, in]). */
static int linear(gb *b, int x, const char *key, int top_level, int64_t in, int64_t out, const char *name) {
    char k[256], n[320];
    df_tensor w;
    snprintf(k, sizeof k, "%s.weight", key);
    if (load(b, k, top_level, 2, (int64_t[]){out, in}, &w)) return -1;
    df_tensor wt;
    df_shape ts = df_shape_make(2, (int64_t[]){in, out});
    if ((b->st = df_tensor_alloc(&wt, DF_F32, &ts, b->err))) {
        df_tensor_free(&w);
        return -1;
    }
    const float *src = w.data;
    float *dst = wt.data;
    for (int64_t r = 0; r < out; r++)
        for (int64_t c = 0; c < in; c++) dst[c * out + r] = src[r * in + c];
    df_tensor_free(&w);
    char full[256];
    snprintf(full, sizeof full, "%s%s.weight_T", top_level ? "" : b->prefix, key);
    int wv = cst(b, full, &wt);
    snprintf(k, sizeof k, "%s.bias", key);
    int bv = weight(b, k, top_level, 1, &out);
    snprintf(n, sizeof n, "%s/MatMul", name);
    int y = node(b, "MatMul", n, 2, (int[]){x, wv});
    snprintf(n, sizeof n, "%s/Add", name);
    return node(b, "Add", n, 2, (int[]){y, bv});
}

static int binop(gb *b, const char *op, const char *name, const char *suffix, int x, int y) {
    char n[320];
    snprintf(n, sizeof n, "%s/%s", name, suffix);
    return node(b, op, n, 2, (int[]){x, y});
}

static int unop(gb *b, const char *op, const char *name, const char *suffix, int x) {
    char n[320];
    snprintf(n, sizeof n, "%s/%s", name, suffix);
    return node(b, op, n, 1, &x);
}

/* LayerNorm over the last axis. Below opset 17 ONNX has no LayerNormalization, so it is the
 * decomposition torch.onnx.export writes: (x - mean) / sqrt(var + eps) * gamma + beta. */
static int layer_norm(gb *b, int x, const char *key, const char *name) {
    char k[256], n[320];
    snprintf(k, sizeof k, "%s.weight", key);
    int gamma = weight(b, k, 0, 1, &b->H);
    snprintf(k, sizeof k, "%s.bias", key);
    int beta = weight(b, k, 0, 1, &b->H);
    float eps = (float)b->cfg->layer_norm_eps;
    if (b->opset >= 17) {
        snprintf(n, sizeof n, "%s/LayerNormalization", name);
        int y = node(b, "LayerNormalization", n, 3, (int[]){x, gamma, beta});
        attr_int(b, "axis", -1);
        attr_float(b, "epsilon", eps);
        return y;
    }
    const int64_t axes[1] = {-1};
    int mean = unop(b, "ReduceMean", name, "ReduceMean", x);
    attr_ints(b, "axes", axes, 1);
    attr_int(b, "keepdims", 1);
    int d = binop(b, "Sub", name, "Sub", x, mean);
    snprintf(n, sizeof n, "%s/Constant_two", name);
    int sq = binop(b, "Pow", name, "Pow", d, scalar_f32(b, n, 2.0f));
    int var = unop(b, "ReduceMean", name, "ReduceMean_1", sq);
    attr_ints(b, "axes", axes, 1);
    attr_int(b, "keepdims", 1);
    snprintf(n, sizeof n, "%s/Constant_eps", name);
    int ve = binop(b, "Add", name, "Add", var, scalar_f32(b, n, eps));
    int sd = unop(b, "Sqrt", name, "Sqrt", ve);
    int y = binop(b, "Div", name, "Div", d, sd);
    y = binop(b, "Mul", name, "Mul", y, gamma);
    return binop(b, "Add", name, "Add_1", y, beta);
}

static int unsqueeze(gb *b, int x, const int64_t *axes, int n_axes, const char *name) {
    char n[320];
    snprintf(n, sizeof n, "%s_axes", name);
    int a = ints1(b, n, n_axes, axes);
    return node(b, "Unsqueeze", name, 2, (int[]){x, a});
}

static int cast(gb *b, int x, df_dtype to, const char *name) {
    int y = node(b, "Cast", name, 1, &x);
    attr_int(b, "to", to);
    return y;
}

static int reduce_sum(gb *b, int x, int64_t axis, int keepdims, const char *name) {
    char n[320];
    snprintf(n, sizeof n, "%s_axes", name);
    int a = ints1(b, n, 1, &axis);
    int y = node(b, "ReduceSum", name, 2, (int[]){x, a});
    attr_int(b, "keepdims", keepdims);
    return y;
}

static int graph_input(gb *b, const char *name) {
    if (b->st) return -1;
    int v = fresh(b, name);
    if (v < 0) return -1;
    df_value *val = &b->g->values[v];
    val->dtype = DF_I64;
    val->shape = df_shape_make(2, (int64_t[]){b->B, b->S});
    val->shape_known = true;
    val->is_graph_input = true;
    int *ni = realloc(b->g->inputs, sizeof(int) * (size_t)(b->g->n_inputs + 1));
    if (!ni) return fail_oom(b);
    b->g->inputs = ni;
    b->g->inputs[b->g->n_inputs++] = v;
    return v;
}

static int embeddings(gb *b, int ids, int tt) {
    const df_hf_config *c = b->cfg;
    int64_t H = b->H;
    int roberta = strcmp(c->model_type, "bert") != 0;
    int word = weight(b, "embeddings.word_embeddings.weight", 0, 2, (int64_t[]){c->vocab_size, H});
    int x = node(b, "Gather", "/embeddings/word_embeddings/Gather", 2, (int[]){word, ids});
    if (c->type_vocab_size > 0) {
        if (tt >= 0) {
            int tw = weight(b, "embeddings.token_type_embeddings.weight", 0, 2, (int64_t[]){c->type_vocab_size, H});
            int te = node(b, "Gather", "/embeddings/token_type_embeddings/Gather", 2, (int[]){tw, tt});
            x = node(b, "Add", "/embeddings/Add", 2, (int[]){x, te});
        } else {
            /* No token_type_ids input: every token is type 0, so the lookup is row 0. */
            df_tensor t;
            if (!load(b, "embeddings.token_type_embeddings.weight", 0, 2, (int64_t[]){c->type_vocab_size, H}, &t)) {
                t.shape = df_shape_make(1, &H);
                t.nbytes = (size_t)H * sizeof(float);
                int row = cst(b, "embeddings.token_type_embeddings.row0", &t);
                x = node(b, "Add", "/embeddings/Add", 2, (int[]){x, row});
            }
        }
    }
    int pe;
    if (!roberta) {
        /* BERT's positions are 0..S-1 for every row: a constant slice of the table. */
        df_tensor t;
        if (load(b, "embeddings.position_embeddings.weight", 0, 2, (int64_t[]){c->max_position_embeddings, H}, &t)) return -1;
        t.shape = df_shape_make(2, (int64_t[]){b->S, H});
        t.nbytes = (size_t)(b->S * H) * sizeof(float);
        pe = cst(b, "embeddings.position_embeddings.slice", &t);
    } else {
        /* create_position_ids_from_input_ids: cumsum(ids != pad) * (ids != pad) + pad. */
        int pw = weight(b, "embeddings.position_embeddings.weight", 0, 2, (int64_t[]){c->max_position_embeddings, H});
        int pad = cst_i64(b, "embeddings.padding_idx", 0, NULL, &c->pad_token_id);
        int eq = node(b, "Equal", "/embeddings/Equal", 2, (int[]){ids, pad});
        int ne = node(b, "Not", "/embeddings/Not", 1, &eq);
        int m = cast(b, ne, DF_I64, "/embeddings/Cast");
        int ax = cst_i64(b, "embeddings.cumsum_axis", 0, NULL, (const int64_t[]){1});
        int cs = node(b, "CumSum", "/embeddings/CumSum", 2, (int[]){m, ax});
        int inc = node(b, "Mul", "/embeddings/Mul", 2, (int[]){cs, m});
        int pos = node(b, "Add", "/embeddings/Add_positions", 2, (int[]){inc, pad});
        pe = node(b, "Gather", "/embeddings/position_embeddings/Gather", 2, (int[]){pw, pos});
    }
    x = node(b, "Add", "/embeddings/Add_1", 2, (int[]){x, pe});
    return layer_norm(b, x, "embeddings.LayerNorm", "/embeddings/LayerNorm");
}

static int encoder_layer(gb *b, int x, int ext, int i) {
    const df_hf_config *c = b->cfg;
    int64_t H = b->H, NH = c->num_attention_heads, D = H / NH, I = c->intermediate_size;
    char key[128], name[128], n[256];
    /* 0 = "this dim of the input": the targets name no batch or sequence length, so one
     * graph serves every batch (exec/batch.c) and ONNX Runtime can run it at any size. */
    const int64_t split[4] = {0, 0, NH, D}, merged[3] = {0, 0, H};
    const int64_t perm_q[4] = {0, 2, 1, 3}, perm_k[4] = {0, 2, 3, 1};
    int heads[3];
    const char *qkv[3] = {"query", "key", "value"};
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof key, "encoder.layer.%d.attention.self.%s", i, qkv[k]);
        snprintf(name, sizeof name, "/encoder/layer.%d/attention/self/%s", i, qkv[k]);
        int y = linear(b, x, key, 0, H, H, name);
        snprintf(n, sizeof n, "%s/Reshape_shape", name);
        int shp = ints1(b, n, 4, split);
        snprintf(n, sizeof n, "%s/Reshape", name);
        y = node(b, "Reshape", n, 2, (int[]){y, shp});
        snprintf(n, sizeof n, "%s/Transpose", name);
        heads[k] = node(b, "Transpose", n, 1, &y);
        attr_ints(b, "perm", k == 1 ? perm_k : perm_q, 4);
    }
    snprintf(name, sizeof name, "/encoder/layer.%d/attention/self", i);
    int sc = binop(b, "MatMul", name, "MatMul", heads[0], heads[1]);
    snprintf(n, sizeof n, "%s/Constant_sqrt_head_size", name);
    sc = binop(b, "Div", name, "Div", sc, scalar_f32(b, n, sqrtf((float)D)));
    sc = binop(b, "Add", name, "Add", sc, ext);
    int p = unop(b, "Softmax", name, "Softmax", sc);
    attr_int(b, "axis", -1);
    int ctx = binop(b, "MatMul", name, "MatMul_1", p, heads[2]);
    ctx = unop(b, "Transpose", name, "Transpose_ctx", ctx);
    attr_ints(b, "perm", perm_q, 4);
    snprintf(n, sizeof n, "%s/Reshape_ctx_shape", name);
    ctx = binop(b, "Reshape", name, "Reshape_ctx", ctx, ints1(b, n, 3, merged));

    snprintf(key, sizeof key, "encoder.layer.%d.attention.output.dense", i);
    snprintf(name, sizeof name, "/encoder/layer.%d/attention/output", i);
    int ao = linear(b, ctx, key, 0, H, H, name);
    ao = binop(b, "Add", name, "Add_residual", ao, x);
    snprintf(key, sizeof key, "encoder.layer.%d.attention.output.LayerNorm", i);
    snprintf(n, sizeof n, "%s/LayerNorm", name);
    ao = layer_norm(b, ao, key, n);

    snprintf(key, sizeof key, "encoder.layer.%d.intermediate.dense", i);
    snprintf(name, sizeof name, "/encoder/layer.%d/intermediate", i);
    int it = linear(b, ao, key, 0, H, I, name);
    /* erf GELU: x * 0.5 * (1 + erf(x / sqrt(2))), in torch.onnx.export's order. */
    snprintf(n, sizeof n, "%s/Constant_sqrt2", name);
    int t = binop(b, "Div", name, "gelu/Div", it, scalar_f32(b, n, 1.41421353816986083984375f));
    t = unop(b, "Erf", name, "gelu/Erf", t);
    snprintf(n, sizeof n, "%s/Constant_one", name);
    t = binop(b, "Add", name, "gelu/Add", t, scalar_f32(b, n, 1.0f));
    t = binop(b, "Mul", name, "gelu/Mul", it, t);
    snprintf(n, sizeof n, "%s/Constant_half", name);
    it = binop(b, "Mul", name, "gelu/Mul_1", t, scalar_f32(b, n, 0.5f));

    snprintf(key, sizeof key, "encoder.layer.%d.output.dense", i);
    snprintf(name, sizeof name, "/encoder/layer.%d/output", i);
    int o = linear(b, it, key, 0, I, H, name);
    o = binop(b, "Add", name, "Add_residual", o, ao);
    snprintf(key, sizeof key, "encoder.layer.%d.output.LayerNorm", i);
    snprintf(n, sizeof n, "%s/LayerNorm", name);
    return layer_norm(b, o, key, n);
}

static int cls_token(gb *b, int seq, const char *name) {
    char n[256];
    snprintf(n, sizeof n, "%s_index", name);
    int zero = cst_i64(b, n, 0, NULL, (const int64_t[]){0});
    int y = node(b, "Gather", name, 2, (int[]){seq, zero});
    attr_int(b, "axis", 1);
    return y;
}

static int l2_normalize(gb *b, int x) {
    /* torch.nn.functional.normalize: x / max(||x||_2, 1e-12). */
    int sq = node(b, "Mul", "/normalize/Mul", 2, (int[]){x, x});
    int ss = reduce_sum(b, sq, -1, 1, "/normalize/ReduceSum");
    int nrm = node(b, "Sqrt", "/normalize/Sqrt", 1, &ss);
    int nm = node(b, "Max", "/normalize/Max", 2, (int[]){nrm, scalar_f32(b, "/normalize/eps", 1e-12f)});
    return node(b, "Div", "/normalize/Div", 2, (int[]){x, nm});
}

static void set_output(gb *b, int v, const char *name) {
    if (b->st || v < 0) return;
    int prod = b->g->values[v].producer;
    /* The name index keys on names, so the output is a new value the producer now writes. */
    int o = fresh(b, name);
    if (o < 0) return;
    df_node *pn = &b->g->nodes[prod];
    for (int k = 0; k < pn->n_outputs; k++)
        if (pn->outputs[k] == v) pn->outputs[k] = o;
    b->g->values[o].producer = prod;
    b->g->values[v].producer = -1;
    int *no = realloc(b->g->outputs, sizeof(int) * (size_t)(b->g->n_outputs + 1));
    if (!no) {
        fail_oom(b);
        return;
    }
    b->g->outputs = no;
    b->g->outputs[b->g->n_outputs++] = o;
    b->g->values[o].is_graph_output = true;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), c = strlen(suf);
    return a >= c && !strcmp(s + a - c, suf);
}

static df_status build(gb *b, const df_export_opts *o, df_export_info *info) {
    const df_hf_config *c = b->cfg;
    int roberta = strcmp(c->model_type, "bert") != 0;
    int classifier = ends_with(c->architecture, "ForSequenceClassification");
    const char *out = o->output ? o->output : classifier ? "logits" : "last_hidden_state";
    if (strcmp(out, "logits") && strcmp(out, "last_hidden_state") && strcmp(out, "cls") && strcmp(out, "mean") &&
        strcmp(out, "pooler"))
        return df_error_set(b->err, DF_EINVAL, "output '%s' is unknown (logits, last_hidden_state, cls, mean, pooler)", out);
    if (!strcmp(out, "logits") && !classifier && df_checkpoint_find(b->ck, "classifier.weight") < 0 &&
        df_checkpoint_find(b->ck, "classifier.out_proj.weight") < 0)
        return df_error_set(b->err, DF_EINVAL, "%s: output 'logits' needs a *ForSequenceClassification checkpoint (architecture is %s)",
                            c->path, c->architecture[0] ? c->architecture : "not named");
    if (b->S > c->max_position_embeddings - (roberta ? c->pad_token_id + 1 : 0))
        return df_error_set(b->err, DF_ERANGE, "sequence length %lld does not fit max_position_embeddings %lld of %s",
                            (long long)b->S, (long long)c->max_position_embeddings, c->path);

    int ids = graph_input(b, "input_ids");
    int mask = graph_input(b, "attention_mask");
    int tt = (c->type_vocab_size > 1 && !o->no_token_type_ids) ? graph_input(b, "token_type_ids") : -1;

    /* Extended attention mask, once for all layers: (1 - mask) * finfo(float32).min. */
    int m4 = unsqueeze(b, mask, (const int64_t[]){1, 2}, 2, "/extended_mask/Unsqueeze");
    m4 = cast(b, m4, DF_F32, "/extended_mask/Cast");
    int ext = node(b, "Sub", "/extended_mask/Sub", 2, (int[]){scalar_f32(b, "/extended_mask/one", 1.0f), m4});
    ext = node(b, "Mul", "/extended_mask/Mul", 2, (int[]){ext, scalar_f32(b, "/extended_mask/finfo_min", -3.4028234663852886e38f)});

    int x = embeddings(b, ids, tt);
    for (int i = 0; i < c->num_hidden_layers; i++) x = encoder_layer(b, x, ext, i);

    int y = x;
    const char *name = "last_hidden_state";
    int64_t H = b->H, orank = 3, oshape[3] = {b->B, b->S, H};
    if (!strcmp(out, "cls")) {
        y = cls_token(b, x, "/cls/Gather");
        name = "sentence_embedding";
    } else if (!strcmp(out, "mean")) {
        int m3 = unsqueeze(b, mask, (const int64_t[]){2}, 1, "/mean/Unsqueeze");
        m3 = cast(b, m3, DF_F32, "/mean/Cast");
        int sum = reduce_sum(b, node(b, "Mul", "/mean/Mul", 2, (int[]){x, m3}), 1, 0, "/mean/ReduceSum");
        int cnt = reduce_sum(b, m3, 1, 0, "/mean/ReduceSum_count");
        cnt = node(b, "Max", "/mean/Max", 2, (int[]){cnt, scalar_f32(b, "/mean/min_count", 1e-9f)});
        y = node(b, "Div", "/mean/Div", 2, (int[]){sum, cnt});
        name = "sentence_embedding";
    } else if (!strcmp(out, "pooler") || (!strcmp(out, "logits") && !roberta)) {
        int cls = cls_token(b, x, "/pooler/Gather");
        y = linear(b, cls, "pooler.dense", 0, H, H, "/pooler/dense");
        y = node(b, "Tanh", "/pooler/Tanh", 1, &y);
        name = "pooler_output";
    }
    if (!strcmp(out, "logits")) {
        int64_t L = c->num_labels;
        const char *wkey = roberta ? "classifier.out_proj.weight" : "classifier.weight";
        int wi = df_checkpoint_find(b->ck, wkey);
        if (wi < 0)
            return df_error_set(b->err, DF_ENOTFOUND, "%s: tensor '%s' is missing (needed for output 'logits')",
                                df_checkpoint_files(b->ck, &(size_t){0})[0], wkey);
        if (!L) {
            df_shape ws;
            df_checkpoint_info(b->ck, (size_t)wi, NULL, NULL, &ws);
            L = ws.rank == 2 ? ws.dims[0] : 0;
        }
        if (roberta) { /* RobertaClassificationHead: dense + tanh + out_proj on <s> */
            int cls = cls_token(b, x, "/classifier/Gather");
            y = linear(b, cls, "classifier.dense", 1, H, H, "/classifier/dense");
            y = node(b, "Tanh", "/classifier/Tanh", 1, &y);
            y = linear(b, y, "classifier.out_proj", 1, H, L, "/classifier/out_proj");
        } else {
            y = linear(b, y, "classifier", 1, H, L, "/classifier");
        }
        name = "logits";
        orank = 2;
        oshape[1] = L;
    } else if (strcmp(out, "last_hidden_state")) {
        orank = 2;
        if (o->normalize) y = l2_normalize(b, y);
    }
    set_output(b, y, name);
    if (b->st) return b->st;
    if (info) {
        snprintf(info->model_type, sizeof info->model_type, "%s", c->model_type);
        snprintf(info->architecture, sizeof info->architecture, "%s",
                 c->architecture[0] ? c->architecture : roberta ? "XLMRobertaModel" : "BertModel");
        snprintf(info->output_name, sizeof info->output_name, "%s", name);
        info->batch = b->B;
        info->seq = b->S;
        info->opset = b->opset;
        info->n_inputs = b->g->n_inputs;
        for (int k = 0; k < b->g->n_inputs && k < 3; k++)
            snprintf(info->input_names[k], sizeof info->input_names[k], "%s", b->g->values[b->g->inputs[k]].name);
        info->parameters = b->params;
        info->output_rank = (int)orank;
        memcpy(info->output_shape, oshape, sizeof oshape);
    }
    return DF_OK;
}

df_status df_export_build(const df_checkpoint *ck, const df_hf_config *cfg, const df_export_opts *o, df_graph **out,
                          df_export_info *info, df_error *err);

df_status df_export_build(const df_checkpoint *ck, const df_hf_config *cfg, const df_export_opts *o, df_graph **out,
                          df_export_info *info, df_error *err) {
    *out = NULL;
    gb b = {.err = err, .ck = ck, .cfg = cfg, .B = o->batch ? o->batch : 1, .S = o->seq ? o->seq : 64,
            .H = cfg->hidden_size, .opset = o->opset ? o->opset : 13};
    if (b.B < 1 || b.S < 1 || b.B > 4096 || b.S > 65536)
        return df_error_set(err, DF_ERANGE, "input shape [%lld, %lld] is out of range", (long long)b.B, (long long)b.S);
    if (b.opset < 13 || b.opset > 17)
        return df_error_set(err, DF_EUNSUPPORTED, "opset %d is not supported for export (13 to 17)", b.opset);
    /* Checkpoints of a task model prefix the encoder ("bert.", "roberta."); bare encoders don't. */
    const char *cands[3] = {strcmp(cfg->model_type, "bert") ? "roberta." : "bert.", strcmp(cfg->model_type, "bert") ? "bert." : "roberta.", ""};
    b.prefix = NULL;
    for (int k = 0; k < 3 && !b.prefix; k++) {
        b.prefix = cands[k];
        if (!has(&b, "embeddings.word_embeddings.weight")) b.prefix = NULL;
    }
    if (!b.prefix)
        return df_error_set(err, DF_ENOTFOUND, "%s: no 'embeddings.word_embeddings.weight' (with or without a 'bert.' / 'roberta.' prefix): not a BERT-family checkpoint",
                            df_checkpoint_files(ck, &(size_t){0})[0]);
    df_status st = df_graph_new(&b.g, err);
    if (st) return st;
    b.g->opset = b.opset;
    b.g->ir_version = 8;
    free(b.g->name);
    b.g->name = strdup(cfg->architecture[0] ? cfg->architecture : "dpuflow_export");
    free(b.g->producer_name);
    b.g->producer_name = strdup("dpuflow");
    st = build(&b, o, info);
    if (st) {
        df_graph_free(b.g);
        return st;
    }
    *out = b.g;
    return DF_OK;
}
