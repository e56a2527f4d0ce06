/* dpuflow bench-model MODEL.onnx [--seq 64] [--batch 1] [--threads 1] [--runs N] [--json]
 * Latency of the engine alone: token inputs get valid random ids, masks ones, type ids zeros. */
#include <inttypes.h>
#include <time.h>

#include "cli.h"
#include "dpuflow/session.h"
#include "graph/ir.h"

static const char *USAGE = "MODEL.onnx [--seq 64] [--batch 1] [--max-batch N] [--threads 1] [--runs 50] [--warmup N] [--json] [--profile] [--backend cpu|dpu-sim]";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The number of rows of the embedding table a token input indexes, so ids stay valid. */
static int64_t id_bound(const df_graph *g, const char *input) {
    int v = df_graph_find_value(g, input);
    for (int i = 0; i < g->n_nodes && v >= 0; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead || strcmp(n->op_type, "Gather") || n->n_inputs < 2 || n->inputs[1] != v) continue;
        const df_value *table = &g->values[n->inputs[0]];
        if (table->shape.rank >= 1 && table->shape.dims[0] > 0) return table->shape.dims[0];
    }
    return 2;
}

static void fill_input(df_tensor *t, const char *name, int64_t bound, uint64_t *rng) {
    size_t n = (size_t)df_shape_numel(&t->shape);
    bool is_mask = strstr(name, "mask") != NULL, is_type = strstr(name, "type") != NULL;
    for (size_t i = 0; i < n; i++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = *rng >> 33;
        int64_t id = is_mask ? 1 : is_type ? 0 : (int64_t)(r % (uint64_t)(bound > 0 ? bound : 1));
        switch (t->dtype) {
        case DF_I64: ((int64_t *)t->data)[i] = id; break;
        case DF_I32: ((int32_t *)t->data)[i] = (int32_t)id; break;
        case DF_F32: ((float *)t->data)[i] = is_mask ? 1.0f : (float)((double)r / (double)(1ull << 31) - 1.0); break;
        case DF_BOOL: ((uint8_t *)t->data)[i] = 1; break;
        default: break;
        }
    }
}

int df_cmd_bench_model(int argc, char **argv) {
    const char *model = NULL;
    long seq = 64, batch = 1, threads = 1, runs = 50, warmup = -1, max_batch = 0;
    bool json = false, profile = false;
    const char *backend = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) return df_cli_help("bench-model", USAGE);
        long *target = NULL;
        if (!strcmp(argv[i], "--seq")) target = &seq;
        else if (!strcmp(argv[i], "--batch")) target = &batch;
        else if (!strcmp(argv[i], "--max-batch")) target = &max_batch;
        else if (!strcmp(argv[i], "--threads")) target = &threads;
        else if (!strcmp(argv[i], "--runs")) target = &runs;
        else if (!strcmp(argv[i], "--warmup")) target = &warmup;
        else if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--profile")) profile = true;
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (argv[i][0] == '-') return df_cli_usage("bench-model", USAGE, "unknown option");
        else model = argv[i];
        if (target) {
            if (i + 1 >= argc || (*target = df_cli_int(argv[++i])) < 0)
                return df_cli_usage("bench-model", USAGE, "option needs a non-negative number");
        }
    }
    if (!model || seq <= 0 || batch <= 0 || runs <= 0) return df_cli_usage("bench-model", USAGE, "MODEL is required");
    if (max_batch && (max_batch < batch || max_batch > 4096))
        return df_cli_usage("bench-model", USAGE, "--max-batch must be at least --batch (and at most 4096)");
    if (warmup < 0) warmup = runs / 10 > 3 ? runs / 10 : 3;

    df_error err = {0};
    df_session *s = NULL;
    /* --max-batch times one variable-batch plan (what the server loads) at --batch rows. */
    df_session_opts opts = {.threads = (int)threads, .backend = backend, .batch = max_batch ? 1 : batch, .seq = seq,
                            .profile = profile, .max_batch = (int)max_batch};
    if (df_session_open(model, &opts, &s, &err)) return df_cli_fail("bench-model", &err);
    if (max_batch > 1 && !df_session_max_batch(s)) {
        df_error_set(&err, DF_EUNSUPPORTED, "%s cannot vary its batch: %s", model, df_session_batch_note(s));
        df_session_close(s);
        return df_cli_fail("bench-model", &err);
    }
    size_t n_in = df_session_input_count(s), n_out = df_session_output_count(s);
    df_tensor feed[64], got[64];
    if (n_in > 64 || n_out > 64) {
        df_session_close(s);
        df_error_set(&err, DF_EUNSUPPORTED, "more than 64 inputs or outputs");
        return df_cli_fail("bench-model", &err);
    }
    uint64_t rng = 42;
    for (size_t i = 0; i < n_in; i++) {
        const char *name;
        df_dtype dt;
        df_shape sh;
        df_session_input_info(s, i, &name, &dt, &sh);
        if (max_batch > 1 && sh.rank >= 1) sh.dims[0] = batch;
        /* A static model keeps its own shape; say so rather than time another batch size. */
        if (sh.rank == 2 && (dt == DF_I64 || dt == DF_I32) && (sh.dims[0] != batch || sh.dims[1] != seq)) {
            char b[64];
            df_error_set(&err, DF_ESHAPE, "%s: input '%s' is static %s, not the requested [%ld,%ld]", model, name,
                         df_shape_str(&sh, b, sizeof b), batch, seq);
            for (size_t k = 0; k < i; k++) df_tensor_free(&feed[k]);
            df_session_close(s);
            return df_cli_fail("bench-model", &err);
        }
        if (df_tensor_alloc(&feed[i], dt, &sh, &err)) return df_cli_fail("bench-model", &err);
        fill_input(&feed[i], name, id_bound(df_session_graph(s), name), &rng);
    }
    double *times = malloc(sizeof(double) * (size_t)runs);
    int rc = DF_EXIT_OK;
    for (long r = 0; r < warmup + runs && rc == DF_EXIT_OK; r++) {
        double t0 = now_ms();
        if (df_session_run(s, feed, n_in, got, n_out, &err)) rc = df_cli_fail("bench-model", &err);
        double dt = now_ms() - t0;
        if (r >= warmup) times[r - warmup] = dt;
    }
    if (rc == DF_EXIT_OK) {
        qsort(times, (size_t)runs, sizeof(double), cmp_double);
        double p50 = times[runs / 2], p90 = times[(runs * 9) / 10 < runs ? (runs * 9) / 10 : runs - 1],
               mn = times[0];
        if (json) {
            printf("{\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"min_ms\":%.4f,\"runs\":%ld}\n", p50, p90, mn, runs);
        } else {
            df_session_stats st;
            df_session_get_stats(s, &st);
            printf("%s: batch %ld, seq %ld, %ld thread%s, %ld runs after %ld warm-up\n", model, batch, seq, threads,
                   threads == 1 ? "" : "s", runs, warmup);
            printf("  p50 %.3f ms   p90 %.3f ms   min %.3f ms\n", p50, p90, mn);
            printf("  %zu nodes, arena %.2f MB\n", st.nodes, (double)st.arena_bytes / 1e6);
        }
        if (profile) df_session_profile_print(s, json ? stderr : stdout);
    }
    free(times);
    for (size_t i = 0; i < n_in; i++) df_tensor_free(&feed[i]);
    df_session_close(s);
    return rc;
}
