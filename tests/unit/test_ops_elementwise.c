/* Unit tests for the elementwise family: the broadcast iterator (against a naive reference,
 * serial and threaded), every binary/variadic/unary operator, each dtype path, Cast, Where,
 * Clip across opsets, and the errors infer reports. */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "op_harness.h"
#include "ops/broadcast.h"
#include "ops/elementwise.h"

/* --- helpers ------------------------------------------------------------------------------ */
static uint32_t rng_state = 2024;
static uint32_t urand(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}
static float frand(void) { return (float)(urand() & 0xffff) / 16384.0f - 2.0f; }

static df_tensor mk(df_dtype dt, int rank, const int64_t *dims, const void *vals) {
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    assert_int_equal(df_tensor_alloc(&t, dt, &s, NULL), DF_OK);
    if (vals && t.nbytes) memcpy(t.data, vals, t.nbytes);
    return t;
}
static df_tensor scalar_f32(float v) { return mk(DF_F32, 0, NULL, &v); }

/* Runs op on the given inputs (NULL name = omitted); the tensors are consumed. */
static df_status run_op(df_op_case *c, const char *op, int opset, int n, const char *const *names, df_tensor *ts,
                        df_error *err) {
    op_case_init(c, op, opset);
    for (int i = 0; i < n; i++) {
        op_case_input(c, names[i], &ts[i], false);
        df_tensor_free(&ts[i]);
    }
    return op_case_run(c, 1, err);
}

static df_status run_attrs(df_op_case *c, const char *op, int opset, int n, const char *const *names,
                           df_tensor *ts, const df_attr *attrs, int n_attrs, df_error *err) {
    op_case_init(c, op, opset);
    for (int i = 0; i < n; i++) {
        op_case_input(c, names[i], &ts[i], false);
        df_tensor_free(&ts[i]);
    }
    for (int i = 0; i < n_attrs; i++) op_case_attr(c, &attrs[i]);
    return op_case_run(c, 1, err);
}

static df_status bin(df_op_case *c, const char *op, df_tensor a, df_tensor b, df_error *err) {
    static const char *const names[] = {"A", "B"};
    df_tensor ts[2] = {a, b};
    return run_op(c, op, 17, 2, names, ts, err);
}
static df_status un(df_op_case *c, const char *op, df_tensor x, df_error *err) {
    static const char *const names[] = {"X"};
    return run_op(c, op, 17, 1, names, &x, err);
}

static void expect_f32(const df_tensor *t, const float *want, int64_t n, float tol) {
    assert_int_equal(t->dtype, DF_F32);
    assert_int_equal(df_shape_numel(&t->shape), n);
    const float *g = t->data;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(want[i])) {
            assert_true(isnan(g[i]));
            continue;
        }
        if (fabsf(g[i] - want[i]) > tol) fail_msg("element %lld: got %.9g, want %.9g", (long long)i, g[i], want[i]);
    }
}
static void expect_bytes(const df_tensor *t, df_dtype dt, const void *want, size_t n) {
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->nbytes, n);
    assert_memory_equal(t->data, want, n);
}
static void expect_shape(const df_tensor *t, int rank, const int64_t *dims) {
    assert_int_equal(t->shape.rank, rank);
    for (int i = 0; i < rank; i++) assert_int_equal(t->shape.dims[i], dims[i]);
}

/* --- broadcast iterator -------------------------------------------------------------------- */
/* Numpy broadcasting by definition: the input element for output index idx. */
static int64_t ref_offset(const df_shape *in, const df_shape *out, int64_t flat) {
    int64_t off = 0, mul = 1;
    for (int d = out->rank - 1; d >= 0; d--) {
        int64_t i = flat % out->dims[d];
        flat /= out->dims[d];
        int id = d - (out->rank - in->rank);
        if (id < 0) continue;
        if (in->dims[id] != 1) off += i * mul;
        mul *= in->dims[id];
    }
    return off;
}

static df_shape random_sub_shape(const df_shape *out) {
    df_shape s = {.rank = out->rank ? (int)(urand() % (unsigned)(out->rank + 1)) : 0};
    for (int i = 0; i < s.rank; i++) {
        int64_t od = out->dims[out->rank - s.rank + i];
        s.dims[i] = (urand() % 3 == 0) ? 1 : od;
    }
    return s;
}

static void test_broadcast_random_add(void **state) {
    (void)state;
    for (int trial = 0; trial < 400; trial++) {
        df_shape out = {.rank = (int)(urand() % 6)};
        for (int i = 0; i < out.rank; i++) out.dims[i] = (urand() % 9 == 0) ? 0 : 1 + urand() % 4;
        df_shape sa = random_sub_shape(&out), sb = random_sub_shape(&out);
        if (sa.rank < out.rank && sb.rank < out.rank) { /* someone must carry the output's rank */
            df_shape full = out;
            for (int i = 0; i < sa.rank; i++) full.dims[out.rank - sa.rank + i] = sa.dims[i];
            sa = full;
        }
        /* make sure out really is the broadcast of the two */
        for (int d = 0; d < out.rank; d++) {
            int ia = d - (out.rank - sa.rank), ib = d - (out.rank - sb.rank);
            if ((ia < 0 || sa.dims[ia] == 1) && (ib < 0 || sb.dims[ib] == 1)) {
                if (ia >= 0) sa.dims[ia] = out.dims[d];
                else if (ib >= 0) sb.dims[ib] = out.dims[d];
                else out.dims[d] = 1;
            }
        }
        df_tensor a = mk(DF_F32, sa.rank, sa.dims, NULL), b = mk(DF_F32, sb.rank, sb.dims, NULL);
        for (int64_t i = 0; i < df_shape_numel(&sa); i++) ((float *)a.data)[i] = frand();
        for (int64_t i = 0; i < df_shape_numel(&sb); i++) ((float *)b.data)[i] = frand();
        df_tensor ac, bc;
        df_tensor_copy(&ac, &a, NULL);
        df_tensor_copy(&bc, &b, NULL);
        df_op_case c;
        df_error err = {0};
        assert_int_equal(bin(&c, "Add", a, b, &err), DF_OK);
        expect_shape(&c.outputs[0], out.rank, out.dims);
        const float *o = c.outputs[0].data, *pa = ac.data, *pb = bc.data;
        for (int64_t i = 0; i < df_shape_numel(&out); i++)
            assert_true(o[i] == pa[ref_offset(&sa, &out, i)] + pb[ref_offset(&sb, &out, i)]);
        op_case_free(&c);
        df_tensor_free(&ac);
        df_tensor_free(&bc);
    }
}

static void sub_row(int64_t n, void *o_, const void *const *in, const int64_t *st, const void *ctx) {
    (void)ctx;
    float *o = o_;
    const float *a = in[0], *b = in[1];
    for (int64_t i = 0; i < n; i++) o[i] = a[i * st[0]] - b[i * st[1]];
}

/* The threaded path splits rows into chunks; every element must still be written once. */
static void test_broadcast_threaded(void **state) {
    (void)state;
    static const int64_t shapes[][3][4] = {
        /* out, a, b (rank 3 each; 1 = broadcast) */
        {{64, 33, 40}, {64, 33, 40}, {1, 33, 1}},
        {{1, 1, 300001}, {1, 1, 300001}, {1, 1, 1}},
        {{2, 1, 70001}, {2, 1, 1}, {1, 1, 70001}},
        {{128, 2, 300}, {128, 1, 300}, {1, 2, 300}},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        df_shape out = df_shape_make(3, shapes[k][0]), sa = df_shape_make(3, shapes[k][1]),
                 sb = df_shape_make(3, shapes[k][2]);
        int64_t n = df_shape_numel(&out), na = df_shape_numel(&sa), nb = df_shape_numel(&sb);
        float *a = malloc(sizeof(float) * (size_t)na), *b = malloc(sizeof(float) * (size_t)nb);
        float *o = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < na; i++) a[i] = frand();
        for (int64_t i = 0; i < nb; i++) b[i] = frand();
        for (int64_t i = 0; i < n; i++) o[i] = NAN;
        const df_shape *ins[2] = {&sa, &sb};
        df_bcast p;
        assert_true(df_bcast_plan(&p, &out, ins, 2));
        const void *data[2] = {a, b};
        size_t es[2] = {4, 4};
        df_bcast_exec(&p, sub_row, NULL, o, 4, data, es, 4);
        for (int64_t i = 0; i < n; i++)
            assert_true(o[i] == a[ref_offset(&sa, &out, i)] - b[ref_offset(&sb, &out, i)]);
        free(a);
        free(b);
        free(o);
    }
}

