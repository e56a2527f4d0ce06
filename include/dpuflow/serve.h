/* dpuflow — the model server: many registry models behind one HTTP API.
 *
 * df_server_start reads the registry, loads every active model in the background, and serves
 * on host:port from libmicrohttpd's network thread. Inference runs on per-model worker threads;
 * the network thread only parses, routes and queues, then suspends the connection until a
 * worker has written the answer. API: docs/api.md. Scheduling and reload: docs/architecture.md
 * ("Server"). */
#ifndef DPUFLOW_SERVE_H
#define DPUFLOW_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct df_serve_opts {
    const char *registry_path;   /* model_registry.json */
    const char *host;            /* "127.0.0.1"; "0.0.0.0" for every interface */
    int port;                    /* 0 = any free port (see df_server_port) */
    const char *admin_token;     /* NULL: admin endpoints answer loopback clients only */
    int workers;                 /* worker threads per model (each with its own sessions) */
    int cpus;                    /* global CPU budget: inferences running at once (0 = cores) */
    int queue;                   /* bounded queue per model, in requests */
    int max_batch;               /* rows per batch (sessions exist for 1, 2, 4, 8, ...) */
    int batch_delay_us;          /* how long a worker waits for a batch to fill */
    int max_batch_tokens;        /* padded tokens (rows x seq) per batch */
    int timeout_ms;              /* longest wait in the queue before 504 */
    int max_texts;               /* texts per request */
    size_t max_text_bytes;       /* bytes per text */
    size_t max_body;             /* request body bytes (413 beyond) */
    bool truncate;               /* default for texts longer than the model's sequence */
    bool strict_platform;        /* forbid fallback for every request */
    bool no_dpu_sim;             /* fpga entries are unavailable instead of simulated */
    int watch_interval_s;        /* periodic registry check */
    int drain_timeout_ms;        /* SIGTERM: longest wait for in-flight work */
    const char *log_dir;         /* traces, usage (NULL = "logs") */
} df_serve_opts;

void df_serve_opts_default(df_serve_opts *o);

typedef struct df_server df_server;

/* Loads the registry (an unreadable one is an error here; later it only keeps the last good
 * one), starts the workers, the watcher and the HTTP daemon. */
df_status df_server_start(const df_serve_opts *opts, df_server **out, df_error *err);
/* The port actually bound (useful with port 0). */
int df_server_port(const df_server *s);
/* Asks the watcher thread to re-read the registry now (SIGHUP). */
void df_server_reload(df_server *s);
/* Readiness goes to 503 and the listening socket closes; waits for in-flight requests up to
 * timeout_ms, answers the rest 503, and stops the workers. Returns the requests cut off. */
int df_server_drain(df_server *s, int timeout_ms);
/* Stops everything (drains with timeout 0 when df_server_drain was not called) and frees. */
void df_server_free(df_server *s);

#ifdef __cplusplus
}
#endif
#endif
