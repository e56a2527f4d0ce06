/* Trace context (W3C traceparent), trace records as JSON lines, rotation + zstd. */
#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <cmocka.h>

#include "dpuflow/base.h"
#include "dpuflow/observe.h"

static void traceparent_valid(void **state) {
    (void)state;
    df_trace_ctx c;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_int_equal(df_traceparent_parse(tp, &c, NULL), DF_OK);
    char hex[DF_TRACE_ID_HEX], out[DF_TRACEPARENT_MAX], span[DF_SPAN_ID_HEX];
    df_trace_id_hex(&c, hex);
    assert_string_equal(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    df_span_id_hex(c.parent_id, span);
    assert_string_equal(span, "00f067aa0ba902b7");
    assert_int_equal(c.flags, 1);
    assert_true(c.has_parent);
    df_traceparent_format(&c, out);
    assert_int_equal(strlen(out), 55);
    assert_memory_equal(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);
    assert_string_not_equal(out + 36, "00f067aa0ba902b7-01");   /* our own span */
    assert_string_equal(out + 52, "-01");
    /* a future version may append fields */
    assert_int_equal(df_traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", &c, NULL), DF_OK);
}

static void traceparent_invalid(void **state) {
    (void)state;
    df_trace_ctx c;
    df_error err;
    const char *bad[] = {
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* uppercase */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* v00 with extra */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",   /* separator */
        "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(df_traceparent_parse(bad[i], &c, &err), DF_EINVAL);
        assert_non_null(strstr(err.msg, "traceparent"));
    }
    /* invalid header -> a fresh trace, never a failure */
    df_trace_ctx_start(bad[1], &c);
    assert_false(c.has_parent);
    char hex[DF_TRACE_ID_HEX], hex2[DF_TRACE_ID_HEX];
    df_trace_id_hex(&c, hex);
    assert_string_not_equal(hex, "00000000000000000000000000000000");
    df_trace_ctx c2;
    df_trace_ctx_start(NULL, &c2);
    df_trace_id_hex(&c2, hex2);
    assert_string_not_equal(hex, hex2);
}

static void record_json(void **state) {
    (void)state;
    df_trace_record r;
    memset(&r, 0, sizeof r);
    r.ts_us = 1778066640123456LL;   /* 2026-05-06T11:24:00.123456Z */
    strcpy(r.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    strcpy(r.span_id, "00f067aa0ba902b7");
    strcpy(r.task, "intent");
    strcpy(r.model, "tiny\"bert");
    r.version = 3;
    strcpy(r.platform, "cpu");
    strcpy(r.status, "error");
    r.http_status = 503;
    r.stage_us[DF_STAGE_INFER] = 1800;
    strcpy(r.fallback_from, "fpga");
    strcpy(r.fallback_to, "cpu");
    strcpy(r.error_type, "backend");
    strcpy(r.error, "bad \xff byte\n");
    char buf[4096];
    size_t n = df_trace_record_json(&r, buf, sizeof buf);
    assert_true(n < sizeof buf && buf[n - 1] == '\n');
    json_error_t je;
    json_t *j = json_loads(buf, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "ts")), "2026-05-06T11:24:00.123456Z");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "tiny\"bert");
    assert_int_equal(json_integer_value(json_object_get(j, "http")), 503);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "us"), "infer")), 1800);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "fallback"), "from")), "fpga");
    assert_string_equal(json_string_value(json_object_get(j, "error")), "bad \xef\xbf\xbd byte\n");
    assert_null(json_object_get(j, "parent_id"));
    json_decref(j);
    /* truncation reports the needed size */
    char small[16];
    assert_true(df_trace_record_json(&r, small, sizeof small) == n);
}

static char *read_zst(const char *path, size_t *len) {
    void *buf;
    size_t size;
    if (df_file_read_all(path, &buf, &size, 1 << 30, NULL)) return NULL;
    unsigned long long cap = ZSTD_getFrameContentSize(buf, size);
    if (cap == ZSTD_CONTENTSIZE_ERROR) { free(buf); return NULL; }
    if (cap == ZSTD_CONTENTSIZE_UNKNOWN) cap = 64 << 20;
    char *out = malloc(cap + 1);
    size_t n = ZSTD_decompress(out, cap, buf, size);
    free(buf);
    if (ZSTD_isError(n)) { free(out); return NULL; }
    out[n] = 0;
    *len = n;
    return out;
}

