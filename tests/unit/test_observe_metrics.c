/* Prometheus registry: exact exposition text, histogram bucket math, validation, threads.
 * `test_observe_metrics --emit FILE` writes a populated df_observe exposition for
 * tests/integration/observe_promtool.sh. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dpuflow/observe.h"

static void golden_text(void **state) {
    (void)state;
    df_metrics *m = df_metrics_new();
    df_metric_family *c, *g, *h;
    const char *lc[] = {"task", "status"}, *lh[] = {"stage"};
    double b[] = {0.001, 0.01, 0.1};
    assert_int_equal(df_metrics_counter(m, "t_requests_total", "Requests.", 2, lc, &c, NULL), DF_OK);
    assert_int_equal(df_metrics_gauge(m, "t_depth", "Depth with \\ and\nnewline.", 0, NULL, &g, NULL), DF_OK);
    assert_int_equal(df_metrics_histogram(m, "t_seconds", "Latency.", 1, lh, b, 3, &h, NULL), DF_OK);
    const char *v1[] = {"intent", "200"}, *v2[] = {"a\"b\\c\nd", "429"};
    df_counter_inc(df_metric_child(c, v1));
    df_counter_add(df_metric_child(c, v1), 2);
    df_counter_inc(df_metric_child(c, v2));
    df_gauge_set(df_metric_child(g, NULL), 2.5);
    const char *s1[] = {"infer"};
    df_metric *hi = df_metric_child(h, s1);
    df_histogram_observe(hi, 0.0005);
    df_histogram_observe(hi, 0.01);   /* le is inclusive */
    df_histogram_observe(hi, 0.05);
    df_histogram_observe(hi, 3);
    char *text = df_metrics_render(m, NULL);
    const char *want =
        "# HELP t_requests_total Requests.\n"
        "# TYPE t_requests_total counter\n"
        "t_requests_total{task=\"intent\",status=\"200\"} 3\n"
        "t_requests_total{task=\"a\\\"b\\\\c\\nd\",status=\"429\"} 1\n"
        "# HELP t_depth Depth with \\\\ and\\nnewline.\n"
        "# TYPE t_depth gauge\n"
        "t_depth 2.5\n"
        "# HELP t_seconds Latency.\n"
        "# TYPE t_seconds histogram\n"
        "t_seconds_bucket{stage=\"infer\",le=\"0.001\"} 1\n"
        "t_seconds_bucket{stage=\"infer\",le=\"0.01\"} 2\n"
        "t_seconds_bucket{stage=\"infer\",le=\"0.1\"} 3\n"
        "t_seconds_bucket{stage=\"infer\",le=\"+Inf\"} 4\n"
        "t_seconds_sum{stage=\"infer\"} 3.0605\n"
        "t_seconds_count{stage=\"infer\"} 4\n";
    assert_string_equal(text, want);
    free(text);
    assert_int_equal(df_histogram_count(hi), 4);
    df_metrics_free(m);
}

static void validation(void **state) {
    (void)state;
    df_metrics *m = df_metrics_new();
    df_metric_family *f;
    df_error err;
    assert_int_equal(df_metrics_counter(m, "no_suffix", "x", 0, NULL, &f, &err), DF_EINVAL);
    assert_non_null(strstr(err.msg, "_total"));
    assert_int_equal(df_metrics_gauge(m, "1bad", "x", 0, NULL, &f, &err), DF_EINVAL);
    const char *bad[] = {"__x"}, *le[] = {"le"};
    assert_int_equal(df_metrics_gauge(m, "g", "x", 1, bad, &f, &err), DF_EINVAL);
    double b[] = {1, 1};
    assert_int_equal(df_metrics_histogram(m, "h", "x", 0, NULL, b, 2, &f, &err), DF_EINVAL);
    double ok[] = {1};
    assert_int_equal(df_metrics_histogram(m, "h", "x", 1, le, ok, 1, &f, &err), DF_EINVAL);
    assert_int_equal(df_metrics_gauge(m, "g", "x", 0, NULL, &f, &err), DF_OK);
    df_metric_family *f2;
    assert_int_equal(df_metrics_gauge(m, "g", "x", 0, NULL, &f2, &err), DF_OK);
    assert_ptr_equal(f, f2);
    assert_int_equal(df_metrics_counter(m, "g", "x", 0, NULL, &f2, &err), DF_EINVAL);
    double e[4];
    df_buckets_exponential(0.001, 10, 4, e);
    assert_true(e[3] > 0.999 && e[3] < 1.001);
    df_metrics_free(m);
}

