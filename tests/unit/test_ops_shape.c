/* Unit tests for the shape family: shape ops, gathers, reductions (ops/table_shape.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "op_harness.h"
#include "ops/shape_common.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define F(...) ((const float[]){__VA_ARGS__})
#define L(...) ((const int64_t[]){__VA_ARGS__})
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static df_tensor mk(df_dtype dt, int rank, const int64_t *dims, const void *data) {
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    df_tensor_alloc(&t, dt, &s, NULL);
    if (data && t.nbytes) memcpy(t.data, data, t.nbytes);
    return t;
}

/* Adds t as input and frees the caller's copy. */
static void in(df_op_case *c, const char *name, df_tensor t, bool is_const) {
    op_case_input(c, name, &t, is_const);
    df_tensor_free(&t);
}

static void expect_shape(const df_tensor *t, int rank, const int64_t *dims) {
    assert_int_equal(t->shape.rank, rank);
    for (int i = 0; i < rank; i++) assert_int_equal(t->shape.dims[i], dims[i]);
}

static void expect_f32(const df_tensor *t, const float *want, size_t n) {
    assert_int_equal(t->dtype, DF_F32);
    assert_int_equal(df_shape_numel(&t->shape), (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        if (fabsf(((float *)t->data)[i] - want[i]) > 1e-5f * (1 + fabsf(want[i]))) {
            print_error("element %zu: got %g, want %g\n", i, ((float *)t->data)[i], want[i]);
            fail();
        }
    }
}

static void expect_i64(const df_tensor *t, const int64_t *want, size_t n) {
    assert_int_equal(t->dtype, DF_I64);
    assert_int_equal(df_shape_numel(&t->shape), (int64_t)n);
    for (size_t i = 0; i < n; i++) assert_int_equal(((int64_t *)t->data)[i], want[i]);
}

static void expect_error(df_op_case *c, int n_out, df_status want, const char *needle) {
    df_error err = {0};
    assert_int_equal(op_case_run(c, n_out, &err), want);
    if (!strstr(err.msg, "test_node") || (needle && !strstr(err.msg, needle))) {
        print_error("message: %s\n", err.msg);
        fail();
    }
}

static void run_ok(df_op_case *c, int n_out) {
    df_error err = {0};
    df_status st = op_case_run(c, n_out, &err);
    if (st) print_error("%s\n", err.msg);
    assert_int_equal(st, DF_OK);
}

static df_tensor iota_f32(int rank, const int64_t *dims) {
    df_tensor t = mk(DF_F32, rank, dims, NULL);
    for (int64_t i = 0; i < df_shape_numel(&t.shape); i++) ((float *)t.data)[i] = (float)i;
    return t;
}

/* --- Shape, Size ---------------------------------------------------------------------- */
static void test_shape(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Shape", 13);
    in(&c, "x", iota_f32(3, D(2, 3, 4)), false);
    run_ok(&c, 1);
    expect_i64(&c.outputs[0], L(2, 3, 4), 3);
    /* Static shapes: the output is known at load time. */
    assert_true(c.g->values[df_graph_find_value(c.g, "out0")].has_const);
    op_case_free(&c);

    op_case_init(&c, "Shape", 15);
    in(&c, "x", iota_f32(3, D(2, 3, 4)), false);
    op_case_attr_int(&c, "start", -2);
    op_case_attr_int(&c, "end", 100);
    run_ok(&c, 1);
    expect_i64(&c.outputs[0], L(3, 4), 2);
    op_case_free(&c);

    op_case_init(&c, "Shape", 15);
    in(&c, "x", iota_f32(3, D(2, 3, 4)), false);
    op_case_attr_int(&c, "start", 2);
    op_case_attr_int(&c, "end", 1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 1, D(0));
    op_case_free(&c);

    op_case_init(&c, "Size", 13);
    in(&c, "x", iota_f32(3, D(2, 0, 4)), false);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 0, NULL);
    expect_i64(&c.outputs[0], L(0), 1);
    op_case_free(&c);
}

/* --- Reshape, Flatten ------------------------------------------------------------------ */
static void test_reshape(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Reshape", 13);
    in(&c, "x", iota_f32(3, D(2, 3, 4)), false);
    in(&c, "shape", op_tensor_i64(1, D(3), L(0, -1, 2)), true);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 3, D(2, 6, 2));
    assert_float_equal(((float *)c.outputs[0].data)[23], 23, 0);
    op_case_free(&c);

    /* allowzero=1: 0 is a real zero. */
    op_case_init(&c, "Reshape", 14);
    in(&c, "x", mk(DF_F32, 2, D(0, 3), NULL), false);
    in(&c, "shape", op_tensor_i64(1, D(2), L(3, 0)), true);
    op_case_attr_int(&c, "allowzero", 1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(3, 0));
    op_case_free(&c);

    op_case_init(&c, "Reshape", 13);
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    in(&c, "shape", op_tensor_i64(1, D(2), L(4, 2)), true);
    expect_error(&c, 1, DF_ESHAPE, "cannot reshape");
    op_case_free(&c);

    op_case_init(&c, "Reshape", 13);
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    in(&c, "shape", op_tensor_i64(1, D(2), L(-1, -1)), true);
    expect_error(&c, 1, DF_EINVAL, "-1");
    op_case_free(&c);

    /* A runtime shape input: the executor must bind its value. */
    op_case_init(&c, "Reshape", 13);
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    in(&c, "shape", op_tensor_i64(1, D(1), L(6)), false);
    expect_error(&c, 1, DF_ENEEDVALUE, "'shape'");
    op_case_free(&c);

    op_case_init(&c, "Flatten", 13);
    in(&c, "x", iota_f32(4, D(2, 3, 4, 5)), false);
    op_case_attr_int(&c, "axis", -1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(24, 5));
    op_case_free(&c);

    op_case_init(&c, "Flatten", 13);
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    op_case_attr_int(&c, "axis", 0);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(1, 6));
    op_case_free(&c);

    op_case_init(&c, "Flatten", 13);
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    op_case_attr_int(&c, "axis", 3);
    expect_error(&c, 1, DF_ERANGE, "axis");
    op_case_free(&c);
}

