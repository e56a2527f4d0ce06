/* model.json: strict parsing. Every key the pipeline does not read is an error, because a
 * misspelt key ("sampels") silently falling back to a default is how builds go wrong. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpuflow/base.h"
#include "dpuflow/pipeline.h"

void df_model_config_free(df_model_config *c) {
    if (!c) return;
    char **s[] = {&c->config_file, &c->model_name, &c->framework, &c->model_path, &c->config_path, &c->tokenizer,
                  &c->task, &c->output, &c->calib_corpus, &c->calib_method, &c->scale, &c->weights, &c->platform,
                  &c->arch, &c->output_dir, &c->toolchain, &c->vai_q_onnx, &c->vai_c_xir};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) free(*s[i]);
    free(c);
}

typedef struct ctx {
    const char *file;
    char dir[PATH_MAX];
    df_error *err;
} ctx;

static df_status check_keys(ctx *x, json_t *o, const char *where, const char *const *known) {
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        bool ok = false;
        for (int i = 0; known[i]; i++)
            if (!strcmp(key, known[i])) ok = true;
        if (!ok) {
            char list[512] = "";
            for (int i = 0; known[i]; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, known[i], sizeof list - strlen(list) - 1);
            }
            return df_error_set(x->err, DF_EINVAL, "%s: unknown key \"%s%s\" (expected one of: %s)", x->file, where,
                                key, list);
        }
    }
    return DF_OK;
}

/* A string field; def (may be NULL) when absent or null. */
static df_status get_str(ctx *x, json_t *o, const char *where, const char *key, bool required, const char *def,
                         char **out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) return df_error_set(x->err, DF_EINVAL, "%s: \"%s%s\" is required", x->file, where, key);
        *out = def ? strdup(def) : NULL;
        return DF_OK;
    }
    if (!json_is_string(v) || !json_string_value(v)[0])
        return df_error_set(x->err, DF_EINVAL, "%s: \"%s%s\" must be a non-empty string", x->file, where, key);
    *out = strdup(json_string_value(v));
    return *out ? DF_OK : df_error_set(x->err, DF_ENOMEM, "out of memory");
}

static df_status get_enum(ctx *x, json_t *o, const char *where, const char *key, const char *def,
                          const char *const *allowed, char **out) {
    df_status st = get_str(x, o, where, key, false, def, out);
    if (st) return st;
    for (int i = 0; allowed[i]; i++)
        if (!strcmp(*out, allowed[i])) return DF_OK;
    char list[256] = "";
    for (int i = 0; allowed[i]; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, allowed[i], sizeof list - strlen(list) - 1);
    }
    return df_error_set(x->err, DF_EINVAL, "%s: \"%s%s\" is \"%s\"; expected one of: %s", x->file, where, key, *out,
                        list);
}

static df_status get_int(ctx *x, json_t *o, const char *where, const char *key, long long lo, long long hi,
                         long long def, long long *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) { *out = def; return DF_OK; }
    if (!json_is_integer(v))
        return df_error_set(x->err, DF_EINVAL, "%s: \"%s%s\" must be an integer", x->file, where, key);
    long long n = json_integer_value(v);
    if (n < lo || n > hi)
        return df_error_set(x->err, DF_EINVAL, "%s: \"%s%s\" is %lld; expected %lld..%lld", x->file, where, key, n, lo,
                            hi);
    *out = n;
    return DF_OK;
}

static df_status get_real(ctx *x, json_t *o, const char *where, const char *key, double def, double *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) { *out = def; return DF_OK; }
    if (!json_is_number(v))
        return df_error_set(x->err, DF_EINVAL, "%s: \"%s%s\" must be a number", x->file, where, key);
    double d = json_number_value(v);
    if (!(d >= 0 && d <= 1))
        return df_error_set(x->err, DF_EINVAL, "%s: \"%s%s\" is %g; expected 0..1", x->file, where, key, d);
    *out = d;
    return DF_OK;
}

static df_status get_object(ctx *x, json_t *o, const char *key, json_t **out) {
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v)) return DF_OK;
    if (!json_is_object(v)) return df_error_set(x->err, DF_EINVAL, "%s: \"%s\" must be an object", x->file, key);
    *out = v;
    return DF_OK;
}

/* Makes *p (relative to the config's directory) usable from the cwd; checks it exists. */
static df_status resolve(ctx *x, const char *key, char **p, bool must_exist) {
    if (!*p) return DF_OK;
    if ((*p)[0] != '/' && strcmp(x->dir, ".")) {
        char *joined = NULL;
        if (asprintf(&joined, "%s/%s", x->dir, *p) < 0) return df_error_set(x->err, DF_ENOMEM, "out of memory");
        free(*p);
        *p = joined;
    }
    struct stat sb;
    if (must_exist && stat(*p, &sb) != 0)
        return df_error_set(x->err, DF_ENOTFOUND, "%s: \"%s\": %s: %s", x->file, key, *p, strerror(errno));
    return DF_OK;
}

static bool safe_name(const char *s) {
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return false;
    return true;
}

