/* Unit tests for the quant family: rounding (half to even) and saturation, per-axis
 * parameters, DynamicQuantizeLinear's formula, MatMulInteger and QLinearMatMul zero points. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "op_harness.h"

static df_tensor make(df_dtype dt, int rank, const int64_t *dims, const void *values) {
    df_tensor t;
    df_shape s = df_shape_make(rank, dims);
    df_tensor_alloc(&t, dt, &s, NULL);
    memcpy(t.data, values, t.nbytes);
    return t;
}

static void test_quantize_round_saturate(void **state) {
    (void)state;
    int64_t d7[1] = {7}, d1[1] = {1};
    float xv[7] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300.0f, -300.0f};
    float one = 1.0f;
    df_tensor x = make(DF_F32, 1, d7, xv), s = make(DF_F32, 0, d1, &one);
    /* uint8, zero point absent: uint8 output, round half even, clamp to [0,255]. */
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "QuantizeLinear", 13);
    op_case_input(&c, "x", &x, false);
    op_case_input(&c, "y_scale", &s, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_OK);
    assert_int_equal(c.outputs[0].dtype, DF_U8);
    const uint8_t want_u8[7] = {0, 2, 2, 0, 0, 255, 0};
    assert_memory_equal(c.outputs[0].data, want_u8, 7);
    op_case_free(&c);
    /* int8 with zero point 1: rounding happens before the zero point is added. */
    int8_t zp = 1;
    df_tensor z = make(DF_I8, 0, d1, &zp);
    op_case_init(&c, "QuantizeLinear", 13);
    op_case_input(&c, "x", &x, false);
    op_case_input(&c, "y_scale", &s, true);
    op_case_input(&c, "y_zero_point", &z, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_OK);
    assert_int_equal(c.outputs[0].dtype, DF_I8);
    const int8_t want_i8[7] = {1, 3, 3, 1, -1, 127, -128};
    assert_memory_equal(c.outputs[0].data, want_i8, 7);
    op_case_free(&c);
    df_tensor_free(&x);
    df_tensor_free(&s);
    df_tensor_free(&z);
}

static void test_quantize_dequantize_per_axis(void **state) {
    (void)state;
    int64_t xd[2] = {2, 3}, sd[1] = {3};
    float xv[6] = {1.0f, 2.0f, 3.0f, -1.0f, -2.0f, -3.0f};
    float sv[3] = {0.5f, 1.0f, 2.0f};
    uint8_t zv[3] = {10, 20, 30};
    df_tensor x = make(DF_F32, 2, xd, xv), s = make(DF_F32, 1, sd, sv), z = make(DF_U8, 1, sd, zv);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "QuantizeLinear", 13);
    op_case_input(&c, "x", &x, false);
    op_case_input(&c, "y_scale", &s, true);
    op_case_input(&c, "y_zero_point", &z, true);
    op_case_attr_int(&c, "axis", 1);
    assert_int_equal(op_case_run(&c, 1, &err), DF_OK);
    const uint8_t want[6] = {12, 22, 32, 8, 18, 28}; /* 1.5 and -1.5 round to even */
    assert_memory_equal(c.outputs[0].data, want, 6);
    df_tensor q;
    df_tensor_copy(&q, &c.outputs[0], NULL);
    op_case_free(&c);

    op_case_init(&c, "DequantizeLinear", 13);
    op_case_input(&c, "x", &q, false);
    op_case_input(&c, "x_scale", &s, true);
    op_case_input(&c, "x_zero_point", &z, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_OK);
    const float wantf[6] = {1.0f, 2.0f, 4.0f, -1.0f, -2.0f, -4.0f};
    const float *y = c.outputs[0].data;
    for (int i = 0; i < 6; i++) assert_float_equal(y[i], wantf[i], 1e-6f);
    op_case_free(&c);

    /* Per-axis scale along axis 0 has the wrong length: error naming the scale. */
    op_case_init(&c, "QuantizeLinear", 13);
    op_case_input(&c, "x", &x, false);
    op_case_input(&c, "y_scale", &s, true);
    op_case_attr_int(&c, "axis", 0);
    assert_int_equal(op_case_run(&c, 1, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "'y_scale'"));
    op_case_free(&c);
    /* Before opset 13 only per-tensor. */
    op_case_init(&c, "QuantizeLinear", 10);
    op_case_input(&c, "x", &x, false);
    op_case_input(&c, "y_scale", &s, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_ESHAPE);
    op_case_free(&c);
    df_tensor_free(&x);
    df_tensor_free(&s);
    df_tensor_free(&z);
    df_tensor_free(&q);
}

static void test_dequantize_int32(void **state) {
    (void)state;
    int64_t d3[1] = {3}, d1[1] = {1};
    int32_t xv[3] = {-1000, 0, 1000};
    float sc = 0.25f;
    df_tensor x = make(DF_I32, 1, d3, xv), s = make(DF_F32, 0, d1, &sc);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "DequantizeLinear", 13);
    op_case_input(&c, "x", &x, false);
    op_case_input(&c, "x_scale", &s, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_OK);
    const float *y = c.outputs[0].data;
    assert_float_equal(y[0], -250.0f, 0.0f);
    assert_float_equal(y[2], 250.0f, 0.0f);
    op_case_free(&c);
    df_tensor_free(&x);
    df_tensor_free(&s);
}

