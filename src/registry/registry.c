/* registry/: model_registry.json in memory, validation, atomic save, locked updates.
 *
 * Entries are plain structs (the server reads them on every reload); routes and chains stay
 * jansson objects because they are small maps whose order we must keep. Keys we do not know
 * are kept verbatim and written back, so a newer dpuflow's fields survive an older one's
 * `register`. */
#include "dpuflow/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpuflow/base.h"

struct df_registry {
    char *dir;                 /* absolute; stored relative paths hang off it */
    char *path;                /* as given, for messages */
    df_registry_entry *entries;
    json_t **extras;           /* per entry: keys we do not know (object, may be empty) */
    size_t n, cap;
    json_t *routes;            /* task -> model name */
    json_t *chains;            /* platform -> [model names] */
    json_t *top_extra;
};

static const char *STATUS_NAMES[] = {"active", "disabled", "error", "stale"};

const char *df_model_status_str(df_model_status s) {
    return (unsigned)s < 4 ? STATUS_NAMES[s] : "unknown";
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static void entry_clear(df_registry_entry *e) {
    free(e->model_name);
    free(e->platform);
    free(e->artifact_path);
    free(e->tokenizer);
    free(e->task);
    free(e->input_name);
    free(e->output_name);
    for (size_t i = 0; i < e->n_labels; i++) free(e->labels[i]);
    free(e->labels);
    free(e->reason);
    memset(e, 0, sizeof *e);
}

void df_registry_free(df_registry *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        entry_clear(&r->entries[i]);
        json_decref(r->extras[i]);
    }
    free(r->entries);
    free(r->extras);
    json_decref(r->routes);
    json_decref(r->chains);
    json_decref(r->top_extra);
    free(r->dir);
    free(r->path);
    free(r);
}

/* The absolute directory of path, which need not exist yet (its directory must). */
static df_status registry_dir(const char *path, char **out, df_error *err) {
    char *copy = strdup(path);
    if (!copy) return df_error_set(err, DF_ENOMEM, "%s: out of memory", path);
    char *slash = strrchr(copy, '/');
    const char *d = ".";
    if (slash == copy) d = "/";
    else if (slash) { *slash = 0; d = copy; }
    char *abs = realpath(d, NULL);
    free(copy);
    if (!abs) return df_error_set(err, DF_EIO, "%s: directory does not exist: %s", path, strerror(errno));
    *out = abs;
    return DF_OK;
}

static df_status registry_new(const char *path, df_registry **out, df_error *err) {
    df_registry *r = calloc(1, sizeof *r);
    if (!r) return df_error_set(err, DF_ENOMEM, "%s: out of memory", path);
    r->path = strdup(path);
    r->routes = json_object();
    r->chains = json_object();
    r->top_extra = json_object();
    if (!r->path || !r->routes || !r->chains || !r->top_extra) {
        df_registry_free(r);
        return df_error_set(err, DF_ENOMEM, "%s: out of memory", path);
    }
    df_status st = registry_dir(path, &r->dir, err);
    if (st) { df_registry_free(r); return st; }
    *out = r;
    return DF_OK;
}

static df_status grow(df_registry *r, df_error *err) {
    if (r->n < r->cap) return DF_OK;
    size_t cap = r->cap ? r->cap * 2 : 8;
    df_registry_entry *e = realloc(r->entries, cap * sizeof *e);
    if (!e) return df_error_set(err, DF_ENOMEM, "%s: out of memory", r->path);
    r->entries = e;
    json_t **x = realloc(r->extras, cap * sizeof *x);
    if (!x) return df_error_set(err, DF_ENOMEM, "%s: out of memory", r->path);
    r->extras = x;
    r->cap = cap;
    return DF_OK;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static bool is_hex64(const char *s) {
    if (strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* Reads a required (or optional) string field of entry i. */
static df_status get_str(json_t *o, const char *path, size_t i, const char *key, bool required, char **out,
                         df_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) return df_error_set(err, DF_EFORMAT, "%s: models[%zu].%s: missing", path, i, key);
        *out = NULL;
        return DF_OK;
    }
    if (!json_is_string(v)) return df_error_set(err, DF_EFORMAT, "%s: models[%zu].%s: expected a string", path, i, key);
    if (required && !json_string_value(v)[0])
        return df_error_set(err, DF_EFORMAT, "%s: models[%zu].%s: empty", path, i, key);
    *out = strdup(json_string_value(v));
    return *out ? DF_OK : df_error_set(err, DF_ENOMEM, "out of memory");
}

static df_status get_int(json_t *o, const char *path, size_t i, const char *key, int64_t min, int64_t def,
                         int64_t *out, df_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) { *out = def; return DF_OK; }
    if (!json_is_integer(v)) return df_error_set(err, DF_EFORMAT, "%s: models[%zu].%s: expected an integer", path, i, key);
    if (json_integer_value(v) < min)
        return df_error_set(err, DF_EFORMAT, "%s: models[%zu].%s: must be >= %lld", path, i, key, (long long)min);
    *out = json_integer_value(v);
    return DF_OK;
}

