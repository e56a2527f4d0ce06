/* The vart backend against the fake Vitis AI runtime (tests/doubles): the same dlopen, runner,
 * execute_async / wait and tensor-buffer path a board would take, checked against the cpu
 * backend on the same model. Skips when the doubles' folder is not given. */
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
#include "dpuflow/vart.h"

#define MODEL DF_SOURCE_DIR "/tests/fixtures/models/bert_tiny_op13.onnx"
#define INPUTS DF_SOURCE_DIR "/tests/fixtures/models/bert_mean.inputs.npz"

static void matches_cpu(void **state) {
    (void)state;
    char why[512];
    assert_true(df_vart_available(why, sizeof why));
    df_tensor_list in = {0};
    df_error err = {0};
    assert_int_equal(df_npz_read(INPUTS, &in, &err), DF_OK);
    df_session *cpu = NULL, *vart = NULL;
    df_session_opts oc = {.threads = 1, .sample_inputs = &in};
    df_session_opts ov = {.threads = 1, .backend = "vart", .sample_inputs = &in};
    assert_int_equal(df_session_open(MODEL, &oc, &cpu, &err), DF_OK);
    if (df_session_open(MODEL, &ov, &vart, &err)) fail_msg("%s", err.msg);
    assert_int_equal(df_session_input_count(vart), df_session_input_count(cpu));
    assert_int_equal(df_session_output_count(vart), df_session_output_count(cpu));
    df_tensor feed[8], a[8], b[8];
    size_t n_in = df_session_input_count(cpu), n_out = df_session_output_count(cpu);
    for (size_t k = 0; k < n_in; k++) {
        const char *name;
        df_session_input_info(vart, k, &name, NULL, NULL);
        const df_tensor *t = df_tensor_list_find(&in, name);
        assert_non_null(t);
        feed[k] = *t;
        feed[k].owns_data = false;
    }
    for (int rep = 0; rep < 3; rep++) { /* buffers are reused run after run */
        assert_int_equal(df_session_run(cpu, feed, n_in, a, n_out, &err), DF_OK);
        if (df_session_run(vart, feed, n_in, b, n_out, &err)) fail_msg("%s", err.msg);
        for (size_t k = 0; k < n_out; k++) {
            assert_int_equal(a[k].dtype, b[k].dtype);
            assert_true(df_shape_equal(&a[k].shape, &b[k].shape));
            assert_int_equal(a[k].nbytes, b[k].nbytes);
            assert_memory_equal(a[k].data, b[k].data, a[k].nbytes);
        }
    }
    df_session_close(vart);
    df_session_close(cpu);
    df_tensor_list_free(&in);
}

static void refuses_cpu_subgraphs(void **state) {
    (void)state;
    setenv("FAKE_XIR_CPU_SUBGRAPH", "1", 1);
    df_session *s = NULL;
    df_error err = {0};
    df_session_opts o = {.threads = 1, .backend = "vart"};
    assert_int_equal(df_session_open(MODEL, &o, &s, &err), DF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "subgraph_softmax"));
    unsetenv("FAKE_XIR_CPU_SUBGRAPH");
}

static void missing_file(void **state) {
    (void)state;
    df_session *s = NULL;
    df_error err = {0};
    df_session_opts o = {.backend = "vart"};
    assert_int_equal(df_session_open("/nonexistent/model.xmodel", &o, &s, &err), DF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/model.xmodel"));
}

int main(void) {
    const char *dir = getenv("DF_FAKE_VART_LIB_DIR");
    if (!dir) {
        printf("test_vart_backend: skipped (DF_FAKE_VART_LIB_DIR not set; run it through ctest)\n");
        return 77;
    }
    setenv("DF_VART_LIB_DIR", dir, 1);
    setenv("FAKE_VART_SEQ", "16", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_cpu),
        cmocka_unit_test(refuses_cpu_subgraphs),
        cmocka_unit_test(missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