static void test_dynamic_quantize(void **state) {
    (void)state;
    int64_t d6[1] = {6};
    float xv[6] = {0.0f, 2.0f, -3.0f, -2.5f, 1.34f, 0.5f};
    df_tensor x = make(DF_F32, 1, d6, xv);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "DynamicQuantizeLinear", 13);
    op_case_input(&c, "x", &x, false);
    assert_int_equal(op_case_run(&c, 3, &err), DF_OK);
    float scale = *(float *)c.outputs[1].data;
    assert_float_equal(scale, 5.0f / 255.0f, 1e-9f);
    assert_int_equal(*(uint8_t *)c.outputs[2].data, 153);
    const uint8_t *y = c.outputs[0].data;
    for (int i = 0; i < 6; i++) {
        float q = nearbyintf(xv[i] / scale) + 153.0f;
        q = q < 0 ? 0 : q > 255 ? 255 : q;
        assert_int_equal(y[i], (uint8_t)q);
    }
    assert_int_equal(c.outputs[1].shape.rank, 0);
    op_case_free(&c);
    /* All zeros: scale 0, zero point 0, no division by zero. */
    float zeros[6] = {0};
    df_tensor xz = make(DF_F32, 1, d6, zeros);
    op_case_init(&c, "DynamicQuantizeLinear", 13);
    op_case_input(&c, "x", &xz, false);
    assert_int_equal(op_case_run(&c, 3, &err), DF_OK);
    assert_int_equal(*(uint8_t *)c.outputs[2].data, 0);
    op_case_free(&c);
    df_tensor_free(&x);
    df_tensor_free(&xz);
}

static void test_matmul_integer_zero_points(void **state) {
    (void)state;
    /* A uint8 [2,3] with per-row zero points, B int8 [3,2] with per-column zero points. */
    int64_t ad[2] = {2, 3}, bd[2] = {3, 2}, zad[1] = {2}, zbd[1] = {2};
    uint8_t av[6] = {10, 20, 30, 200, 100, 0};
    int8_t bv[6] = {1, -2, 3, -4, 5, -6};
    uint8_t za[2] = {10, 100};
    int8_t zb[2] = {1, -1};
    df_tensor a = make(DF_U8, 2, ad, av), b = make(DF_I8, 2, bd, bv), tza = make(DF_U8, 1, zad, za),
              tzb = make(DF_I8, 1, zbd, zb);
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "MatMulInteger", 13);
    op_case_input(&c, "A", &a, false);
    op_case_input(&c, "B", &b, true);
    op_case_input(&c, "a_zero_point", &tza, true);
    op_case_input(&c, "b_zero_point", &tzb, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_OK);
    assert_int_equal(c.outputs[0].dtype, DF_I32);
    const int32_t *y = c.outputs[0].data;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            int32_t acc = 0;
            for (int k = 0; k < 3; k++) acc += (av[i * 3 + k] - za[i]) * (bv[k * 2 + j] - zb[j]);
            assert_int_equal(y[i * 2 + j], acc);
        }
    op_case_free(&c);
    /* A zero point of the wrong length. */
    int64_t z3[1] = {3};
    uint8_t z3v[3] = {0, 0, 0};
    df_tensor bad = make(DF_U8, 1, z3, z3v);
    op_case_init(&c, "MatMulInteger", 13);
    op_case_input(&c, "A", &a, false);
    op_case_input(&c, "B", &b, true);
    op_case_input(&c, "a_zero_point", &bad, true);
    assert_int_equal(op_case_run(&c, 1, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "a_zero_point"));
    op_case_free(&c);
    df_tensor_free(&a);
    df_tensor_free(&b);
    df_tensor_free(&tza);
    df_tensor_free(&tzb);
    df_tensor_free(&bad);
}

static void test_qlinear_matmul(void **state) {
    (void)state;
    int64_t ad[2] = {2, 4}, bd[2] = {4, 3}, d1[1] = {1};
    uint8_t av[8] = {208, 236, 0, 238, 3, 214, 255, 29};
    uint8_t bv[12] = {152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247};
    float as = 0.0066f, bs = 0.00705f, ys = 0.0107f;
    uint8_t az = 113, bz = 114, yz = 118;
    df_tensor in[8] = {make(DF_U8, 2, ad, av), make(DF_F32, 1, d1, &as), make(DF_U8, 1, d1, &az),
                       make(DF_U8, 2, bd, bv), make(DF_F32, 1, d1, &bs), make(DF_U8, 1, d1, &bz),
                       make(DF_F32, 1, d1, &ys), make(DF_U8, 1, d1, &yz)};
    static const char *names[8] = {"a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale",
                                   "y_zero_point"};
    df_op_case c;
    df_error err = {0};
    op_case_init(&c, "QLinearMatMul", 13);
    for (int i = 0; i < 8; i++) op_case_input(&c, names[i], &in[i], i != 0);
    if (op_case_run(&c, 1, &err)) fail_msg("%s", err.msg);
    const uint8_t want[6] = {168, 115, 255, 1, 66, 151}; /* the ONNX spec's example */
    assert_memory_equal(c.outputs[0].data, want, 6);
    op_case_free(&c);
    for (int i = 0; i < 8; i++) df_tensor_free(&in[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_round_saturate), cmocka_unit_test(test_quantize_dequantize_per_axis),
        cmocka_unit_test(test_dequantize_int32),        cmocka_unit_test(test_dynamic_quantize),
        cmocka_unit_test(test_matmul_integer_zero_points), cmocka_unit_test(test_qlinear_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
