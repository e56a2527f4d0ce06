/* The stage runner behind `dpuflow build`: order, content-hash cache, progress, build.log.
 *
 * Cache: each stage hashes what it reads (the files' sha256 and the config values it uses)
 * into one digest, and records it in output_dir/.stamps/<stage>.json after it succeeds. A
 * stage whose digest matches its stamp and whose outputs all exist is "cached". Because a
 * stage's outputs are the next stage's inputs, a change anywhere re-runs exactly the stages
 * downstream of it. Stamps are written last (atomically), so an interrupted stage never looks
 * done. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpuflow/base.h"
#include "dpuflow/compile.h"
#include "dpuflow/vitis.h"
#include "dpuflow/pipeline.h"
#include "dpuflow/registry.h"
#include "dpuflow/session.h"
#include "pipeline_internal.h"

static const char *STAGES[DF_STAGE_COUNT] = {"export", "check", "calibrate", "quantize", "validate", "compile",
                                             "register"};

const char *df_build_stage_name(df_build_stage s) { return (unsigned)s < DF_STAGE_COUNT ? STAGES[s] : "?"; }

int df_build_stage_parse(const char *name) {
    for (int i = 0; i < DF_STAGE_COUNT; i++)
        if (!strcmp(name, STAGES[i])) return i;
    return -1;
}

#define P 4200

typedef struct build {
    const df_model_config *c;
    const df_build_opts *o;
    char out[P];
    char src_onnx[P];       /* export/model.onnx or the user's ONNX */
    char export_onnx[P], export_meta[P], sim[P], calib[P], quant_dir[P], deploy[P], qinfo[P], qlog[P], vres[P];
    char compiled_dir[P], artifact[P], meta[P], clog[P], tokenizer_copy[P], registry[P];
    FILE *log;
} build;

/* ---- the input digest ------------------------------------------------------------------- */

typedef struct digest {
    df_sha256_ctx ctx;
} digest;

static void dg_str(digest *d, const char *key, const char *v) {
    df_sha256_update(&d->ctx, key, strlen(key));
    df_sha256_update(&d->ctx, "=", 1);
    if (v) df_sha256_update(&d->ctx, v, strlen(v));
    else df_sha256_update(&d->ctx, "\x01null", 5);
    df_sha256_update(&d->ctx, "\n", 1);
}

static void dg_num(digest *d, const char *key, double v) {
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    dg_str(d, key, b);
}

static df_status dg_file(digest *d, const char *key, const char *path, df_error *err) {
    char hex[65];
    df_status st = df_sha256_file(path, hex, err);
    if (st) return st;
    dg_str(d, key, hex);
    return DF_OK;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every regular file directly in dir, in name order (a checkpoint folder). */
static df_status dg_dir(digest *d, const char *dir, df_error *err) {
    DIR *dp = opendir(dir);
    if (!dp) return df_error_set(err, DF_EIO, "%s: %s", dir, strerror(errno));
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) && n < 256) {
        if (e->d_name[0] == '.') continue;
        char p[P];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) || !S_ISREG(sb.st_mode)) continue;
        if (!(names[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    df_status st = DF_OK;
    for (int i = 0; i < n; i++) {
        char p[P];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (!st) st = dg_file(d, names[i], p, err);
        free(names[i]);
    }
    return st;
}

static void dg_hex(digest *d, char hex[65]) {
    uint8_t out[32];
    df_sha256_final(&d->ctx, out);
    df_sha256_hex(out, hex);
}

/* ---- stamps ----------------------------------------------------------------------------- */

static bool exists(const char *p) { return access(p, F_OK) == 0; }

static void stamp_path(const build *b, int stage, char *out, size_t size) {
    snprintf(out, size, "%s/.stamps/%s.json", b->out, STAGES[stage]);
}

static bool stamp_matches(const build *b, int stage, const char *hex) {
    char p[P];
    stamp_path(b, stage, p, sizeof p);
    json_t *j = json_load_file(p, 0, NULL);
    bool ok = j && json_is_string(json_object_get(j, "inputs")) &&
              !strcmp(json_string_value(json_object_get(j, "inputs")), hex);
    json_decref(j);
    return ok;
}

static df_status stamp_write(const build *b, int stage, const char *hex, double secs, df_error *err) {
    char p[P];
    stamp_path(b, stage, p, sizeof p);
    json_t *j = json_object();
    char ts[DF_ISO8601_MAX];
    json_object_set_new(j, "stage", json_string(STAGES[stage]));
    json_object_set_new(j, "inputs", json_string(hex));
    json_object_set_new(j, "finished", json_string(df_wall_iso8601(ts)));
    json_object_set_new(j, "seconds", json_real(secs));
    char *s = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!s) return df_error_set(err, DF_ENOMEM, "out of memory");
    df_status st = df_file_write_atomic(p, s, strlen(s), err);
    free(s);
    return st;
}

static void stamp_remove(const build *b, int stage) {
    char p[P];
    stamp_path(b, stage, p, sizeof p);
    unlink(p);
}

static df_status mkdirs(const char *path, df_error *err) {
    char tmp[P];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) return df_error_set(err, DF_EIO, "%s: %s", tmp, strerror(errno));
            *s = '/';
        }
    if (mkdir(tmp, 0755) && errno != EEXIST) return df_error_set(err, DF_EIO, "%s: %s", tmp, strerror(errno));
    return DF_OK;
}