typedef struct { df_metric_family *c, *h; } thr_arg;

static void *hammer(void *p) {
    thr_arg *a = p;
    char name[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "m%d", i % 7);
        const char *v[] = {name};
        df_counter_inc(df_metric_child(a->c, v));
        df_histogram_observe(df_metric_child(a->h, NULL), (i % 100) / 1000.0);
    }
    return NULL;
}

static void threads(void **state) {
    (void)state;
    df_metrics *m = df_metrics_new();
    thr_arg a;
    const char *l[] = {"model"};
    double b[] = {0.01, 0.05};
    assert_int_equal(df_metrics_counter(m, "c_total", "c", 1, l, &a.c, NULL), DF_OK);
    assert_int_equal(df_metrics_histogram(m, "h_seconds", "h", 0, NULL, b, 2, &a.h, NULL), DF_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, hammer, &a);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    double total = 0;
    for (int i = 0; i < 7; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        const char *v[] = {name};
        total += df_metric_value(df_metric_child(a.c, v));
    }
    assert_true(total == 80000);
    assert_int_equal(df_histogram_count(df_metric_child(a.h, NULL)), 80000);
    char *text = df_metrics_render(m, NULL);
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"0.01\"} 8800\n"));   /* i%100 in 0..10 -> 11 of 100 */
    free(text);
    df_metrics_free(m);
}

static void observe_exposition(void **state) {
    (void)state;
    df_observe *o;
    assert_int_equal(df_observe_open(NULL, &o, NULL), DF_OK);
    df_request_report r = {.task = "intent_classify", .model = "tinybert", .version = 3, .platform = "cpu",
                           .http_status = 200, .n_texts = 1, .tokens = 12, .batch_size = 2,
                           .stage_us = {40, 10, 1500, 8, 0}};
    df_observe_request(o, &r);
    df_observe_batch(o, 2);
    df_observe_model_status(o, "tinybert", 3, "cpu", "active");
    df_observe_queue_depth(o, "tinybert", 1);
    char *text = df_observe_metrics_text(o, NULL);
    assert_non_null(strstr(text, "dpuflow_requests_total{task=\"intent_classify\",model=\"tinybert\",platform=\"cpu\",status=\"200\"} 1\n"));
    assert_non_null(strstr(text, "dpuflow_request_duration_seconds_bucket{stage=\"total\",le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(text, "dpuflow_model_status{model=\"tinybert\",version=\"3\",platform=\"cpu\",status=\"active\"} 1\n"));
    assert_non_null(strstr(text, "process_resident_memory_bytes "));
    assert_non_null(strstr(text, "dpuflow_trace_dropped_total 0\n"));
    free(text);
    char *stats = df_observe_stats_json(o);
    assert_non_null(strstr(stats, "\"model\":\"tinybert\""));
    assert_non_null(strstr(stats, "\"p50_ms\":1.5"));
    free(stats);
    size_t len = 0;
    const char *page = df_observe_status_page(&len);
    assert_true(len > 1000 && strlen(page) == len);
    assert_non_null(strstr(page, "/v1/registry"));
    df_observe_close(o);
}

static int emit(const char *path) {
    df_observe *o;
    if (df_observe_open(NULL, &o, NULL)) return 1;
    for (int i = 0; i < 50; i++) {
        df_request_report r = {.task = "intent_classify", .model = i % 2 ? "tinybert" : "bge\"zh", .version = 1,
                               .platform = i % 3 ? "cpu" : "fpga", .http_status = i % 10 ? 200 : 429,
                               .stage_us = {30, (uint32_t)i, 1000 + 10 * (uint32_t)i, 5, 0},
                               .fallback_from = i % 7 ? NULL : "fpga", .fallback_to = "cpu",
                               .error_category = DF_ERRCAT_OVERLOAD, .error = "queue full"};
        df_observe_request(o, &r);
        df_observe_batch(o, 1 + i % 8);
    }
    df_observe_model_status(o, "tinybert", 1, "cpu", "active");
    df_observe_queue_depth(o, "tinybert", 3);
    df_observe_reload(o, true);
    char *text = df_observe_metrics_text(o, NULL);
    FILE *f = fopen(path, "w");
    int rc = !f || fputs(text, f) < 0;
    if (f) fclose(f);
    free(text);
    df_observe_close(o);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--emit")) return emit(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_text),
        cmocka_unit_test(validation),
        cmocka_unit_test(threads),
        cmocka_unit_test(observe_exposition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