static const char *TOP_KEYS[] = {"model_name", "framework", "model_path", "config_path", "tokenizer", "task",
                                 "input_shape", "output", "calibration", "quantization", "target", "output_dir",
                                 NULL};
static const char *CAL_KEYS[] = {"corpus", "samples", "method", NULL};
static const char *QUANT_KEYS[] = {"scale", "weights", "weight_bits", "act_bits", "thresholds", NULL};
static const char *THR_KEYS[] = {"cosine", "top1", NULL};
static const char *TARGET_KEYS[] = {"platform", "arch", "opt_level", "batch",
                                    /* Vitis AI adapters (vitis.c) */
                                    "toolchain", "vai_q_onnx", "vai_c_xir", "tool_timeout_s", NULL};
static const char *TOOLCHAINS[] = {"builtin", "vitis", "auto", NULL};
static const char *FRAMEWORKS[] = {"pytorch", "onnx", NULL};
static const char *METHODS[] = {"percentile", "minmax", "entropy", "mse", NULL};
static const char *SCALES[] = {"float", "pof2", NULL};
static const char *WEIGHTS[] = {"per_channel", "per_tensor", NULL};
static const char *PLATFORMS[] = {"cpu", "fpga", NULL};

static df_status parse(ctx *x, json_t *root, df_model_config *c) {
    df_status st;
    long long n;
    json_t *cal, *quant, *thr = NULL, *target;
    if (!json_is_object(root)) return df_error_set(x->err, DF_EINVAL, "%s: expected a JSON object", x->file);
    if ((st = check_keys(x, root, "", TOP_KEYS))) return st;
    if ((st = get_str(x, root, "", "model_name", true, NULL, &c->model_name))) return st;
    if (!safe_name(c->model_name) || c->model_name[0] == '.')
        return df_error_set(x->err, DF_EINVAL,
                            "%s: \"model_name\" \"%s\" may hold only letters, digits, '_', '-' and '.' (it names files)",
                            x->file, c->model_name);
    if ((st = get_enum(x, root, "", "framework", "pytorch", FRAMEWORKS, &c->framework))) return st;
    if ((st = get_str(x, root, "", "model_path", true, NULL, &c->model_path))) return st;
    if ((st = get_str(x, root, "", "config_path", false, NULL, &c->config_path))) return st;
    if ((st = get_str(x, root, "", "tokenizer", true, NULL, &c->tokenizer))) return st;
    if ((st = get_str(x, root, "", "task", true, NULL, &c->task))) return st;
    if ((st = get_str(x, root, "", "output", false, NULL, &c->output))) return st;
    json_t *shape = json_object_get(root, "input_shape");
    if (shape && !json_is_null(shape)) {
        if (!json_is_array(shape) || json_array_size(shape) < 1 || json_array_size(shape) > DF_CFG_MAX_RANK)
            return df_error_set(x->err, DF_EINVAL, "%s: \"input_shape\" must be an array of 1..%d positive integers",
                                x->file, DF_CFG_MAX_RANK);
        for (size_t i = 0; i < json_array_size(shape); i++) {
            json_t *d = json_array_get(shape, i);
            if (!json_is_integer(d) || json_integer_value(d) <= 0 || json_integer_value(d) > (1 << 20))
                return df_error_set(x->err, DF_EINVAL, "%s: \"input_shape[%zu]\" must be a positive integer", x->file, i);
            c->input_shape[i] = json_integer_value(d);
        }
        c->input_rank = (int)json_array_size(shape);
    } else {
        c->input_shape[0] = 1;
        c->input_shape[1] = 64;
        c->input_rank = 2;
    }
    if ((st = get_object(x, root, "calibration", &cal))) return st;
    if (cal && (st = check_keys(x, cal, "calibration.", CAL_KEYS))) return st;
    if ((st = get_str(x, cal, "calibration.", "corpus", false, NULL, &c->calib_corpus))) return st;
    if ((st = get_int(x, cal, "calibration.", "samples", 1, 1000000, 50, &n))) return st;
    c->calib_samples = (int)n;
    if ((st = get_enum(x, cal, "calibration.", "method", "percentile", METHODS, &c->calib_method))) return st;
    if ((st = get_object(x, root, "quantization", &quant))) return st;
    if (quant && (st = check_keys(x, quant, "quantization.", QUANT_KEYS))) return st;
    if ((st = get_enum(x, quant, "quantization.", "scale", "float", SCALES, &c->scale))) return st;
    if ((st = get_enum(x, quant, "quantization.", "weights", "per_channel", WEIGHTS, &c->weights))) return st;
    if ((st = get_int(x, quant, "quantization.", "weight_bits", 7, 8, 8, &n))) return st;
    c->weight_bits = (int)n;
    if ((st = get_int(x, quant, "quantization.", "act_bits", 7, 8, 8, &n))) return st;
    c->act_bits = (int)n;
    if (quant) {
        thr = json_object_get(quant, "thresholds");
        if (thr && !json_is_null(thr) && !json_is_object(thr))
            return df_error_set(x->err, DF_EINVAL, "%s: \"quantization.thresholds\" must be an object", x->file);
        if (thr && json_is_null(thr)) thr = NULL;
    }
    if (thr && (st = check_keys(x, thr, "quantization.thresholds.", THR_KEYS))) return st;
    if ((st = get_real(x, thr, "quantization.thresholds.", "cosine", 0.99, &c->thr_cosine))) return st;
    if ((st = get_real(x, thr, "quantization.thresholds.", "top1", 0.99, &c->thr_top1))) return st;
    if ((st = get_object(x, root, "target", &target))) return st;
    if (target && (st = check_keys(x, target, "target.", TARGET_KEYS))) return st;
    if ((st = get_enum(x, target, "target.", "platform", "cpu", PLATFORMS, &c->platform))) return st;
    if ((st = get_str(x, target, "target.", "arch", false, NULL, &c->arch))) return st;
    if ((st = get_int(x, target, "target.", "opt_level", 0, 3, 2, &n))) return st;
    c->opt_level = (int)n;
    if ((st = get_int(x, target, "target.", "batch", 1, 4096, 1, &n))) return st;
    c->batch = (int)n;
    /* Vitis AI adapters (vitis.c) */
    if ((st = get_enum(x, target, "target.", "toolchain", "builtin", TOOLCHAINS, &c->toolchain))) return st;
    if ((st = get_str(x, target, "target.", "vai_q_onnx", false, NULL, &c->vai_q_onnx))) return st;
    if ((st = get_str(x, target, "target.", "vai_c_xir", false, NULL, &c->vai_c_xir))) return st;
    if ((st = get_int(x, target, "target.", "tool_timeout_s", 1, 86400, 3600, &n))) return st;
    c->tool_timeout_s = (int)n;
    if (!strcmp(c->platform, "fpga") && strcmp(c->scale, "pof2"))
        return df_error_set(x->err, DF_EINVAL,
                            "%s: \"quantization.scale\" must be \"pof2\" when \"target.platform\" is fpga (the DPU "
                            "only shifts)", x->file);
    if (c->input_rank >= 1 && c->batch != 1 && c->input_shape[0] != c->batch)
        return df_error_set(x->err, DF_EINVAL, "%s: \"target.batch\" %d disagrees with \"input_shape[0]\" %lld",
                            x->file, c->batch, (long long)c->input_shape[0]);
    char defdir[PATH_MAX];
    snprintf(defdir, sizeof defdir, "build/%s", c->model_name);
    if ((st = get_str(x, root, "", "output_dir", false, defdir, &c->output_dir))) return st;
    if ((st = resolve(x, "model_path", &c->model_path, true))) return st;
    if ((st = resolve(x, "config_path", &c->config_path, true))) return st;
    if ((st = resolve(x, "tokenizer", &c->tokenizer, true))) return st;
    if ((st = resolve(x, "calibration.corpus", &c->calib_corpus, true))) return st;
    if ((st = resolve(x, "output_dir", &c->output_dir, false))) return st;
    if ((st = resolve(x, "target.vai_q_onnx", &c->vai_q_onnx, true))) return st; /* Vitis AI adapters */
    if ((st = resolve(x, "target.vai_c_xir", &c->vai_c_xir, true))) return st;
    struct stat sb;
    stat(c->model_path, &sb);
    if (!strcmp(c->framework, "pytorch") && !S_ISDIR(sb.st_mode))
        return df_error_set(x->err, DF_EINVAL, "%s: \"model_path\": %s: framework pytorch needs a Hugging Face folder",
                            x->file, c->model_path);
    if (!strcmp(c->framework, "onnx") && S_ISDIR(sb.st_mode))
        return df_error_set(x->err, DF_EINVAL, "%s: \"model_path\": %s: framework onnx needs an .onnx file", x->file,
                            c->model_path);
    return DF_OK;
}

df_status df_model_config_load(const char *path, df_model_config **out, df_error *err) {
    *out = NULL;
    void *buf = NULL;
    size_t size = 0;
    df_status st = df_file_read_all(path, &buf, &size, 16u << 20, err);
    if (st) return st;
    json_error_t je;
    json_t *root = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!root)
        return df_error_set(err, DF_EINVAL, "%s: not valid JSON at line %d column %d: %s", path, je.line, je.column,
                            je.text);
    df_model_config *c = calloc(1, sizeof *c);
    ctx x = {.file = path, .err = err};
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(x.dir, sizeof x.dir, ".");
    else if (slash == path) snprintf(x.dir, sizeof x.dir, "/");
    else snprintf(x.dir, sizeof x.dir, "%.*s", (int)(slash - path), path);
    if (!c) st = df_error_set(err, DF_ENOMEM, "out of memory");
    else if (!(c->config_file = strdup(path))) st = df_error_set(err, DF_ENOMEM, "out of memory");
    else st = parse(&x, root, c);
    json_decref(root);
    if (st) { df_model_config_free(c); return st; }
    *out = c;
    return DF_OK;
}