/* --- Transpose ------------------------------------------------------------------------- */
static void check_transpose(const int64_t *dims, const int64_t *perm, int rank, df_dtype dt) {
    df_op_case c;
    op_case_init(&c, "Transpose", 13);
    df_tensor x = mk(dt, rank, dims, NULL);
    int64_t n = df_shape_numel(&x.shape);
    for (int64_t i = 0; i < n; i++) {
        if (dt == DF_F32) ((float *)x.data)[i] = (float)i;
        else ((int64_t *)x.data)[i] = i * 7;
    }
    in(&c, "x", x, false);
    if (perm) op_case_attr_ints(&c, "perm", perm, (size_t)rank);
    run_ok(&c, 1);
    const df_tensor *y = &c.outputs[0];
    int64_t p[DF_MAX_RANK], xs[DF_MAX_RANK], idx[DF_MAX_RANK] = {0};
    for (int i = 0; i < rank; i++) p[i] = perm ? perm[i] : rank - 1 - i;
    df_shape xsh = df_shape_make(rank, dims);
    sh_strides(&xsh, xs);
    for (int i = 0; i < rank; i++) assert_int_equal(y->shape.dims[i], dims[p[i]]);
    for (int64_t o = 0; o < n; o++) {
        int64_t src = 0;
        for (int i = 0; i < rank; i++) src += idx[i] * xs[p[i]];
        if (dt == DF_F32) assert_float_equal(((float *)y->data)[o], (float)src, 0);
        else assert_int_equal(((int64_t *)y->data)[o], src * 7);
        for (int k = rank - 1; k >= 0; k--) {
            if (++idx[k] < y->shape.dims[k]) break;
            idx[k] = 0;
        }
    }
    op_case_free(&c);
}

static void test_transpose(void **state) {
    (void)state;
    check_transpose(D(2, 3, 4), NULL, 3, DF_F32);                    /* default: reversed */
    check_transpose(D(2, 5, 3, 4), D(0, 2, 1, 3), 4, DF_F32);        /* BERT head split */
    check_transpose(D(2, 3, 5, 4), D(0, 2, 1, 3), 4, DF_I64);        /* and merge */
    check_transpose(D(1, 3, 1, 4), D(3, 2, 0, 1), 4, DF_F32);
    check_transpose(D(2, 0, 3), D(1, 2, 0), 3, DF_F32);              /* zero-size */
    check_transpose(D(2, 9, 3, 40), D(0, 2, 3, 1), 4, DF_F32);       /* K^T: tiled 2-D path */
    check_transpose(D(37, 70), NULL, 2, DF_I64);

    df_op_case c;
    op_case_init(&c, "Transpose", 13);
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    op_case_attr_ints(&c, "perm", L(0, 0), 2);
    expect_error(&c, 1, DF_EINVAL, "perm");
    op_case_free(&c);
}

/* The threaded strided copy must agree with the single-threaded one. */
static void test_strided_copy_threads(void **state) {
    (void)state;
    int64_t dims[4] = {4, 64, 12, 64}, strides[4] = {64 * 12 * 64, 64, 64 * 64, 1};
    int64_t n = 4 * 64 * 12 * 64;
    float *src = malloc(sizeof(float) * (size_t)n), *a = malloc(sizeof(float) * (size_t)n),
          *b = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) src[i] = (float)i;
    sh_strided_copy(a, src, 4, dims, strides, 4, 1);
    sh_strided_copy(b, src, 4, dims, strides, 4, 4);
    assert_memory_equal(a, b, sizeof(float) * (size_t)n);
    free(src);
    free(a);
    free(b);
}