static void test_broadcast_collapse(void **state) {
    (void)state;
    df_bcast p;
    /* BERT's bias add: [1,64,312] + [312] is 64 rows of 312 */
    df_shape o = df_shape_make(3, (int64_t[]){1, 64, 312}), b = df_shape_make(1, (int64_t[]){312});
    const df_shape *ins[2] = {&o, &b};
    assert_true(df_bcast_plan(&p, &o, ins, 2));
    assert_int_equal(p.rank, 2);
    assert_int_equal(p.dims[0], 64);
    assert_int_equal(p.dims[1], 312);
    assert_int_equal(p.strides[1][0], 0);
    assert_int_equal(p.strides[1][1], 1);
    /* same shape collapses to one row */
    const df_shape *same[2] = {&o, &o};
    assert_true(df_bcast_plan(&p, &o, same, 2));
    assert_int_equal(p.rank, 1);
    assert_int_equal(p.dims[0], 64 * 312);
    /* scalar operand: one row with step 0 */
    df_shape s = {.rank = 0};
    const df_shape *sc[2] = {&o, &s};
    assert_true(df_bcast_plan(&p, &o, sc, 2));
    assert_int_equal(p.rank, 1);
    assert_int_equal(p.strides[1][0], 0);
    /* a shape that does not broadcast */
    df_shape bad = df_shape_make(1, (int64_t[]){5});
    const df_shape *bd[2] = {&o, &bad};
    assert_false(df_bcast_plan(&p, &o, bd, 2));
}

/* --- binary arithmetic --------------------------------------------------------------------- */
static void test_add_sub_mul_div_f32(void **state) {
    (void)state;
    const float a[] = {1, 2, 3, 4, 5, 6}, b[] = {10, 20, 30};
    const char *ops[] = {"Add", "Sub", "Mul", "Div"};
    for (int k = 0; k < 4; k++) {
        df_op_case c;
        df_error err = {0};
        assert_int_equal(bin(&c, ops[k], mk(DF_F32, 2, (int64_t[]){2, 3}, a), mk(DF_F32, 1, (int64_t[]){3}, b), &err), DF_OK);
        float want[6];
        for (int i = 0; i < 6; i++) {
            float x = a[i], y = b[i % 3];
            want[i] = k == 0 ? x + y : k == 1 ? x - y : k == 2 ? x * y : x / y;
        }
        expect_shape(&c.outputs[0], 2, (int64_t[]){2, 3});
        expect_f32(&c.outputs[0], want, 6, 0);
        op_case_free(&c);
    }
}

static void test_broadcast_cases(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    /* column: [3,1] - [1,4] -> [3,4] */
    const float col[] = {1, 2, 3}, row[] = {10, 20, 30, 40};
    assert_int_equal(bin(&c, "Sub", mk(DF_F32, 2, (int64_t[]){3, 1}, col), mk(DF_F32, 2, (int64_t[]){1, 4}, row), &err),
                     DF_OK);
    float want[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) want[i * 4 + j] = col[i] - row[j];
    expect_shape(&c.outputs[0], 2, (int64_t[]){3, 4});
    expect_f32(&c.outputs[0], want, 12, 0);
    op_case_free(&c);
    /* scalar on the left */
    assert_int_equal(bin(&c, "Div", scalar_f32(1.0f), mk(DF_F32, 1, (int64_t[]){4}, row), &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){0.1f, 0.05f, 1.0f / 30, 0.025f}, 4, 1e-7f);
    op_case_free(&c);
    /* rank mismatch: [2,1,2] * [3,1] -> [2,3,2] */
    assert_int_equal(bin(&c, "Mul", mk(DF_F32, 3, (int64_t[]){2, 1, 2}, (float[]){1, 2, 3, 4}),
                         mk(DF_F32, 2, (int64_t[]){3, 1}, (float[]){1, 10, 100}), &err),
                     DF_OK);
    expect_shape(&c.outputs[0], 3, (int64_t[]){2, 3, 2});
    expect_f32(&c.outputs[0], (float[]){1, 2, 10, 20, 100, 200, 3, 4, 30, 40, 300, 400}, 12, 0);
    op_case_free(&c);
    /* zero-size: [0,3] + [3] -> [0,3]; [2,0] + [2,1] -> [2,0] */
    assert_int_equal(bin(&c, "Add", mk(DF_F32, 2, (int64_t[]){0, 3}, NULL), mk(DF_F32, 1, (int64_t[]){3}, row), &err),
                     DF_OK);
    expect_shape(&c.outputs[0], 2, (int64_t[]){0, 3});
    op_case_free(&c);
    assert_int_equal(bin(&c, "Add", mk(DF_F32, 2, (int64_t[]){2, 0}, NULL), mk(DF_F32, 2, (int64_t[]){2, 1}, col), &err),
                     DF_OK);
    expect_shape(&c.outputs[0], 2, (int64_t[]){2, 0});
    op_case_free(&c);
    /* [1] + [] -> [1] */
    assert_int_equal(bin(&c, "Add", mk(DF_F32, 1, (int64_t[]){1}, col), scalar_f32(2), &err), DF_OK);
    expect_shape(&c.outputs[0], 1, (int64_t[]){1});
    expect_f32(&c.outputs[0], (float[]){3}, 1, 0);
    op_case_free(&c);
}

