/* FP32 vs INT8 on the same inputs: cosine per output, top-1 agreement for classifiers, and the
 * per-layer table. A miss is a WARN for the user to judge, never an error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "quant/quant_internal.h"

/* A classifier's output: named like logits, or a small rank-2 [1, C] that no name marks as
 * an embedding (a 32-wide tiny model's pooler output is still an embedding). */
static bool is_classifier(const char *name, const df_shape *s) {
    if (strcasestr(name, "logit")) return true;
    if (s->rank != 2 || s->dims[1] > 32 || s->dims[1] < 2) return false;
    static const char *not_cls[] = {"embed", "pool", "hidden", "sentence", "vector", "feature"};
    for (size_t i = 0; i < sizeof not_cls / sizeof *not_cls; i++)
        if (strcasestr(name, not_cls[i])) return false;
    return true;
}

static size_t argmax_f(const float *x, size_t n) {
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static df_status compare_set(df_session *sf, df_session *s8, const qx_rows *rows, df_validate_set *vs, df_error *err) {
    size_t nf = df_session_output_count(sf), n8 = df_session_output_count(s8);
    size_t ni = df_session_input_count(sf) > df_session_input_count(s8) ? df_session_input_count(sf)
                                                                          : df_session_input_count(s8);
    df_tensor *feed = calloc(ni + 1, sizeof *feed), *of = calloc(nf + 1, sizeof *of), *o8 = calloc(n8 + 1, sizeof *o8);
    int *map = calloc(nf + 1, sizeof *map);
    size_t *agree = calloc(nf + 1, sizeof *agree);
    df_status st = DF_OK;
    if (!feed || !of || !o8 || !map || !agree) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    memset(vs, 0, sizeof *vs);
    vs->rows = rows->rows;
    for (size_t i = 0; i < nf && vs->n_outputs < DF_VALIDATE_MAX_OUTPUTS; i++) {
        const char *name;
        df_shape shape;
        df_dtype dt;
        df_session_output_info(sf, i, &name, &dt, &shape);
        map[i] = -1;
        if (dt != DF_F32) continue;
        for (size_t j = 0; j < n8; j++) {
            const char *n2;
            df_session_output_info(s8, j, &n2, NULL, NULL);
            if (!strcmp(name, n2)) map[i] = (int)j;
        }
        if (map[i] < 0) {
            st = df_error_set(err, DF_ENOTFOUND, "the INT8 model has no output '%s' (an output of the FP32 model)", name);
            goto done;
        }
        df_validate_output *vo = &vs->out[vs->n_outputs++];
        snprintf(vo->name, sizeof vo->name, "%s", name);
        vo->cos_min = 1.0;
        vo->classifier = is_classifier(name, &shape);
    }
    for (size_t r = 0; r < rows->rows; r++) {
        if ((st = qx_rows_feed(rows, sf, r, feed, err)) || (st = df_session_run(sf, feed, df_session_input_count(sf), of, nf, err)))
            goto done;
        if ((st = qx_rows_feed(rows, s8, r, feed, err)) || (st = df_session_run(s8, feed, df_session_input_count(s8), o8, n8, err)))
            goto done;
        size_t k = 0;
        for (size_t i = 0; i < nf && k < vs->n_outputs; i++) {
            if (map[i] < 0) continue;
            df_validate_output *vo = &vs->out[k++];
            const df_tensor *a = &of[i], *b = &o8[map[i]];
            size_t n = (size_t)df_shape_numel(&a->shape);
            if ((size_t)df_shape_numel(&b->shape) != n || b->dtype != DF_F32) {
                st = df_error_set(err, DF_ESHAPE, "output '%s' differs in shape or type between the models", vo->name);
                goto done;
            }
            double c = qx_cosine(a->data, b->data, n);
            vo->cos_mean += c;
            if (c < vo->cos_min) vo->cos_min = c;
            if (vo->classifier && n > 0) agree[k - 1] += argmax_f(a->data, n) == argmax_f(b->data, n);
        }
    }
    for (size_t k = 0; k < vs->n_outputs; k++) {
        df_validate_output *vo = &vs->out[k];
        if (vs->rows) vo->cos_mean /= (double)vs->rows;
        vo->top1 = vs->rows ? (double)agree[k] / (double)vs->rows : 0.0;
    }
done:
    free(feed);
    free(of);
    free(o8);
    free(map);
    free(agree);
    return st;
}

static bool set_ok(const df_validate_set *vs, double cos_t, double top1_t) {
    for (size_t k = 0; k < vs->n_outputs; k++) {
        if (vs->out[k].cos_mean < cos_t) return false;
        if (vs->out[k].classifier && vs->out[k].top1 < top1_t) return false;
    }
    return true;
}

static void print_set(FILE *f, const char *what, const df_validate_set *vs, double cos_t, double top1_t) {
    for (size_t k = 0; k < vs->n_outputs; k++) {
        const df_validate_output *vo = &vs->out[k];
        bool ok = vo->cos_mean >= cos_t && (!vo->classifier || vo->top1 >= top1_t);
        fprintf(f, "%-8s %-28s rows %4zu  cosine mean %.6f min %.6f", what, vo->name, vs->rows, vo->cos_mean,
                vo->cos_min);
        if (vo->classifier) fprintf(f, "  top-1 %.4f", vo->top1);
        fprintf(f, "  %s\n", ok ? "OK" : "WARN");
    }
}

df_status df_validate(const char *fp32_onnx, const char *int8_onnx, const char *inputs_npz, const char *heldout_npz,
                      const df_validate_opts *o, df_validate_result *r, const char *log_path_append, df_error *err) {
    df_validate_opts defaults = {0};
    if (!o) o = &defaults;
    double cos_t = o->cosine > 0 ? o->cosine : 0.99, top1_t = o->top1 > 0 ? o->top1 : 0.99;
    int threads = o->threads > 0 ? o->threads : 1;
    memset(r, 0, sizeof *r);
    qx_rows rows = {0}, held = {0};
    qx_layers layers = {0};
    df_session *sf = NULL, *s8 = NULL;
    df_status st = qx_rows_load(inputs_npz, &rows, err);
    if (st) return st;
    if (heldout_npz && (st = qx_rows_load(heldout_npz, &held, err))) goto done;
    if (held.rows && held.seq != rows.seq) {
        st = df_error_set(err, DF_ESHAPE, "%s: seq %lld differs from %s's %lld", heldout_npz, (long long)held.seq,
                          inputs_npz, (long long)rows.seq);
        goto done;
    }
    if ((st = qx_open(fp32_onnx, NULL, 0, &rows, threads, &sf, err))) goto done;
    if ((st = qx_open(int8_onnx, NULL, 0, &rows, threads, &s8, err))) goto done;
    if ((st = compare_set(sf, s8, &rows, &r->calib, err))) {
        df_error_prefix(err, "%s: ", inputs_npz);
        goto done;
    }
    if (held.rows && (st = compare_set(sf, s8, &held, &r->heldout, err))) {
        df_error_prefix(err, "%s: ", heldout_npz);
        goto done;
    }
    df_session_close(sf);
    df_session_close(s8);
    sf = s8 = NULL;
    if ((st = qx_layer_errors(fp32_onnx, int8_onnx, &rows, threads, &layers, err))) goto done;
    r->layers = layers.count;
    r->layer_cos_min = 1.0;
    for (size_t i = 0; i < layers.count; i++) {
        double m = layers.items[i].n ? layers.items[i].cos_sum / (double)layers.items[i].n : 0.0;
        if (m < r->layer_cos_min) r->layer_cos_min = m;
    }
    r->ok = set_ok(&r->calib, cos_t, top1_t) && (!held.rows || set_ok(&r->heldout, cos_t, top1_t));
    if (!o->quiet) {
        print_set(stdout, "calib", &r->calib, cos_t, top1_t);
        if (held.rows) print_set(stdout, "heldout", &r->heldout, cos_t, top1_t);
        printf("validate: %s (thresholds: cosine %.4f, top-1 %.4f)\n", r->ok ? "OK" : "WARN", cos_t, top1_t);
    }
    if (log_path_append) {
        FILE *f = fopen(log_path_append, "a");
        if (!f) {
            st = df_error_set(err, DF_EIO, "%s: cannot open for append", log_path_append);
            goto done;
        }
        fprintf(f, "\n== validate: %s vs %s ==\n", fp32_onnx, int8_onnx);
        print_set(f, "calib", &r->calib, cos_t, top1_t);
        if (held.rows) print_set(f, "heldout", &r->heldout, cos_t, top1_t);
        fprintf(f, "per-layer error on %s:\n", inputs_npz);
        qx_layers_print(&layers, f);
        fprintf(f, "verdict: %s (thresholds: cosine %.4f, top-1 %.4f)\n", r->ok ? "OK" : "WARN", cos_t, top1_t);
        if (fclose(f)) {
            st = df_error_set(err, DF_EIO, "%s: write failed", log_path_append);
            goto done;
        }
    }
done:
    df_session_close(sf);
    df_session_close(s8);
    qx_layers_free(&layers);
    qx_rows_free(&rows);
    qx_rows_free(&held);
    return st;
}
