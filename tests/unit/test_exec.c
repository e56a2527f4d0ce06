/* The executor: shape inference folds shape subgraphs into constants, the memory plan reuses
 * buffers whose lifetimes do not overlap, runs are repeatable, and bad calls get clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpuflow/session.h"
#include "graph/ir.h"

/* x[1,N] -> Relu -> Relu -> ... (a chain of n) -> y; plus Shape(x) -> Reshape(last, shape). */
static df_graph *chain(int n, int64_t width) {
    df_graph *g = NULL;
    df_graph_new(&g, NULL);
    g->opset = 13;
    int x = df_graph_value(g, "x");
    g->values[x].dtype = DF_F32;
    g->values[x].shape = (df_shape){.rank = 2, .dims = {1, width}};
    g->values[x].shape_known = true;
    g->values[x].is_graph_input = true;
    g->inputs = calloc(1, sizeof(int));
    g->inputs[g->n_inputs++] = x;
    int prev = x;
    char name[32];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "h%d", i);
        int h = df_graph_value(g, name);
        snprintf(name, sizeof name, "relu%d", i);
        df_graph_add_node(g, "Relu", name, "", &prev, 1, &h, 1);
        prev = h;
    }
    int shp = df_graph_value(g, "shape_of_x");
    df_graph_add_node(g, "Shape", "shape", "", &x, 1, &shp, 1);
    int y = df_graph_value(g, "y");
    int ins[2] = {prev, shp};
    df_graph_add_node(g, "Reshape", "reshape", "", ins, 2, &y, 1);
    g->values[y].is_graph_output = true;
    g->outputs = calloc(1, sizeof(int));
    g->outputs[g->n_outputs++] = y;
    return g;
}

static void test_plan_reuses_memory(void **state) {
    (void)state;
    df_session *s = NULL;
    df_error err = {0};
    assert_int_equal(df_session_open_graph(chain(10, 1024), &(df_session_opts){.threads = 1}, &s, &err), DF_OK);
    df_session_stats st;
    df_session_get_stats(s, &st);
    assert_int_equal(st.nodes, 11);   /* 10 Relu + Reshape; Shape was folded */
    assert_int_equal(st.folded, 1);
    /* A chain needs two live buffers at a time, not eleven. */
    assert_true(st.arena_bytes <= 2 * 1024 * sizeof(float) + 128);
    assert_true(st.naive_bytes >= 10 * 1024 * sizeof(float));

    float in[1024], in2[1024];
    for (int i = 0; i < 1024; i++) in[i] = (float)(i - 512);
    memcpy(in2, in, sizeof in);
    df_tensor x = {.dtype = DF_F32, .shape = {.rank = 2, .dims = {1, 1024}}, .data = in, .nbytes = sizeof in};
    df_tensor y;
    for (int rep = 0; rep < 3; rep++) {
        assert_int_equal(df_session_run(s, &x, 1, &y, 1, &err), DF_OK);
        const float *out = y.data;
        for (int i = 0; i < 1024; i++) assert_true(out[i] == (in2[i] > 0 ? in2[i] : 0));
    }
    assert_memory_equal(in, in2, sizeof in); /* inputs are never written */

    /* Wrong shape and dtype name the input. */
    df_tensor bad = x;
    bad.shape.dims[1] = 1000;
    assert_int_equal(df_session_run(s, &bad, 1, &y, 1, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "'x'"));
    bad = x;
    bad.dtype = DF_I32;
    assert_int_equal(df_session_run(s, &bad, 1, &y, 1, &err), DF_ETYPE);
    assert_int_equal(df_session_run(s, &x, 0, &y, 1, &err), DF_EINVAL);
    df_session_close(s);
}

static void test_checker_messages(void **state) {
    (void)state;
    df_error err = {0};
    df_session *s = NULL;
    /* Unknown ops: every type is listed, not just the first. */
    df_graph *g = chain(2, 8);
    free(g->nodes[0].op_type);
    g->nodes[0].op_type = strdup("NoSuchOp");
    free(g->nodes[1].op_type);
    g->nodes[1].op_type = strdup("AlsoMissing");
    assert_int_equal(df_session_open_graph(g, NULL, &s, &err), DF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "NoSuchOp"));
    assert_non_null(strstr(err.msg, "AlsoMissing"));
    assert_non_null(strstr(err.msg, "relu0"));

    /* A dangling input names the node and the tensor. */
    g = chain(2, 8);
    g->nodes[1].inputs[0] = df_graph_value(g, "ghost");
    assert_int_not_equal(df_session_open_graph(g, NULL, &s, &err), DF_OK);
    assert_non_null(strstr(err.msg, "ghost"));

    /* A cycle: relu0 reads relu1's output. */
    g = chain(2, 8);
    g->nodes[0].inputs[0] = g->nodes[1].outputs[0];
    assert_int_not_equal(df_session_open_graph(g, NULL, &s, &err), DF_OK);
    assert_non_null(strstr(err.msg, "cycle"));

    /* A dynamic dim nobody pins. */
    g = chain(1, 8);
    g->values[g->inputs[0]].shape.dims[0] = -1;
    g->values[g->inputs[0]].dim_params[0] = strdup("batch");
    assert_int_equal(df_session_open_graph(g, NULL, &s, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "batch"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_reuses_memory),
        cmocka_unit_test(test_checker_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
