/* dpuflow — the model registry (model_registry.json): deployed models, task routes and
 * per-platform fallback chains.
 *
 * One JSON file, format in docs/architecture.md ("Registry"). Paths inside it
 * (artifact_path, tokenizer) are stored RELATIVE TO THE REGISTRY FILE'S DIRECTORY, so a
 * registry and its build folders can move together; df_registry_resolve turns one into a
 * usable path. An entry is keyed by (model_name, platform): the same model may be deployed
 * on fpga and on cpu.
 *
 * Writers: every read-modify-write goes through df_registry_update, which holds an advisory
 * lock (flock on "<registry>.lock") for the whole cycle, so two `dpuflow register` runs never
 * lose an entry. The file is always replaced atomically (temp, fsync, rename), so a reader
 * (the server's watcher) sees the old or the new registry, never half of one. A registry that
 * does not parse is an error and is never overwritten. */
#ifndef DPUFLOW_REGISTRY_H
#define DPUFLOW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum df_model_status {
    DF_MODEL_ACTIVE = 0,
    DF_MODEL_DISABLED,
    DF_MODEL_ERROR,   /* artifact missing or unloadable; reason says which */
    DF_MODEL_STALE,   /* the artifact's sha256 no longer matches the entry */
} df_model_status;

const char *df_model_status_str(df_model_status s);   /* "active", ... */

#define DF_REG_MAX_RANK 8

typedef struct df_registry_entry {
    char *model_name;
    int64_t version;
    char *platform;        /* "cpu" or "fpga" */
    char *artifact_path;   /* relative to the registry's directory (or absolute) */
    char *tokenizer;       /* the same; may be NULL */
    char *task;
    char *input_name;
    int64_t input_shape[DF_REG_MAX_RANK];
    int input_rank;
    char *output_name;
    char **labels;         /* may be NULL (n_labels 0) for embedding models */
    size_t n_labels;
    int64_t task_count;
    int64_t batch_size;
    char sha256[65];
    char deploy_time[32];
    df_model_status status;
    char *reason;          /* why status is error/stale/disabled; NULL when none */
} df_registry_entry;

typedef struct df_registry df_registry;

/* Parses and validates path. allow_missing: a file that does not exist is an empty registry
 * (how the first `register` starts); otherwise it is DF_ENOTFOUND. Errors name the file and
 * the field ("models[2].sha256: expected 64 hex digits"). */
df_status df_registry_load(const char *path, bool allow_missing, df_registry **out, df_error *err);
/* The same from memory; path names the file in messages and anchors relative paths. */
df_status df_registry_parse(const char *json, size_t len, const char *path, df_registry **out, df_error *err);
/* Writes the registry atomically to path (normally the one it was loaded from). */
df_status df_registry_save(const df_registry *r, const char *path, df_error *err);
void df_registry_free(df_registry *r);

/* The directory relative paths are resolved against (absolute). */
const char *df_registry_dir(const df_registry *r);
/* Turns a stored path into one usable from the current directory (absolute paths pass
 * through). Returns out, or NULL when it does not fit. */
char *df_registry_resolve(const df_registry *r, const char *stored, char *out, size_t size);

size_t df_registry_count(const df_registry *r);
const df_registry_entry *df_registry_at(const df_registry *r, size_t i);
/* Finds (name, platform); platform NULL = the first entry with that name. NULL if absent. */
const df_registry_entry *df_registry_find(const df_registry *r, const char *name, const char *platform);
/* The model task_routing_map names for task, or NULL. */
const char *df_registry_task_model(const df_registry *r, const char *task);

/* ---- routing ---------------------------------------------------------------------------- */
typedef struct df_route {
    const df_registry_entry *entry;   /* points into the registry */
    const char *model_name;
    const char *platform;
} df_route;

/* The ordered list of active (model, platform) pairs that can answer task: first the routed
 * model (task_routing_map) on each platform, fpga before cpu, then every other model of
 * that task in the order of each platform's fallback_chain. Writes at most max routes;
 * *n gets the number found (which may exceed max). DF_ENOTFOUND when none. */
df_status df_registry_route(const df_registry *r, const char *task, df_route *routes, size_t max, size_t *n,
                            df_error *err);

/* ---- changes (on a loaded registry; save afterwards, or use df_registry_update) ---------- */
/* Adds or replaces the entry for (e->model_name, e->platform). artifact_path and tokenizer in e
 * are paths usable from the current directory; they are stored relative to the registry.
 * Sets version (previous + 1, or 1), status active, sha256 of the artifact, deploy_time now.
 * When e->task has no route yet it is routed to this model, and the model is appended to
 * fallback_chain[platform] when not already there. */
df_status df_registry_add(df_registry *r, const df_registry_entry *e, const df_registry_entry **added,
                          df_error *err);
/* Status changes and removal by model name: every platform's entry of that name.
 * DF_ENOTFOUND names the model when there is none. */
df_status df_registry_set_status(df_registry *r, const char *name, df_model_status status, const char *reason,
                                 df_error *err);
/* Removes the model's entries, its routes and its fallback-chain mentions. */
df_status df_registry_remove(df_registry *r, const char *name, df_error *err);

typedef struct df_registry_check_result {
    size_t ok, error, stale, disabled;
} df_registry_check_result;
/* Verifies every entry: a missing artifact -> error (with reason), a sha256 that differs ->
 * stale; an error/stale entry whose artifact is back and matches becomes active again.
 * Disabled entries are checked but stay disabled. */
df_status df_registry_check(df_registry *r, df_registry_check_result *res, df_error *err);

/* ---- locked read-modify-write ----------------------------------------------------------- */
/* Takes flock(LOCK_EX) on "<path>.lock", loads path (missing = empty), calls fn, and saves when
 * fn returns DF_OK; the lock is held across the whole cycle. */
typedef df_status (*df_registry_fn)(df_registry *r, void *ctx, df_error *err);
df_status df_registry_update(const char *path, df_registry_fn fn, void *ctx, df_error *err);

/* The registry as JSON text (what df_registry_save writes); free() the result. With model
 * non-NULL only that model's entries, as an array. */
char *df_registry_to_json(const df_registry *r, const char *model);

#ifdef __cplusplus
}
#endif
#endif