static void test_int_dtypes(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    /* int8 wraps like numpy */
    int8_t a8[] = {127, -128, 5, -7}, b8[] = {1, -1, 3, 2};
    assert_int_equal(bin(&c, "Add", mk(DF_I8, 1, (int64_t[]){4}, a8), mk(DF_I8, 1, (int64_t[]){4}, b8), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I8, (int8_t[]){-128, 127, 8, -5}, 4);
    op_case_free(&c);
    assert_int_equal(bin(&c, "Mul", mk(DF_I8, 1, (int64_t[]){4}, a8), mk(DF_I8, 1, (int64_t[]){4}, b8), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I8, (int8_t[]){127, -128, 15, -14}, 4);
    op_case_free(&c);
    /* uint8 subtraction wraps */
    uint8_t u1[] = {3, 200}, u2[] = {5, 100};
    assert_int_equal(bin(&c, "Sub", mk(DF_U8, 1, (int64_t[]){2}, u1), mk(DF_U8, 1, (int64_t[]){2}, u2), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_U8, (uint8_t[]){254, 100}, 2);
    op_case_free(&c);
    /* uint16 multiply must not overflow a promoted int */
    uint16_t h1[] = {65535, 300}, h2[] = {65535, 300};
    assert_int_equal(bin(&c, "Mul", mk(DF_U16, 1, (int64_t[]){2}, h1), mk(DF_U16, 1, (int64_t[]){2}, h2), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_U16, (uint16_t[]){1, (uint16_t)(90000 & 0xffff)}, 4);
    op_case_free(&c);
    /* int32 / int64 / uint32 / uint64 / int16 add with a scalar */
    int32_t i32[] = {INT32_MAX, -4};
    assert_int_equal(bin(&c, "Add", mk(DF_I32, 1, (int64_t[]){2}, i32), mk(DF_I32, 0, NULL, (int32_t[]){1}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I32, (int32_t[]){INT32_MIN, -3}, 8);
    op_case_free(&c);
    int64_t i64[] = {INT64_MAX, 10};
    assert_int_equal(bin(&c, "Add", mk(DF_I64, 1, (int64_t[]){2}, i64), mk(DF_I64, 0, NULL, (int64_t[]){1}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I64, (int64_t[]){INT64_MIN, 11}, 16);
    op_case_free(&c);
    uint32_t w32[] = {7, 9};
    assert_int_equal(bin(&c, "Sub", mk(DF_U32, 1, (int64_t[]){2}, w32), mk(DF_U32, 0, NULL, (uint32_t[]){8}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_U32, (uint32_t[]){UINT32_MAX, 1}, 8);
    op_case_free(&c);
    uint64_t w64[] = {1u << 20, 3};
    assert_int_equal(bin(&c, "Mul", mk(DF_U64, 1, (int64_t[]){2}, w64), mk(DF_U64, 0, NULL, (uint64_t[]){1u << 20}), &err),
                     DF_OK);
    expect_bytes(&c.outputs[0], DF_U64, (uint64_t[]){1ull << 40, 3u << 20}, 16);
    op_case_free(&c);
    int16_t s16[] = {-300, 32767};
    assert_int_equal(bin(&c, "Add", mk(DF_I16, 1, (int64_t[]){2}, s16), mk(DF_I16, 0, NULL, (int16_t[]){1}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I16, (int16_t[]){-299, -32768}, 4);
    op_case_free(&c);
    /* float64 */
    double d1[] = {1.5, -2.25};
    assert_int_equal(bin(&c, "Div", mk(DF_F64, 1, (int64_t[]){2}, d1), mk(DF_F64, 0, NULL, (double[]){0.5}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F64, (double[]){3.0, -4.5}, 16);
    op_case_free(&c);
}

static void test_int_div_mod(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    /* C truncation, division by zero gives 0, INT_MIN / -1 wraps instead of trapping */
    int32_t a[] = {7, -7, 7, -7, 5, INT32_MIN}, b[] = {2, 2, -2, -2, 0, -1};
    assert_int_equal(bin(&c, "Div", mk(DF_I32, 1, (int64_t[]){6}, a), mk(DF_I32, 1, (int64_t[]){6}, b), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I32, (int32_t[]){3, -3, -3, 3, 0, INT32_MIN}, 24);
    op_case_free(&c);
    /* Mod without fmod: sign of the divisor (numpy's %) */
    int64_t x[] = {-4, 7, 5, -4, 3, 0}, y[] = {3, -3, 8, -3, 0, 5};
    assert_int_equal(bin(&c, "Mod", mk(DF_I64, 1, (int64_t[]){6}, x), mk(DF_I64, 1, (int64_t[]){6}, y), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I64, (int64_t[]){2, -2, 5, -1, 0, 0}, 48);
    op_case_free(&c);
    /* fmod=1: sign of the dividend */
    df_attr fm = {.name = "fmod", .type = DF_ATTR_INT, .i = 1};
    static const char *const names[] = {"A", "B"};
    df_tensor ts[2] = {mk(DF_I64, 1, (int64_t[]){6}, x), mk(DF_I64, 1, (int64_t[]){6}, y)};
    assert_int_equal(run_attrs(&c, "Mod", 13, 2, names, ts, &fm, 1, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I64, (int64_t[]){-1, 1, 5, -1, 0, 0}, 48);
    op_case_free(&c);
    /* float fmod */
    df_tensor tf[2] = {mk(DF_F32, 1, (int64_t[]){3}, (float[]){-4.5f, 7.5f, 5}),
                       mk(DF_F32, 1, (int64_t[]){3}, (float[]){2, -2, 3})};
    assert_int_equal(run_attrs(&c, "Mod", 13, 2, names, tf, &fm, 1, &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){-0.5f, 1.5f, 2}, 3, 0);
    op_case_free(&c);
    /* float without fmod=1 is invalid */
    assert_int_equal(bin(&c, "Mod", scalar_f32(1), scalar_f32(2), &err), DF_EINVAL);
    assert_non_null(strstr(err.msg, "fmod=1"));
    op_case_free(&c);
    /* unsigned division by zero */
    uint8_t u[] = {9, 9}, v[] = {0, 4};
    assert_int_equal(bin(&c, "Div", mk(DF_U8, 1, (int64_t[]){2}, u), mk(DF_U8, 1, (int64_t[]){2}, v), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_U8, (uint8_t[]){0, 2}, 2);
    op_case_free(&c);
}

static void test_pow(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    const float x[] = {1.5f, -2, 3, 0.5f};
    /* the constant-2 fast path */
    assert_int_equal(bin(&c, "Pow", mk(DF_F32, 1, (int64_t[]){4}, x), scalar_f32(2), &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){2.25f, 4, 9, 0.25f}, 4, 0);
    op_case_free(&c);
    assert_int_equal(bin(&c, "Pow", mk(DF_F32, 1, (int64_t[]){4}, x), scalar_f32(1), &err), DF_OK);
    expect_f32(&c.outputs[0], x, 4, 0);
    op_case_free(&c);
    /* general float pow */
    assert_int_equal(bin(&c, "Pow", mk(DF_F32, 1, (int64_t[]){4}, x), scalar_f32(0.5f), &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){sqrtf(1.5f), NAN, sqrtf(3), sqrtf(0.5f)}, 4, 1e-6f);
    op_case_free(&c);
    /* float base, int64 exponent */
    assert_int_equal(bin(&c, "Pow", mk(DF_F32, 1, (int64_t[]){4}, x), mk(DF_I64, 1, (int64_t[]){4}, (int64_t[]){2, 3, -1, 0}), &err),
                     DF_OK);
    expect_f32(&c.outputs[0], (float[]){2.25f, -8, 1.0f / 3, 1}, 4, 1e-7f);
    op_case_free(&c);
    /* int64 base, float exponent: result truncated to int64 */
    assert_int_equal(bin(&c, "Pow", mk(DF_I64, 1, (int64_t[]){3}, (int64_t[]){2, 3, 4}), mk(DF_F32, 1, (int64_t[]){3}, (float[]){4, 5, 0.5f}), &err),
                     DF_OK);
    expect_bytes(&c.outputs[0], DF_I64, (int64_t[]){16, 243, 2}, 24);
    op_case_free(&c);
    /* int32 ^ int32 exactly, negative exponents truncate */
    assert_int_equal(bin(&c, "Pow", mk(DF_I32, 1, (int64_t[]){4}, (int32_t[]){3, -2, 2, -1}),
                         mk(DF_I32, 1, (int64_t[]){4}, (int32_t[]){19, 3, -1, -3}), &err),
                     DF_OK);
    expect_bytes(&c.outputs[0], DF_I32, (int32_t[]){1162261467, -8, 0, -1}, 16);
    op_case_free(&c);
    /* uint8 base is not a Pow dtype */
    assert_int_equal(bin(&c, "Pow", mk(DF_U8, 0, NULL, (uint8_t[]){2}), mk(DF_U8, 0, NULL, (uint8_t[]){2}), &err), DF_ETYPE);
    op_case_free(&c);
}

static void test_compare_logic_bitshift(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    const float a[] = {1, 2, 3, NAN}, b[] = {2};
    const char *ops[] = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"};
    const uint8_t want[][4] = {{0, 1, 0, 0}, {1, 0, 0, 0}, {0, 0, 1, 0}, {1, 1, 0, 0}, {0, 1, 1, 0}};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(bin(&c, ops[k], mk(DF_F32, 1, (int64_t[]){4}, a), mk(DF_F32, 1, (int64_t[]){1}, b), &err), DF_OK);
        expect_bytes(&c.outputs[0], DF_BOOL, want[k], 4);
        op_case_free(&c);
    }
    /* int64 comparison with broadcasting */
    assert_int_equal(bin(&c, "Less", mk(DF_I64, 2, (int64_t[]){2, 1}, (int64_t[]){0, 5}),
                         mk(DF_I64, 1, (int64_t[]){3}, (int64_t[]){-1, 3, 9}), &err),
                     DF_OK);
    expect_bytes(&c.outputs[0], DF_BOOL, (uint8_t[]){0, 1, 1, 0, 0, 1}, 6);
    op_case_free(&c);
    /* bool Equal treats any nonzero byte as true */
    assert_int_equal(bin(&c, "Equal", mk(DF_BOOL, 1, (int64_t[]){3}, (uint8_t[]){2, 0, 1}),
                         mk(DF_BOOL, 1, (int64_t[]){3}, (uint8_t[]){1, 0, 0}), &err),
                     DF_OK);
    expect_bytes(&c.outputs[0], DF_BOOL, (uint8_t[]){1, 1, 0}, 3);
    op_case_free(&c);
    const uint8_t p[] = {0, 0, 1, 1}, q[] = {0, 1, 0, 1};
    const char *lops[] = {"And", "Or", "Xor"};
    const uint8_t lwant[][4] = {{0, 0, 0, 1}, {0, 1, 1, 1}, {0, 1, 1, 0}};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(bin(&c, lops[k], mk(DF_BOOL, 1, (int64_t[]){4}, p), mk(DF_BOOL, 1, (int64_t[]){4}, q), &err), DF_OK);
        expect_bytes(&c.outputs[0], DF_BOOL, lwant[k], 4);
        op_case_free(&c);
    }
    /* And on floats is a dtype error */
    assert_int_equal(bin(&c, "And", scalar_f32(1), scalar_f32(0), &err), DF_ETYPE);
    op_case_free(&c);
    /* BitShift */
    df_attr left = {.name = "direction", .type = DF_ATTR_STRING, .s = "LEFT", .s_len = 4};
    df_attr right = {.name = "direction", .type = DF_ATTR_STRING, .s = "RIGHT", .s_len = 5};
    static const char *const names[] = {"A", "B"};
    df_tensor t1[2] = {mk(DF_U8, 1, (int64_t[]){3}, (uint8_t[]){16, 4, 1}), mk(DF_U8, 1, (int64_t[]){3}, (uint8_t[]){1, 2, 9})};
    assert_int_equal(run_attrs(&c, "BitShift", 11, 2, names, t1, &left, 1, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_U8, (uint8_t[]){32, 16, 0}, 3);
    op_case_free(&c);
    df_tensor t2[2] = {mk(DF_U32, 1, (int64_t[]){2}, (uint32_t[]){16, 0x80000000u}), mk(DF_U32, 1, (int64_t[]){2}, (uint32_t[]){2, 31})};
    assert_int_equal(run_attrs(&c, "BitShift", 11, 2, names, t2, &right, 1, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_U32, (uint32_t[]){4, 1}, 8);
    op_case_free(&c);
    df_tensor t3[2] = {mk(DF_U8, 0, NULL, (uint8_t[]){1}), mk(DF_U8, 0, NULL, (uint8_t[]){1})};
    assert_int_equal(run_attrs(&c, "BitShift", 11, 2, names, t3, NULL, 0, &err), DF_EINVAL);
    op_case_free(&c);
}

/* --- variadic ------------------------------------------------------------------------------ */
static void test_variadic(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    static const char *const names[] = {"A", "B", "C", "D"};
    /* three inputs broadcasting to [2,3] */
    for (int k = 0; k < 4; k++) {
        const char *op = (const char *[]){"Min", "Max", "Sum", "Mean"}[k];
        df_tensor ts[4] = {mk(DF_F32, 1, (int64_t[]){3}, (float[]){1, 5, 3}), mk(DF_F32, 2, (int64_t[]){2, 1}, (float[]){2, 4}),
                           mk(DF_F32, 0, NULL, (float[]){3}), mk(DF_F32, 2, (int64_t[]){2, 3}, (float[]){0, 9, 1, 7, 2, 6})};
        assert_int_equal(run_op(&c, op, 13, 4, names, ts, &err), DF_OK);
        float A[] = {1, 5, 3}, B[] = {2, 4}, D[] = {0, 9, 1, 7, 2, 6}, want[6];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                float v[4] = {A[j], B[i], 3, D[i * 3 + j]}, r = v[0];
                for (int q = 1; q < 4; q++) r = k == 0 ? fminf(r, v[q]) : k == 1 ? fmaxf(r, v[q]) : r + v[q];
                want[i * 3 + j] = k == 3 ? r / 4 : r;
            }
        expect_shape(&c.outputs[0], 2, (int64_t[]){2, 3});
        expect_f32(&c.outputs[0], want, 6, 1e-6f);
        op_case_free(&c);
    }
    /* one input is a copy */
    df_tensor one = mk(DF_F32, 1, (int64_t[]){2}, (float[]){-1, 2});
    assert_int_equal(run_op(&c, "Mean", 13, 1, names, &one, &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){-1, 2}, 2, 0);
    op_case_free(&c);
    /* integer Max, float16 Min, two-input uint64 */
    df_tensor ti[3] = {mk(DF_I32, 1, (int64_t[]){3}, (int32_t[]){-5, 7, 0}), mk(DF_I32, 1, (int64_t[]){3}, (int32_t[]){1, -7, 0}),
                       mk(DF_I32, 0, NULL, (int32_t[]){-1})};
    assert_int_equal(run_op(&c, "Max", 13, 3, names, ti, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I32, (int32_t[]){1, 7, 0}, 12);
    op_case_free(&c);
    df_tensor th[3] = {mk(DF_F16, 1, (int64_t[]){2}, (uint16_t[]){df_f2h(1.5f), df_f2h(-2)}),
                       mk(DF_F16, 1, (int64_t[]){2}, (uint16_t[]){df_f2h(0.5f), df_f2h(3)}),
                       mk(DF_F16, 1, (int64_t[]){1}, (uint16_t[]){df_f2h(1)})};
    assert_int_equal(run_op(&c, "Min", 13, 3, names, th, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F16, (uint16_t[]){df_f2h(0.5f), df_f2h(-2)}, 4);
    op_case_free(&c);
    df_tensor tm[3] = {mk(DF_F16, 1, (int64_t[]){2}, (uint16_t[]){df_f2h(1), df_f2h(2)}),
                       mk(DF_F16, 1, (int64_t[]){2}, (uint16_t[]){df_f2h(2), df_f2h(4)}),
                       mk(DF_F16, 1, (int64_t[]){2}, (uint16_t[]){df_f2h(3), df_f2h(6)})};
    assert_int_equal(run_op(&c, "Mean", 13, 3, names, tm, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F16, (uint16_t[]){df_f2h(2), df_f2h(4)}, 4);
    op_case_free(&c);
    /* Sum is float-only; mixed dtypes are an error */
    df_tensor bad[2] = {mk(DF_I64, 0, NULL, (int64_t[]){1}), mk(DF_I64, 0, NULL, (int64_t[]){1})};
    assert_int_equal(run_op(&c, "Sum", 13, 2, names, bad, &err), DF_ETYPE);
    op_case_free(&c);
    df_tensor mixed[2] = {scalar_f32(1), mk(DF_F64, 0, NULL, (double[]){1})};
    assert_int_equal(run_op(&c, "Max", 13, 2, names, mixed, &err), DF_ETYPE);
    op_case_free(&c);
}

/* --- unary ---------------------------------------------------------------------------------- */
static double ref_unary(const char *op, double x) {
    if (!strcmp(op, "Sqrt")) return sqrt(x);
    if (!strcmp(op, "Erf")) return erf(x);
    if (!strcmp(op, "Tanh")) return tanh(x);
    if (!strcmp(op, "Sigmoid")) return 1 / (1 + exp(-x));
    if (!strcmp(op, "Reciprocal")) return 1 / x;
    if (!strcmp(op, "Exp")) return exp(x);
    if (!strcmp(op, "Log")) return log(x);
    if (!strcmp(op, "Floor")) return floor(x);
    if (!strcmp(op, "Ceil")) return ceil(x);
    if (!strcmp(op, "Sin")) return sin(x);
    if (!strcmp(op, "Cos")) return cos(x);
    if (!strcmp(op, "Tan")) return tan(x);
    if (!strcmp(op, "Atan")) return atan(x);
    if (!strcmp(op, "Sinh")) return sinh(x);
    if (!strcmp(op, "Cosh")) return cosh(x);
    if (!strcmp(op, "Asinh")) return asinh(x);
    if (!strcmp(op, "Softplus")) return log(exp(x) + 1);
    if (!strcmp(op, "Softsign")) return x / (1 + fabs(x));
    if (!strcmp(op, "Abs")) return fabs(x);
    if (!strcmp(op, "Neg")) return -x;
    if (!strcmp(op, "Relu")) return x > 0 ? x : 0;
    if (!strcmp(op, "Sign")) return x > 0 ? 1 : x < 0 ? -1 : 0;
    if (!strcmp(op, "LeakyRelu")) return x >= 0 ? x : 0.01 * x;
    if (!strcmp(op, "Elu")) return x >= 0 ? x : exp(x) - 1;
    if (!strcmp(op, "Selu")) return 1.05070102214813232421875 * (x > 0 ? x : 1.67326319217681884765625 * (exp(x) - 1));
    if (!strcmp(op, "HardSigmoid")) return fmax(0, fmin(1, 0.2 * x + 0.5));
    if (!strcmp(op, "HardSwish")) return x * fmax(0, fmin(1, x / 6 + 0.5));
    if (!strcmp(op, "Gelu")) return 0.5 * x * (1 + erf(x / sqrt(2)));
    return NAN;
}

static void test_unary_float(void **state) {
    (void)state;
    const char *ops[] = {"Sqrt", "Erf", "Tanh", "Sigmoid", "Reciprocal", "Exp", "Log", "Floor", "Ceil", "Sin",
                         "Cos", "Tan", "Atan", "Sinh", "Cosh", "Asinh", "Softplus", "Softsign", "Abs", "Neg",
                         "Relu", "Sign", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "HardSwish", "Gelu"};
    enum { N = 301 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = -6.0f + 12.0f * (float)i / (N - 1);
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        df_op_case c;
        df_error err = {0};
        assert_int_equal(un(&c, ops[k], mk(DF_F32, 2, (int64_t[]){7, 43}, x), &err), DF_OK);
        const float *o = c.outputs[0].data;
        for (int i = 0; i < N; i++) {
            double want = ref_unary(ops[k], x[i]);
            if (isnan(want)) {
                assert_true(isnan(o[i]));
                continue;
            }
            /* erf is held to 2e-7 absolute (plus 1e-6 relative near 0): it sits on BERT's GELU
             * path and uses the vectorized df_fast_erff, about 1.4e-7 from the true value */
            double tol = !strcmp(ops[k], "Erf") ? 2e-7 + 1e-6 * fabs(want) : 2e-6 * fmax(1.0, fabs(want));
            if (fabs(o[i] - want) > tol) fail_msg("%s(%.9g) = %.9g, want %.9g", ops[k], x[i], o[i], want);
        }
        op_case_free(&c);
    }
}

static void test_unary_special(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    /* Round: half to even */
    assert_int_equal(un(&c, "Round", mk(DF_F32, 1, (int64_t[]){8}, (float[]){0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, 2.6f, -2.6f}), &err),
                     DF_OK);
    expect_f32(&c.outputs[0], (float[]){0, 2, 2, -0.0f, -2, 2, 3, -3}, 8, 0);
    op_case_free(&c);
    /* Sigmoid and Softplus stay finite at the extremes */
    assert_int_equal(un(&c, "Sigmoid", mk(DF_F32, 1, (int64_t[]){3}, (float[]){-100, 100, 0}), &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){0, 1, 0.5f}, 3, 1e-30f);
    op_case_free(&c);
    assert_int_equal(un(&c, "Softplus", mk(DF_F32, 1, (int64_t[]){2}, (float[]){100, -100}), &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){100, expf(-100)}, 2, 1e-6f);
    op_case_free(&c);
    /* attributes */
    static const char *const names[] = {"X"};
    df_attr alpha = {.name = "alpha", .type = DF_ATTR_FLOAT, .f = 0.5f};
    df_tensor t = mk(DF_F32, 1, (int64_t[]){2}, (float[]){-2, 3});
    assert_int_equal(run_attrs(&c, "LeakyRelu", 16, 1, names, &t, &alpha, 1, &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){-1, 3}, 2, 0);
    op_case_free(&c);
    t = mk(DF_F32, 1, (int64_t[]){2}, (float[]){-2, 3});
    assert_int_equal(run_attrs(&c, "Elu", 6, 1, names, &t, &alpha, 1, &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){0.5f * expm1f(-2), 3}, 2, 1e-7f);
    op_case_free(&c);
    df_attr approx = {.name = "approximate", .type = DF_ATTR_STRING, .s = "tanh", .s_len = 4};
    t = mk(DF_F32, 1, (int64_t[]){2}, (float[]){-1, 2});
    assert_int_equal(run_attrs(&c, "Gelu", 20, 1, names, &t, &approx, 1, &err), DF_OK);
    float g1 = 0.5f * -1 * (1 + tanhf(0.7978845608f * (-1 + 0.044715f * -1))),
          g2 = 0.5f * 2 * (1 + tanhf(0.7978845608f * (2 + 0.044715f * 8)));
    expect_f32(&c.outputs[0], (float[]){g1, g2}, 2, 1e-6f);
    op_case_free(&c);
    df_attr bad_approx = {.name = "approximate", .type = DF_ATTR_STRING, .s = "fast", .s_len = 4};
    t = scalar_f32(1);
    assert_int_equal(run_attrs(&c, "Gelu", 20, 1, names, &t, &bad_approx, 1, &err), DF_EINVAL);
    op_case_free(&c);
    /* IsInf with detect_negative=0; IsNaN */
    df_attr dn = {.name = "detect_negative", .type = DF_ATTR_INT, .i = 0};
    t = mk(DF_F32, 1, (int64_t[]){4}, (float[]){INFINITY, -INFINITY, NAN, 1});
    assert_int_equal(run_attrs(&c, "IsInf", 10, 1, names, &t, &dn, 1, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_BOOL, (uint8_t[]){1, 0, 0, 0}, 4);
    op_case_free(&c);
    assert_int_equal(un(&c, "IsNaN", mk(DF_F32, 1, (int64_t[]){4}, (float[]){INFINITY, -INFINITY, NAN, 1}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_BOOL, (uint8_t[]){0, 0, 1, 0}, 4);
    op_case_free(&c);
    /* integer Abs / Neg / Sign / Relu, bool Not */
    int8_t i8[] = {-128, -3, 0, 5};
    assert_int_equal(un(&c, "Abs", mk(DF_I8, 1, (int64_t[]){4}, i8), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I8, (int8_t[]){-128, 3, 0, 5}, 4);
    op_case_free(&c);
    assert_int_equal(un(&c, "Neg", mk(DF_I64, 1, (int64_t[]){2}, (int64_t[]){INT64_MIN, 4}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I64, (int64_t[]){INT64_MIN, -4}, 16);
    op_case_free(&c);
    assert_int_equal(un(&c, "Sign", mk(DF_I32, 1, (int64_t[]){3}, (int32_t[]){-9, 0, 9}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I32, (int32_t[]){-1, 0, 1}, 12);
    op_case_free(&c);
    assert_int_equal(un(&c, "Relu", mk(DF_I32, 1, (int64_t[]){3}, (int32_t[]){-9, 0, 9}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I32, (int32_t[]){0, 0, 9}, 12);
    op_case_free(&c);
    assert_int_equal(un(&c, "Not", mk(DF_BOOL, 1, (int64_t[]){3}, (uint8_t[]){0, 1, 7}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_BOOL, (uint8_t[]){1, 0, 0}, 3);
    op_case_free(&c);
    /* unsupported dtypes */
    assert_int_equal(un(&c, "Neg", mk(DF_U8, 0, NULL, (uint8_t[]){1}), &err), DF_ETYPE);
    op_case_free(&c);
    assert_int_equal(un(&c, "Sqrt", mk(DF_I64, 0, NULL, (int64_t[]){4}), &err), DF_ETYPE);
    assert_non_null(strstr(err.msg, "int64"));
    op_case_free(&c);
    assert_int_equal(un(&c, "Not", scalar_f32(0), &err), DF_ETYPE);
    op_case_free(&c);
    /* float64 and float16 paths */
    assert_int_equal(un(&c, "Exp", mk(DF_F64, 1, (int64_t[]){2}, (double[]){0, 1}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F64, (double[]){1, exp(1.0)}, 16);
    op_case_free(&c);
    assert_int_equal(un(&c, "Tanh", mk(DF_F16, 1, (int64_t[]){2}, (uint16_t[]){df_f2h(0), df_f2h(0.5f)}), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F16, (uint16_t[]){df_f2h(0), df_f2h(tanhf(df_h2f(df_f2h(0.5f))))}, 4);
    op_case_free(&c);
    /* zero-size */
    assert_int_equal(un(&c, "Exp", mk(DF_F32, 2, (int64_t[]){0, 4}, NULL), &err), DF_OK);
    expect_shape(&c.outputs[0], 2, (int64_t[]){0, 4});
    op_case_free(&c);
}

/* Unary kernels over a large tensor with several threads cover the chunked path. */
static void test_unary_threaded(void **state) {
    (void)state;
    enum { N = 200003 };
    df_tensor x = mk(DF_F32, 1, (int64_t[]){N}, NULL);
    float *xv = x.data;
    for (int i = 0; i < N; i++) xv[i] = frand();
    df_tensor y = mk(DF_F32, 1, (int64_t[]){N}, NULL);
    const df_tensor *in[1] = {&x};
    df_tensor *out[1] = {&y};
    df_op_case c;
    op_case_init(&c, "Erf", 17);
    df_error err = {0};
    const df_op_def *op = df_op_find("Erf", "");
    df_node n = {.name = "erf", .op_type = "Erf", .opset = 17};
    df_kernel_args a = {.graph = c.g, .node = &n, .in = in, .n_in = 1, .out = out, .n_out = 1, .threads = 4, .err = &err};
    for (int i = 0; i < N; i++) ((float *)y.data)[i] = NAN;
    assert_int_equal(op->run(&a), DF_OK);
    for (int i = 0; i < N; i++) assert_true(fabs(((float *)y.data)[i] - erf(xv[i])) <= 2e-7);
    df_tensor_free(&x);
    df_tensor_free(&y);
    op_case_free(&c);
}

/* --- Cast ---------------------------------------------------------------------------------- */
static df_status cast(df_op_case *c, df_tensor x, df_dtype to, df_error *err) {
    static const char *const names[] = {"X"};
    df_attr a = {.name = "to", .type = DF_ATTR_INT, .i = to};
    return run_attrs(c, "Cast", 13, 1, names, &x, &a, 1, err);
}

static void test_cast(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    const float f[] = {-1.7f, -0.2f, 0, 2.9f, 300.5f};
    assert_int_equal(cast(&c, mk(DF_F32, 1, (int64_t[]){5}, f), DF_I64, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I64, (int64_t[]){-1, 0, 0, 2, 300}, 40);
    op_case_free(&c);
    assert_int_equal(cast(&c, mk(DF_F32, 1, (int64_t[]){5}, f), DF_I32, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I32, (int32_t[]){-1, 0, 0, 2, 300}, 20);
    op_case_free(&c);
    assert_int_equal(cast(&c, mk(DF_F32, 1, (int64_t[]){5}, f), DF_BOOL, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_BOOL, (uint8_t[]){1, 1, 0, 1, 1}, 5);
    op_case_free(&c);
    assert_int_equal(cast(&c, mk(DF_BOOL, 1, (int64_t[]){3}, (uint8_t[]){0, 1, 5}), DF_F32, &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){0, 1, 1}, 3, 0);
    op_case_free(&c);
    /* BERT's mask path: int64 -> float */
    assert_int_equal(cast(&c, mk(DF_I64, 2, (int64_t[]){1, 3}, (int64_t[]){1, 1, 0}), DF_F32, &err), DF_OK);
    expect_shape(&c.outputs[0], 2, (int64_t[]){1, 3});
    expect_f32(&c.outputs[0], (float[]){1, 1, 0}, 3, 0);
    op_case_free(&c);
    /* integer narrowing wraps; int -> bool */
    assert_int_equal(cast(&c, mk(DF_I32, 1, (int64_t[]){3}, (int32_t[]){256, -1, 300}), DF_U8, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_U8, (uint8_t[]){0, 255, 44}, 3);
    op_case_free(&c);
    assert_int_equal(cast(&c, mk(DF_I8, 1, (int64_t[]){2}, (int8_t[]){0, -3}), DF_BOOL, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_BOOL, (uint8_t[]){0, 1}, 2);
    op_case_free(&c);
    /* large int64 -> float64 keeps what a double can hold */
    assert_int_equal(cast(&c, mk(DF_I64, 1, (int64_t[]){1}, (int64_t[]){(1ll << 53) + 2}), DF_F64, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F64, (double[]){9007199254740994.0}, 8);
    op_case_free(&c);
    /* float16 both ways; double -> float16 rounds once */
    assert_int_equal(cast(&c, mk(DF_F32, 1, (int64_t[]){3}, (float[]){1.0f, 0.1f, 65520.0f}), DF_F16, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F16, (uint16_t[]){0x3c00, 0x2e66, 0x7c00}, 6);
    op_case_free(&c);
    assert_int_equal(cast(&c, mk(DF_F16, 1, (int64_t[]){2}, (uint16_t[]){0x3c00, 0xc000}), DF_F64, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F64, (double[]){1.0, -2.0}, 16);
    op_case_free(&c);
    /* 1 + 2^-11 + 2^-40 in double rounds up in one step; through float it would tie to even */
    double d = 1.0 + ldexp(1, -11) + ldexp(1, -40);
    assert_int_equal(cast(&c, mk(DF_F64, 1, (int64_t[]){1}, &d), DF_F16, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F16, (uint16_t[]){0x3c01}, 2);
    op_case_free(&c);
    assert_int_equal(cast(&c, mk(DF_I64, 1, (int64_t[]){2}, (int64_t[]){-3, 2048}), DF_F16, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F16, (uint16_t[]){df_f2h(-3), df_f2h(2048)}, 4);
    op_case_free(&c);
    /* CastLike takes the dtype of its second input */
    static const char *const names[] = {"X", "L"};
    df_tensor ts[2] = {mk(DF_F32, 1, (int64_t[]){2}, (float[]){2.5f, -2.5f}), mk(DF_I8, 1, (int64_t[]){1}, (int8_t[]){0})};
    assert_int_equal(run_op(&c, "CastLike", 15, 2, names, ts, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I8, (int8_t[]){2, -2}, 2);
    op_case_free(&c);
    /* errors: missing 'to', bfloat16 */
    static const char *const x1[] = {"X"};
    df_tensor t = scalar_f32(1);
    assert_int_equal(run_attrs(&c, "Cast", 13, 1, x1, &t, NULL, 0, &err), DF_EINVAL);
    op_case_free(&c);
    assert_int_equal(cast(&c, scalar_f32(1), DF_BF16, &err), DF_EUNSUPPORTED);
    op_case_free(&c);
    assert_int_equal(cast(&c, scalar_f32(1), DF_STRING, &err), DF_EUNSUPPORTED);
    op_case_free(&c);
}

/* Every supported (from, to) pair of small integers round-trips through every dtype. */
static void test_cast_all_pairs(void **state) {
    (void)state;
    const df_dtype dts[] = {DF_F32, DF_F64, DF_I8, DF_U8, DF_I16, DF_U16, DF_I32, DF_U32, DF_I64, DF_U64, DF_F16, DF_BOOL};
    const int n = sizeof dts / sizeof dts[0];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            /* values 0..3 as int64, cast to dts[i], then to dts[j], then back to int64 */
            df_op_case c1, c2, c3;
            df_error err = {0};
            assert_int_equal(cast(&c1, mk(DF_I64, 1, (int64_t[]){4}, (int64_t[]){0, 1, 2, 3}), dts[i], &err), DF_OK);
            df_tensor t1;
            df_tensor_copy(&t1, &c1.outputs[0], NULL);
            assert_int_equal(cast(&c2, t1, dts[j], &err), DF_OK);
            df_tensor t2;
            df_tensor_copy(&t2, &c2.outputs[0], NULL);
            assert_int_equal(cast(&c3, t2, DF_I64, &err), DF_OK);
            bool boolish = dts[i] == DF_BOOL || dts[j] == DF_BOOL;
            int64_t want[4] = {0, 1, boolish ? 1 : 2, boolish ? 1 : 3};
            expect_bytes(&c3.outputs[0], DF_I64, want, sizeof want);
            op_case_free(&c1);
            op_case_free(&c2);
            op_case_free(&c3);
        }
}

/* --- Where ---------------------------------------------------------------------------------- */
static void test_where(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    static const char *const names[] = {"C", "X", "Y"};
    /* BERT-style masking: bool [1,1,1,3] mask, scalar fill, [1,2,1,3] scores -> [1,2,1,3] */
    df_tensor ts[3] = {mk(DF_BOOL, 4, (int64_t[]){1, 1, 1, 3}, (uint8_t[]){1, 0, 1}), scalar_f32(-1e4f),
                       mk(DF_F32, 4, (int64_t[]){1, 2, 1, 3}, (float[]){1, 2, 3, 4, 5, 6})};
    assert_int_equal(run_op(&c, "Where", 16, 3, names, ts, &err), DF_OK);
    expect_shape(&c.outputs[0], 4, (int64_t[]){1, 2, 1, 3});
    expect_f32(&c.outputs[0], (float[]){-1e4f, 2, -1e4f, -1e4f, 5, -1e4f}, 6, 0);
    op_case_free(&c);
    /* random 3-way broadcasting with int64 and uint8 payloads */
    for (int trial = 0; trial < 200; trial++) {
        df_shape out = {.rank = 1 + (int)(urand() % 4)};
        for (int i = 0; i < out.rank; i++) out.dims[i] = 1 + urand() % 3;
        df_shape s[3];
        for (int k = 0; k < 3; k++) s[k] = random_sub_shape(&out);
        s[0] = out; /* the condition carries the full shape; X and Y broadcast */
        df_dtype dt = trial & 1 ? DF_I64 : DF_U8;
        df_tensor t[3] = {mk(DF_BOOL, s[0].rank, s[0].dims, NULL), mk(dt, s[1].rank, s[1].dims, NULL),
                          mk(dt, s[2].rank, s[2].dims, NULL)};
        for (int64_t i = 0; i < df_shape_numel(&s[0]); i++) ((uint8_t *)t[0].data)[i] = urand() & 1;
        for (int k = 1; k < 3; k++)
            for (int64_t i = 0; i < df_shape_numel(&s[k]); i++) {
                if (dt == DF_I64) ((int64_t *)t[k].data)[i] = (int64_t)urand() * (k == 1 ? 1 : -1);
                else ((uint8_t *)t[k].data)[i] = (uint8_t)urand();
            }
        df_tensor copy[3];
        for (int k = 0; k < 3; k++) df_tensor_copy(&copy[k], &t[k], NULL);
        assert_int_equal(run_op(&c, "Where", 16, 3, names, t, &err), DF_OK);
        for (int64_t i = 0; i < df_shape_numel(&out); i++) {
            bool cond = ((uint8_t *)copy[0].data)[i];
            int k = cond ? 1 : 2;
            int64_t off = ref_offset(&s[k], &out, i);
            if (dt == DF_I64) assert_true(((int64_t *)c.outputs[0].data)[i] == ((int64_t *)copy[k].data)[off]);
            else assert_true(((uint8_t *)c.outputs[0].data)[i] == ((uint8_t *)copy[k].data)[off]);
        }
        op_case_free(&c);
        for (int k = 0; k < 3; k++) df_tensor_free(&copy[k]);
    }
    /* a non-bool condition and mismatched X/Y dtypes */
    df_tensor b1[3] = {scalar_f32(1), scalar_f32(1), scalar_f32(2)};
    assert_int_equal(run_op(&c, "Where", 16, 3, names, b1, &err), DF_ETYPE);
    assert_non_null(strstr(err.msg, "condition 'C'"));
    op_case_free(&c);
    df_tensor b2[3] = {mk(DF_BOOL, 0, NULL, (uint8_t[]){1}), scalar_f32(1), mk(DF_I64, 0, NULL, (int64_t[]){2})};
    assert_int_equal(run_op(&c, "Where", 16, 3, names, b2, &err), DF_ETYPE);
    op_case_free(&c);
}

/* --- Clip ----------------------------------------------------------------------------------- */
static void test_clip(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    const float x[] = {-3, -1, 0, 1, 3};
    /* opset 6: attributes */
    static const char *const x1[] = {"X"};
    df_attr mm[2] = {{.name = "min", .type = DF_ATTR_FLOAT, .f = -1.5f}, {.name = "max", .type = DF_ATTR_FLOAT, .f = 2}};
    df_tensor t = mk(DF_F32, 1, (int64_t[]){5}, x);
    assert_int_equal(run_attrs(&c, "Clip", 6, 1, x1, &t, mm, 2, &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){-1.5f, -1, 0, 1, 2}, 5, 0);
    op_case_free(&c);
    /* opset 6 with only max */
    t = mk(DF_F32, 1, (int64_t[]){5}, x);
    assert_int_equal(run_attrs(&c, "Clip", 6, 1, x1, &t, &mm[1], 1, &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){-3, -1, 0, 1, 2}, 5, 0);
    op_case_free(&c);
    /* opset 11: inputs; the min input omitted */
    static const char *const n3[] = {"X", NULL, "max"};
    df_tensor ts[3] = {mk(DF_F32, 1, (int64_t[]){5}, x), {0}, scalar_f32(0.5f)};
    assert_int_equal(run_op(&c, "Clip", 11, 3, n3, ts, &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){-3, -1, 0, 0.5f, 0.5f}, 5, 0);
    op_case_free(&c);
    /* opset 13, int8 with only min; min > max yields max everywhere */
    static const char *const n2[] = {"X", "min"};
    df_tensor ti[2] = {mk(DF_I8, 1, (int64_t[]){4}, (int8_t[]){-128, -5, 5, 127}), mk(DF_I8, 0, NULL, (int8_t[]){-6})};
    assert_int_equal(run_op(&c, "Clip", 13, 2, n2, ti, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I8, (int8_t[]){-6, -5, 5, 127}, 4);
    op_case_free(&c);
    static const char *const nn[] = {"X", "min", "max"};
    df_tensor tb[3] = {mk(DF_F32, 1, (int64_t[]){5}, x), scalar_f32(2), scalar_f32(1)};
    assert_int_equal(run_op(&c, "Clip", 13, 3, nn, tb, &err), DF_OK);
    expect_f32(&c.outputs[0], (float[]){1, 1, 1, 1, 1}, 5, 0);
    op_case_free(&c);
    /* no bounds at all is a copy; int64 with both bounds; float16 */
    t = mk(DF_F32, 1, (int64_t[]){5}, x);
    assert_int_equal(run_op(&c, "Clip", 13, 1, x1, &t, &err), DF_OK);
    expect_f32(&c.outputs[0], x, 5, 0);
    op_case_free(&c);
    df_tensor tl[3] = {mk(DF_I64, 1, (int64_t[]){3}, (int64_t[]){-10, 4, 10}), mk(DF_I64, 0, NULL, (int64_t[]){0}),
                       mk(DF_I64, 0, NULL, (int64_t[]){5})};
    assert_int_equal(run_op(&c, "Clip", 13, 3, nn, tl, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_I64, (int64_t[]){0, 4, 5}, 24);
    op_case_free(&c);
    df_tensor th[3] = {mk(DF_F16, 1, (int64_t[]){3}, (uint16_t[]){df_f2h(-2), df_f2h(0.25f), df_f2h(9)}),
                       mk(DF_F16, 0, NULL, (uint16_t[]){df_f2h(-1)}), mk(DF_F16, 0, NULL, (uint16_t[]){df_f2h(1)})};
    assert_int_equal(run_op(&c, "Clip", 13, 3, nn, th, &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F16, (uint16_t[]){df_f2h(-1), df_f2h(0.25f), df_f2h(1)}, 6);
    op_case_free(&c);
    /* errors: ints before opset 12, a non-scalar bound, mismatched bound dtype, opset 6 inputs */
    df_tensor e1[2] = {mk(DF_I32, 1, (int64_t[]){1}, (int32_t[]){1}), mk(DF_I32, 0, NULL, (int32_t[]){0})};
    assert_int_equal(run_op(&c, "Clip", 11, 2, n2, e1, &err), DF_ETYPE);
    op_case_free(&c);
    df_tensor e2[2] = {mk(DF_F32, 1, (int64_t[]){5}, x), mk(DF_F32, 1, (int64_t[]){2}, (float[]){0, 1})};
    assert_int_equal(run_op(&c, "Clip", 13, 2, n2, e2, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "min bound 'min'"));
    op_case_free(&c);
    df_tensor e3[2] = {mk(DF_F32, 1, (int64_t[]){5}, x), mk(DF_F64, 0, NULL, (double[]){0})};
    assert_int_equal(run_op(&c, "Clip", 13, 2, n2, e3, &err), DF_ETYPE);
    op_case_free(&c);
    df_tensor e4[2] = {mk(DF_F32, 1, (int64_t[]){5}, x), scalar_f32(0)};
    assert_int_equal(run_op(&c, "Clip", 6, 2, n2, e4, &err), DF_EINVAL);
    op_case_free(&c);
}

/* --- errors and half-precision binary ---------------------------------------------------------- */
static void test_errors(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    assert_int_equal(bin(&c, "Add", mk(DF_F32, 2, (int64_t[]){2, 3}, NULL), mk(DF_F32, 1, (int64_t[]){4}, NULL), &err),
                     DF_ESHAPE);
    assert_non_null(strstr(err.msg, "node 'test_node' (Add)"));
    assert_non_null(strstr(err.msg, "'B'"));
    assert_non_null(strstr(err.msg, "[4]"));
    op_case_free(&c);
    assert_int_equal(bin(&c, "Mul", scalar_f32(1), mk(DF_I64, 0, NULL, (int64_t[]){1}), &err), DF_ETYPE);
    assert_non_null(strstr(err.msg, "node 'test_node' (Mul)"));
    assert_non_null(strstr(err.msg, "int64"));
    op_case_free(&c);
    assert_int_equal(bin(&c, "Add", mk(DF_BOOL, 0, NULL, (uint8_t[]){1}), mk(DF_BOOL, 0, NULL, (uint8_t[]){1}), &err), DF_ETYPE);
    assert_non_null(strstr(err.msg, "bool"));
    op_case_free(&c);
    assert_int_equal(bin(&c, "Less", mk(DF_BOOL, 0, NULL, (uint8_t[]){1}), mk(DF_BOOL, 0, NULL, (uint8_t[]){1}), &err), DF_ETYPE);
    op_case_free(&c);
    /* wrong input count */
    static const char *const one[] = {"A"};
    df_tensor t = scalar_f32(1);
    assert_int_equal(run_op(&c, "Add", 13, 1, one, &t, &err), DF_EINVAL);
    op_case_free(&c);
    static const char *const three[] = {"A", "B", "C"};
    df_tensor w3[3] = {mk(DF_BOOL, 1, (int64_t[]){2}, NULL), scalar_f32(1), mk(DF_F32, 1, (int64_t[]){3}, NULL)};
    assert_int_equal(run_op(&c, "Where", 16, 3, three, w3, &err), DF_ESHAPE);
    op_case_free(&c);
}

static void test_half_binary(void **state) {
    (void)state;
    df_op_case c;
    df_error err = {0};
    uint16_t a[300], b = df_f2h(0.5f), want[300];
    for (int i = 0; i < 300; i++) {
        a[i] = df_f2h((float)i / 8);
        want[i] = df_f2h((float)i / 8 + 0.5f);
    }
    assert_int_equal(bin(&c, "Add", mk(DF_F16, 2, (int64_t[]){3, 100}, a), mk(DF_F16, 0, NULL, &b), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_F16, want, sizeof want);
    op_case_free(&c);
    assert_int_equal(bin(&c, "Greater", mk(DF_F16, 1, (int64_t[]){3}, a), mk(DF_F16, 1, (int64_t[]){1}, (uint16_t[]){df_f2h(0.1f)}), &err),
                     DF_OK);
    expect_bytes(&c.outputs[0], DF_BOOL, (uint8_t[]){0, 1, 1}, 3);
    op_case_free(&c);
    /* bfloat16 arithmetic goes through the same float32 kernels */
    uint16_t x = df_f2bf(1.5f), y = df_f2bf(2.0f);
    assert_int_equal(bin(&c, "Mul", mk(DF_BF16, 1, (int64_t[]){1}, &x), mk(DF_BF16, 1, (int64_t[]){1}, &y), &err), DF_OK);
    expect_bytes(&c.outputs[0], DF_BF16, (uint16_t[]){df_f2bf(3.0f)}, 2);
    op_case_free(&c);
    /* float16 base with int32 exponent */
    assert_int_equal(bin(&c, "Pow", mk(DF_F16, 1, (int64_t[]){2}, (uint16_t[]){df_f2h(3), df_f2h(-2)}),
                         mk(DF_I32, 1, (int64_t[]){2}, (int32_t[]){2, 3}), &err),
                     DF_OK);
    expect_bytes(&c.outputs[0], DF_F16, (uint16_t[]){df_f2h(9), df_f2h(-8)}, 4);
    op_case_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcast_collapse),
        cmocka_unit_test(test_broadcast_random_add),
        cmocka_unit_test(test_broadcast_threaded),
        cmocka_unit_test(test_add_sub_mul_div_f32),
        cmocka_unit_test(test_broadcast_cases),
        cmocka_unit_test(test_int_dtypes),
        cmocka_unit_test(test_int_div_mod),
        cmocka_unit_test(test_pow),
        cmocka_unit_test(test_compare_logic_bitshift),
        cmocka_unit_test(test_variadic),
        cmocka_unit_test(test_unary_float),
        cmocka_unit_test(test_unary_special),
        cmocka_unit_test(test_unary_threaded),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_cast_all_pairs),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_half_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