static void blog(build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void blog(build *b, const char *fmt, ...) {
    if (!b->log) return;
    char ts[DF_ISO8601_MAX];
    fprintf(b->log, "%s ", df_wall_iso8601(ts));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(b->log, fmt, ap);
    va_end(ap);
    fputc('\n', b->log);
    fflush(b->log);
}

/* ---- per-stage inputs and work ---------------------------------------------------------- */

static bool is_onnx(const build *b) { return !strcmp(b->c->framework, "onnx"); }

static void dg_shape(digest *d, const df_model_config *c) {
    for (int i = 0; i < c->input_rank; i++) {
        char k[32];
        snprintf(k, sizeof k, "input_shape[%d]", i);
        dg_num(d, k, (double)c->input_shape[i]);
    }
}

/* The digest of what stage reads; outputs[] gets the files it must leave behind. */
static df_status stage_inputs(build *b, int stage, char hex[65], const char **outs, int *nouts, df_error *err) {
    const df_model_config *c = b->c;
    digest d;
    df_sha256_init(&d.ctx);
    dg_str(&d, "stage", STAGES[stage]);
    dg_str(&d, "dpuflow-stage-format", "1");
    df_status st = DF_OK;
    *nouts = 0;
    switch (stage) {
    case DF_STAGE_EXPORT:
        st = dg_dir(&d, c->model_path, err);
        if (!st && c->config_path) st = dg_file(&d, "config_path", c->config_path, err);
        dg_shape(&d, c);
        dg_str(&d, "output", c->output);
        outs[(*nouts)++] = b->export_onnx;
        outs[(*nouts)++] = b->export_meta;
        break;
    case DF_STAGE_CHECK:
        st = dg_file(&d, "model", b->src_onnx, err);
        dg_shape(&d, c);
        outs[(*nouts)++] = b->sim;
        break;
    case DF_STAGE_CALIBRATE:
        st = dg_file(&d, "model", b->sim, err);
        if (!st) st = dg_file(&d, "tokenizer", c->tokenizer, err);
        if (!st && c->calib_corpus) st = dg_file(&d, "corpus", c->calib_corpus, err);
        dg_num(&d, "samples", c->calib_samples);
        dg_shape(&d, c);
        outs[(*nouts)++] = b->calib;
        break;
    case DF_STAGE_QUANTIZE:
        st = dg_file(&d, "model", b->sim, err);
        if (!st) st = dg_file(&d, "calib", b->calib, err);
        dg_str(&d, "method", c->calib_method);
        dg_str(&d, "scale", c->scale);
        dg_str(&d, "weights", c->weights);
        if (c->weight_bits != 8) dg_num(&d, "weight_bits", c->weight_bits); /* 8 keeps older stamps valid */
        if (c->act_bits != 8) dg_num(&d, "act_bits", c->act_bits);
        dg_str(&d, "toolchain", df_vitis_selected(c) ? "vitis" : "builtin");
        outs[(*nouts)++] = b->deploy;
        outs[(*nouts)++] = b->qinfo;
        break;
    case DF_STAGE_VALIDATE:
        st = dg_file(&d, "fp32", b->sim, err);
        if (!st) st = dg_file(&d, "int8", b->deploy, err);
        if (!st) st = dg_file(&d, "calib", b->calib, err);
        dg_num(&d, "cosine", c->thr_cosine);
        dg_num(&d, "top1", c->thr_top1);
        outs[(*nouts)++] = b->vres;
        break;
    case DF_STAGE_COMPILE:
        st = dg_file(&d, "model", b->deploy, err);
        if (!st && exists(b->qinfo)) st = dg_file(&d, "quant_info", b->qinfo, err);
        dg_str(&d, "model_name", c->model_name);
        dg_str(&d, "platform", c->platform);
        dg_str(&d, "arch", c->arch);
        dg_num(&d, "opt_level", c->opt_level);
        dg_str(&d, "toolchain", df_vitis_selected(c) ? "vitis" : "builtin");
        dg_shape(&d, c);
        outs[(*nouts)++] = b->artifact;
        outs[(*nouts)++] = b->meta;
        outs[(*nouts)++] = b->clog;
        break;
    case DF_STAGE_REGISTER:
        st = dg_file(&d, "artifact", b->artifact, err);
        if (!st) st = dg_file(&d, "meta", b->meta, err);
        if (!st) st = dg_file(&d, "tokenizer", c->tokenizer, err);
        if (!st && c->config_path) st = dg_file(&d, "config_path", c->config_path, err);
        dg_str(&d, "registry", b->registry);
        dg_str(&d, "task", c->task);
        dg_str(&d, "model_name", c->model_name);
        outs[(*nouts)++] = b->tokenizer_copy;
        break;
    }
    dg_hex(&d, hex);
    return st;
}

/* A registered stage is only current while the registry still holds this artifact, active. */
static bool registry_current(const build *b) {
    df_registry *r = NULL;
    if (df_registry_load(b->registry, false, &r, NULL)) return false;
    const df_registry_entry *e = df_registry_find(r, b->c->model_name, b->c->platform);
    char hex[65];
    bool ok = e && e->status == DF_MODEL_ACTIVE && !df_sha256_file(b->artifact, hex, NULL) && !strcmp(hex, e->sha256);
    df_registry_free(r);
    return ok;
}

static df_status copy_file(const char *from, const char *to, df_error *err) {
    void *buf = NULL;
    size_t size = 0;
    df_status st = df_file_read_all(from, &buf, &size, 0, err);
    if (st) return st;
    st = df_file_write_atomic(to, buf, size, err);
    free(buf);
    return st;
}

/* Labels of a classifier: config.json's id2label in id order. */
static void read_labels(const df_model_config *c, df_registry_entry *e) {
    char p[P];
    if (c->config_path) snprintf(p, sizeof p, "%s", c->config_path);
    else if (!strcmp(c->framework, "pytorch")) snprintf(p, sizeof p, "%s/config.json", c->model_path);
    else return;
    json_t *j = json_load_file(p, 0, NULL);
    json_t *m = json_object_get(j, "id2label");
    size_t n = json_object_size(m);
    if (n && n < 100000 && (e->labels = calloc(n, sizeof *e->labels))) {
        e->n_labels = n;
        for (size_t i = 0; i < n; i++) {
            char k[32];
            snprintf(k, sizeof k, "%zu", i);
            json_t *v = json_object_get(m, k);
            e->labels[i] = strdup(json_is_string(v) ? json_string_value(v) : k);
        }
    }
    json_decref(j);
}

static df_status add_fn(df_registry *r, void *ctx, df_error *err) {
    return df_registry_add(r, (const df_registry_entry *)ctx, NULL, err);
}

static df_status do_register(build *b, df_error *err) {
    const df_model_config *c = b->c;
    df_status st = copy_file(c->tokenizer, b->tokenizer_copy, err);
    if (st) return st;
    json_error_t je;
    json_t *meta = json_load_file(b->meta, 0, &je);
    if (!meta) return df_error_set(err, DF_EFORMAT, "%s: %s", b->meta, je.text);
    df_registry_entry e = {0};
    e.model_name = c->model_name;
    e.platform = c->platform;
    e.artifact_path = b->artifact;
    e.tokenizer = b->tokenizer_copy;
    e.task = c->task;
    e.input_name = (char *)json_string_value(json_object_get(json_array_get(json_object_get(meta, "inputs"), 0), "name"));
    e.output_name =
        (char *)json_string_value(json_object_get(json_array_get(json_object_get(meta, "outputs"), 0), "name"));
    memcpy(e.input_shape, c->input_shape, sizeof(int64_t) * (size_t)c->input_rank);
    e.input_rank = c->input_rank;
    e.task_count = json_integer_value(json_object_get(meta, "task_count"));
    e.batch_size = c->batch;
    read_labels(c, &e);
    st = df_registry_update(b->registry, add_fn, &e, err);
    for (size_t i = 0; i < e.n_labels; i++) free(e.labels[i]);
    free(e.labels);
    json_decref(meta);
    return st;
}

static df_status write_validation(const build *b, const df_pl_validation *v, df_error *err) {
    json_t *j = json_object();
    json_object_set_new(j, "ok", json_boolean(v->ok));
    json_object_set_new(j, "verdict", json_string(v->ok ? "OK" : "WARN"));
    json_object_set_new(j, "rows", json_integer((json_int_t)v->rows));
    json_object_set_new(j, "cosine_mean", json_real(v->cos_mean));
    json_object_set_new(j, "cosine_min", json_real(v->cos_min));
    json_object_set_new(j, "top1", v->top1 >= 0 ? json_real(v->top1) : json_null());
    json_object_set_new(j, "threshold_cosine", json_real(b->c->thr_cosine));
    json_object_set_new(j, "threshold_top1", json_real(b->c->thr_top1));
    char *s = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!s) return df_error_set(err, DF_ENOMEM, "out of memory");
    df_status st = df_file_write_atomic(b->vres, s, strlen(s), err);
    free(s);
    return st;
}

