/* dpuflow registry list [--json] | show NAME [--json] | disable NAME | enable NAME | remove NAME
 *                  | check   [--registry PATH]
 * Every change runs under the registry's lock and replaces the file atomically. */
#include "cli.h"
#include "dpuflow/registry.h"

static const char *USAGE = "list|show NAME|disable NAME|enable NAME|remove NAME|check [--registry PATH] [--json]";

typedef struct change {
    const char *verb, *name;
    df_registry_check_result check;
} change;

static df_status change_fn(df_registry *r, void *ctx, df_error *err) {
    change *c = ctx;
    if (!strcmp(c->verb, "disable")) return df_registry_set_status(r, c->name, DF_MODEL_DISABLED, "disabled by user", err);
    if (!strcmp(c->verb, "enable")) {
        df_status st = df_registry_set_status(r, c->name, DF_MODEL_ACTIVE, NULL, err);
        /* enabling re-verifies, so a missing artifact comes back as error, not active */
        return st ? st : df_registry_check(r, &c->check, err);
    }
    if (!strcmp(c->verb, "remove")) return df_registry_remove(r, c->name, err);
    return df_registry_check(r, &c->check, err);
}

static void print_entry(const df_registry_entry *e, bool routed) {
    printf("%-20s v%-3lld %-5s %-9s %-18s %s%s%s%s\n", e->model_name, (long long)e->version, e->platform,
           df_model_status_str(e->status), e->task, e->artifact_path, routed ? "  (routed)" : "",
           e->reason ? "  reason: " : "", e->reason ? e->reason : "");
}

int df_cmd_registry(int argc, char **argv) {
    const char *registry = "model_registry.json", *verb = NULL, *name = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return df_cli_help("registry", USAGE);
        if (!strcmp(argv[i], "--registry") && i + 1 < argc) registry = argv[++i];
        else if (!strcmp(argv[i], "--json")) json = true;
        else if (argv[i][0] == '-') return df_cli_usage("registry", USAGE, "unknown option or missing value");
        else if (!verb) verb = argv[i];
        else if (!name) name = argv[i];
        else return df_cli_usage("registry", USAGE, "too many arguments");
    }
    if (!verb) return df_cli_usage("registry", USAGE, "a subcommand is required");
    bool needs_name = !strcmp(verb, "show") || !strcmp(verb, "disable") || !strcmp(verb, "enable") ||
                      !strcmp(verb, "remove");
    if (!needs_name && strcmp(verb, "list") && strcmp(verb, "check"))
        return df_cli_usage("registry", USAGE, "unknown subcommand");
    if (needs_name != (name != NULL)) return df_cli_usage("registry", USAGE, needs_name ? "NAME is required" : "unexpected NAME");
    df_error err = {0};
    if (!strcmp(verb, "list") || !strcmp(verb, "show")) {
        df_registry *r = NULL;
        if (df_registry_load(registry, false, &r, &err)) return df_cli_fail("registry", &err);
        if (name && !df_registry_find(r, name, NULL)) {
            df_error_set(&err, DF_ENOTFOUND, "%s: no model named \"%s\"", registry, name);
            df_registry_free(r);
            return df_cli_fail("registry", &err);
        }
        if (json) {
            char *s = df_registry_to_json(r, name);
            if (s) puts(s);
            free(s);
        } else if (name) {
            for (size_t i = 0; i < df_registry_count(r); i++) {
                const df_registry_entry *e = df_registry_at(r, i);
                if (strcmp(e->model_name, name)) continue;
                printf("model_name:    %s\nversion:       %lld\nplatform:      %s\nstatus:        %s%s%s%s\n",
                       e->model_name, (long long)e->version, e->platform, df_model_status_str(e->status),
                       e->reason ? " (" : "", e->reason ? e->reason : "", e->reason ? ")" : "");
                printf("task:          %s\nartifact_path: %s\ntokenizer:     %s\n", e->task, e->artifact_path,
                       e->tokenizer ? e->tokenizer : "-");
                printf("input:         %s [", e->input_name ? e->input_name : "-");
                for (int k = 0; k < e->input_rank; k++) printf("%s%lld", k ? ", " : "", (long long)e->input_shape[k]);
                printf("]\noutput:        %s\nlabels:        %zu\ntask_count:    %lld\nbatch_size:    %lld\n",
                       e->output_name ? e->output_name : "-", e->n_labels, (long long)e->task_count,
                       (long long)e->batch_size);
                printf("sha256:        %s\ndeploy_time:   %s\n\n", e->sha256, e->deploy_time);
            }
        } else {
            printf("%-20s %-4s %-5s %-9s %-18s %s\n", "MODEL", "VER", "PLAT", "STATUS", "TASK", "ARTIFACT");
            for (size_t i = 0; i < df_registry_count(r); i++) {
                const df_registry_entry *e = df_registry_at(r, i);
                const char *routed = df_registry_task_model(r, e->task);
                print_entry(e, routed && !strcmp(routed, e->model_name));
            }
        }
        df_registry_free(r);
        return DF_EXIT_OK;
    }
    /* changes: the file must already exist (a typo'd --registry must not create one) */
    df_registry *probe = NULL;
    if (df_registry_load(registry, false, &probe, &err)) return df_cli_fail("registry", &err);
    df_registry_free(probe);
    change c = {.verb = verb, .name = name};
    if (df_registry_update(registry, change_fn, &c, &err)) return df_cli_fail("registry", &err);
    if (!strcmp(verb, "check")) {
        printf("%s: %zu ok, %zu error, %zu stale, %zu disabled\n", registry, c.check.ok, c.check.error, c.check.stale,
               c.check.disabled);
        if (c.check.error || c.check.stale) {
            df_registry *r = NULL;
            if (!df_registry_load(registry, false, &r, &err)) {
                for (size_t i = 0; i < df_registry_count(r); i++) {
                    const df_registry_entry *e = df_registry_at(r, i);
                    if (e->status == DF_MODEL_ERROR || e->status == DF_MODEL_STALE)
                        printf("  %s (%s): %s: %s\n", e->model_name, e->platform, df_model_status_str(e->status),
                               e->reason ? e->reason : "");
                }
                df_registry_free(r);
            }
            return DF_EXIT_FAIL;
        }
    } else {
        printf("%s %s\n", !strcmp(verb, "remove") ? "removed" : !strcmp(verb, "enable") ? "enabled" : "disabled", name);
    }
    return DF_EXIT_OK;
}
