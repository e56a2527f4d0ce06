/* dpuflow serve: parse options, start the server, then wait for signals on this thread.
 * SIGHUP reloads the registry; SIGTERM / SIGINT drain (readiness 503, stop accepting, finish
 * in-flight work up to --drain-timeout) and exit 0. Signals are blocked in every thread and
 * taken here with sigwait, so no handler runs inside the library. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dpuflow/serve.h"

static const char USAGE[] =
    "[--registry model_registry.json] [--host 127.0.0.1] [--port 8080] [--admin-token T]\n"
    "       [--workers N] [--cpus N] [--queue N] [--max-batch N] [--batch-delay-us N] [--max-batch-tokens N]\n"
    "       [--timeout-ms N] [--max-texts N] [--max-body BYTES] [--no-truncate] [--strict-platform] [--no-dpu-sim]\n"
    "       [--watch-interval S] [--drain-timeout S] [--log-dir DIR]";

int df_cmd_serve(int argc, char **argv) {
    df_serve_opts o;
    df_serve_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return df_cli_help("serve", USAGE);
        if (!strcmp(a, "--no-truncate")) {
            o.truncate = false;
            continue;
        }
        if (!strcmp(a, "--strict-platform")) {
            o.strict_platform = true;
            continue;
        }
        if (!strcmp(a, "--no-dpu-sim")) {
            o.no_dpu_sim = true;
            continue;
        }
        if (i + 1 >= argc) return df_cli_usage("serve", USAGE, "missing value after an option");
        const char *v = argv[++i];
        long n = df_cli_int(v);
        if (!strcmp(a, "--registry")) o.registry_path = v;
        else if (!strcmp(a, "--host")) o.host = v;
        else if (!strcmp(a, "--admin-token")) o.admin_token = v;
        else if (!strcmp(a, "--log-dir")) o.log_dir = v;
        else if (n < 0) {
            fprintf(stderr, "dpuflow serve: %s: '%s' is not a non-negative integer\n", a, v);
            return DF_EXIT_USAGE;
        } else if (!strcmp(a, "--port") && n <= 65535) o.port = (int)n;
        else if (!strcmp(a, "--workers") && n >= 1 && n <= 16) o.workers = (int)n;
        else if (!strcmp(a, "--cpus")) o.cpus = (int)n;
        else if (!strcmp(a, "--queue") && n >= 1) o.queue = (int)n;
        else if (!strcmp(a, "--max-batch") && n >= 1 && n <= 128) o.max_batch = (int)n;
        else if (!strcmp(a, "--batch-delay-us")) o.batch_delay_us = (int)n;
        else if (!strcmp(a, "--max-batch-tokens") && n >= 1) o.max_batch_tokens = (int)n;
        else if (!strcmp(a, "--timeout-ms")) o.timeout_ms = (int)n;
        else if (!strcmp(a, "--max-texts") && n >= 1) o.max_texts = (int)n;
        else if (!strcmp(a, "--max-body") && n >= 1) o.max_body = (size_t)n;
        else if (!strcmp(a, "--watch-interval") && n >= 1) o.watch_interval_s = (int)n;
        else if (!strcmp(a, "--drain-timeout")) o.drain_timeout_ms = (int)(n * 1000);
        else {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown option or value out of range: %s %s", a, v);
            return df_cli_usage("serve", USAGE, msg);
        }
    }

    /* Block the signals before any thread starts, so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    df_server *s = NULL;
    df_error err = {0};
    if (df_server_start(&o, &s, &err)) return df_cli_fail("serve", &err);
    int port = df_server_port(s);
    printf("dpuflow serve: listening on http://%s:%d/ (registry %s)\n", o.host, port, o.registry_path);
    printf("try: curl -s http://%s:%d/v1/registry\n"
           "     curl -s -X POST http://%s:%d/v1/tasks/<task> -H 'Content-Type: application/json' -d '{\"text\":\"你好\"}'\n",
           o.host, port, o.host, port);
    fflush(stdout);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig)) continue;
        if (sig == SIGHUP) {
            df_server_reload(s);
            continue;
        }
        fprintf(stderr, "dpuflow serve: %s: draining (up to %d ms)\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                o.drain_timeout_ms);
        int cut = df_server_drain(s, o.drain_timeout_ms);
        df_server_free(s);
        fprintf(stderr, "dpuflow serve: stopped%s\n", cut ? " (some queued requests were answered 503)" : "");
        return DF_EXIT_OK;
    }
}