static void read_validation(const build *b, df_pl_validation *v, char *summary, size_t size) {
    json_t *j = json_load_file(b->vres, 0, NULL);
    v->ok = json_is_true(json_object_get(j, "ok"));
    v->cos_mean = json_number_value(json_object_get(j, "cosine_mean"));
    v->cos_min = json_number_value(json_object_get(j, "cosine_min"));
    json_t *t = json_object_get(j, "top1");
    v->top1 = json_is_number(t) ? json_number_value(t) : -1;
    json_decref(j);
    if (v->top1 >= 0)
        snprintf(summary, size, "%s: cosine mean %.4f min %.4f, top-1 %.3f", v->ok ? "OK" : "WARN", v->cos_mean,
                 v->cos_min, v->top1);
    else
        snprintf(summary, size, "%s: cosine mean %.4f min %.4f", v->ok ? "OK" : "WARN", v->cos_mean, v->cos_min);
}

/* The artifact is batch 1 (df_pl_export); a configured batch above 1 is served by one
 * variable-batch plan, so prove now that the graph allows it rather than at serve time. */
static df_status check_batches(build *b, int64_t batch, int threads, char *note, size_t note_size, df_error *err) {
    df_session *s = NULL;
    df_session_opts so = {.threads = threads, .batch = 1, .seq = b->c->input_shape[1], .max_batch = (int)batch};
    df_status st = df_session_open(b->artifact, &so, &s, err);
    if (st) return st;
    if (df_session_max_batch(s) < batch) {
        st = df_error_set(err, DF_EUNSUPPORTED, "%s cannot run batches up to input_shape[0] = %lld in one plan: %s",
                          b->artifact, (long long)batch, df_session_batch_note(s));
    } else {
        size_t used = strlen(note);
        snprintf(note + used, note_size - used, ", batches 1-%lld in one plan", (long long)batch);
    }
    df_session_close(s);
    return st;
}