static const char *KNOWN_KEYS[] = {"model_name", "version", "platform", "artifact_path", "tokenizer", "task",
                                   "input_name", "input_shape", "output_name", "labels", "task_count",
                                   "batch_size", "sha256", "deploy_time", "status", "reason", NULL};

static df_status parse_entry(json_t *o, const char *path, size_t i, df_registry_entry *e, json_t **extra,
                             df_error *err) {
    memset(e, 0, sizeof *e);
    if (!json_is_object(o)) return df_error_set(err, DF_EFORMAT, "%s: models[%zu]: expected an object", path, i);
    df_status st;
    char *sha = NULL, *when = NULL, *status = NULL;
    if ((st = get_str(o, path, i, "model_name", true, &e->model_name, err))) return st;
    if ((st = get_str(o, path, i, "platform", true, &e->platform, err))) goto fail;
    if (strcmp(e->platform, "cpu") && strcmp(e->platform, "fpga")) {
        st = df_error_set(err, DF_EFORMAT, "%s: models[%zu] (%s).platform: \"%s\" is not cpu or fpga", path, i,
                          e->model_name, e->platform);
        goto fail;
    }
    if ((st = get_str(o, path, i, "artifact_path", true, &e->artifact_path, err))) goto fail;
    if ((st = get_str(o, path, i, "tokenizer", false, &e->tokenizer, err))) goto fail;
    if ((st = get_str(o, path, i, "task", true, &e->task, err))) goto fail;
    if ((st = get_str(o, path, i, "input_name", false, &e->input_name, err))) goto fail;
    if ((st = get_str(o, path, i, "output_name", false, &e->output_name, err))) goto fail;
    if ((st = get_str(o, path, i, "reason", false, &e->reason, err))) goto fail;
    if ((st = get_int(o, path, i, "version", 1, 1, &e->version, err))) goto fail;
    if ((st = get_int(o, path, i, "task_count", 0, 0, &e->task_count, err))) goto fail;
    if ((st = get_int(o, path, i, "batch_size", 1, 1, &e->batch_size, err))) goto fail;
    json_t *shape = json_object_get(o, "input_shape");
    if (shape && !json_is_null(shape)) {
        if (!json_is_array(shape) || json_array_size(shape) == 0 || json_array_size(shape) > DF_REG_MAX_RANK) {
            st = df_error_set(err, DF_EFORMAT, "%s: models[%zu] (%s).input_shape: expected an array of 1..%d integers",
                              path, i, e->model_name, DF_REG_MAX_RANK);
            goto fail;
        }
        for (size_t k = 0; k < json_array_size(shape); k++) {
            json_t *d = json_array_get(shape, k);
            if (!json_is_integer(d) || json_integer_value(d) <= 0) {
                st = df_error_set(err, DF_EFORMAT, "%s: models[%zu] (%s).input_shape[%zu]: expected a positive integer",
                                  path, i, e->model_name, k);
                goto fail;
            }
            e->input_shape[k] = json_integer_value(d);
        }
        e->input_rank = (int)json_array_size(shape);
    }
    json_t *labels = json_object_get(o, "labels");
    if (labels && !json_is_null(labels)) {
        if (!json_is_array(labels)) {
            st = df_error_set(err, DF_EFORMAT, "%s: models[%zu] (%s).labels: expected an array of strings", path, i,
                              e->model_name);
            goto fail;
        }
        size_t nl = json_array_size(labels);
        e->labels = calloc(nl ? nl : 1, sizeof *e->labels);
        if (!e->labels) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto fail; }
        for (size_t k = 0; k < nl; k++) {
            json_t *l = json_array_get(labels, k);
            if (!json_is_string(l)) {
                st = df_error_set(err, DF_EFORMAT, "%s: models[%zu] (%s).labels[%zu]: expected a string", path, i,
                                  e->model_name, k);
                goto fail;
            }
            e->labels[k] = strdup(json_string_value(l));
            e->n_labels = k + 1;
            if (!e->labels[k]) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto fail; }
        }
    }
    if ((st = get_str(o, path, i, "sha256", true, &sha, err))) goto fail;
    if (!is_hex64(sha)) {
        st = df_error_set(err, DF_EFORMAT, "%s: models[%zu] (%s).sha256: expected 64 lowercase hex digits", path, i,
                          e->model_name);
        goto fail;
    }
    memcpy(e->sha256, sha, 65);
    if ((st = get_str(o, path, i, "deploy_time", false, &when, err))) goto fail;
    if (when) snprintf(e->deploy_time, sizeof e->deploy_time, "%s", when);
    if ((st = get_str(o, path, i, "status", false, &status, err))) goto fail;
    e->status = DF_MODEL_ACTIVE;
    if (status) {
        int found = -1;
        for (int k = 0; k < 4; k++)
            if (!strcmp(status, STATUS_NAMES[k])) found = k;
        if (found < 0) {
            st = df_error_set(err, DF_EFORMAT,
                              "%s: models[%zu] (%s).status: \"%s\" is not active, disabled, error or stale", path, i,
                              e->model_name, status);
            goto fail;
        }
        e->status = (df_model_status)found;
    }
    *extra = json_deep_copy(o);
    if (!*extra) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto fail; }
    for (int k = 0; KNOWN_KEYS[k]; k++) json_object_del(*extra, KNOWN_KEYS[k]);
    free(sha); free(when); free(status);
    return DF_OK;
