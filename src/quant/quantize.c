/* Post-training quantization: observe the FP32 model over the calibration rows, choose scales,
 * rewrite every MatMul/Gemm with a constant weight into QDQ form, and write
 * deploy_model.onnx, quant_info.json and quant_log.txt. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpuflow/base.h"
#include "dpuflow/onnx.h"
#include "quant/quant_internal.h"

#define FP_SPAN (2 * DF_POF2_FIX_MAX + 1)

/* One observed activation (a MatMul/Gemm input). */
typedef struct obs {
    int value;                /* in the rewritten (inferred) graph */
    const char *name;
    int slot;                 /* output index in the calibration session */
    double mn, mx, amax;
    double *hist, width;
    int fp_count[FP_SPAN];
    /* chosen */
    df_dtype dtype;
    float scale;
    int fix_pos;
    double threshold;
    int dq_value;             /* output of its DequantizeLinear once inserted, or -1 */
} obs;

/* One layer to rewrite. */
typedef struct layer {
    int node;
    int act;                  /* index into obs[] */
    int w_input;              /* 1 (MatMul B, Gemm B) */
    int w_axis;               /* output-channel axis of the weight */
    int bias_node, bias_input; /* node and input slot of a constant bias, or -1 */
} layer;

typedef struct qctx {
    const char *method;
    double pct;
    int bins;
    bool pof2, per_channel;
    int weight_qmax;          /* 127, or 64 for 7-bit weights */
    int act_bits;             /* 8, or 7: activations use half the levels (ops/qgemm.h's narrow form) */
    df_graph *g;
    obs *obs;
    int n_obs;
    layer *layers;
    int n_layers;
    json_t *tensors;
    FILE *log;                /* in-memory log text */
    char *log_buf;
    size_t log_len;
} qctx;

static bool is_f32_const(const df_value *v) { return v && v->has_const && v->dtype == DF_F32; }

static int find_obs(qctx *c, int value) {
    for (int i = 0; i < c->n_obs; i++)
        if (c->obs[i].value == value) return i;
    return -1;
}

/* The Add that takes a MatMul's output and a constant 1-D bias of n_out floats, if any. */
static void find_bias(const df_graph *g, int node, int64_t n_out, int *bias_node, int *bias_input) {
    *bias_node = *bias_input = -1;
    int out = g->nodes[node].outputs[0];
    if (g->values[out].is_graph_output) return;
    int found = -1, slot = -1, uses = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] == out) {
                uses++;
                if (!strcmp(n->op_type, "Add") && n->n_inputs == 2) {
                    const df_value *b = df_node_in(g, n, 1 - k);
                    if (is_f32_const(b) && b->shape.rank == 1 && b->shape.dims[0] == n_out) {
                        found = i;
                        slot = 1 - k;
                    }
                }
            }
    }
    if (uses == 1 && found >= 0) {
        *bias_node = found;
        *bias_input = slot;
    }
}

static df_status collect_layers(qctx *c, df_error *err) {
    df_graph *g = c->g;
    c->layers = calloc((size_t)g->n_nodes + 1, sizeof *c->layers);
    c->obs = calloc((size_t)g->n_nodes + 1, sizeof *c->obs);
    if (!c->layers || !c->obs) return df_error_set(err, DF_ENOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        bool mm = !strcmp(n->op_type, "MatMul"), gemm = !strcmp(n->op_type, "Gemm");
        if (!mm && !gemm) continue;
        const df_value *a = df_node_in(g, n, 0), *w = df_node_in(g, n, 1);
        if (!a || !w || a->has_const || a->dtype != DF_F32 || !is_f32_const(w) || w->shape.rank != 2) continue;
        if (gemm && df_attr_int(n, "transA", 0)) continue; /* the activation would need a transpose view */
        layer *L = &c->layers[c->n_layers++];
        L->node = i;
        L->w_input = 1;
        L->w_axis = (gemm && df_attr_int(n, "transB", 0)) ? 0 : 1;
        int64_t n_out = w->shape.dims[L->w_axis];
        L->bias_node = L->bias_input = -1;
        if (gemm) {
            const df_value *b = df_node_in(g, n, 2);
            if (is_f32_const(b) && b->shape.rank == 1 && b->shape.dims[0] == n_out) {
                L->bias_node = i;
                L->bias_input = 2;
            }
        } else {
            find_bias(g, i, n_out, &L->bias_node, &L->bias_input);
        }
        int o = find_obs(c, n->inputs[0]);
        if (o < 0) {
            o = c->n_obs++;
            obs *ob = &c->obs[o];
            ob->value = n->inputs[0];
            ob->name = g->values[n->inputs[0]].name;
            ob->mn = INFINITY;
            ob->mx = -INFINITY;
            ob->dq_value = -1;
        }
        L->act = o;
    }
    if (c->n_layers == 0)
        return df_error_set(err, DF_EUNSUPPORTED, "no MatMul or Gemm with a constant 2-D weight to quantize");
    return DF_OK;
}

