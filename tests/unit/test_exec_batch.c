/* One plan for batches 1..max_batch: a session opened with max_batch runs any batch up to it
 * and gives every row what a batch-1 session gives that row alone, on every fixture family
 * and opset and on the QDQ INT8 fixtures. CTest runs it twice: as the machine picks GEMMs,
 * and with DF_SGEMM=0 DF_INT8=1 (oneDNN's row buckets and int8 kernels). A graph that cannot
 * vary its batch (the unfused attention's activation x activation MatMul) opens static and
 * says why. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpuflow/session.h"
#include "dpuflow/tensor.h"
#include "graph/ir.h"
#include "ops/dnnl_common.h"

#define MAX_BATCH 8

/* Row r of every input of `src` (rows cycle through src's batch) stacked into b rows. */
static void stack_rows(const df_tensor_list *src, int64_t b, df_tensor_list *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < src->count; i++) {
        const df_tensor *t = &src->items[i].tensor;
        df_shape sh = t->shape;
        int64_t rows = sh.dims[0];
        sh.dims[0] = b;
        df_tensor s;
        assert_int_equal(df_tensor_alloc(&s, t->dtype, &sh, NULL), DF_OK);
        size_t row_bytes = t->nbytes / (size_t)rows;
        for (int64_t r = 0; r < b; r++)
            memcpy((char *)s.data + (size_t)r * row_bytes, (const char *)t->data + (size_t)(r % rows) * row_bytes,
                   row_bytes);
        assert_int_equal(df_tensor_list_add(out, src->items[i].name, &s, NULL), DF_OK);
        df_tensor_free(&s);
    }
}

static int bind(df_session *s, const df_tensor_list *in, df_tensor *ins) {
    size_t n = df_session_input_count(s);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        df_session_input_info(s, i, &name, NULL, NULL);
        const df_tensor *t = df_tensor_list_find(in, name);
        if (!t) return -1;
        ins[i] = *t;
    }
    return (int)n;
}

/* Runs `model` at batches 1, 2, 3, 5 and 8 on a max_batch session; every row must match a
 * batch-1 session on that row alone to tol. Returns the session's max batch. */
static int check_model(const char *model, const char *inputs, bool no_fusion, double tol) {
    df_tensor_list src = {0};
    df_error err = {0};
    assert_int_equal(df_npz_read(inputs, &src, &err), DF_OK);
    int64_t seq = src.items[0].tensor.shape.dims[1];
    df_session *var = NULL;
    df_session_opts vo = {.threads = 1, .batch = 1, .seq = seq, .max_batch = MAX_BATCH, .no_fusion = no_fusion};
    if (df_session_open(model, &vo, &var, &err)) fail_msg("%s: %s", model, err.msg);
    int max = df_session_max_batch(var);
    printf("  %s%s: max batch %d%s%s\n", strrchr(model, '/') + 1, no_fusion ? " (unfused)" : "", max,
           max ? "" : ", static: ", df_session_batch_note(var));
    if (!max) {
        assert_true(df_session_batch_note(var)[0] != '\0');
        df_session_close(var);
        df_tensor_list_free(&src);
        return 0;
    }
    assert_int_equal(max, MAX_BATCH);
    static const int64_t batches[] = {1, 2, 3, 5, 8, 1};
    for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
        int64_t b = batches[bi];
        df_tensor_list in;
        stack_rows(&src, b, &in);
        df_tensor ins[8], outs[8];
        int n_in = bind(var, &in, ins);
        assert_true(n_in > 0);
        size_t n_out = df_session_output_count(var);
        assert_true(n_out <= 8);
        if (df_session_run(var, ins, (size_t)n_in, outs, n_out, &err)) fail_msg("%s batch %lld: %s", model, (long long)b, err.msg);
        for (int64_t r = 0; r < b; r++) {
            df_tensor_list one;
            df_tensor_list row_src = {0};
            stack_rows(&src, b, &row_src);
            /* The r-th stacked row alone. */
            memset(&one, 0, sizeof one);
            for (size_t i = 0; i < row_src.count; i++) {
                const df_tensor *t = &row_src.items[i].tensor;
                df_shape sh = t->shape;
                sh.dims[0] = 1;
                df_tensor s;
                assert_int_equal(df_tensor_alloc(&s, t->dtype, &sh, NULL), DF_OK);
                memcpy(s.data, (const char *)t->data + (size_t)r * s.nbytes, s.nbytes);
                assert_int_equal(df_tensor_list_add(&one, row_src.items[i].name, &s, NULL), DF_OK);
                df_tensor_free(&s);
            }
            df_tensor_list_free(&row_src);
            df_session *fixed = NULL;
            df_session_opts fo = {.threads = 1, .sample_inputs = &one, .no_fusion = no_fusion};
            if (df_session_open(model, &fo, &fixed, &err)) fail_msg("%s: %s", model, err.msg);
            df_tensor fins[8], fouts[8];
            int fn = bind(fixed, &one, fins);
            assert_int_equal(df_session_run(fixed, fins, (size_t)fn, fouts, n_out, &err), DF_OK);
            for (size_t k = 0; k < n_out; k++) {
                assert_int_equal(outs[k].shape.dims[0], b);
                size_t row_bytes = outs[k].nbytes / (size_t)b;
                assert_int_equal(row_bytes, fouts[k].nbytes);
                const float *x = (const float *)((const char *)outs[k].data + (size_t)r * row_bytes), *y = fouts[k].data;
                double md = 0;
                for (size_t i = 0; i < row_bytes / sizeof(float); i++) {
                    double d = fabs((double)x[i] - y[i]);
                    if (!(d <= md)) md = d;
                }
                if (!(md <= tol))
                    fail_msg("%s batch %lld row %lld output %zu: max diff %g", model, (long long)b, (long long)r, k, md);
            }
            df_session_close(fixed);
            df_tensor_list_free(&one);
        }
        df_tensor_list_free(&in);
    }
    df_session_close(var);
    df_tensor_list_free(&src);
    return max;
}

