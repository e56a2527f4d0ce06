/* quantize / validate / calibrate on small models: per-channel weight scales, pof2 weights,
 * the QDQ graph shape, and the corpus errors (empty, invalid UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpuflow/base.h"
#include "dpuflow/onnx.h"
#include "dpuflow/quant.h"
#include "graph/ir.h"

static char dir[256];
static const float W[12] = {0.5f, -2.0f, 0.01f, -0.25f, 1.0f, 0.02f, 0.125f, 0.5f, -0.03f, 0.0f, -0.75f, 0.005f};

/* x [1,4] -> MatMul W[4,3] -> Add b[3] -> y */
static void make_model(const char *path) {
    df_graph *g;
    df_error err = {0};
    assert_int_equal(df_graph_new(&g, &err), DF_OK);
    g->ir_version = 7;
    int x = df_graph_value(g, "x"), w = df_graph_value(g, "W"), m = df_graph_value(g, "mm"), b = df_graph_value(g, "b"),
        y = df_graph_value(g, "y");
    g->values[x].dtype = DF_F32;
    g->values[x].shape = (df_shape){.rank = 2, .dims = {1, 4}};
    g->values[x].shape_known = true;
    g->values[x].is_graph_input = true;
    df_tensor t;
    df_shape ws = {.rank = 2, .dims = {4, 3}}, bs = {.rank = 1, .dims = {3}};
    assert_int_equal(df_tensor_alloc(&t, DF_F32, &ws, &err), DF_OK);
    memcpy(t.data, W, sizeof W);
    df_value_set_const(&g->values[w], &t);
    g->values[w].is_initializer = true;
    assert_int_equal(df_tensor_alloc(&t, DF_F32, &bs, &err), DF_OK);
    ((float *)t.data)[0] = 0.3f;
    ((float *)t.data)[1] = -0.1f;
    ((float *)t.data)[2] = 0.05f;
    df_value_set_const(&g->values[b], &t);
    g->values[b].is_initializer = true;
    int in1[2] = {x, w}, o1[1] = {m}, in2[2] = {m, b}, o2[1] = {y};
    assert_true(df_graph_add_node(g, "MatMul", "mm_node", "", in1, 2, o1, 1) >= 0);
    assert_true(df_graph_add_node(g, "Add", "add_node", "", in2, 2, o2, 1) >= 0);
    g->inputs = malloc(sizeof(int));
    g->inputs[0] = x;
    g->n_inputs = 1;
    g->outputs = malloc(sizeof(int));
    g->outputs[0] = y;
    g->n_outputs = 1;
    g->values[y].is_graph_output = true;
    assert_int_equal(df_graph_infer(g, &err), DF_OK);
    assert_int_equal(df_onnx_save(g, path, NULL, &err), DF_OK);
    df_graph_free(g);
}

static void make_calib(const char *path) {
    df_tensor_list l = {0};
    df_tensor t;
    df_shape s = {.rank = 2, .dims = {6, 4}};
    df_error err = {0};
    assert_int_equal(df_tensor_alloc(&t, DF_F32, &s, &err), DF_OK);
    for (int i = 0; i < 24; i++) ((float *)t.data)[i] = (float)((i * 7) % 11) / 5.0f - 1.0f;
    assert_int_equal(df_tensor_list_add(&l, "x", &t, &err), DF_OK);
    df_tensor_free(&t);
    assert_int_equal(df_npz_write(path, &l, &err), DF_OK);
    df_tensor_list_free(&l);
}

static int setup(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/df_quant_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return -1;
    char p[512];
    snprintf(p, sizeof p, "%s/m.onnx", dir);
    make_model(p);
    snprintf(p, sizeof p, "%s/c.npz", dir);
    make_calib(p);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static json_t *find_tensor(json_t *info, const char *name) {
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(info, "tensors"), i, t) if (!strcmp(json_string_value(json_object_get(t, "name")), name)) return t;
    return NULL;
}

static void test_per_channel(void **state) {
    (void)state;
    char m[512], c[512], out[512], p[600];
    snprintf(m, sizeof m, "%s/m.onnx", dir);
    snprintf(c, sizeof c, "%s/c.npz", dir);
    snprintf(out, sizeof out, "%s/pc", dir);
    df_error err = {0};
    df_quant_opts o = {.method = "minmax", .scale = "float", .weights = "per_channel"};
    assert_int_equal(df_quantize(m, c, &o, out, &err), DF_OK);
    snprintf(p, sizeof p, "%s/quant_info.json", out);
    json_t *info = json_load_file(p, 0, NULL);
    assert_non_null(info);
    json_t *w = find_tensor(info, "W");
    assert_non_null(w);
    assert_int_equal(json_integer_value(json_object_get(w, "axis")), 1);
    json_t *sc = json_object_get(w, "scale");
    assert_int_equal(json_array_size(sc), 3);
    float amax[3] = {0};
    for (int i = 0; i < 12; i++) amax[i % 3] = fmaxf(amax[i % 3], fabsf(W[i]));
    for (int k = 0; k < 3; k++) assert_true(fabs(json_real_value(json_array_get(sc, k)) - amax[k] / 127.0) < 1e-8);
    json_t *x = find_tensor(info, "x");
    assert_non_null(x);
    assert_true(fabs(json_real_value(json_object_get(x, "amax")) - 1.0) < 1e-6);
    json_decref(info);

    /* the weight is stored as int8 with a per-axis DequantizeLinear */
    df_graph *g;
    snprintf(p, sizeof p, "%s/deploy_model.onnx", out);
    assert_int_equal(df_onnx_load(p, &g, &err), DF_OK);
    int q = df_graph_find_value(g, "W_quantized");
    assert_true(q >= 0);
    assert_int_equal(g->values[q].dtype, DF_I8);
    const int8_t *qv = g->values[q].value.data;
    for (int i = 0; i < 12; i++) assert_int_equal(qv[i], (int)nearbyintf(W[i] / (amax[i % 3] / 127.0f)));
    int n_q = 0, n_dq = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        n_q += !strcmp(g->nodes[i].op_type, "QuantizeLinear");
        if (!strcmp(g->nodes[i].op_type, "DequantizeLinear")) n_dq++;
    }
    assert_int_equal(n_q, 1);
    assert_int_equal(n_dq, 2);
    df_graph_free(g);

    df_validate_result r;
    df_validate_opts vo = {.quiet = true};
    assert_int_equal(df_validate(m, p, c, NULL, &vo, &r, NULL, &err), DF_OK);
    assert_true(r.calib.n_outputs == 1 && r.calib.out[0].cos_mean > 0.999);
    assert_true(r.ok);
    assert_int_equal(r.layers, 1);
    /* an impossible threshold is a WARN, not an error */
    vo.cosine = 1.0;
    assert_int_equal(df_validate(m, p, c, NULL, &vo, &r, NULL, &err), DF_OK);
}