/* Runs the FP32 model over every row: pass 1 min/max (and per-row pof2 fix_pos), pass 2 the
 * |x| histograms over [0, amax] when the method needs them. */
static df_status observe(qctx *c, const char *fp32, const qx_rows *rows, int threads, df_error *err) {
    const char **names = calloc((size_t)c->n_obs + 1, sizeof *names);
    if (!names) return df_error_set(err, DF_ENOMEM, "out of memory");
    for (int i = 0; i < c->n_obs; i++) names[i] = c->obs[i].name;
    df_session *s = NULL;
    df_tensor *feed = NULL, *out = NULL;
    df_status st = qx_open(fp32, names, (size_t)c->n_obs, rows, threads, &s, err);
    free(names);
    if (st) return st;
    size_t n_out = df_session_output_count(s);
    feed = calloc(df_session_input_count(s) + 1, sizeof *feed);
    out = calloc(n_out + 1, sizeof *out);
    if (!feed || !out) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < c->n_obs; i++) /* by name: an observed tensor may already be an output */
        if ((c->obs[i].slot = qx_output_index(s, c->obs[i].name)) < 0) {
            st = df_error_set(err, DF_EINTERNAL, "%s: observed tensor '%s' is not a session output", fp32, c->obs[i].name);
            goto done;
        }
    bool need_hist = !c->pof2 && strcmp(c->method, "minmax");
    for (int pass = 0; pass < (need_hist ? 2 : 1); pass++) {
        if (pass == 1)
            for (int i = 0; i < c->n_obs; i++) {
                obs *o = &c->obs[i];
                if (!(o->hist = calloc((size_t)c->bins, sizeof(double)))) {
                    st = df_error_set(err, DF_ENOMEM, "out of memory");
                    goto done;
                }
                o->width = o->amax > 0 ? o->amax / c->bins : 1.0 / c->bins;
            }
        for (size_t r = 0; r < rows->rows; r++) {
            if ((st = qx_rows_feed(rows, s, r, feed, err))) goto done;
            if ((st = df_session_run(s, feed, df_session_input_count(s), out, n_out, err))) {
                df_error_prefix(err, "%s: calibration row %zu: ", fp32, r);
                goto done;
            }
            for (int i = 0; i < c->n_obs; i++) {
                obs *o = &c->obs[i];
                const df_tensor *t = &out[o->slot];
                const float *x = t->data;
                size_t n = (size_t)df_shape_numel(&t->shape);
                if (pass == 0) {
                    for (size_t k = 0; k < n; k++) {
                        if (!isfinite(x[k])) {
                            st = df_error_set(err, DF_ERANGE, "%s: tensor '%s' holds a non-finite value on row %zu",
                                              fp32, o->name, r);
                            goto done;
                        }
                        if (x[k] < o->mn) o->mn = x[k];
                        if (x[k] > o->mx) o->mx = x[k];
                    }
                    o->amax = fmax(fabs(o->mn), fabs(o->mx));
                    if (c->pof2) o->fp_count[df_pof2_best_pos(x, n, true) + DF_POF2_FIX_MAX]++;
                } else {
                    for (size_t k = 0; k < n; k++) {
                        int b = (int)(fabsf(x[k]) / o->width);
                        o->hist[b < c->bins ? b : c->bins - 1] += 1.0;
                    }
                }
            }
        }
    }
done:
    free(feed);
    free(out);
    df_session_close(s);
    return st;
}