static df_status run_stage(build *b, int stage, char *note, size_t note_size, df_error *err) {
    const df_model_config *c = b->c;
    int threads = b->o->threads > 0 ? b->o->threads : 1;
    note[0] = 0;
    df_status st = DF_OK;
    switch (stage) {
    case DF_STAGE_EXPORT:
        st = df_pl_export(c, b->export_onnx, b->export_meta, err);
        break;
    case DF_STAGE_CHECK: {
        df_check_report rep;
        int64_t row_shape[DF_CFG_MAX_RANK];
        memcpy(row_shape, c->input_shape, sizeof(int64_t) * (size_t)c->input_rank);
        /* Calibration, quantization and validation feed one row at a time: the simplified
         * model is pinned at batch 1, and compile proves the configured batch (check_batches). */
        if (c->input_rank >= 2) row_shape[0] = 1;
        st = df_check_model(b->src_onnx, row_shape, c->input_rank, true, b->sim, &rep, err);
        if (!st)
            snprintf(note, note_size, "%d nodes -> %d (%d folded, %d removed)", rep.nodes_before, rep.nodes_after,
                     rep.folded, rep.removed);
        break;
    }
    case DF_STAGE_CALIBRATE:
        st = df_pl_calibrate(c, b->sim, b->calib, err);
        break;
    case DF_STAGE_QUANTIZE:
        st = df_pl_quantize(c, b->sim, b->calib, b->quant_dir, threads, err);
        break;
    case DF_STAGE_VALIDATE: {
        df_pl_validation v;
        st = df_pl_validate(c, b->sim, b->deploy, b->calib, b->qlog, threads, &v, err);
        if (!st) st = write_validation(b, &v, err);
        break;
    }
    case DF_STAGE_COMPILE: {
        df_compile_opts co = {.model_name = c->model_name, .platform = c->platform, .arch = c->arch,
                              .opt_level = c->opt_level, .input_shape = c->input_shape, .input_rank = c->input_rank,
                              .quant_info = b->qinfo, .threads = threads};
        df_compile_result cr;
        st = df_pl_compile(c, b->deploy, &co, b->compiled_dir, &cr, err); /* + Vitis AI when selected */
        if (!st)
            snprintf(note, note_size, "%zu tasks, %.2f MFLOP, arena %.1f KiB", cr.task_count, cr.flops / 1e6,
                     (double)cr.arena_bytes / 1024.0);
        if (!st && c->input_rank >= 2 && c->input_shape[0] > 1 && strcmp(c->platform, "fpga"))
            st = check_batches(b, c->input_shape[0], threads, note, note_size, err);
        break;
    }
    case DF_STAGE_REGISTER:
        st = do_register(b, err);
        if (!st) snprintf(note, note_size, "%s", b->registry);
        break;
    }
    return st;
}