/* --- Squeeze, Unsqueeze ---------------------------------------------------------------- */
static void test_squeeze(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Unsqueeze", 11); /* axes attribute */
    in(&c, "x", iota_f32(2, D(3, 4)), false);
    op_case_attr_ints(&c, "axes", L(0, -1), 2);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 4, D(1, 3, 4, 1));
    op_case_free(&c);

    op_case_init(&c, "Unsqueeze", 13); /* axes input */
    in(&c, "x", iota_f32(2, D(3, 4)), false);
    in(&c, "axes", op_tensor_i64(1, D(2), L(3, 1)), true);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 4, D(3, 1, 4, 1));
    op_case_free(&c);

    op_case_init(&c, "Unsqueeze", 13);
    in(&c, "x", iota_f32(2, D(3, 4)), false);
    in(&c, "axes", op_tensor_i64(1, D(2), L(1, 1)), true);
    expect_error(&c, 1, DF_EINVAL, "repeated");
    op_case_free(&c);

    op_case_init(&c, "Squeeze", 13); /* no axes: every unit dim */
    in(&c, "x", iota_f32(4, D(1, 3, 1, 4)), false);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(3, 4));
    op_case_free(&c);

    op_case_init(&c, "Squeeze", 11);
    in(&c, "x", iota_f32(4, D(1, 3, 1, 4)), false);
    op_case_attr_ints(&c, "axes", L(-2), 1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 3, D(1, 3, 4));
    assert_float_equal(((float *)c.outputs[0].data)[11], 11, 0);
    op_case_free(&c);

    op_case_init(&c, "Squeeze", 13);
    in(&c, "x", iota_f32(2, D(3, 4)), false);
    in(&c, "axes", op_tensor_i64(1, D(1), L(0)), true);
    expect_error(&c, 1, DF_ESHAPE, "not 1");
    op_case_free(&c);
}

/* --- Concat, Split --------------------------------------------------------------------- */
static void test_concat(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Concat", 13);
    in(&c, "a", op_tensor_f32(2, D(2, 2), F(1, 2, 3, 4)), false);
    in(&c, "b", op_tensor_f32(2, D(2, 1), F(5, 6)), true);
    in(&c, "e", mk(DF_F32, 2, D(2, 0), NULL), false);
    op_case_attr_int(&c, "axis", -1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(2, 3));
    expect_f32(&c.outputs[0], F(1, 2, 5, 3, 4, 6), 6);
    op_case_free(&c);

    op_case_init(&c, "Concat", 13);
    in(&c, "a", op_tensor_i64(1, D(2), L(1, 2)), false);
    in(&c, "b", op_tensor_i64(1, D(1), L(-1)), true);
    op_case_attr_int(&c, "axis", 0);
    run_ok(&c, 1);
    expect_i64(&c.outputs[0], L(1, 2, -1), 3);
    op_case_free(&c);

    op_case_init(&c, "Concat", 13);
    in(&c, "a", op_tensor_f32(2, D(2, 2), F(1, 2, 3, 4)), false);
    in(&c, "b", op_tensor_f32(2, D(1, 2), F(5, 6)), false);
    op_case_attr_int(&c, "axis", 1);
    expect_error(&c, 1, DF_ESHAPE, "'b'");
    op_case_free(&c);
}

static void test_split(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Split", 11); /* split attribute */
    in(&c, "x", iota_f32(2, D(2, 6)), false);
    op_case_attr_int(&c, "axis", 1);
    op_case_attr_ints(&c, "split", L(2, 4), 2);
    run_ok(&c, 2);
    expect_f32(&c.outputs[0], F(0, 1, 6, 7), 4);
    expect_f32(&c.outputs[1], F(2, 3, 4, 5, 8, 9, 10, 11), 8);
    op_case_free(&c);

    op_case_init(&c, "Split", 13); /* split input, zero-sized part */
    in(&c, "x", iota_f32(1, D(5)), false);
    in(&c, "split", op_tensor_i64(1, D(3), L(2, 0, 3)), true);
    run_ok(&c, 3);
    expect_shape(&c.outputs[1], 1, D(0));
    expect_f32(&c.outputs[2], F(2, 3, 4), 3);
    op_case_free(&c);

    op_case_init(&c, "Split", 13); /* equal parts */
    in(&c, "x", iota_f32(1, D(6)), false);
    run_ok(&c, 3);
    expect_f32(&c.outputs[2], F(4, 5), 2);
    op_case_free(&c);

    op_case_init(&c, "Split", 13);
    in(&c, "x", iota_f32(1, D(5)), false);
    expect_error(&c, 3, DF_ESHAPE, "evenly");
    op_case_free(&c);

    op_case_init(&c, "Split", 18); /* num_outputs: ceil-sized, last smaller */
    in(&c, "x", iota_f32(1, D(5)), false);
    op_case_attr_int(&c, "num_outputs", 3);
    run_ok(&c, 3);
    expect_f32(&c.outputs[0], F(0, 1), 2);
    expect_f32(&c.outputs[2], F(4), 1);
    op_case_free(&c);

    op_case_init(&c, "Split", 13);
    in(&c, "x", iota_f32(1, D(5)), false);
    in(&c, "split", op_tensor_i64(1, D(2), L(2, 2)), true);
    expect_error(&c, 2, DF_ESHAPE, "sums to 4");
    op_case_free(&c);
}

