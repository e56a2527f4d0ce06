/* pipeline/: model.json parsing — defaults, paths relative to the config file, and errors that
 * name the key or path (unknown key, wrong type, missing file, fpga without pof2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpuflow/pipeline.h"

static char g_dir[256], g_cfg[300];

static int setup(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/df_pl_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_cfg, sizeof g_cfg, "%s/model.json", g_dir);
    char p[400];
    snprintf(p, sizeof p, "%s/m.onnx", g_dir);
    FILE *f = fopen(p, "w");
    fputs("x", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/vocab.txt", g_dir);
    f = fopen(p, "w");
    fputs("[PAD]\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char p[400];
    const char *names[] = {"model.json", "m.onnx", "vocab.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

#define BASE "\"model_name\": \"m\", \"framework\": \"onnx\", \"model_path\": \"m.onnx\", \"tokenizer\": \"vocab.txt\", \"task\": \"t\""

static df_status load(const char *json, df_model_config **c, df_error *err) {
    FILE *f = fopen(g_cfg, "w");
    fputs(json, f);
    fclose(f);
    return df_model_config_load(g_cfg, c, err);
}

static void expect_error(const char *json, const char *needle) {
    df_model_config *c = NULL;
    df_error err = {0};
    assert_int_not_equal(load(json, &c, &err), DF_OK);
    assert_null(c);
    if (!strstr(err.msg, needle)) fail_msg("expected \"%s\" in: %s", needle, err.msg);
    assert_non_null(strstr(err.msg, "model.json"));
}

static void test_defaults(void **state) {
    (void)state;
    df_model_config *c = NULL;
    df_error err = {0};
    assert_int_equal(load("{" BASE "}", &c, &err), DF_OK);
    assert_int_equal(c->input_rank, 2);
    assert_int_equal(c->input_shape[1], 64);
    assert_int_equal(c->calib_samples, 50);
    assert_string_equal(c->calib_method, "percentile");
    assert_string_equal(c->scale, "float");
    assert_string_equal(c->weights, "per_channel");
    assert_int_equal(c->weight_bits, 8);
    assert_int_equal(c->act_bits, 8);
    assert_true(c->thr_cosine == 0.99 && c->thr_top1 == 0.99);
    assert_string_equal(c->platform, "cpu");
    assert_int_equal(c->opt_level, 2);
    assert_int_equal(c->batch, 1);
    char want[400];
    snprintf(want, sizeof want, "%s/m.onnx", g_dir);
    assert_string_equal(c->model_path, want);   /* relative to the config file */
    snprintf(want, sizeof want, "%s/build/m", g_dir);
    assert_string_equal(c->output_dir, want);
    assert_null(c->calib_corpus);
    df_model_config_free(c);
}

static void test_full(void **state) {
    (void)state;
    df_model_config *c = NULL;
    df_error err = {0};
    assert_int_equal(load("{" BASE ", \"input_shape\": [1, 32], \"output\": \"logits\","
                          "\"calibration\": {\"samples\": 10, \"method\": \"entropy\"},"
                          "\"quantization\": {\"scale\": \"pof2\", \"weights\": \"per_tensor\","
                          " \"thresholds\": {\"cosine\": 0.95, \"top1\": 0.9}},"
                          "\"target\": {\"platform\": \"fpga\", \"arch\": \"DPUCZDX8G/ZCU104\", \"opt_level\": 1, \"batch\": 1},"
                          "\"output_dir\": \"/tmp/x\"}", &c, &err), DF_OK);
    assert_int_equal(c->input_shape[1], 32);
    assert_string_equal(c->calib_method, "entropy");
    assert_string_equal(c->platform, "fpga");
    assert_string_equal(c->arch, "DPUCZDX8G/ZCU104");
    assert_true(c->thr_cosine == 0.95);
    assert_string_equal(c->output_dir, "/tmp/x");
    df_model_config_free(c);
    assert_int_equal(load("{" BASE ", \"quantization\": {\"weight_bits\": 7, \"act_bits\": 7}}", &c, &err), DF_OK);
    assert_int_equal(c->weight_bits, 7);
    assert_int_equal(c->act_bits, 7);
    df_model_config_free(c);
}

static void test_errors(void **state) {
    (void)state;
    expect_error("{" BASE ", \"sampels\": 1}", "unknown key \"sampels\"");
    expect_error("{" BASE ", \"calibration\": {\"sampels\": 1}}", "\"calibration.sampels\"");
    expect_error("{" BASE ", \"quantization\": {\"thresholds\": {\"cos\": 1}}}", "quantization.thresholds.cos");
    expect_error("{" BASE ", \"calibration\": {\"samples\": \"5\"}}", "\"calibration.samples\" must be an integer");
    expect_error("{" BASE ", \"calibration\": {\"samples\": 0}}", "calibration.samples");
    expect_error("{" BASE ", \"input_shape\": [1, -4]}", "input_shape[1]");
    expect_error("{" BASE ", \"input_shape\": \"1x64\"}", "input_shape");
    expect_error("{" BASE ", \"target\": 3}", "\"target\" must be an object");
    expect_error("{" BASE ", \"target\": {\"platform\": \"gpu\"}}", "target.platform");
    expect_error("{" BASE ", \"target\": {\"platform\": \"fpga\"}}", "pof2");
    expect_error("{" BASE ", \"quantization\": {\"thresholds\": {\"cosine\": 1.5}}}", "quantization.thresholds.cosine");
    expect_error("{" BASE ", \"calibration\": {\"corpus\": \"nope.txt\"}}", "nope.txt");
    expect_error("{" BASE ", \"quantization\": {\"act_bits\": 6}}", "quantization.act_bits");
    expect_error("{" BASE ", \"quantization\": {\"weight_bits\": 9}}", "quantization.weight_bits");
    expect_error("{\"model_name\": \"m\", \"framework\": \"onnx\", \"model_path\": \"missing.onnx\", "
                 "\"tokenizer\": \"vocab.txt\", \"task\": \"t\"}", "\"model_path\"");
    expect_error("{\"model_name\": \"m\", \"framework\": \"onnx\", \"model_path\": \"m.onnx\", \"task\": \"t\"}",
                 "\"tokenizer\" is required");
    expect_error("{\"model_name\": \"../evil\", \"framework\": \"onnx\", \"model_path\": \"m.onnx\", "
                 "\"tokenizer\": \"vocab.txt\", \"task\": \"t\"}", "model_name");
    expect_error("{\"model_name\": \"m\", \"framework\": \"pytorch\", \"model_path\": \"m.onnx\", "
                 "\"tokenizer\": \"vocab.txt\", \"task\": \"t\"}", "Hugging Face folder");
    expect_error("{" BASE ", \"model_name\": \"n\"}", "not valid JSON");   /* duplicate key */
    expect_error("[1]", "expected a JSON object");
    df_model_config *c = NULL;
    df_error err = {0};
    unlink(g_cfg);
    assert_int_not_equal(df_model_config_load(g_cfg, &c, &err), DF_OK);
    assert_non_null(strstr(err.msg, "model.json"));
}

static void test_stage_names(void **state) {
    (void)state;
    for (int i = 0; i < DF_STAGE_COUNT; i++) assert_int_equal(df_build_stage_parse(df_build_stage_name((df_build_stage)i)), i);
    assert_int_equal(df_build_stage_parse("deploy"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stage_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