fail:
    free(sha); free(when); free(status);
    entry_clear(e);
    return st;
}

df_status df_registry_parse(const char *text, size_t len, const char *path, df_registry **out, df_error *err) {
    *out = NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return df_error_set(err, DF_EFORMAT, "%s: not valid JSON at line %d column %d: %s", path, je.line, je.column,
                            je.text);
    df_registry *r = NULL;
    df_status st = DF_OK;
    if (!json_is_object(root)) { st = df_error_set(err, DF_EFORMAT, "%s: expected a JSON object", path); goto done; }
    if ((st = registry_new(path, &r, err))) goto done;
    json_t *models = json_object_get(root, "models");
    if (models && !json_is_array(models)) {
        st = df_error_set(err, DF_EFORMAT, "%s: models: expected an array", path);
        goto done;
    }
    for (size_t i = 0; models && i < json_array_size(models); i++) {
        if ((st = grow(r, err))) goto done;
        json_t *extra = NULL;
        if ((st = parse_entry(json_array_get(models, i), path, i, &r->entries[r->n], &extra, err))) goto done;
        r->extras[r->n++] = extra;
        df_registry_entry *e = &r->entries[r->n - 1];
        for (size_t j = 0; j + 1 < r->n; j++)
            if (!strcmp(r->entries[j].model_name, e->model_name) && !strcmp(r->entries[j].platform, e->platform)) {
                st = df_error_set(err, DF_EFORMAT, "%s: models[%zu]: duplicate entry for %s on %s (also models[%zu])",
                                  path, i, e->model_name, e->platform, j);
                goto done;
            }
    }
    json_t *routes = json_object_get(root, "task_routing_map");
    if (routes) {
        if (!json_is_object(routes)) {
            st = df_error_set(err, DF_EFORMAT, "%s: task_routing_map: expected an object", path);
            goto done;
        }
        const char *task;
        json_t *v;
        json_object_foreach(routes, task, v) {
            if (!json_is_string(v)) {
                st = df_error_set(err, DF_EFORMAT, "%s: task_routing_map.%s: expected a model name", path, task);
                goto done;
            }
        }
        json_decref(r->routes);
        r->routes = json_deep_copy(routes);
    }
    json_t *chains = json_object_get(root, "fallback_chain");
    if (chains) {
        if (!json_is_object(chains)) {
            st = df_error_set(err, DF_EFORMAT, "%s: fallback_chain: expected an object", path);
            goto done;
        }
        const char *plat;
        json_t *v;
        json_object_foreach(chains, plat, v) {
            if (!json_is_array(v)) {
                st = df_error_set(err, DF_EFORMAT, "%s: fallback_chain.%s: expected an array of model names", path, plat);
                goto done;
            }
            for (size_t k = 0; k < json_array_size(v); k++)
                if (!json_is_string(json_array_get(v, k))) {
                    st = df_error_set(err, DF_EFORMAT, "%s: fallback_chain.%s[%zu]: expected a model name", path, plat, k);
                    goto done;
                }
        }
        json_decref(r->chains);
        r->chains = json_deep_copy(chains);
    }
    json_decref(r->top_extra);
    r->top_extra = json_deep_copy(root);
    json_object_del(r->top_extra, "models");
    json_object_del(r->top_extra, "task_routing_map");
    json_object_del(r->top_extra, "fallback_chain");
    if (!r->routes || !r->chains || !r->top_extra) st = df_error_set(err, DF_ENOMEM, "out of memory");
done:
    json_decref(root);
    if (st) { df_registry_free(r); return st; }
    *out = r;
    return DF_OK;
}