/* --- Slice ----------------------------------------------------------------------------- */
static void test_slice(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Slice", 9); /* attributes */
    in(&c, "x", iota_f32(2, D(3, 4)), false);
    op_case_attr_ints(&c, "starts", L(1, 1), 2);
    op_case_attr_ints(&c, "ends", L(1000, 3), 2);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(2, 2));
    expect_f32(&c.outputs[0], F(5, 6, 9, 10), 4);
    op_case_free(&c);

    op_case_init(&c, "Slice", 13); /* negative step, clamped start, negative axis */
    in(&c, "x", iota_f32(2, D(3, 4)), false);
    in(&c, "starts", op_tensor_i64(1, D(1), L(100)), true);
    in(&c, "ends", op_tensor_i64(1, D(1), L(INT64_MIN)), true);
    in(&c, "axes", op_tensor_i64(1, D(1), L(-1)), true);
    in(&c, "steps", op_tensor_i64(1, D(1), L(-2)), true);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(3, 2));
    expect_f32(&c.outputs[0], F(3, 1, 7, 5, 11, 9), 6);
    op_case_free(&c);

    op_case_init(&c, "Slice", 13); /* empty result */
    in(&c, "x", iota_f32(2, D(3, 4)), false);
    in(&c, "starts", op_tensor_i64(1, D(1), L(2)), true);
    in(&c, "ends", op_tensor_i64(1, D(1), L(1)), true);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(0, 4));
    op_case_free(&c);

    op_case_init(&c, "Slice", 13);
    in(&c, "x", iota_f32(2, D(3, 4)), false);
    in(&c, "starts", op_tensor_i64(1, D(1), L(0)), true);
    in(&c, "ends", op_tensor_i64(1, D(1), L(2)), false);
    expect_error(&c, 1, DF_ENEEDVALUE, "'ends'");
    op_case_free(&c);

    op_case_init(&c, "Slice", 13);
    in(&c, "x", iota_f32(2, D(3, 4)), false);
    in(&c, "starts", op_tensor_i64(1, D(1), L(0)), true);
    in(&c, "ends", op_tensor_i64(1, D(1), L(2)), true);
    op_case_input(&c, NULL, NULL, false);
    in(&c, "steps", op_tensor_i64(1, D(1), L(0)), true);
    expect_error(&c, 1, DF_EINVAL, "step");
    op_case_free(&c);
}

/* --- Expand, Tile ---------------------------------------------------------------------- */
static void test_expand_tile(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Expand", 13); /* bidirectional: the shape may be smaller */
    in(&c, "x", op_tensor_f32(2, D(3, 1), F(1, 2, 3)), false);
    in(&c, "shape", op_tensor_i64(1, D(3), L(2, 1, 2)), true);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 3, D(2, 3, 2));
    expect_f32(&c.outputs[0], F(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3), 12);
    op_case_free(&c);

    op_case_init(&c, "Expand", 13);
    in(&c, "x", op_tensor_f32(1, D(3), F(1, 2, 3)), false);
    in(&c, "shape", op_tensor_i64(1, D(1), L(2)), true);
    expect_error(&c, 1, DF_ESHAPE, "broadcast");
    op_case_free(&c);

    op_case_init(&c, "Tile", 13);
    in(&c, "x", op_tensor_f32(2, D(2, 2), F(1, 2, 3, 4)), false);
    in(&c, "repeats", op_tensor_i64(1, D(2), L(2, 3)), true);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(4, 6));
    expect_f32(&c.outputs[0],
               F(1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4), 24);
    op_case_free(&c);

    op_case_init(&c, "Tile", 13);
    in(&c, "x", op_tensor_f32(2, D(2, 2), F(1, 2, 3, 4)), false);
    in(&c, "repeats", op_tensor_i64(1, D(2), L(0, 1)), true);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(0, 2));
    op_case_free(&c);
}

/* --- Constant, ConstantOfShape, Identity, Dropout --------------------------------------- */
static void test_constants(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Constant", 13);
    op_case_attr_ints(&c, "value_ints", L(4, 5, 6), 3);
    run_ok(&c, 1);
    expect_i64(&c.outputs[0], L(4, 5, 6), 3);
    df_value *v = &c.g->values[df_graph_find_value(c.g, "out0")];
    assert_true(v->has_const);
    assert_int_equal(((int64_t *)v->value.data)[2], 6);
    op_case_free(&c);

    op_case_init(&c, "Constant", 13);
    df_tensor t = op_tensor_f32(2, D(1, 2), F(1.5f, -2));
    df_attr a = {.name = "value", .type = DF_ATTR_TENSOR, .t = t};
    op_case_attr(&c, &a);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(1, 2));
    expect_f32(&c.outputs[0], F(1.5f, -2), 2);
    op_case_free(&c);
    df_tensor_free(&t);

    op_case_init(&c, "Constant", 13);
    op_case_attr_float(&c, "value_float", 0.25f);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 0, NULL);
    expect_f32(&c.outputs[0], F(0.25f), 1);
    op_case_free(&c);

    op_case_init(&c, "Constant", 13);
    expect_error(&c, 1, DF_EINVAL, "value");
    op_case_free(&c);

    op_case_init(&c, "ConstantOfShape", 13);
    in(&c, "shape", op_tensor_i64(1, D(2), L(2, 3)), true);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(0, 0, 0, 0, 0, 0), 6);
    op_case_free(&c);

    op_case_init(&c, "ConstantOfShape", 13);
    in(&c, "shape", op_tensor_i64(1, D(2), L(2, 0)), true);
    t = op_tensor_i64(1, D(1), L(7));
    a = (df_attr){.name = "value", .type = DF_ATTR_TENSOR, .t = t};
    op_case_attr(&c, &a);
    run_ok(&c, 1);
    assert_int_equal(c.outputs[0].dtype, DF_I64);
    expect_shape(&c.outputs[0], 2, D(2, 0));
    op_case_free(&c);

    op_case_init(&c, "ConstantOfShape", 13);
    in(&c, "shape", op_tensor_i64(1, D(1), L(3)), true);
    op_case_attr(&c, &a);
    run_ok(&c, 1);
    expect_i64(&c.outputs[0], L(7, 7, 7), 3);
    op_case_free(&c);
    df_tensor_free(&t);

    op_case_init(&c, "ConstantOfShape", 13);
    in(&c, "shape", op_tensor_i64(1, D(1), L(3)), false);
    expect_error(&c, 1, DF_ENEEDVALUE, "'shape'");
    op_case_free(&c);
}