static void choose_act_scales(qctx *c) {
    for (int i = 0; i < c->n_obs; i++) {
        obs *o = &c->obs[i];
        if (c->pof2) {
            /* The most frequent per-row fix_pos; ties keep the coarser one (fewer overflows). */
            int best = -1;
            for (int k = 0; k < FP_SPAN; k++)
                if (best < 0 || o->fp_count[k] > o->fp_count[best]) best = k;
            int fp = best - DF_POF2_FIX_MAX;
            if (fp > DF_POF2_ACT_FIX_MAX) fp = DF_POF2_ACT_FIX_MAX;
            o->fix_pos = fp;
            o->scale = ldexpf(1.0f, -fp);
            o->dtype = DF_I8;
            o->threshold = 127.0 * o->scale;
            continue;
        }
        /* Float scales: a tensor that is never negative (GELU outputs, softmax probabilities)
         * uses uint8 with zero point 0, so it keeps all 256 levels; others are symmetric int8. */
        bool nonneg = o->mn >= 0.0;
        int levels = nonneg ? 255 : 127;
        if (c->act_bits == 7) levels = nonneg ? 127 : 63;
        o->dtype = nonneg ? DF_U8 : DF_I8;
        double t = !strcmp(c->method, "minmax") ? o->amax
                                                 : df_hist_threshold(o->hist, c->bins, o->width, c->method, c->pct, levels);
        if (t > o->amax) t = o->amax;
        if (!(t > 0.0)) t = 1.0;
        o->threshold = t;
        o->scale = (float)(t / levels);
        o->fix_pos = 0;
    }
}

/* ---- graph rewriting ------------------------------------------------------------------------ */

static int new_value(df_graph *g, const char *base, const char *suffix) {
    char name[512];
    snprintf(name, sizeof name, "%s%s", base, suffix);
    for (int k = 1; df_graph_find_value(g, name) >= 0; k++) snprintf(name, sizeof name, "%s%s_%d", base, suffix, k);
    return df_graph_value(g, name);
}

static df_status const_value(df_graph *g, const char *base, const char *suffix, df_dtype dt, int rank, int64_t n,
                             const void *data, int *out, df_error *err) {
    int v = new_value(g, base, suffix);
    if (v < 0) return df_error_set(err, DF_ENOMEM, "out of memory");
    df_tensor t;
    df_shape s = {.rank = rank, .dims = {n}};
    df_status st = df_tensor_alloc(&t, dt, &s, err);
    if (st) return st;
    memcpy(t.data, data, t.nbytes);
    df_value_set_const(&g->values[v], &t);
    g->values[v].is_initializer = true;
    *out = v;
    return DF_OK;
}

static df_status add_qdq_node(df_graph *g, const char *op, const char *name, int x, int scale, int zp, int axis,
                              bool set_axis, int *out_value, const char *out_suffix, df_error *err) {
    int y = new_value(g, g->values[x].name, out_suffix);
    if (y < 0) return df_error_set(err, DF_ENOMEM, "out of memory");
    int ins[3] = {x, scale, zp}, outs[1] = {y};
    int idx = df_graph_add_node(g, op, name, "", ins, 3, outs, 1);
    if (idx < 0) return df_error_set(err, DF_ENOMEM, "out of memory");
    if (set_axis) {
        df_attr a = {.name = "axis", .type = DF_ATTR_INT, .i = axis};
        df_status st = df_node_add_attr(&g->nodes[idx], &a, err);
        if (st) return st;
    }
    *out_value = y;
    return DF_OK;
}

static json_t *json_range(const char *name, const char *role, const char *layer, df_dtype dt, const char *method) {
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "role", role, "layer", layer, "dtype",
                     dt == DF_U8 ? "uint8" : "int8", "method", method);
}