df_status df_registry_load(const char *path, bool allow_missing, df_registry **out, df_error *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        if (!allow_missing) return df_error_set(err, DF_ENOTFOUND, "%s: registry does not exist", path);
        return registry_new(path, out, err);
    }
    void *buf = NULL;
    size_t size = 0;
    df_status st = df_file_read_all(path, &buf, &size, 0, err);
    if (st) return st;
    st = df_registry_parse(buf, size, path, out, err);
    free(buf);
    return st;
}

/* ---- writing ---------------------------------------------------------------------------- */

static json_t *entry_json(const df_registry_entry *e, json_t *extra) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "model_name", json_string(e->model_name));
    json_object_set_new(o, "version", json_integer(e->version));
    json_object_set_new(o, "platform", json_string(e->platform));
    json_object_set_new(o, "artifact_path", json_string(e->artifact_path));
    json_object_set_new(o, "tokenizer", e->tokenizer ? json_string(e->tokenizer) : json_null());
    json_object_set_new(o, "task", json_string(e->task));
    if (e->input_name) json_object_set_new(o, "input_name", json_string(e->input_name));
    if (e->input_rank > 0) {
        json_t *s = json_array();
        for (int k = 0; k < e->input_rank; k++) json_array_append_new(s, json_integer(e->input_shape[k]));
        json_object_set_new(o, "input_shape", s);
    }
    if (e->output_name) json_object_set_new(o, "output_name", json_string(e->output_name));
    json_t *l = json_array();
    for (size_t k = 0; k < e->n_labels; k++) json_array_append_new(l, json_string(e->labels[k]));
    json_object_set_new(o, "labels", l);
    json_object_set_new(o, "task_count", json_integer(e->task_count));
    json_object_set_new(o, "batch_size", json_integer(e->batch_size));
    json_object_set_new(o, "sha256", json_string(e->sha256));
    json_object_set_new(o, "deploy_time", json_string(e->deploy_time));
    json_object_set_new(o, "status", json_string(df_model_status_str(e->status)));
    if (e->reason) json_object_set_new(o, "reason", json_string(e->reason));
    if (extra) json_object_update_missing(o, extra);
    return o;
}

static json_t *registry_json(const df_registry *r, const char *model) {
    json_t *models = json_array();
    for (size_t i = 0; i < r->n; i++)
        if (!model || !strcmp(model, r->entries[i].model_name))
            json_array_append_new(models, entry_json(&r->entries[i], r->extras[i]));
    if (model) return models;
    json_t *root = json_object();
    json_object_set_new(root, "models", models);
    json_object_set(root, "task_routing_map", r->routes);
    json_object_set(root, "fallback_chain", r->chains);
    json_object_update_missing(root, r->top_extra);
    return root;
}

char *df_registry_to_json(const df_registry *r, const char *model) {
    json_t *j = registry_json(r, model);
    if (!j) return NULL;
    char *s = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    return s;
}