static void run_all(bool no_fusion, double tol) {
    static const char *stems[] = {"bert_tiny", "bert_mean", "bert_pooler", "xlmr_tiny"};
    static const int opsets[] = {11, 13, 17};
    int flexible = 0;
    for (size_t s = 0; s < 4; s++)
        for (size_t o = 0; o < 3; o++) {
            char model[512], inputs[512];
            snprintf(model, sizeof model, "%s/tests/fixtures/models/%s_op%d.onnx", DF_SOURCE_DIR, stems[s], opsets[o]);
            snprintf(inputs, sizeof inputs, "%s/tests/fixtures/models/%s.inputs_b2.npz", DF_SOURCE_DIR, stems[s]);
            flexible += check_model(model, inputs, no_fusion, tol) > 0;
        }
    /* Fused or not, every family varies its batch: folded batch constants are undone and the
     * attention products run per sample. */
    assert_int_equal(flexible, 12);
}

static void test_fused(void **state) {
    (void)state;
    printf("  DF_SGEMM=%s DF_INT8=%s\n", getenv("DF_SGEMM") ? getenv("DF_SGEMM") : "", getenv("DF_INT8") ? getenv("DF_INT8") : "");
    run_all(false, 1e-5);
}

static void test_int8(void **state) {
    (void)state;
    /* w7: 7-bit weights, the AVX2 int8 kernel (ops/qgemm.h) on CPUs without VNNI. */
    static const char *models[] = {"bert_tiny_qdq_s8", "bert_tiny_qdq_u8", "xlmr_tiny_qdq_s8", "xlmr_tiny_qdq_u8",
                                   "bert_tiny_qdq_w7"};
    for (size_t i = 0; i < 5; i++) {
        char model[512], inputs[512];
        snprintf(model, sizeof model, "%s/tests/fixtures/int8/%s.onnx", DF_SOURCE_DIR, models[i]);
        snprintf(inputs, sizeof inputs, "%s/tests/fixtures/models/%s.inputs_b2.npz", DF_SOURCE_DIR,
                 i < 2 || i == 4 ? "bert_tiny" : "xlmr_tiny");
        /* Row for row the same kernels run, so int8 results agree as tightly as float ones. */
        assert_int_equal(check_model(model, inputs, false, 1e-5), MAX_BATCH);
    }
}

static void test_unfused(void **state) {
    (void)state;
    run_all(true, 1e-5);
}

