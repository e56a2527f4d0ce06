/* dpuflow register [--registry PATH] --task TASK (--build-dir DIR | --name NAME --artifact FILE)
 *                  [--tokenizer FILE] [--platform cpu] [--input-name N] [--output-name N]
 *                  [--shape 1,64] [--labels a,b,c] [--task-count N]
 * Adds or replaces the model in the registry under a lock, atomically. With --build-dir the
 * artifact, its inputs/outputs and task count come from DIR/compiled/meta.json and the
 * tokenizer from DIR/vocab.txt (or tokenizer.json). */
#include <jansson.h>
#include <unistd.h>

#include "cli.h"
#include "dpuflow/registry.h"

static const char *USAGE =
    "[--registry PATH] --task TASK (--build-dir DIR | --name NAME --artifact FILE) [--tokenizer FILE] "
    "[--platform cpu|fpga] [--input-name N] [--output-name N] [--shape 1,64] [--labels a,b,c] [--task-count N]";

static df_status add_fn(df_registry *r, void *ctx, df_error *err) {
    return df_registry_add(r, (const df_registry_entry *)ctx, NULL, err);
}

static int split_list(char *s, char **out, int max, char sep) {
    int n = 0;
    while (s && *s && n < max) {
        out[n++] = s;
        char *c = strchr(s, sep);
        if (!c) break;
        *c = 0;
        s = c + 1;
    }
    return n;
}

int df_cmd_register(int argc, char **argv) {
    const char *registry = "model_registry.json", *build_dir = NULL;
    df_registry_entry e = {0};
    e.platform = (char *)"cpu";
    e.batch_size = 1;
    char *labels[1024];
    char *shape_arg = NULL, *labels_arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool v = i + 1 < argc;
        if (!strcmp(a, "--help")) return df_cli_help("register", USAGE);
        if (!strcmp(a, "--registry") && v) registry = argv[++i];
        else if (!strcmp(a, "--build-dir") && v) build_dir = argv[++i];
        else if (!strcmp(a, "--name") && v) e.model_name = argv[++i];
        else if (!strcmp(a, "--task") && v) e.task = argv[++i];
        else if (!strcmp(a, "--artifact") && v) e.artifact_path = argv[++i];
        else if (!strcmp(a, "--tokenizer") && v) e.tokenizer = argv[++i];
        else if (!strcmp(a, "--platform") && v) e.platform = argv[++i];
        else if (!strcmp(a, "--input-name") && v) e.input_name = argv[++i];
        else if (!strcmp(a, "--output-name") && v) e.output_name = argv[++i];
        else if (!strcmp(a, "--shape") && v) shape_arg = argv[++i];
        else if (!strcmp(a, "--labels") && v) labels_arg = argv[++i];
        else if (!strcmp(a, "--task-count") && v) e.task_count = df_cli_int(argv[++i]);
        else return df_cli_usage("register", USAGE, "unknown option or missing value");
    }
    if (!e.task) return df_cli_usage("register", USAGE, "--task is required");
    df_error err = {0};
    json_t *meta = NULL;
    char artifact[4200], tok[4200], name[256];
    if (build_dir) {
        char mp[4200];
        snprintf(mp, sizeof mp, "%s/compiled/meta.json", build_dir);
        json_error_t je;
        if (!(meta = json_load_file(mp, 0, &je))) {
            df_error_set(&err, DF_ENOTFOUND, "%s: %s (run `dpuflow build` or `dpuflow compile` first)", mp, je.text);
            return df_cli_fail("register", &err);
        }
        const char *art = json_string_value(json_object_get(meta, "artifact"));
        const char *plat = json_string_value(json_object_get(meta, "platform"));
        if (!art) {
            df_error_set(&err, DF_EFORMAT, "%s: \"artifact\" missing", mp);
            json_decref(meta);
            return df_cli_fail("register", &err);
        }
        snprintf(artifact, sizeof artifact, "%s/compiled/%s", build_dir, art);
        if (!e.artifact_path) e.artifact_path = artifact;
        if (plat) e.platform = (char *)plat;
        if (!e.model_name) {
            /* <name>_<platform>.<ext>: the compiler's naming */
            snprintf(name, sizeof name, "%s", art);
            char *u = strrchr(name, '_');
            if (u) *u = 0;
            e.model_name = name;
        }
        json_t *in0 = json_array_get(json_object_get(meta, "inputs"), 0);
        json_t *out0 = json_array_get(json_object_get(meta, "outputs"), 0);
        if (!e.input_name) e.input_name = (char *)json_string_value(json_object_get(in0, "name"));
        if (!e.output_name) e.output_name = (char *)json_string_value(json_object_get(out0, "name"));
        if (!shape_arg) {
            json_t *sh = json_object_get(in0, "shape");
            for (size_t k = 0; k < json_array_size(sh) && k < DF_REG_MAX_RANK; k++)
                e.input_shape[e.input_rank++] = json_integer_value(json_array_get(sh, k));
        }
        if (!e.task_count) e.task_count = json_integer_value(json_object_get(meta, "task_count"));
        if (!e.tokenizer) {
            snprintf(tok, sizeof tok, "%s/vocab.txt", build_dir);
            if (access(tok, R_OK)) snprintf(tok, sizeof tok, "%s/tokenizer.json", build_dir);
            if (!access(tok, R_OK)) e.tokenizer = tok;
        }
    }
    if (!e.model_name || !e.artifact_path) {
        json_decref(meta);
        return df_cli_usage("register", USAGE, "--build-dir or --name and --artifact are required");
    }
    if (shape_arg) {
        char *dims[DF_REG_MAX_RANK];
        int n = split_list(shape_arg, dims, DF_REG_MAX_RANK, ',');
        for (int k = 0; k < n; k++) {
            long d = df_cli_int(dims[k]);
            if (d <= 0) { json_decref(meta); return df_cli_usage("register", USAGE, "--shape wants positive integers"); }
            e.input_shape[k] = d;
        }
        e.input_rank = n;
    }
    if (labels_arg) e.n_labels = (size_t)split_list(labels_arg, labels, 1024, ',');
    e.labels = labels;
    if (e.task_count < 0) e.task_count = 0;
    df_status st = df_registry_update(registry, add_fn, &e, &err);
    if (!st) {
        df_registry *r = NULL;
        if (!df_registry_load(registry, false, &r, &err)) {
            const df_registry_entry *got = df_registry_find(r, e.model_name, e.platform);
            if (got)
                printf("registered %s v%lld on %s for task %s in %s\n", got->model_name, (long long)got->version,
                       got->platform, got->task, registry);
            df_registry_free(r);
        }
    }
    json_decref(meta);
    return st ? df_cli_fail("register", &err) : DF_EXIT_OK;
}
