/* registry/: add/replace with versions, routes and fallback chains, validation messages, a
 * corrupt file left untouched, locked concurrent registration from forked processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dpuflow/base.h"
#include "dpuflow/registry.h"

static char g_reg[300];

static void path_in(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", g_dir, name); }

static void write_file(const char *name, const char *text) {
    char p[512];
    path_in(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    if (tmpdir_make("df_reg")) return -1;
    snprintf(g_reg, sizeof g_reg, "%s/model_registry.json", g_dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tmpdir_remove();
    return 0;
}

static df_registry_entry make_entry(const char *name, const char *platform, const char *task, const char *art) {
    static char p[512];
    path_in(p, sizeof p, art);
    df_registry_entry e = {0};
    e.model_name = (char *)name;
    e.platform = (char *)platform;
    e.task = (char *)task;
    e.artifact_path = p;
    e.input_name = (char *)"input_ids";
    e.input_shape[0] = 1;
    e.input_shape[1] = 16;
    e.input_rank = 2;
    e.output_name = (char *)"logits";
    e.task_count = 7;
    return e;
}

static void test_add_replace_version(void **state) {
    (void)state;
    write_file("a.onnx", "model a");
    write_file("b.onnx", "model b");
    df_error err = {0};
    df_registry *r = NULL;
    assert_int_equal(df_registry_load(g_reg, true, &r, &err), DF_OK);
    assert_int_equal(df_registry_count(r), 0);
    df_registry_entry e = make_entry("tiny", "cpu", "intent_classify", "a.onnx");
    const df_registry_entry *got = NULL;
    assert_int_equal(df_registry_add(r, &e, &got, &err), DF_OK);
    assert_int_equal(got->version, 1);
    assert_string_equal(got->artifact_path, "a.onnx");   /* relative to the registry's folder */
    assert_int_equal(got->status, DF_MODEL_ACTIVE);
    char hex[65];
    char p[512];
    path_in(p, sizeof p, "a.onnx");
    assert_int_equal(df_sha256_file(p, hex, &err), DF_OK);
    assert_string_equal(got->sha256, hex);
    assert_int_equal(df_registry_add(r, &e, &got, &err), DF_OK);
    assert_int_equal(got->version, 2);
    assert_int_equal(df_registry_count(r), 1);
    assert_string_equal(df_registry_task_model(r, "intent_classify"), "tiny");
    /* A second model of the same task does not steal the route. */
    df_registry_entry e2 = make_entry("other", "cpu", "intent_classify", "b.onnx");
    assert_int_equal(df_registry_add(r, &e2, NULL, &err), DF_OK);
    assert_string_equal(df_registry_task_model(r, "intent_classify"), "tiny");
    assert_int_equal(df_registry_save(r, g_reg, &err), DF_OK);
    df_registry_free(r);

    assert_int_equal(df_registry_load(g_reg, false, &r, &err), DF_OK);
    assert_int_equal(df_registry_count(r), 2);
    got = df_registry_find(r, "tiny", "cpu");
    assert_non_null(got);
    assert_int_equal(got->version, 2);
    assert_int_equal(got->input_rank, 2);
    assert_int_equal(got->input_shape[1], 16);
    assert_int_equal(got->task_count, 7);
    assert_non_null(df_registry_resolve(r, got->artifact_path, p, sizeof p));
    assert_int_equal(access(p, R_OK), 0);
    /* remove drops routes and chain mentions */
    assert_int_equal(df_registry_remove(r, "tiny", &err), DF_OK);
    assert_null(df_registry_task_model(r, "intent_classify"));
    assert_int_equal(df_registry_remove(r, "tiny", &err), DF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "tiny"));
    df_registry_free(r);
}