static df_status insert_act_qdq(qctx *c, obs *o, df_error *err) {
    df_graph *g = c->g;
    char nm[512];
    const char *base = g->values[o->value].name;
    int sv, zv;
    float scale = o->scale;
    uint8_t zero = 0;
    df_status st = const_value(g, base, "_scale", DF_F32, 0, 1, &scale, &sv, err);
    if (!st) st = const_value(g, base, "_zero_point", o->dtype, 0, 1, &zero, &zv, err);
    if (st) return st;
    int qv, dqv;
    snprintf(nm, sizeof nm, "%s_QuantizeLinear", base);
    if ((st = add_qdq_node(g, "QuantizeLinear", nm, o->value, sv, zv, 0, false, &qv, "_quantized", err))) return st;
    snprintf(nm, sizeof nm, "%s_DequantizeLinear", base);
    if ((st = add_qdq_node(g, "DequantizeLinear", nm, qv, sv, zv, 0, false, &dqv, "_dequantized", err))) return st;
    o->dq_value = dqv;
    return DF_OK;
}

/* Quantizes a constant weight or bias in place of input `slot` of node `ni`. */
static df_status quantize_const(qctx *c, int ni, int slot, bool bias, int axis, const char *layer_name, df_error *err) {
    df_graph *g = c->g;
    int wv = g->nodes[ni].inputs[slot];
    const df_value *w = &g->values[wv];
    const char *base = w->name;
    const float *x = w->value.data;
    size_t n = (size_t)df_shape_numel(&w->shape);
    bool per_channel = !bias && c->per_channel && !c->pof2 && w->shape.rank == 2 && g->opset >= 13;
    int64_t ch = per_channel ? w->shape.dims[axis] : 1;
    int64_t inner = 1;
    if (per_channel)
        for (int d = axis + 1; d < w->shape.rank; d++) inner *= w->shape.dims[d];
    float *scales = calloc((size_t)ch, sizeof(float));
    double *amax = calloc((size_t)ch, sizeof(double));
    int8_t *q = malloc(n ? n : 1), *zeros = calloc((size_t)ch, 1);
    df_status st = DF_OK;
    if (!scales || !amax || !q || !zeros) {
        st = df_error_set(err, DF_ENOMEM, "out of memory quantizing '%s'", base);
        goto done;
    }
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        int64_t k = per_channel ? (int64_t)(i / (size_t)inner) % ch : 0;
        if (fabs(x[i]) > amax[k]) amax[k] = fabs(x[i]);
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    int fp = 0;
    if (c->pof2) {
        fp = df_pof2_best_pos(x, n, false);
        scales[0] = ldexpf(1.0f, -fp);
        for (size_t i = 0; i < n; i++) q[i] = df_pof2_quant_weight(x[i], fp);
    } else {
        /* Biases keep 8 bits: they are added in float and never reach the int8 GEMM. */
        const int qmax = bias ? 127 : c->weight_qmax, qmin = qmax == 127 ? -128 : -qmax;
        for (int64_t k = 0; k < ch; k++) scales[k] = amax[k] > 0 ? (float)(amax[k] / qmax) : 1.0f;
        for (size_t i = 0; i < n; i++) {
            int64_t k = per_channel ? (int64_t)(i / (size_t)inner) % ch : 0;
            float v = nearbyintf(x[i] / scales[k]); /* half to even, as QuantizeLinear would */
            q[i] = (int8_t)(v > qmax ? qmax : v < qmin ? qmin : v);
        }
    }
    int qv, sv, zv, dqv;
    df_tensor t;
    if ((st = df_tensor_alloc(&t, DF_I8, &w->shape, err))) goto done;
    memcpy(t.data, q, n);
    qv = new_value(g, base, "_quantized");
    if (qv < 0) {
        df_tensor_free(&t);
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    df_value_set_const(&g->values[qv], &t);
    g->values[qv].is_initializer = true;
    if ((st = const_value(g, base, "_scale", DF_F32, per_channel ? 1 : 0, ch, scales, &sv, err))) goto done;
    if ((st = const_value(g, base, "_zero_point", DF_I8, per_channel ? 1 : 0, ch, zeros, &zv, err))) goto done;
    char nm[512];
    snprintf(nm, sizeof nm, "%s_DequantizeLinear", g->values[wv].name);
    if ((st = add_qdq_node(g, "DequantizeLinear", nm, qv, sv, zv, axis, per_channel, &dqv, "_dequantized", err)))
        goto done;
    g->nodes[ni].inputs[slot] = dqv;

    w = &g->values[wv]; /* add_* may have moved the values array */
    json_t *j = json_range(w->name, bias ? "bias" : "weight", layer_name, DF_I8, c->pof2 ? "pof2_best_of_5" : "minmax");
    json_t *js = json_array();
    for (int64_t k = 0; k < ch; k++) json_array_append_new(js, json_real(scales[k]));
    json_object_set_new(j, "scale", per_channel ? js : json_real(scales[0]));
    if (!per_channel) json_decref(js);
    json_object_set_new(j, "zero_point", json_integer(0));
    json_object_set_new(j, "axis", per_channel ? json_integer(axis) : json_null());
    json_object_set_new(j, "fix_pos", c->pof2 ? json_integer(fp) : json_null());
    json_object_set_new(j, "min", json_real(mn));
    json_object_set_new(j, "max", json_real(mx));
    json_object_set_new(j, "amax", json_real(fmax(fabs(mn), fabs(mx))));
    json_object_set_new(j, "round_mode", json_string(c->pof2 ? "half_away_from_zero" : "half_to_even"));
    json_array_append_new(c->tensors, j);
    fprintf(c->log, "  %-6s %-40s %s%s scale=%s%g fix_pos=%s%d\n", bias ? "bias" : "weight", w->name,
            per_channel ? "per-channel axis " : "per-tensor", per_channel ? (axis ? "1" : "0") : "",
            per_channel ? "[first] " : "", scales[0], c->pof2 ? "" : "n/a ", c->pof2 ? fp : 0);
done:
    free(scales);
    free(amax);
    free(q);
    free(zeros);
    return st;
}

static df_status rewrite(qctx *c, df_error *err) {
    df_graph *g = c->g;
    df_status st;
    int n_layers = c->n_layers;
    for (int li = 0; li < n_layers; li++) {
        layer *L = &c->layers[li];
        obs *o = &c->obs[L->act];
        if (o->dq_value < 0) {
            if ((st = insert_act_qdq(c, o, err))) return st;
            json_t *j = json_range(g->values[o->value].name, "activation", g->nodes[L->node].name, o->dtype,
                                   c->pof2 ? "pof2_mode_of_best_of_5" : c->method);
            json_object_set_new(j, "scale", json_real(o->scale));
            json_object_set_new(j, "zero_point", json_integer(0));
            json_object_set_new(j, "axis", json_null());
            json_object_set_new(j, "fix_pos", c->pof2 ? json_integer(o->fix_pos) : json_null());
            json_object_set_new(j, "min", json_real(o->mn));
            json_object_set_new(j, "max", json_real(o->mx));
            json_object_set_new(j, "amax", json_real(o->amax));
            json_object_set_new(j, "threshold", json_real(o->threshold));
            json_object_set_new(j, "round_mode", json_string(c->pof2 ? "half_up" : "half_to_even"));
            json_array_append_new(c->tensors, j);
            fprintf(c->log, "act    %-40s %s min=%g max=%g threshold=%g scale=%g%s", g->values[o->value].name,
                    df_dtype_name(o->dtype), o->mn, o->mx, o->threshold, o->scale, c->pof2 ? "" : "\n");
            if (c->pof2) fprintf(c->log, " fix_pos=%d\n", o->fix_pos);
        }
        g->nodes[L->node].inputs[0] = o->dq_value;
        const char *lname = g->nodes[L->node].name;
        char lcopy[256];
        snprintf(lcopy, sizeof lcopy, "%s", lname);
        fprintf(c->log, "layer %s (%s)\n", lcopy, g->nodes[L->node].op_type);
        if ((st = quantize_const(c, L->node, L->w_input, false, L->w_axis, lcopy, err))) return st;
        /* Float mode keeps biases in float (a CPU adds them in fp32 after the int32 GEMM);
         * the DPU stores them as int8 with their own fix_pos. */
        if (c->pof2 && L->bias_node >= 0 && (st = quantize_const(c, L->bias_node, L->bias_input, true, 0, lcopy, err)))
            return st;
    }
    return df_graph_toposort(g, err);
}

static df_status mkdir_p(const char *dir, df_error *err) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0777);
            *p = '/';
        }
    mkdir(buf, 0777);
    struct stat sb;
    if (stat(buf, &sb) || !S_ISDIR(sb.st_mode))
        return df_error_set(err, DF_EIO, "%s: cannot create the output directory", dir);
    return DF_OK;
}

