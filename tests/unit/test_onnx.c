/* ONNX reader and writer: fixture models load with the right structure; saving and
 * reloading keeps nodes, attributes, initializers and shapes; external data round-trips;
 * malformed files give a clear error and never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dpuflow/onnx.h"
#include "graph/ir.h"

#define FIXTURE DF_SOURCE_DIR "/tests/fixtures/models/bert_tiny_op14.onnx"

static void test_load_fixture(void **state) {
    (void)state;
    df_graph *g = NULL;
    df_error err = {0};
    assert_int_equal(df_onnx_load(FIXTURE, &g, &err), DF_OK);
    assert_int_equal(g->opset, 14);
    assert_int_equal(g->n_inputs, 3);
    assert_string_equal(g->values[g->inputs[0]].name, "input_ids");
    assert_int_equal(g->values[g->inputs[0]].dtype, DF_I64);
    assert_int_equal(g->values[g->inputs[0]].shape.rank, 2);
    assert_true(g->values[g->inputs[0]].shape.dims[1] < 0); /* dynamic: "sequence" */
    assert_non_null(g->values[g->inputs[0]].dim_params[1]);
    assert_true(g->n_nodes > 50);
    int initializers = 0;
    for (int v = 0; v < g->n_values; v++) initializers += g->values[v].is_initializer;
    assert_true(initializers > 10);
    df_graph_free(g);
}

static void test_roundtrip(void **state) {
    (void)state;
    df_graph *a = NULL, *b = NULL;
    df_error err = {0};
    char path[] = "/tmp/df_test_onnx_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(df_onnx_load(FIXTURE, &a, &err), DF_OK);
    assert_int_equal(df_onnx_save(a, path, NULL, &err), DF_OK);
    assert_int_equal(df_onnx_load(path, &b, &err), DF_OK);
    assert_int_equal(a->n_nodes, b->n_nodes);
    assert_int_equal(a->n_inputs, b->n_inputs);
    assert_int_equal(a->n_outputs, b->n_outputs);
    for (int i = 0; i < a->n_nodes; i++) {
        assert_string_equal(a->nodes[i].op_type, b->nodes[i].op_type);
        assert_int_equal(a->nodes[i].n_attrs, b->nodes[i].n_attrs);
        assert_int_equal(a->nodes[i].n_inputs, b->nodes[i].n_inputs);
    }
    for (int v = 0; v < a->n_values; v++) {
        if (!a->values[v].is_initializer) continue;
        int w = df_graph_find_value(b, a->values[v].name);
        assert_true(w >= 0);
        assert_true(b->values[w].has_const);
        assert_int_equal(a->values[v].value.nbytes, b->values[w].value.nbytes);
        assert_memory_equal(a->values[v].value.data, b->values[w].value.data, a->values[v].value.nbytes);
    }
    /* External data: every initializer of 256 bytes or more goes to PATH.data. */
    df_onnx_save_opts opts = {.external_threshold = 256};
    assert_int_equal(df_onnx_save(a, path, &opts, &err), DF_OK);
    char data_path[64];
    snprintf(data_path, sizeof data_path, "%s.data", path);
    assert_int_equal(access(data_path, R_OK), 0);
    df_graph *c = NULL;
    assert_int_equal(df_onnx_load(path, &c, &err), DF_OK);
    for (int v = 0; v < a->n_values; v++) {
        if (!a->values[v].is_initializer) continue;
        int w = df_graph_find_value(c, a->values[v].name);
        assert_memory_equal(a->values[v].value.data, c->values[w].value.data, a->values[v].value.nbytes);
    }
    /* A truncated external data file is an error naming the tensor. */
    assert_int_equal(truncate(data_path, 100), 0);
    df_graph *d = NULL;
    assert_int_not_equal(df_onnx_load(path, &d, &err), DF_OK);
    assert_non_null(strstr(err.msg, "tensor '"));
    unlink(data_path);
    unlink(path);
    df_graph_free(a);
    df_graph_free(b);
    df_graph_free(c);
}

static void test_malformed(void **state) {
    (void)state;
    df_graph *g = NULL;
    df_error err = {0};
    assert_int_equal(df_onnx_load("/nonexistent/model.onnx", &g, &err), DF_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/model.onnx"));
    const char garbage[] = "\x0a\xff\xff\xff\xff\x0f garbage";
    assert_int_equal(df_onnx_load_buffer(garbage, sizeof garbage, NULL, "garbage.onnx", &g, &err), DF_EFORMAT);
    assert_non_null(strstr(err.msg, "garbage.onnx"));
    /* Every prefix of a real model either loads or fails cleanly. */
    FILE *f = fopen(FIXTURE, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t cut = 0; cut < n; cut += n / 97 + 1) {
        df_graph *p = NULL;
        if (df_onnx_load_buffer(buf, cut, NULL, "prefix", &p, &err) == DF_OK) df_graph_free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_fixture),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
