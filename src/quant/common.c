/* Calibration rows, sessions with extra outputs, and per-layer FP32-vs-INT8 error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/onnx.h"
#include "quant/quant_internal.h"

df_status qx_rows_load(const char *path, qx_rows *r, df_error *err) {
    memset(r, 0, sizeof *r);
    r->path = path;
    df_status st = df_npz_read(path, &r->list, err);
    if (st) return st;
    if (r->list.count == 0) {
        qx_rows_free(r);
        return df_error_set(err, DF_EINVAL, "%s: holds no arrays", path);
    }
    for (size_t i = 0; i < r->list.count; i++) {
        const df_tensor *t = &r->list.items[i].tensor;
        const char *name = r->list.items[i].name;
        if (t->shape.rank != 2 || t->shape.dims[0] < 1 || t->shape.dims[1] < 1) {
            char b[64];
            st = df_error_set(err, DF_ESHAPE, "%s: array '%s' has shape %s; calibration arrays are [N, seq]", path,
                              name, df_shape_str(&t->shape, b, sizeof b));
            qx_rows_free(r);
            return st;
        }
        if (i == 0) {
            r->rows = (size_t)t->shape.dims[0];
            r->seq = t->shape.dims[1];
        } else if ((size_t)t->shape.dims[0] != r->rows || t->shape.dims[1] != r->seq) {
            st = df_error_set(err, DF_ESHAPE, "%s: array '%s' is [%lld, %lld] but '%s' is [%zu, %lld]", path, name,
                              (long long)t->shape.dims[0], (long long)t->shape.dims[1], r->list.items[0].name,
                              r->rows, (long long)r->seq);
            qx_rows_free(r);
            return st;
        }
    }
    return DF_OK;
}

void qx_rows_free(qx_rows *r) {
    df_tensor_list_free(&r->list);
    memset(r, 0, sizeof *r);
}

df_status qx_rows_feed(const qx_rows *rows, const df_session *s, size_t r, df_tensor *feed, df_error *err) {
    size_t n = df_session_input_count(s);
    for (size_t k = 0; k < n; k++) {
        const char *name;
        df_dtype dt;
        df_session_input_info(s, k, &name, &dt, NULL);
        const df_tensor *t = df_tensor_list_find(&rows->list, name);
        if (!t) return df_error_set(err, DF_ENOTFOUND, "%s: has no array named '%s' (a model input)", rows->path, name);
        if (t->dtype != dt)
            return df_error_set(err, DF_ETYPE, "%s: array '%s' is %s; the model wants %s", rows->path, name,
                                df_dtype_name(t->dtype), df_dtype_name(dt));
        size_t row_bytes = (size_t)rows->seq * df_dtype_size(dt);
        feed[k] = (df_tensor){.dtype = dt, .data = (char *)t->data + r * row_bytes, .nbytes = row_bytes};
        feed[k].shape.rank = 2;
        feed[k].shape.dims[0] = 1;
        feed[k].shape.dims[1] = rows->seq;
    }
    return DF_OK;
}

df_status qx_add_output(df_graph *g, const char *name, df_error *err) {
    int v = df_graph_find_value(g, name);
    if (v < 0) return df_error_set(err, DF_ENOTFOUND, "tensor '%s' is not in the graph", name);
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v) return DF_OK;
    int *o = realloc(g->outputs, sizeof(int) * (size_t)(g->n_outputs + 1));
    if (!o) return df_error_set(err, DF_ENOMEM, "out of memory adding output '%s'", name);
    g->outputs = o;
    g->outputs[g->n_outputs++] = v;
    g->values[v].is_graph_output = true;
    return DF_OK;
}

df_status qx_pin_and_infer(df_graph *g, const qx_rows *rows, df_error *err) {
    for (int k = 0; k < g->n_inputs; k++) {
        df_value *v = &g->values[g->inputs[k]];
        if (v->has_const) continue;
        const df_tensor *t = df_tensor_list_find(&rows->list, v->name);
        if (!t) return df_error_set(err, DF_ENOTFOUND, "%s: has no array named '%s' (a model input)", rows->path, v->name);
        if (v->shape.rank != 2 && !(v->shape.rank == 0 && !v->shape_known))
            return df_error_set(err, DF_ESHAPE, "model input '%s' has rank %d; calibration feeds [1, seq]", v->name,
                                v->shape.rank);
        v->shape.rank = 2;
        int64_t want[2] = {1, rows->seq};
        for (int d = 0; d < 2; d++) {
            if (v->shape.dims[d] < 0 || !v->shape_known) v->shape.dims[d] = want[d];
            else if (v->shape.dims[d] != want[d])
                return df_error_set(err, DF_ESHAPE, "model input '%s' has dim %d = %lld, the calibration rows give %lld",
                                    v->name, d, (long long)v->shape.dims[d], (long long)want[d]);
        }
        if (v->dtype == DF_UNDEFINED) v->dtype = t->dtype;
        v->shape_known = true;
    }
    return df_graph_infer(g, err);
}

df_status qx_open(const char *path, const char *const *names, size_t n_names, const qx_rows *rows, int threads,
                  df_session **out, df_error *err) {
    df_graph *g = NULL;
    df_status st = df_onnx_load(path, &g, err);
    if (st) return st;
    for (size_t i = 0; i < n_names; i++)
        if ((st = qx_add_output(g, names[i], err))) {
            df_graph_free(g);
            return df_error_prefix(err, "%s: ", path);
        }
    df_session_opts so = {.threads = threads > 0 ? threads : 1, .batch = 1, .seq = rows->seq};
    st = df_session_open_graph(g, &so, out, err);
    if (st) df_error_prefix(err, "%s: ", path);
    return st;
}

int qx_output_index(const df_session *s, const char *name) {
    for (size_t i = 0; i < df_session_output_count(s); i++) {
        const char *n;
        df_session_output_info(s, i, &n, NULL, NULL);
        if (!strcmp(n, name)) return (int)i;
    }
    return -1;
}

double qx_cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0.0 && bb == 0.0) return 1.0;
    if (aa == 0.0 || bb == 0.0) return 0.0;
    return ab / sqrt(aa * bb);
}

static bool is_layer(const df_graph *g, const df_node *n) {
    if (n->dead || (strcmp(n->op_type, "MatMul") && strcmp(n->op_type, "Gemm"))) return false;
    for (int k = 0; k < n->n_inputs; k++) {
        df_value *v = df_node_in(g, n, k);
        if (v && v->producer >= 0 && !strcmp(g->nodes[v->producer].op_type, "DequantizeLinear")) return true;
    }
    return false;
}

void qx_layers_free(qx_layers *l) {
    for (size_t i = 0; i < l->count; i++) free(l->items[i].name);
    free(l->items);
    memset(l, 0, sizeof *l);
}

df_status qx_layer_errors(const char *fp32_path, const char *int8_path, const qx_rows *rows, int threads,
                          qx_layers *out, df_error *err) {
    memset(out, 0, sizeof *out);
    df_graph *g8 = NULL, *gf = NULL;
    df_session *sf = NULL, *s8 = NULL;
    const char **names = NULL;
    df_tensor *feed = NULL, *of = NULL, *o8 = NULL;
    int *ix_f = NULL, *ix_8 = NULL;
    df_status st = df_onnx_load(int8_path, &g8, err);
    if (!st) st = df_onnx_load(fp32_path, &gf, err);
    if (st) goto done;
    out->items = calloc((size_t)g8->n_nodes + 1, sizeof *out->items);
    names = calloc((size_t)g8->n_nodes + 1, sizeof *names);
    if (!out->items || !names) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < g8->n_nodes; i++) {
        const df_node *n = &g8->nodes[i];
        if (!is_layer(g8, n) || n->n_outputs < 1 || n->outputs[0] < 0) continue;
        const char *name = g8->values[n->outputs[0]].name;
        if (df_graph_find_value(gf, name) < 0) continue;
        qx_layer *L = &out->items[out->count];
        if (!(L->name = strdup(name))) {
            st = df_error_set(err, DF_ENOMEM, "out of memory");
            goto done;
        }
        L->cos_min = 1.0;
        names[out->count++] = L->name;
    }
    df_graph_free(g8);
    df_graph_free(gf);
    g8 = gf = NULL;
    if ((st = qx_open(fp32_path, names, out->count, rows, threads, &sf, err))) goto done;
    if ((st = qx_open(int8_path, names, out->count, rows, threads, &s8, err))) goto done;
    size_t nf = df_session_output_count(sf), n8 = df_session_output_count(s8);
    /* By name: a layer output that already was a graph output (logits) adds no new slot. */
    ix_f = calloc(out->count + 1, sizeof(int));
    ix_8 = calloc(out->count + 1, sizeof(int));
    if (!ix_f || !ix_8) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t l = 0; l < out->count; l++) {
        ix_f[l] = qx_output_index(sf, out->items[l].name);
        ix_8[l] = qx_output_index(s8, out->items[l].name);
    }
    feed = calloc(df_session_input_count(sf) + df_session_input_count(s8) + 1, sizeof *feed);
    of = calloc(nf + 1, sizeof *of);
    o8 = calloc(n8 + 1, sizeof *o8);
    if (!feed || !of || !o8) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t r = 0; r < rows->rows; r++) {
        if ((st = qx_rows_feed(rows, sf, r, feed, err)) || (st = df_session_run(sf, feed, df_session_input_count(sf), of, nf, err)))
            goto done;
        if ((st = qx_rows_feed(rows, s8, r, feed, err)) || (st = df_session_run(s8, feed, df_session_input_count(s8), o8, n8, err)))
            goto done;
        for (size_t l = 0; l < out->count; l++) {
            if (ix_f[l] < 0 || ix_8[l] < 0) continue;
            const df_tensor *a = &of[ix_f[l]], *b = &o8[ix_8[l]];
            size_t n = (size_t)df_shape_numel(&a->shape);
            if (a->dtype != DF_F32 || b->dtype != DF_F32 || (size_t)df_shape_numel(&b->shape) != n) continue;
            const float *x = a->data, *y = b->data;
            double c = qx_cosine(x, y, n);
            qx_layer *L = &out->items[l];
            L->cos_sum += c;
            if (c < L->cos_min) L->cos_min = c;
            for (size_t i = 0; i < n; i++) {
                double d = (double)x[i] - y[i];
                L->sig += (double)x[i] * x[i];
                L->noise += d * d;
            }
            L->n++;
        }
    }
done:
    free(ix_f);
    free(ix_8);
    df_graph_free(g8);
    df_graph_free(gf);
    df_session_close(sf);
    df_session_close(s8);
    free(names);
    free(feed);
    free(of);
    free(o8);
    if (st) qx_layers_free(out);
    return st;
}

void qx_layers_print(const qx_layers *l, FILE *f) {
    fprintf(f, "%-48s %10s %10s %10s\n", "layer (output tensor)", "cos_mean", "cos_min", "sqnr_db");
    for (size_t i = 0; i < l->count; i++) {
        const qx_layer *L = &l->items[i];
        double sq = L->noise > 0 ? 10.0 * log10(L->sig / L->noise) : INFINITY;
        fprintf(f, "%-48s %10.6f %10.6f %10.2f\n", L->name, L->n ? L->cos_sum / (double)L->n : 0.0, L->cos_min, sq);
    }
}