static void set_paths(build *b, const char *registry) {
    const char *o = b->c->output_dir;
    snprintf(b->out, P, "%s", o);
    snprintf(b->export_onnx, P, "%s/export/model.onnx", o);
    snprintf(b->export_meta, P, "%s/export/metadata.json", o);
    snprintf(b->sim, P, "%s/export/model_sim.onnx", o);
    snprintf(b->calib, P, "%s/calib/calib_data.npz", o);
    snprintf(b->quant_dir, P, "%s/quant", o);
    snprintf(b->deploy, P, "%s/quant/deploy_model.onnx", o);
    snprintf(b->qinfo, P, "%s/quant/quant_info.json", o);
    snprintf(b->qlog, P, "%s/quant/quant_log.txt", o);
    snprintf(b->vres, P, "%s/quant/validate.json", o);
    snprintf(b->compiled_dir, P, "%s/compiled", o);
    snprintf(b->artifact, P, "%s/compiled/%s_%s.%s", o, b->c->model_name, b->c->platform,
             strcmp(b->c->platform, "fpga") ? "onnx" : "dfm"); /* fpga: compile/fpga_compile.c */
    snprintf(b->meta, P, "%s/compiled/meta.json", o);
    snprintf(b->clog, P, "%s/compiled/compile_log.txt", o);
    const char *tok = strrchr(b->c->tokenizer, '/');
    tok = tok ? tok + 1 : b->c->tokenizer;
    snprintf(b->tokenizer_copy, P, "%s/%s", o, tok);
    snprintf(b->src_onnx, P, "%s", is_onnx(b) ? b->c->model_path : b->export_onnx);
    snprintf(b->registry, P, "%s", registry);
}