static void test_pof2(void **state) {
    (void)state;
    char m[512], c[512], out[512], p[600];
    snprintf(m, sizeof m, "%s/m.onnx", dir);
    snprintf(c, sizeof c, "%s/c.npz", dir);
    snprintf(out, sizeof out, "%s/pof2", dir);
    df_error err = {0};
    df_quant_opts o = {.scale = "pof2"};
    assert_int_equal(df_quantize(m, c, &o, out, &err), DF_OK);
    snprintf(p, sizeof p, "%s/quant_info.json", out);
    json_t *info = json_load_file(p, 0, NULL);
    assert_non_null(info);
    json_t *w = find_tensor(info, "W");
    int fp = (int)json_integer_value(json_object_get(w, "fix_pos"));
    assert_int_equal(fp, df_pof2_best_pos(W, 12, false));
    assert_true(json_is_null(json_object_get(w, "axis")));
    assert_true(fabs(json_real_value(json_object_get(w, "scale")) - ldexp(1.0, -fp)) < 1e-12);
    json_t *x = find_tensor(info, "x");
    int afp = (int)json_integer_value(json_object_get(x, "fix_pos"));
    assert_true(afp <= DF_POF2_ACT_FIX_MAX);
    assert_string_equal(json_string_value(json_object_get(x, "round_mode")), "half_up");
    assert_non_null(find_tensor(info, "b")); /* the DPU keeps biases in int8 too */
    assert_string_equal(json_string_value(json_object_get(json_object_get(info, "round_mode"), "weight")),
                        "half_away_from_zero");
    json_decref(info);
    /* bad options name themselves */
    o.method = "kl";
    assert_int_not_equal(df_quantize(m, c, &o, out, &err), DF_OK);
    assert_non_null(strstr(err.msg, "kl"));
}

static void test_corpus_errors(void **state) {
    (void)state;
    char corpus[512], out[512];
    const char *vocab = DF_SOURCE_DIR "/tests/fixtures/hf/bert_tiny/vocab.txt";
    const char *model = DF_SOURCE_DIR "/tests/fixtures/models/bert_tiny_op13.onnx";
    snprintf(corpus, sizeof corpus, "%s/empty.txt", dir);
    snprintf(out, sizeof out, "%s/o.npz", dir);
    df_error err = {0};
    assert_int_equal(df_file_write_atomic(corpus, "\n  \n\n", 5, &err), DF_OK);
    assert_int_equal(df_calib_build(corpus, 10, vocab, 16, model, out, &err), DF_EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(df_file_write_atomic(corpus, "ok line\nbad \xff here\n", 19, &err), DF_OK);
    assert_int_equal(df_calib_build(corpus, 10, vocab, 16, model, out, &err), DF_EINVAL);
    assert_non_null(strstr(err.msg, "empty.txt:2"));
    assert_int_equal(access(out, F_OK), -1); /* nothing half-written */
    /* built-in corpus: 50 sentences, every one 5..60 characters */
    size_t n;
    const char *const *b = df_calib_builtin(&n);
    assert_int_equal(n, 50);
    for (size_t i = 0; i < n; i++) {
        size_t chars = 0;
        for (const unsigned char *p = (const unsigned char *)b[i]; *p; p++) chars += (*p & 0xC0) != 0x80;
        assert_true(chars >= 5 && chars <= 60);
    }
    assert_int_equal(df_calib_build(NULL, 20, vocab, 16, model, out, &err), DF_OK);
    df_tensor_list l = {0};
    assert_int_equal(df_npz_read(out, &l, &err), DF_OK);
    assert_int_equal(l.count, 3);
    const df_tensor *ids = df_tensor_list_find(&l, "input_ids");
    assert_non_null(ids);
    assert_int_equal(ids->shape.dims[0], 20);
    assert_int_equal(ids->shape.dims[1], 16);
    df_tensor_list_free(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_channel),
        cmocka_unit_test(test_pof2),
        cmocka_unit_test(test_corpus_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