df_status df_registry_save(const df_registry *r, const char *path, df_error *err) {
    char *s = df_registry_to_json(r, NULL);
    if (!s) return df_error_set(err, DF_ENOMEM, "%s: out of memory", path);
    size_t len = strlen(s);
    char *t = realloc(s, len + 2);
    if (!t) { free(s); return df_error_set(err, DF_ENOMEM, "%s: out of memory", path); }
    t[len] = '\n';
    t[len + 1] = 0;
    df_status st = df_file_write_atomic(path, t, len + 1, err);
    free(t);
    return st;
}

/* ---- lookups ---------------------------------------------------------------------------- */

const char *df_registry_dir(const df_registry *r) { return r->dir; }

char *df_registry_resolve(const df_registry *r, const char *stored, char *out, size_t size) {
    int n = stored[0] == '/' ? snprintf(out, size, "%s", stored) : snprintf(out, size, "%s/%s", r->dir, stored);
    return (n < 0 || (size_t)n >= size) ? NULL : out;
}

size_t df_registry_count(const df_registry *r) { return r->n; }

const df_registry_entry *df_registry_at(const df_registry *r, size_t i) { return i < r->n ? &r->entries[i] : NULL; }

const df_registry_entry *df_registry_find(const df_registry *r, const char *name, const char *platform) {
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->entries[i].model_name, name) && (!platform || !strcmp(r->entries[i].platform, platform)))
            return &r->entries[i];
    return NULL;
}

