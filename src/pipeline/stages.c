/* The pipeline's calls into convert/ and quant/, one adapter per stage, so the stage runner
 * (build.c) only knows the config and the output layout. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dpuflow/convert.h"
#include "dpuflow/pipeline.h"
#include "dpuflow/quant.h"
#include "dpuflow/vitis.h"
#include "pipeline_internal.h"

df_status df_pl_export(const df_model_config *c, const char *out_onnx, const char *out_meta, df_error *err) {
    df_export_opts o = {0};
    /* Exported at batch 1, the shape of a calibration row; the graph names no batch (its
     * Reshape targets copy it), so serving batches up to input_shape[0] come from one
     * variable-batch plan (exec/batch.c) that compile checks. */
    o.batch = 1;
    o.seq = c->input_rank >= 2 ? c->input_shape[1] : c->input_shape[0];
    o.output = c->output;
    o.config_path = c->config_path;
    o.opset = 13;
    return df_export_hf(c->model_path, &o, out_onnx, out_meta, err);
}

static void heldout_path(const char *calib_npz, char *out, size_t size) {
    snprintf(out, size, "%s", calib_npz);
    char *slash = strrchr(out, '/');
    size_t dir = slash ? (size_t)(slash - out) + 1 : 0;
    snprintf(out + dir, size - dir, "calib_heldout.npz");
}

df_status df_pl_calibrate(const df_model_config *c, const char *model_onnx, const char *out_npz, df_error *err) {
    int64_t seq = c->input_rank >= 2 ? c->input_shape[1] : c->input_shape[0];
    /* Every 5th sentence goes to calib_heldout.npz beside out_npz: validate checks INT8 on
     * sentences the observers never saw, not only on the calibration set. */
    char heldout[4096];
    heldout_path(out_npz, heldout, sizeof heldout);
    return df_calib_build_split(c->calib_corpus, c->calib_samples, c->tokenizer, seq, model_onnx, out_npz, heldout, 5,
                                err);
}

df_status df_pl_quantize(const df_model_config *c, const char *fp32_onnx, const char *calib_npz, const char *out_dir,
                         int threads, df_error *err) {
    /* Vitis AI adapters: the vendor's quantizer instead of ours (vitis.c). */
    if (df_vitis_selected(c)) return df_vitis_quantize(c, fp32_onnx, calib_npz, out_dir, err);
    df_quant_opts o = {.method = c->calib_method, .scale = c->scale, .weights = c->weights,
                       .weight_bits = c->weight_bits, .act_bits = c->act_bits, .threads = threads};
    return df_quantize(fp32_onnx, calib_npz, &o, out_dir, err);
}

df_status df_pl_validate(const df_model_config *c, const char *fp32_onnx, const char *int8_onnx, const char *npz,
                         const char *log_path, int threads, df_pl_validation *v, df_error *err) {
    df_validate_opts o = {.cosine = c->thr_cosine, .top1 = c->thr_top1, .threads = threads, .quiet = true};
    df_validate_result r;
    memset(&r, 0, sizeof r);
    char heldout[4096];
    heldout_path(npz, heldout, sizeof heldout);
    bool have_heldout = access(heldout, R_OK) == 0;
    df_status st = df_validate(fp32_onnx, int8_onnx, npz, have_heldout ? heldout : NULL, &o, &r, log_path, err);
    if (st) return st;
    memset(v, 0, sizeof *v);
    v->ok = r.ok;
    v->cos_mean = 1;
    v->cos_min = 1;
    v->top1 = -1;
    for (size_t i = 0; i < r.calib.n_outputs; i++) {
        const df_validate_output *out = &r.calib.out[i];
        if (i == 0 || out->cos_mean < v->cos_mean) v->cos_mean = out->cos_mean;
        if (i == 0 || out->cos_min < v->cos_min) v->cos_min = out->cos_min;
        if (out->classifier && (v->top1 < 0 || out->top1 < v->top1)) v->top1 = out->top1;
    }
    /* The verdict's figures are the worse of the calibration and held-out sets. */
    for (size_t i = 0; i < r.heldout.n_outputs && r.heldout.rows; i++) {
        const df_validate_output *out = &r.heldout.out[i];
        if (out->cos_mean < v->cos_mean) v->cos_mean = out->cos_mean;
        if (out->cos_min < v->cos_min) v->cos_min = out->cos_min;
        if (out->classifier && (v->top1 < 0 || out->top1 < v->top1)) v->top1 = out->top1;
    }
    v->rows = r.calib.rows + r.heldout.rows;
    return DF_OK;
}

/* The built-in compile, then (Vitis AI adapters) vai_c_xir beside it when selected: the
 * built-in report stays, and meta.json / compile_log.txt gain the vendor's numbers. */
df_status df_pl_compile(const df_model_config *c, const char *model, const df_compile_opts *co, const char *out_dir,
                        df_compile_result *cr, df_error *err) {
    df_status st = df_compile(model, co, out_dir, cr, err);
    if (st || !df_vitis_selected(c)) return st;
    df_vitis_compile_log lg;
    return df_vitis_compile(c, model, out_dir, &lg, err);
}