static void test_identity_dropout(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Identity", 13);
    in(&c, "x", op_tensor_i64(1, D(2), L(9, 8)), false);
    run_ok(&c, 1);
    expect_i64(&c.outputs[0], L(9, 8), 2);
    op_case_free(&c);

    op_case_init(&c, "Dropout", 13);
    in(&c, "x", op_tensor_f32(1, D(3), F(1, 2, 3)), false);
    in(&c, "ratio", op_tensor_f32(0, NULL, F(0.5f)), true);
    run_ok(&c, 2);
    expect_f32(&c.outputs[0], F(1, 2, 3), 3);
    assert_int_equal(c.outputs[1].dtype, DF_BOOL);
    for (int i = 0; i < 3; i++) assert_int_equal(((uint8_t *)c.outputs[1].data)[i], 1);
    op_case_free(&c);

    op_case_init(&c, "Dropout", 10); /* ratio attribute */
    in(&c, "x", op_tensor_f32(1, D(3), F(1, 2, 3)), false);
    op_case_attr_float(&c, "ratio", 0.1f);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(1, 2, 3), 3);
    op_case_free(&c);

    uint8_t yes = 1;
    op_case_init(&c, "Dropout", 13);
    in(&c, "x", op_tensor_f32(1, D(3), F(1, 2, 3)), false);
    in(&c, "ratio", op_tensor_f32(0, NULL, F(0.5f)), true);
    in(&c, "training_mode", mk(DF_BOOL, 0, NULL, &yes), true);
    expect_error(&c, 1, DF_EUNSUPPORTED, "training-mode Dropout");
    op_case_free(&c);

    op_case_init(&c, "Dropout", 13); /* a runtime true is caught when it runs */
    in(&c, "x", op_tensor_f32(1, D(3), F(1, 2, 3)), false);
    op_case_input(&c, NULL, NULL, false);
    in(&c, "training_mode", mk(DF_BOOL, 0, NULL, &yes), false);
    expect_error(&c, 1, DF_EUNSUPPORTED, "training-mode Dropout");
    op_case_free(&c);
}

/* --- Range ----------------------------------------------------------------------------- */
static void test_range(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Range", 11);
    in(&c, "s", op_tensor_f32(0, NULL, F(1)), true);
    in(&c, "l", op_tensor_f32(0, NULL, F(2)), true);
    in(&c, "d", op_tensor_f32(0, NULL, F(0.3f)), true);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(1, 1.3f, 1.6f, 1.9f), 4);
    op_case_free(&c);

    int32_t s = 10, l = 4, d = -3;
    op_case_init(&c, "Range", 11);
    in(&c, "s", mk(DF_I32, 0, NULL, &s), true);
    in(&c, "l", mk(DF_I32, 0, NULL, &l), true);
    in(&c, "d", mk(DF_I32, 0, NULL, &d), true);
    run_ok(&c, 1);
    assert_int_equal(c.outputs[0].dtype, DF_I32);
    expect_shape(&c.outputs[0], 1, D(2));
    assert_int_equal(((int32_t *)c.outputs[0].data)[1], 7);
    op_case_free(&c);

    op_case_init(&c, "Range", 11); /* empty */
    in(&c, "s", op_tensor_i64(0, NULL, L(5)), true);
    in(&c, "l", op_tensor_i64(0, NULL, L(1)), true);
    in(&c, "d", op_tensor_i64(0, NULL, L(1)), true);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 1, D(0));
    op_case_free(&c);

    op_case_init(&c, "Range", 11);
    in(&c, "s", op_tensor_i64(0, NULL, L(0)), true);
    in(&c, "l", op_tensor_i64(0, NULL, L(5)), false);
    in(&c, "d", op_tensor_i64(0, NULL, L(1)), true);
    expect_error(&c, 1, DF_ENEEDVALUE, "'l'");
    op_case_free(&c);

    op_case_init(&c, "Range", 11);
    in(&c, "s", op_tensor_i64(0, NULL, L(0)), true);
    in(&c, "l", op_tensor_i64(0, NULL, L(5)), true);
    in(&c, "d", op_tensor_i64(0, NULL, L(0)), true);
    expect_error(&c, 1, DF_EINVAL, "delta");
    op_case_free(&c);
}