const char *df_registry_task_model(const df_registry *r, const char *task) {
    json_t *v = json_object_get(r->routes, task);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Platforms in preference order: the accelerator first, then the CPU, then any other in the
 * file's order. */
static size_t platform_order(const df_registry *r, const char **out, size_t max) {
    size_t n = 0;
    out[n++] = "fpga";
    out[n++] = "cpu";
    const char *p;
    json_t *v;
    json_object_foreach(r->chains, p, v) {
        if (n < max && strcmp(p, "fpga") && strcmp(p, "cpu")) out[n++] = p;
    }
    return n;
}

static void route_push(df_route *routes, size_t max, size_t *n, const df_registry_entry *e) {
    for (size_t k = 0; k < *n && k < max; k++)
        if (routes[k].entry == e) return;
    if (*n < max) routes[*n] = (df_route){e, e->model_name, e->platform};
    (*n)++;
}

df_status df_registry_route(const df_registry *r, const char *task, df_route *routes, size_t max, size_t *n,
                            df_error *err) {
    *n = 0;
    const char *plats[32];
    size_t np = platform_order(r, plats, 32);
    const char *primary = df_registry_task_model(r, task);
    if (primary)
        for (size_t p = 0; p < np; p++) {
            const df_registry_entry *e = df_registry_find(r, primary, plats[p]);
            if (e && e->status == DF_MODEL_ACTIVE && !strcmp(e->task, task)) route_push(routes, max, n, e);
        }
    for (size_t p = 0; p < np; p++) {
        json_t *chain = json_object_get(r->chains, plats[p]);
        for (size_t k = 0; k < json_array_size(chain); k++) {
            const df_registry_entry *e = df_registry_find(r, json_string_value(json_array_get(chain, k)), plats[p]);
            if (e && e->status == DF_MODEL_ACTIVE && !strcmp(e->task, task)) route_push(routes, max, n, e);
        }
    }
    if (*n == 0) return df_error_set(err, DF_ENOTFOUND, "no active model serves task \"%s\"", task);
    return DF_OK;
}

/* ---- changes ---------------------------------------------------------------------------- */

/* target relative to the absolute directory base: both are made absolute first. */
static df_status relative_to(const char *base, const char *target, char **out, df_error *err) {
    char *abs = realpath(target, NULL);
    if (!abs) return df_error_set(err, DF_ENOTFOUND, "%s: %s", target, strerror(errno));
    size_t common = 0, i = 0;
    /* The common prefix must end at a path component boundary. */
    while (base[i] && abs[i] && base[i] == abs[i]) {
        i++;
        if ((base[i] == '/' || base[i] == 0) && (abs[i] == '/' || abs[i] == 0)) common = i;
    }
    if (!strcmp(base, "/")) common = 0;
    size_t ups = 0;
    for (const char *p = base + common; *p; p++)
        if (*p == '/') ups++;
    const char *rest = abs + common;
    while (*rest == '/') rest++;
    size_t len = ups * 3 + strlen(rest) + 2;
    char *s = malloc(len);
    if (!s) { free(abs); return df_error_set(err, DF_ENOMEM, "out of memory"); }
    s[0] = 0;
    for (size_t k = 0; k < ups; k++) strcat(s, "../");
    strcat(s, rest);
    if (!s[0]) strcpy(s, ".");
    free(abs);
    *out = s;
    return DF_OK;
}

static bool chain_has(json_t *chain, const char *name) {
    for (size_t k = 0; k < json_array_size(chain); k++)
        if (!strcmp(json_string_value(json_array_get(chain, k)), name)) return true;
    return false;
}

df_status df_registry_add(df_registry *r, const df_registry_entry *in, const df_registry_entry **added,
                          df_error *err) {
    if (!in->model_name || !in->model_name[0]) return df_error_set(err, DF_EINVAL, "register: model_name is required");
    if (!in->platform || (strcmp(in->platform, "cpu") && strcmp(in->platform, "fpga")))
        return df_error_set(err, DF_EINVAL, "register %s: platform must be cpu or fpga", in->model_name);
    if (!in->task || !in->task[0]) return df_error_set(err, DF_EINVAL, "register %s: task is required", in->model_name);
    if (!in->artifact_path) return df_error_set(err, DF_EINVAL, "register %s: artifact_path is required", in->model_name);
    if (in->input_rank < 0 || in->input_rank > DF_REG_MAX_RANK)
        return df_error_set(err, DF_EINVAL, "register %s: input_shape rank %d", in->model_name, in->input_rank);
    df_registry_entry e = {0};
    df_status st;
    char hex[65];
    if ((st = df_sha256_file(in->artifact_path, hex, err))) return df_error_prefix(err, "register %s: ", in->model_name);
    if ((st = relative_to(r->dir, in->artifact_path, &e.artifact_path, err))) goto fail;
    if (in->tokenizer && (st = relative_to(r->dir, in->tokenizer, &e.tokenizer, err))) goto fail;
    e.model_name = xstrdup(in->model_name);
    e.platform = xstrdup(in->platform);
    e.task = xstrdup(in->task);
    e.input_name = xstrdup(in->input_name);
    e.output_name = xstrdup(in->output_name);
    memcpy(e.input_shape, in->input_shape, sizeof e.input_shape);
    e.input_rank = in->input_rank;
    e.task_count = in->task_count;
    e.batch_size = in->batch_size > 0 ? in->batch_size : 1;
    memcpy(e.sha256, hex, 65);
    df_wall_iso8601(e.deploy_time);
    e.status = DF_MODEL_ACTIVE;
    if (in->n_labels) {
        e.labels = calloc(in->n_labels, sizeof *e.labels);
        if (!e.labels) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto fail; }
        for (size_t k = 0; k < in->n_labels; k++) {
            e.labels[k] = xstrdup(in->labels[k]);
            e.n_labels = k + 1;
        }
    }
    size_t slot = r->n;
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->entries[i].model_name, e.model_name) && !strcmp(r->entries[i].platform, e.platform)) slot = i;
    if (slot < r->n) {
        e.version = r->entries[slot].version + 1;
        entry_clear(&r->entries[slot]);
    } else {
        if ((st = grow(r, err))) goto fail;
        /* A model redeployed on another platform continues its numbering. */
        e.version = 1;
        for (size_t i = 0; i < r->n; i++)
            if (!strcmp(r->entries[i].model_name, e.model_name) && r->entries[i].version >= e.version)
                e.version = r->entries[i].version + 1;
        r->extras[slot] = json_object();
        r->n++;
    }
    r->entries[slot] = e;
    if (!df_registry_task_model(r, e.task)) json_object_set_new(r->routes, e.task, json_string(e.model_name));
    json_t *chain = json_object_get(r->chains, e.platform);
    if (!chain) {
        chain = json_array();
        json_object_set_new(r->chains, e.platform, chain);
    }
    if (!chain_has(chain, e.model_name)) json_array_append_new(chain, json_string(e.model_name));
    if (added) *added = &r->entries[slot];
    return DF_OK;
fail:
    entry_clear(&e);
    return st;
}