static df_status write_text(const char *path, const char *text, size_t len, df_error *err) {
    return df_file_write_atomic(path, text, len, err);
}

df_status df_quantize(const char *fp32_onnx, const char *calib_npz, const df_quant_opts *o, const char *out_dir,
                      df_error *err) {
    df_quant_opts defaults = {0};
    if (!o) o = &defaults;
    qctx c = {0};
    c.method = o->method ? o->method : "percentile";
    c.pct = o->percentile > 0 ? o->percentile : 99.999;
    c.bins = o->bins > 0 ? o->bins : 2048;
    const char *scale = o->scale ? o->scale : "float";
    const char *weights = o->weights ? o->weights : "per_channel";
    if (strcmp(c.method, "minmax") && strcmp(c.method, "percentile") && strcmp(c.method, "entropy") &&
        strcmp(c.method, "mse"))
        return df_error_set(err, DF_EINVAL, "method '%s' is not one of minmax, percentile, entropy, mse", c.method);
    if (strcmp(scale, "float") && strcmp(scale, "pof2"))
        return df_error_set(err, DF_EINVAL, "scale '%s' is not float or pof2", scale);
    if (strcmp(weights, "per_channel") && strcmp(weights, "per_tensor"))
        return df_error_set(err, DF_EINVAL, "weights '%s' is not per_channel or per_tensor", weights);
    if (!(c.pct > 0.0 && c.pct <= 100.0)) return df_error_set(err, DF_EINVAL, "percentile %g is not in (0, 100]", c.pct);
    if (c.bins < 16 || c.bins > (1 << 20)) return df_error_set(err, DF_EINVAL, "bins %d is not in [16, 1048576]", c.bins);
    c.pof2 = !strcmp(scale, "pof2");
    /* The DPU's weights are per-tensor power-of-two: per-channel has no meaning there. */
    c.per_channel = !c.pof2 && !strcmp(weights, "per_channel");
    if (o->weight_bits != 0 && o->weight_bits != 7 && o->weight_bits != 8)
        return df_error_set(err, DF_EINVAL, "weight bits %d is not 7 or 8", o->weight_bits);
    if (o->weight_bits == 7 && c.pof2)
        return df_error_set(err, DF_EINVAL, "7-bit weights are for float scales; pof2 (DPU) weights are 8-bit");
    c.weight_qmax = o->weight_bits == 7 ? 64 : 127; /* 64: the exact-sum bound of ops/qgemm.h */
    if (o->act_bits != 0 && o->act_bits != 7 && o->act_bits != 8)
        return df_error_set(err, DF_EINVAL, "activation bits %d is not 7 or 8", o->act_bits);
    if (o->act_bits == 7 && c.pof2)
        return df_error_set(err, DF_EINVAL, "7-bit activations are for float scales; pof2 (DPU) activations are 8-bit");
    c.act_bits = o->act_bits == 7 ? 7 : 8;
    int threads = o->threads > 0 ? o->threads : 1;

    qx_rows rows;
    qx_layers layers = {0};
    char path[4096], tmp_model[4096];
    tmp_model[0] = 0;
    json_t *info = NULL;
    uint64_t t0 = df_now_ns();
    df_status st = qx_rows_load(calib_npz, &rows, err);
    if (st) return st;
    if ((st = df_onnx_load(fp32_onnx, &c.g, err))) goto done;
    if ((st = qx_pin_and_infer(c.g, &rows, err))) {
        df_error_prefix(err, "%s: ", fp32_onnx);
        goto done;
    }
    if ((st = collect_layers(&c, err))) {
        df_error_prefix(err, "%s: ", fp32_onnx);
        goto done;
    }
    if ((st = observe(&c, fp32_onnx, &rows, threads, err))) goto done;
    choose_act_scales(&c);
    if (!(c.log = open_memstream(&c.log_buf, &c.log_len)) || !(c.tensors = json_array())) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    fprintf(c.log, "dpuflow quantize\nmodel: %s\ncalibration: %s (%zu rows, seq %lld)\n", fp32_onnx, calib_npz,
            rows.rows, (long long)rows.seq);
    fprintf(c.log, "method: %s%s scale: %s weights: %s bins: %d", c.pof2 ? "pof2 (DPU rules; method " : c.method,
            c.pof2 ? c.method : "", scale, c.per_channel ? "per_channel" : "per_tensor", c.bins);
    if (c.pof2) fprintf(c.log, ")");
    if (!strcmp(c.method, "percentile")) fprintf(c.log, " percentile: %g", c.pct);
    fprintf(c.log, " weight bits: %d activation bits: %d\n", c.weight_qmax == 64 ? 7 : 8, c.act_bits);
    if (c.per_channel && c.g->opset < 13)
        fprintf(c.log, "note: opset %lld < 13 has no per-axis DequantizeLinear: weights are per-tensor\n",
                (long long)c.g->opset);
    fprintf(c.log, "\n== tensors ==\n");
    if ((st = rewrite(&c, err))) {
        df_error_prefix(err, "%s: ", fp32_onnx);
        goto done;
    }
    if ((st = mkdir_p(out_dir, err))) goto done;
    snprintf(path, sizeof path, "%s/deploy_model.onnx", out_dir);
    if ((st = df_onnx_save(c.g, path, NULL, err))) goto done;
    uint64_t t1 = df_now_ns();

    if ((st = qx_layer_errors(fp32_onnx, path, &rows, threads, &layers, err))) goto done;
    fprintf(c.log, "\n== per-layer error on the calibration rows (FP32 vs fake-quant) ==\n");
    qx_layers_print(&layers, c.log);
    fprintf(c.log, "\nquantized layers: %d, activations: %d; calibrate+rewrite %.2f s, layer check %.2f s\n",
            c.n_layers, c.n_obs, (double)(t1 - t0) / 1e9, (double)(df_now_ns() - t1) / 1e9);
    fflush(c.log);

    char iso[DF_ISO8601_MAX];
    info = json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:s, s:f, s:i, s:s, s:s, s:{s:s, s:s}, s:s, s:o}", "format",
                     "dpuflow-quant-info", "version", 1, "source_model", fp32_onnx, "calibration", calib_npz,
                     "calibration_rows", (int)rows.rows, "seq", (int)rows.seq, "method", c.method, "percentile",
                     c.pct, "bins", c.bins, "scale", scale, "weights", c.per_channel ? "per_channel" : "per_tensor",
                     "round_mode", "activation", c.pof2 ? "half_up" : "half_to_even", "weight",
                     c.pof2 ? "half_away_from_zero" : "half_to_even", "created", df_wall_iso8601(iso), "tensors",
                     c.tensors);
    c.tensors = NULL; /* owned by info now */
    if (info && (json_object_set_new(info, "weight_bits", json_integer(c.weight_qmax == 64 ? 7 : 8)) ||
                 json_object_set_new(info, "activation_bits", json_integer(c.act_bits)))) {
        json_decref(info);
        info = NULL;
    }
    if (!info) {
        st = df_error_set(err, DF_ENOMEM, "out of memory building quant_info.json");
        goto done;
    }
    if (c.pof2)
        json_object_set_new(info, "note",
                            json_string("deploy_model.onnx is the standard-rounding (half to even) view of the DPU "
                                        "arithmetic; round_mode gives the DPU's modes"));
    char *text = json_dumps(info, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    if (!text) {
        st = df_error_set(err, DF_ENOMEM, "out of memory writing quant_info.json");
        goto done;
    }
    snprintf(path, sizeof path, "%s/quant_info.json", out_dir);
    st = write_text(path, text, strlen(text), err);
    free(text);
    if (st) goto done;
    snprintf(path, sizeof path, "%s/quant_log.txt", out_dir);
    st = write_text(path, c.log_buf, c.log_len, err);
done:
    (void)tmp_model;
    if (c.log) fclose(c.log);
    free(c.log_buf);
    json_decref(c.tensors);
    json_decref(info);
    qx_layers_free(&layers);
    for (int i = 0; i < c.n_obs; i++) free(c.obs[i].hist);
    free(c.obs);
    free(c.layers);
    df_graph_free(c.g);
    qx_rows_free(&rows);
    return st;
}