/* --- Gather, GatherElements ------------------------------------------------------------- */
static void test_gather(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "Gather", 13); /* embedding lookup */
    in(&c, "table", iota_f32(2, D(4, 3)), true);
    in(&c, "ids", op_tensor_i64(2, D(1, 3), L(3, 0, -1)), false);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 3, D(1, 3, 3));
    expect_f32(&c.outputs[0], F(9, 10, 11, 0, 1, 2, 9, 10, 11), 9);
    op_case_free(&c);

    int32_t idx32[2] = {2, 0};
    op_case_init(&c, "Gather", 13); /* axis 1, int32 indices */
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    in(&c, "i", mk(DF_I32, 1, D(2), idx32), false);
    op_case_attr_int(&c, "axis", -1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(2, 2));
    expect_f32(&c.outputs[0], F(2, 0, 5, 3), 4);
    op_case_free(&c);

    op_case_init(&c, "Gather", 13); /* scalar index of a shape vector */
    in(&c, "x", op_tensor_i64(1, D(3), L(1, 64, 312)), true);
    in(&c, "i", op_tensor_i64(0, NULL, L(1)), true);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 0, NULL);
    expect_i64(&c.outputs[0], L(64), 1);
    op_case_free(&c);

    op_case_init(&c, "Gather", 13); /* caught at inference when the indices are constant */
    in(&c, "x", iota_f32(2, D(4, 3)), false);
    in(&c, "i", op_tensor_i64(1, D(2), L(1, 4)), true);
    expect_error(&c, 1, DF_ERANGE, "index 4");
    op_case_free(&c);

    op_case_init(&c, "Gather", 13); /* and at run time otherwise */
    in(&c, "x", iota_f32(2, D(4, 3)), false);
    in(&c, "i", op_tensor_i64(1, D(2), L(-5, 0)), false);
    expect_error(&c, 1, DF_ERANGE, "index -5");
    op_case_free(&c);

    op_case_init(&c, "GatherElements", 13);
    in(&c, "x", op_tensor_f32(2, D(2, 2), F(1, 2, 3, 4)), false);
    in(&c, "i", op_tensor_i64(2, D(2, 2), L(0, 0, 1, 0)), false);
    op_case_attr_int(&c, "axis", 1);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(1, 1, 4, 3), 4);
    op_case_free(&c);

    op_case_init(&c, "GatherElements", 13);
    in(&c, "x", iota_f32(2, D(3, 3)), false);
    in(&c, "i", op_tensor_i64(2, D(2, 3), L(1, 2, 0, 2, 0, -1)), false);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(3, 7, 2, 6, 1, 8), 6);
    op_case_free(&c);
}

/* --- CumSum, ArgMax, ArgMin, Trilu ------------------------------------------------------ */
static void test_cumsum_arg_trilu(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "CumSum", 14);
    in(&c, "x", op_tensor_f32(2, D(2, 3), F(1, 2, 3, 4, 5, 6)), false);
    in(&c, "axis", op_tensor_i64(0, NULL, L(-1)), true);
    op_case_attr_int(&c, "exclusive", 1);
    op_case_attr_int(&c, "reverse", 1);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(5, 3, 0, 11, 6, 0), 6);
    op_case_free(&c);

    op_case_init(&c, "CumSum", 14);
    in(&c, "x", op_tensor_i64(2, D(2, 3), L(1, 2, 3, 4, 5, 6)), false);
    in(&c, "axis", op_tensor_i64(0, NULL, L(0)), false);
    run_ok(&c, 1);
    expect_i64(&c.outputs[0], L(1, 2, 3, 5, 7, 9), 6);
    op_case_free(&c);

    op_case_init(&c, "ArgMax", 13);
    in(&c, "x", op_tensor_f32(2, D(2, 3), F(1, 5, 5, 7, 2, 7)), false);
    op_case_attr_int(&c, "axis", 1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(2, 1));
    expect_i64(&c.outputs[0], L(1, 0), 2);
    op_case_free(&c);

    op_case_init(&c, "ArgMax", 13);
    in(&c, "x", op_tensor_f32(2, D(2, 3), F(1, 5, 5, 7, 2, 7)), false);
    op_case_attr_int(&c, "axis", -1);
    op_case_attr_int(&c, "keepdims", 0);
    op_case_attr_int(&c, "select_last_index", 1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 1, D(2));
    expect_i64(&c.outputs[0], L(2, 2), 2);
    op_case_free(&c);

    op_case_init(&c, "ArgMin", 13);
    in(&c, "x", op_tensor_i64(2, D(2, 2), L(3, 1, 0, 4)), false);
    run_ok(&c, 1);
    expect_i64(&c.outputs[0], L(1, 0), 2);
    op_case_free(&c);

    op_case_init(&c, "Trilu", 14);
    in(&c, "x", iota_f32(2, D(3, 3)), false);
    in(&c, "k", op_tensor_i64(0, NULL, L(1)), true);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(0, 1, 2, 0, 0, 5, 0, 0, 0), 9);
    op_case_free(&c);

    op_case_init(&c, "Trilu", 14);
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    op_case_attr_int(&c, "upper", 0);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(0, 0, 0, 3, 4, 0), 6);
    op_case_free(&c);
}