df_status df_registry_set_status(df_registry *r, const char *name, df_model_status status, const char *reason,
                                 df_error *err) {
    size_t hit = 0;
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->entries[i].model_name, name)) {
            r->entries[i].status = status;
            free(r->entries[i].reason);
            r->entries[i].reason = xstrdup(reason);
            hit++;
        }
    if (!hit) return df_error_set(err, DF_ENOTFOUND, "%s: no model named \"%s\"", r->path, name);
    return DF_OK;
}

df_status df_registry_remove(df_registry *r, const char *name, df_error *err) {
    size_t w = 0, hit = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!strcmp(r->entries[i].model_name, name)) {
            entry_clear(&r->entries[i]);
            json_decref(r->extras[i]);
            hit++;
            continue;
        }
        r->entries[w] = r->entries[i];
        r->extras[w++] = r->extras[i];
    }
    r->n = w;
    if (!hit) return df_error_set(err, DF_ENOTFOUND, "%s: no model named \"%s\"", r->path, name);
    const char *task;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(r->routes, tmp, task, v) {
        if (!strcmp(json_string_value(v), name)) json_object_del(r->routes, task);
    }
    json_object_foreach(r->chains, task, v) {
        for (size_t k = json_array_size(v); k-- > 0;)
            if (!strcmp(json_string_value(json_array_get(v, k)), name)) json_array_remove(v, k);
    }
    return DF_OK;
}

df_status df_registry_check(df_registry *r, df_registry_check_result *res, df_error *err) {
    (void)err;
    memset(res, 0, sizeof *res);
    char path[PATH_MAX + 256];
    for (size_t i = 0; i < r->n; i++) {
        df_registry_entry *e = &r->entries[i];
        df_error e2 = {0};
        char hex[65];
        bool was_disabled = e->status == DF_MODEL_DISABLED;
        char why[DF_ERROR_MSG_MAX + 64];
        df_model_status verdict = DF_MODEL_ACTIVE;
        if (!df_registry_resolve(r, e->artifact_path, path, sizeof path)) {
            verdict = DF_MODEL_ERROR;
            snprintf(why, sizeof why, "artifact path too long");
        } else if (access(path, R_OK) != 0) {
            verdict = DF_MODEL_ERROR;
            snprintf(why, sizeof why, "artifact missing: %s", e->artifact_path);
        } else if (df_sha256_file(path, hex, &e2)) {
            verdict = DF_MODEL_ERROR;
            snprintf(why, sizeof why, "artifact unreadable: %s", e2.msg);
        } else if (strcmp(hex, e->sha256)) {
            verdict = DF_MODEL_STALE;
            snprintf(why, sizeof why, "artifact sha256 changed: %.12s... now %.12s...", e->sha256, hex);
        }
        if (verdict == DF_MODEL_ACTIVE && e->tokenizer && df_registry_resolve(r, e->tokenizer, path, sizeof path) &&
            access(path, R_OK) != 0) {
            verdict = DF_MODEL_ERROR;
            snprintf(why, sizeof why, "tokenizer missing: %s", e->tokenizer);
        }
        if (was_disabled) {
            res->disabled++;
            continue;
        }
        e->status = verdict;
        free(e->reason);
        e->reason = verdict == DF_MODEL_ACTIVE ? NULL : xstrdup(why);
        if (verdict == DF_MODEL_ACTIVE) res->ok++;
        else if (verdict == DF_MODEL_ERROR) res->error++;
        else res->stale++;
    }
    return DF_OK;
}

/* ---- locked update ---------------------------------------------------------------------- */

df_status df_registry_update(const char *path, df_registry_fn fn, void *ctx, df_error *err) {
    char lock[PATH_MAX];
    if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock)
        return df_error_set(err, DF_EINVAL, "%s: path too long", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return df_error_set(err, DF_EIO, "%s: cannot open lock file: %s", lock, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return df_error_set(err, DF_EIO, "%s: cannot lock: %s", lock, strerror(e));
        }
    }
    df_registry *r = NULL;
    df_status st = df_registry_load(path, true, &r, err);
    if (!st) st = fn(r, ctx, err);
    if (!st) st = df_registry_save(r, path, err);
    df_registry_free(r);
    flock(fd, LOCK_UN);
    close(fd);
    return st;
}