/* Files opened within one second are trace-HHMMSS.jsonl, then -1, -2, ...: order by that. */
static int file_order(const void *a, const void *b) {
    const char *x = a, *y = b;
    int c = strncmp(x, y, 12);   /* "trace-HHMMSS" */
    if (c) return c;
    long nx = x[12] == '-' ? strtol(x + 13, NULL, 10) : 0, ny = y[12] == '-' ? strtol(y + 13, NULL, 10) : 0;
    return (nx > ny) - (nx < ny);
}

static void rotation_zstd(void **state) {
    (void)state;
    char dir[] = "/tmp/df_trace_XXXXXX";
    assert_non_null(mkdtemp(dir));
    df_trace_log *t;
    df_trace_log_opts o = {.dir = dir, .ring_capacity = 4096, .max_file_bytes = 20000, .no_hourly = true};
    assert_int_equal(df_trace_log_open(&o, &t, NULL), DF_OK);
    df_trace_record r;
    memset(&r, 0, sizeof r);
    strcpy(r.status, "ok");
    r.http_status = 200;
    char expect[200][512];
    for (int i = 0; i < 200; i++) {
        r.ts_us = 1778066640000000LL + i;
        snprintf(r.trace_id, sizeof r.trace_id, "%032d", i + 1);
        snprintf(r.model, sizeof r.model, "model-%d", i);
        df_trace_record_json(&r, expect[i], sizeof expect[i]);
        assert_true(df_trace_log_submit(t, &r));
    }
    df_trace_log_flush(t);
    assert_int_equal(df_trace_log_written(t), 200);
    df_trace_log_close(t);   /* closes and compresses the last file too */

    /* Every record appears exactly once, in order, across the .zst files; no .jsonl is left. */
    char day[600];
    DIR *d = opendir(dir);
    struct dirent *e;
    day[0] = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') snprintf(day, sizeof day, "%s/%s", dir, e->d_name);
    closedir(d);
    assert_true(strlen(day) == strlen(dir) + 11);   /* /YYYY-MM-DD */
    char names[64][256];
    int nf = 0;
    d = opendir(day);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        assert_non_null(strstr(e->d_name, ".jsonl.zst"));
        assert_true(!strncmp(e->d_name, "trace-", 6));
        snprintf(names[nf++], 256, "%s", e->d_name);
    }
    closedir(d);
    size_t rec_bytes = 0;
    for (int i = 0; i < 200; i++) rec_bytes += strlen(expect[i]);
    assert_true((size_t)nf >= rec_bytes / 20000);   /* rotated by size */
    assert_true(nf >= 2);
    qsort(names, (size_t)nf, sizeof names[0], file_order);
    size_t total = 0;
    for (int i = 0; i < 200; i++) total += strlen(expect[i]);
    char *all = calloc(1, total + 1);
    size_t at = 0;
    for (int i = 0; i < nf; i++) {
        char p[1000];
        snprintf(p, sizeof p, "%s/%s", day, names[i]);
        size_t n = 0;
        char *txt = read_zst(p, &n);
        assert_non_null(txt);
        assert_true(at + n <= total);
        memcpy(all + at, txt, n);
        at += n;
        free(txt);
        unlink(p);
    }
    assert_int_equal(at, total);
    at = 0;
    for (int i = 0; i < 200; i++) {
        assert_memory_equal(all + at, expect[i], strlen(expect[i]));
        at += strlen(expect[i]);
    }
    free(all);
    rmdir(day);
    rmdir(dir);
}

static void ring_full_drops(void **state) {
    (void)state;
    char dir[] = "/tmp/df_trace_XXXXXX";
    assert_non_null(mkdtemp(dir));
    df_trace_log *t;
    df_trace_log_opts o = {.dir = dir, .ring_capacity = 4, .no_hourly = true};
    assert_int_equal(df_trace_log_open(&o, &t, NULL), DF_OK);
    df_trace_record r;
    memset(&r, 0, sizeof r);
    int ok = 0;
    for (int i = 0; i < 10000; i++) ok += df_trace_log_submit(t, &r);
    df_trace_log_flush(t);
    assert_int_equal((uint64_t)ok + df_trace_log_dropped(t), 10000);
    assert_int_equal(df_trace_log_written(t), (uint64_t)ok);
    char path[4096];
    df_trace_log_current_path(t, path, sizeof path);
    assert_non_null(strstr(path, ".jsonl"));
    df_trace_log_close(t);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(traceparent_valid),
        cmocka_unit_test(traceparent_invalid),
        cmocka_unit_test(record_json),
        cmocka_unit_test(rotation_zstd),
        cmocka_unit_test(ring_full_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