/* --- Reductions ------------------------------------------------------------------------ */
static void test_reduce(void **state) {
    (void)state;
    df_op_case c;
    op_case_init(&c, "ReduceMean", 13); /* LayerNorm decomposition: last axis */
    in(&c, "x", iota_f32(3, D(1, 2, 4)), false);
    op_case_attr_ints(&c, "axes", L(-1), 1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 3, D(1, 2, 1));
    expect_f32(&c.outputs[0], F(1.5f, 5.5f), 2);
    op_case_free(&c);

    op_case_init(&c, "ReduceSum", 13); /* axes input since 13 */
    in(&c, "x", iota_f32(3, D(2, 3, 2)), false);
    in(&c, "axes", op_tensor_i64(1, D(2), L(0, 2)), true);
    op_case_attr_int(&c, "keepdims", 0);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 1, D(3));
    expect_f32(&c.outputs[0], F(14, 22, 30), 3);
    op_case_free(&c);

    op_case_init(&c, "ReduceSum", 13); /* no axes: everything */
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    op_case_attr_int(&c, "keepdims", 0);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 0, NULL);
    expect_f32(&c.outputs[0], F(15), 1);
    op_case_free(&c);

    op_case_init(&c, "ReduceSum", 13); /* noop_with_empty_axes */
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    in(&c, "axes", mk(DF_I64, 1, D(0), NULL), true);
    op_case_attr_int(&c, "noop_with_empty_axes", 1);
    run_ok(&c, 1);
    expect_shape(&c.outputs[0], 2, D(2, 3));
    expect_f32(&c.outputs[0], F(0, 1, 2, 3, 4, 5), 6);
    op_case_free(&c);

    op_case_init(&c, "ReduceSum", 13);
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    in(&c, "axes", op_tensor_i64(1, D(1), L(1)), false);
    expect_error(&c, 1, DF_ENEEDVALUE, "'axes'");
    op_case_free(&c);

    op_case_init(&c, "ReduceMax", 13); /* axes still an attribute before 18 */
    in(&c, "x", op_tensor_f32(2, D(2, 3), F(1, -5, 3, -4, 8, 2)), false);
    op_case_attr_ints(&c, "axes", L(0), 1);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(1, 8, 3), 3);
    op_case_free(&c);

    op_case_init(&c, "ReduceMin", 18); /* axes input since 18 */
    in(&c, "x", op_tensor_f32(2, D(2, 3), F(1, -5, 3, -4, 8, 2)), false);
    in(&c, "axes", op_tensor_i64(1, D(1), L(1)), true);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(-5, -4), 2);
    op_case_free(&c);

    op_case_init(&c, "ReduceSum", 13); /* int64, middle axis */
    in(&c, "x", op_tensor_i64(3, D(2, 2, 2), L(1, 2, 3, 4, 5, 6, 7, 8)), false);
    in(&c, "axes", op_tensor_i64(1, D(1), L(1)), true);
    run_ok(&c, 1);
    expect_i64(&c.outputs[0], L(4, 6, 12, 14), 4);
    op_case_free(&c);

    op_case_init(&c, "ReduceMax", 13); /* [outer, R, inner] row-wise path */
    in(&c, "x", op_tensor_f32(3, D(2, 3, 2), F(1, 9, -2, 4, 3, 3, 0, -1, -5, -7, 2, -8)), false);
    op_case_attr_ints(&c, "axes", L(1), 1);
    op_case_attr_int(&c, "keepdims", 0);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(3, 9, 2, -1), 4);
    op_case_free(&c);

    op_case_init(&c, "ReduceMean", 13);
    in(&c, "x", op_tensor_f32(3, D(2, 3, 2), F(1, 9, -2, 4, 3, 3, 0, -1, -5, -7, 2, -8)), false);
    op_case_attr_ints(&c, "axes", L(1), 1);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(2.0f / 3, 16.0f / 3, -1, -16.0f / 3), 4);
    op_case_free(&c);

    op_case_init(&c, "ReduceProd", 13);
    in(&c, "x", op_tensor_f32(2, D(2, 2), F(1, 2, 3, 4)), false);
    op_case_attr_ints(&c, "axes", L(1), 1);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(2, 12), 2);
    op_case_free(&c);

    op_case_init(&c, "ReduceL2", 13);
    in(&c, "x", op_tensor_f32(2, D(2, 2), F(3, 4, 6, 8)), false);
    op_case_attr_ints(&c, "axes", L(1), 1);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(5, 10), 2);
    op_case_free(&c);

    op_case_init(&c, "ReduceSumSquare", 13);
    in(&c, "x", op_tensor_f32(2, D(2, 2), F(3, 4, 6, 8)), false);
    op_case_attr_ints(&c, "axes", L(0), 1);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(45, 80), 2);
    op_case_free(&c);

    op_case_init(&c, "ReduceLogSumExp", 13); /* stable for large inputs */
    in(&c, "x", op_tensor_f32(1, D(2), F(1000, 1000)), false);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(1000 + 0.6931472f), 1);
    op_case_free(&c);

    op_case_init(&c, "ReduceSum", 13); /* reducing an empty axis gives the identity */
    in(&c, "x", mk(DF_F32, 2, D(0, 3), NULL), false);
    in(&c, "axes", op_tensor_i64(1, D(1), L(0)), true);
    op_case_attr_int(&c, "keepdims", 0);
    run_ok(&c, 1);
    expect_f32(&c.outputs[0], F(0, 0, 0), 3);
    op_case_free(&c);

    op_case_init(&c, "ReduceMean", 13);
    in(&c, "x", iota_f32(2, D(2, 3)), false);
    op_case_attr_ints(&c, "axes", L(2), 1);
    expect_error(&c, 1, DF_ERANGE, "axis 2");
    op_case_free(&c);
}