df_status df_build(const df_model_config *c, const df_build_opts *o, df_build_result *r, df_error *err) {
    df_build_opts defaults = {.from = -1};
    if (!o) o = &defaults;
    memset(r, 0, sizeof *r);
    build *b = calloc(1, sizeof *b);
    if (!b) return df_error_set(err, DF_ENOMEM, "out of memory");
    b->c = c;
    b->o = o;
    /* The registry path is absolute in the stamps so that running from another directory
     * with the same --registry re-registers only when it really is another file. */
    char reg[P];
    const char *rp = o->registry ? o->registry : "model_registry.json";
    char cwd[PATH_MAX];
    if (rp[0] != '/' && getcwd(cwd, sizeof cwd)) snprintf(reg, sizeof reg, "%s/%s", cwd, rp);
    else snprintf(reg, sizeof reg, "%s", rp);
    set_paths(b, reg);
    df_status st = DF_OK;
    const char *dirs[] = {"", "/export", "/calib", "/quant", "/compiled", "/.stamps"};
    for (size_t i = 0; i < 6 && !st; i++) {
        char p[P];
        snprintf(p, sizeof p, "%s%s", b->out, dirs[i]);
        st = mkdirs(p, err);
    }
    if (st) { free(b); return st; }
    char logp[P];
    snprintf(logp, sizeof logp, "%s/build.log", b->out);
    b->log = fopen(logp, "a");
    blog(b, "build %s (%s) -> %s%s%s", c->model_name, c->config_file, b->out, o->force ? " --force" : "",
         o->from >= 0 ? " --from" : "");
    if (o->from >= 0) blog(b, "from stage %s", STAGES[o->from]);
    uint64_t t_all = df_now_ns();
    bool upstream_ran = false;
    for (int s = 0; s < DF_STAGE_COUNT; s++) {
        char line[128];
        snprintf(line, sizeof line, "[%d/%d] %s", s + 1, DF_STAGE_COUNT, STAGES[s]);
        if (!o->quiet) { printf("%s ... ", line); fflush(stdout); }
        uint64_t t0 = df_now_ns();
        if (s == DF_STAGE_EXPORT && is_onnx(b)) {
            r->skipped++;
            if (!o->quiet) printf("skipped (framework onnx)\n");
            blog(b, "%s skipped (framework onnx)", STAGES[s]);
            continue;
        }
        char hex[65];
        const char *outs[4];
        int nouts = 0;
        if ((st = stage_inputs(b, s, hex, outs, &nouts, err))) {
            r->failed = (df_build_stage)s;
            df_error_prefix(err, "%s: input missing (run the earlier stages): ", STAGES[s]);
            if (!o->quiet) printf("failed\n");
            blog(b, "%s failed: %s", STAGES[s], err->msg);
            break;
        }
        bool outputs_there = true;
        for (int k = 0; k < nouts; k++) outputs_there = outputs_there && exists(outs[k]);
        bool forced = o->force || (o->from >= 0 && s >= o->from);
        bool cached = !forced && outputs_there && stamp_matches(b, s, hex) &&
                      (s != DF_STAGE_REGISTER || registry_current(b));
        if (o->from >= 0 && s < o->from && outputs_there) cached = true;
        if (cached) {
            r->cached++;
            char note[256] = "";
            if (s == DF_STAGE_VALIDATE) {
                df_pl_validation v;
                read_validation(b, &v, note, sizeof note);
                r->validate_ok = v.ok;
            }
            if (!o->quiet) printf("cached%s%s%s\n", note[0] ? " (" : "", note, note[0] ? ")" : "");
            blog(b, "%s cached%s%s", STAGES[s], note[0] ? ": " : "", note);
            continue;
        }
        (void)upstream_ran;
        stamp_remove(b, s);
        char note[512];
        st = run_stage(b, s, note, sizeof note, err);
        double secs = (double)(df_now_ns() - t0) / 1e9;
        r->seconds[s] = secs;
        if (st) {
            r->failed = (df_build_stage)s;
            df_error_prefix(err, "%s: ", STAGES[s]);
            if (!o->quiet) printf("failed (%.1f s)\n", secs);
            blog(b, "%s failed after %.3f s: %s", STAGES[s], secs, err->msg);
            break;
        }
        if (s == DF_STAGE_VALIDATE) {
            df_pl_validation v;
            read_validation(b, &v, note, sizeof note);
            r->validate_ok = v.ok;
        }
        if ((st = stamp_write(b, s, hex, secs, err))) break;
        r->ran++;
        r->ran_stage[s] = true;
        upstream_ran = true;
        if (!o->quiet) printf("ok (%.1f s)%s%s%s\n", secs, note[0] ? " " : "", note, "");
        blog(b, "%s ok in %.3f s%s%s", STAGES[s], secs, note[0] ? ": " : "", note);
    }
    r->total_seconds = (double)(df_now_ns() - t_all) / 1e9;
    if (!st) {
        if (!o->quiet) {
            if (r->ran == 0) printf("nothing to do: every stage is up to date (%.1f s)\n", r->total_seconds);
            else printf("built %s in %.1f s: %d stage%s ran, %d cached%s\n", c->model_name, r->total_seconds, r->ran,
                        r->ran == 1 ? "" : "s", r->cached, r->validate_ok ? "" : "; validate WARN (see quant/quant_log.txt)");
        }
        blog(b, "build done in %.3f s: %d ran, %d cached, %d skipped", r->total_seconds, r->ran, r->cached,
             r->skipped);
    }
    if (b->log) fclose(b->log);
    free(b);
    return st;
}