static void test_route_fallback(void **state) {
    (void)state;
    write_file("a.onnx", "model a");
    write_file("b.onnx", "model b");
    write_file("c.onnx", "model c");
    df_error err = {0};
    df_registry *r = NULL;
    assert_int_equal(df_registry_load(g_reg, true, &r, &err), DF_OK);
    df_registry_entry e = make_entry("tb", "cpu", "intent", "a.onnx");
    assert_int_equal(df_registry_add(r, &e, NULL, &err), DF_OK);
    e = make_entry("tb", "fpga", "intent", "b.onnx");
    assert_int_equal(df_registry_add(r, &e, NULL, &err), DF_OK);
    e = make_entry("alt", "cpu", "intent", "c.onnx");
    assert_int_equal(df_registry_add(r, &e, NULL, &err), DF_OK);
    e = make_entry("sim", "cpu", "vector", "c.onnx");
    assert_int_equal(df_registry_add(r, &e, NULL, &err), DF_OK);
    assert_int_equal(df_registry_find(r, "tb", "fpga")->version, 2);

    df_route routes[8];
    size_t n = 0;
    assert_int_equal(df_registry_route(r, "intent", routes, 8, &n, &err), DF_OK);
    assert_int_equal(n, 3);
    assert_string_equal(routes[0].model_name, "tb");
    assert_string_equal(routes[0].platform, "fpga");
    assert_string_equal(routes[1].model_name, "tb");
    assert_string_equal(routes[1].platform, "cpu");
    assert_string_equal(routes[2].model_name, "alt");
    /* disabling the routed model leaves the fallback */
    assert_int_equal(df_registry_set_status(r, "tb", DF_MODEL_DISABLED, "by test", &err), DF_OK);
    assert_int_equal(df_registry_route(r, "intent", routes, 8, &n, &err), DF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(routes[0].model_name, "alt");
    assert_int_equal(df_registry_route(r, "nothing", routes, 8, &n, &err), DF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nothing"));

    /* check: missing -> error, changed -> stale, disabled stays disabled */
    char p[512];
    path_in(p, sizeof p, "c.onnx");
    write_file("c.onnx", "model c changed");
    path_in(p, sizeof p, "a.onnx");
    unlink(p);
    df_registry_check_result res;
    assert_int_equal(df_registry_check(r, &res, &err), DF_OK);
    assert_int_equal(res.stale, 2);
    assert_int_equal(res.disabled, 2);
    assert_int_equal(df_registry_find(r, "alt", "cpu")->status, DF_MODEL_STALE);
    assert_int_equal(df_registry_find(r, "tb", "cpu")->status, DF_MODEL_DISABLED);
    assert_int_equal(df_registry_set_status(r, "tb", DF_MODEL_ACTIVE, NULL, &err), DF_OK);
    assert_int_equal(df_registry_check(r, &res, &err), DF_OK);
    assert_int_equal(df_registry_find(r, "tb", "cpu")->status, DF_MODEL_ERROR);
    assert_non_null(strstr(df_registry_find(r, "tb", "cpu")->reason, "a.onnx"));
    assert_int_equal(df_registry_find(r, "tb", "fpga")->status, DF_MODEL_ACTIVE);
    df_registry_free(r);
}

static void expect_parse_error(const char *json, const char *needle) {
    df_error err = {0};
    df_registry *r = NULL;
    assert_int_not_equal(df_registry_parse(json, strlen(json), "reg.json", &r, &err), DF_OK);
    assert_null(r);
    if (!strstr(err.msg, needle)) fail_msg("expected \"%s\" in: %s", needle, err.msg);
}

static void test_validation(void **state) {
    (void)state;
    expect_parse_error("{\"models\": [", "not valid JSON");
    expect_parse_error("[]", "expected a JSON object");
    expect_parse_error("{\"models\": {}}", "models: expected an array");
    expect_parse_error("{\"models\": [{\"platform\": \"cpu\"}]}", "models[0].model_name: missing");
    const char *good_sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"models\": [{\"model_name\": \"m\", \"platform\": \"gpu\", \"artifact_path\": \"a\", \"task\": \"t\","
             " \"sha256\": \"%s\"}]}", good_sha);
    expect_parse_error(buf, "(m).platform");
    snprintf(buf, sizeof buf,
             "{\"models\": [{\"model_name\": \"m\", \"platform\": \"cpu\", \"artifact_path\": \"a\", \"task\": \"t\","
             " \"sha256\": \"xyz\"}]}");
    expect_parse_error(buf, "models[0] (m).sha256");
    snprintf(buf, sizeof buf,
             "{\"models\": [{\"model_name\": \"m\", \"platform\": \"cpu\", \"artifact_path\": \"a\", \"task\": \"t\","
             " \"sha256\": \"%s\", \"status\": \"gone\"}]}", good_sha);
    expect_parse_error(buf, "(m).status");
    snprintf(buf, sizeof buf,
             "{\"models\": [{\"model_name\": \"m\", \"platform\": \"cpu\", \"artifact_path\": \"a\", \"task\": \"t\","
             " \"sha256\": \"%s\", \"input_shape\": [1, 0]}]}", good_sha);
    expect_parse_error(buf, "input_shape[1]");
    expect_parse_error("{\"models\": [], \"fallback_chain\": {\"cpu\": [3]}}", "fallback_chain.cpu[0]");
    expect_parse_error("{\"models\": [], \"task_routing_map\": {\"t\": 1}}", "task_routing_map.t");
    /* unknown keys survive a round trip */
    snprintf(buf, sizeof buf,
             "{\"models\": [{\"model_name\": \"m\", \"platform\": \"cpu\", \"artifact_path\": \"a\", \"task\": \"t\","
             " \"sha256\": \"%s\", \"future\": 5}], \"top\": true}", good_sha);
    df_error err = {0};
    df_registry *r = NULL;
    assert_int_equal(df_registry_parse(buf, strlen(buf), g_reg, &r, &err), DF_OK);
    char *s = df_registry_to_json(r, NULL);
    assert_non_null(strstr(s, "\"future\": 5"));
    assert_non_null(strstr(s, "\"top\": true"));
    free(s);
    df_registry_free(r);
}

static df_status add_fn(df_registry *r, void *ctx, df_error *err) {
    df_registry_entry e = make_entry((const char *)ctx, "cpu", "intent", "a.onnx");
    return df_registry_add(r, &e, NULL, err);
}

static df_status fail_fn(df_registry *r, void *ctx, df_error *err) {
    (void)r; (void)ctx;
    return df_error_set(err, DF_EINVAL, "refused");
}

static void test_corrupt_untouched(void **state) {
    (void)state;
    write_file("a.onnx", "model a");
    write_file("model_registry.json", "{\"models\": [ broken");
    df_error err = {0};
    assert_int_equal(df_registry_update(g_reg, add_fn, (void *)"x", &err), DF_EFORMAT);
    assert_non_null(strstr(err.msg, "model_registry.json"));
    void *buf = NULL;
    size_t size = 0;
    assert_int_equal(df_file_read_all(g_reg, &buf, &size, 0, &err), DF_OK);
    assert_string_equal((char *)buf, "{\"models\": [ broken");
    free(buf);
    /* a failing change saves nothing */
    unlink(g_reg);
    assert_int_equal(df_registry_update(g_reg, fail_fn, NULL, &err), DF_EINVAL);
    assert_int_not_equal(access(g_reg, F_OK), 0);
}

static void test_concurrent_register(void **state) {
    (void)state;
    write_file("a.onnx", "model a");
    enum { PROCS = 4, EACH = 10 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            for (int k = 0; k < EACH; k++) {
                char name[32];
                snprintf(name, sizeof name, "m%d_%d", p, k);
                df_error err = {0};
                if (df_registry_update(g_reg, add_fn, name, &err)) _exit(1);
            }
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int ws = 0;
        assert_int_equal(waitpid(pids[p], &ws, 0), pids[p]);
        assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    df_error err = {0};
    df_registry *r = NULL;
    assert_int_equal(df_registry_load(g_reg, false, &r, &err), DF_OK);
    assert_int_equal(df_registry_count(r), PROCS * EACH);
    df_route routes[64];
    size_t n = 0;
    assert_int_equal(df_registry_route(r, "intent", routes, 64, &n, &err), DF_OK);
    assert_int_equal(n, PROCS * EACH);
    df_registry_free(r);
    /* atomic replace leaves no temp files behind */
    DIR *d = opendir(g_dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') files++;
    closedir(d);
    assert_int_equal(files, 3);   /* a.onnx, the registry, its .lock */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_replace_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_register, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