/* Runs the already-run case again with `threads` threads into fresh outputs and checks that the
 * bytes match the single-threaded result (the parallel paths only kick in on large tensors). */
static void expect_same_with_threads(df_op_case *c, int threads) {
    df_node *n = &c->g->nodes[c->node];
    const df_tensor *ins[OP_CASE_MAX_IO];
    df_tensor outs[OP_CASE_MAX_IO];
    df_tensor *outp[OP_CASE_MAX_IO];
    for (int i = 0; i < c->n_inputs; i++) ins[i] = c->inputs[i] >= 0 ? &c->g->values[c->inputs[i]].value : NULL;
    for (int i = 0; i < c->n_outputs; i++) {
        assert_int_equal(df_tensor_alloc(&outs[i], c->outputs[i].dtype, &c->outputs[i].shape, NULL), DF_OK);
        outp[i] = &outs[i];
    }
    df_error err = {0};
    df_kernel_args a = {.graph = c->g, .node = n, .in = ins, .n_in = c->n_inputs, .out = outp,
                        .n_out = c->n_outputs, .threads = threads, .err = &err};
    assert_int_equal(n->op->run(&a), DF_OK);
    for (int i = 0; i < c->n_outputs; i++) {
        assert_memory_equal(outs[i].data, c->outputs[i].data, outs[i].nbytes);
        df_tensor_free(&outs[i]);
    }
}

static void test_threads(void **state) {
    (void)state;
    const int64_t *big = D(4, 64, 12, 64);
    df_op_case c;
    op_case_init(&c, "Transpose", 13);
    in(&c, "x", iota_f32(4, big), false);
    op_case_attr_ints(&c, "perm", L(0, 2, 1, 3), 4);
    run_ok(&c, 1);
    expect_same_with_threads(&c, 4);
    op_case_free(&c);

    op_case_init(&c, "Transpose", 13);
    in(&c, "x", iota_f32(4, big), false);
    op_case_attr_ints(&c, "perm", L(0, 2, 3, 1), 4);
    run_ok(&c, 1);
    expect_same_with_threads(&c, 4);
    op_case_free(&c);

    op_case_init(&c, "Concat", 13);
    in(&c, "a", iota_f32(4, big), false);
    in(&c, "b", iota_f32(4, big), false);
    op_case_attr_int(&c, "axis", 2);
    run_ok(&c, 1);
    expect_same_with_threads(&c, 4);
    op_case_free(&c);

    op_case_init(&c, "Split", 13);
    in(&c, "x", iota_f32(4, big), false);
    in(&c, "split", op_tensor_i64(1, D(3), L(1, 3, 8)), true);
    op_case_attr_int(&c, "axis", 2);
    run_ok(&c, 3);
    expect_same_with_threads(&c, 4);
    op_case_free(&c);

    op_case_init(&c, "Slice", 13);
    in(&c, "x", iota_f32(4, big), false);
    in(&c, "starts", op_tensor_i64(1, D(2), L(-1, 1)), true);
    in(&c, "ends", op_tensor_i64(1, D(2), L(INT64_MIN, 64)), true);
    in(&c, "axes", op_tensor_i64(1, D(2), L(1, 3)), true);
    in(&c, "steps", op_tensor_i64(1, D(2), L(-1, 1)), true);
    run_ok(&c, 1);
    expect_same_with_threads(&c, 3);
    op_case_free(&c);

    op_case_init(&c, "Gather", 13); /* embedding path */
    in(&c, "t", iota_f32(2, D(3000, 64)), true);
    df_tensor ids = mk(DF_I64, 2, D(8, 128), NULL);
    for (int i = 0; i < 8 * 128; i++) ((int64_t *)ids.data)[i] = (i * 37) % 3000;
    in(&c, "ids", ids, false);
    run_ok(&c, 1);
    expect_same_with_threads(&c, 4);
    op_case_free(&c);

    op_case_init(&c, "Gather", 13); /* general path */
    in(&c, "x", iota_f32(4, big), false);
    in(&c, "i", op_tensor_i64(1, D(3), L(5, -1, 0)), false);
    op_case_attr_int(&c, "axis", 2);
    run_ok(&c, 1);
    expect_same_with_threads(&c, 4);
    op_case_free(&c);

    op_case_init(&c, "ReduceMean", 13);
    in(&c, "x", iota_f32(4, big), false);
    op_case_attr_ints(&c, "axes", L(-1), 1);
    run_ok(&c, 1);
    expect_same_with_threads(&c, 4);
    op_case_free(&c);

    op_case_init(&c, "ReduceSum", 13); /* row-wise path: mean pooling over the sequence */
    in(&c, "x", iota_f32(4, big), false);
    in(&c, "axes", op_tensor_i64(1, D(1), L(1)), true);
    run_ok(&c, 1);
    expect_same_with_threads(&c, 4);
    op_case_free(&c);

    op_case_init(&c, "Expand", 13);
    in(&c, "x", iota_f32(4, D(4, 1, 12, 64)), false);
    in(&c, "shape", op_tensor_i64(1, D(4), big), true);
    run_ok(&c, 1);
    expect_same_with_threads(&c, 4);
    op_case_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_strided_copy_threads),
        cmocka_unit_test(test_squeeze),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_expand_tile),
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_identity_dropout),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_cumsum_arg_trilu),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
