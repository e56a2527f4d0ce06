/* GELU fusion: torch's erf form (Div/Erf/Add/Mul/Mul) becomes one Gelu, one per layer of
 * every fixture (2 layers). Fused and unfused agree to 1e-5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fusion_harness.h"

static int scalar(df_graph *g, const char *name, float v) {
    int i = df_graph_value(g, name);
    df_tensor t = {0};
    df_shape sh = {.rank = 0};
    df_tensor_alloc(&t, DF_F32, &sh, NULL);
    *(float *)t.data = v;
    df_value_set_const(&g->values[i], &t);
    g->values[i].is_initializer = true;
    return i;
}

/* x -> Div(sqrt2) -> Erf -> Add(1) -> Mul(x, .) -> Mul(., half) -> y, a [2,64] input. */
static df_graph *gelu_graph(float half) {
    df_graph *g = NULL;
    df_graph_new(&g, NULL);
    g->opset = 13;
    int x = df_graph_value(g, "x");
    g->values[x].dtype = DF_F32;
    g->values[x].shape = (df_shape){.rank = 2, .dims = {2, 64}};
    g->values[x].shape_known = true;
    g->values[x].is_graph_input = true;
    g->inputs = calloc(1, sizeof(int));
    g->inputs[g->n_inputs++] = x;
    int c2 = scalar(g, "sqrt2", 1.4142135f), c1 = scalar(g, "one", 1.0f), ch = scalar(g, "half", half);
    int t = df_graph_value(g, "t"), e = df_graph_value(g, "e"), a = df_graph_value(g, "a"), m = df_graph_value(g, "m"),
        y = df_graph_value(g, "y");
    df_graph_add_node(g, "Div", "div", "", (int[]){x, c2}, 2, &t, 1);
    df_graph_add_node(g, "Erf", "erf", "", &t, 1, &e, 1);
    df_graph_add_node(g, "Add", "add", "", (int[]){e, c1}, 2, &a, 1);
    df_graph_add_node(g, "Mul", "mul", "", (int[]){x, a}, 2, &m, 1);
    df_graph_add_node(g, "Mul", "mul2", "", (int[]){m, ch}, 2, &y, 1);
    g->values[y].is_graph_output = true;
    g->outputs = calloc(1, sizeof(int));
    g->outputs[g->n_outputs++] = y;
    return g;
}

/* A synthetic graph: the exact pattern fuses; a different constant (0.6) is left alone. */
static void test_gelu_synthetic(void **state) {
    (void)state;
    float xs[128];
    for (int i = 0; i < 128; i++) xs[i] = (float)(i - 64) / 16.0f;
    df_tensor in = {.dtype = DF_F32, .shape = {.rank = 2, .dims = {2, 64}}, .data = xs, .nbytes = sizeof xs};
    for (int k = 0; k < 2; k++) {
        float half = k ? 0.6f : 0.5f;
        df_session *a = NULL, *b = NULL;
        df_error err = {0};
        assert_int_equal(df_session_open_graph(gelu_graph(half), &(df_session_opts){.threads = 1}, &a, &err), DF_OK);
        assert_int_equal(df_session_open_graph(gelu_graph(half), &(df_session_opts){.threads = 1, .no_fusion = true}, &b, &err),
                         DF_OK);
        assert_int_equal(fh_count_ops(a, "Gelu"), k ? 0 : 1);
        assert_int_equal(fh_count_ops(a, "Erf"), k ? 1 : 0);
        df_tensor ya, yb;
        assert_int_equal(df_session_run(a, &in, 1, &ya, 1, &err), DF_OK);
        assert_int_equal(df_session_run(b, &in, 1, &yb, 1, &err), DF_OK);
        for (int i = 0; i < 128; i++) assert_true(fabsf(((float *)ya.data)[i] - ((float *)yb.data)[i]) <= 1e-5f);
        df_session_close(a);
        df_session_close(b);
    }
}

static void test_gelu(void **state) {
    (void)state;
    fh_all("gelu", "Gelu", 2, false, 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gelu_synthetic), cmocka_unit_test(test_gelu)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