/* Wrong batches are refused with the input named; the session keeps working after. */
static void test_bad_batches(void **state) {
    (void)state;
    char model[512], inputs[512];
    snprintf(model, sizeof model, "%s/tests/fixtures/models/bert_tiny_op13.onnx", DF_SOURCE_DIR);
    snprintf(inputs, sizeof inputs, "%s/tests/fixtures/models/bert_tiny.inputs_b2.npz", DF_SOURCE_DIR);
    df_tensor_list src = {0};
    df_error err = {0};
    assert_int_equal(df_npz_read(inputs, &src, &err), DF_OK);
    int64_t seq = src.items[0].tensor.shape.dims[1];
    df_session *s = NULL;
    df_session_opts o = {.threads = 1, .batch = 1, .seq = seq, .max_batch = 4};
    assert_int_equal(df_session_open(model, &o, &s, &err), DF_OK);
    assert_int_equal(df_session_max_batch(s), 4);
    df_tensor_list big, two;
    stack_rows(&src, 5, &big);
    stack_rows(&src, 2, &two);
    df_tensor ins[8], outs[8];
    int n = bind(s, &big, ins);
    assert_int_equal(df_session_run(s, ins, (size_t)n, outs, 1, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "batch of 1 to 4"));
    /* Mixed batches across inputs. */
    n = bind(s, &two, ins);
    ins[n - 1] = *df_tensor_list_find(&big, df_session_graph(s)->values[df_session_graph(s)->inputs[n - 1]].name);
    assert_int_equal(df_session_run(s, ins, (size_t)n, outs, 1, &err), DF_ESHAPE);
    n = bind(s, &two, ins);
    assert_int_equal(df_session_run(s, ins, (size_t)n, outs, 1, &err), DF_OK);
    assert_int_equal(outs[0].shape.dims[0], 2);
    df_session_close(s);
    /* A request the executor cannot honour opens static and says why. */
    o.sample_inputs = &two;
    assert_int_equal(df_session_open(model, &o, &s, &err), DF_OK);
    assert_int_equal(df_session_max_batch(s), 0);
    assert_non_null(strstr(df_session_batch_note(s), "sample inputs"));
    df_session_close(s);
    df_tensor_list_free(&big);
    df_tensor_list_free(&two);
    df_tensor_list_free(&src);
}

/* The row buckets of one GEMM borrow the largest bucket's packed weights (one copy, not
 * one per bucket) and a run of 5 samples (buckets 4 + 1) equals a plain loop. */
static void test_row_buckets(void **state) {
    (void)state;
    const int64_t U = 16, K = 48, N = 40;
    float *w = malloc(sizeof(float) * K * N), *bias = malloc(sizeof(float) * N);
    float *a = malloc(sizeof(float) * 8 * U * K), *c = malloc(sizeof(float) * 8 * U * N);
    for (int64_t i = 0; i < K * N; i++) w[i] = (float)((i * 37) % 19 - 9) / 8.0f;
    for (int64_t j = 0; j < N; j++) bias[j] = (float)j / 16.0f;
    for (int64_t i = 0; i < 8 * U * K; i++) a[i] = (float)((i * 11) % 23 - 11) / 16.0f;
    df_mm_spec sp = {.ndims = 2, .a_dims = {U, K}, .a_strides = {K, 1}, .b_dims = {K, N}, .b_strides = {N, 1},
                     .c_dims = {U, N}, .b_const = w, .b_scale = 1.0f, .bias = bias, .alpha = 1.0f};
    df_dnnl_mm_rows r;
    df_node n = {.name = "bucket_test", .op_type = "MatMulBias"};
    df_error err = {0};
    if (df_dnnl_mm_rows_create(&r, &sp, 8, &n, &err)) {
        printf("  oneDNN refused (%s): nothing to check\n", err.msg);
        goto done;
    }
    assert_int_equal(r.n, 4);
    void *big = NULL;
    assert_int_equal(dnnl_memory_get_data_handle(r.b[3].wei, &big), dnnl_success);
    int shared = 0;
    for (int i = 0; i < 3; i++) {
        void *h = NULL;
        assert_int_equal(dnnl_memory_get_data_handle(r.b[i].wei, &h), dnnl_success);
        shared += h == big;
    }
    printf("  %d of 3 smaller buckets borrow the packed weights\n", shared);
    void *scratch = r.scratch_bytes ? aligned_alloc(64, (r.scratch_bytes + 63) & ~(size_t)63) : NULL;
    assert_int_equal(df_dnnl_mm_rows_exec(&r, 5 * U, a, NULL, c, scratch, &n, &err), DF_OK);
    double md = 0;
    for (int64_t i = 0; i < 5 * U; i++)
        for (int64_t j = 0; j < N; j++) {
            double ref = bias[j];
            for (int64_t k = 0; k < K; k++) ref += (double)a[i * K + k] * w[k * N + j];
            md = fmax(md, fabs(ref - c[i * N + j]));
        }
    assert_true(md < 1e-4);
    assert_int_equal(df_dnnl_mm_rows_exec(&r, 5 * U + 1, a, NULL, c, scratch, &n, &err), DF_ESHAPE);
    free(scratch);
    df_dnnl_mm_rows_destroy(&r);
done:
    free(w);
    free(bias);
    free(a);
    free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_unfused),
        cmocka_unit_test(test_bad_batches),
        cmocka_unit_test(test_row_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
