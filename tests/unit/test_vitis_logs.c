/* The Vitis AI log and file parsers: vendor-looking vai_c_xir logs, md5sum.txt, meta.json, and
 * malformed versions of each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dpuflow/vitis.h"

static const char LOG[] =
    "**************************************************\n"
    "* VITIS_AI Compilation - Xilinx Inc.\n"
    "**************************************************\n"
    "[UNILOG][INFO] Compile mode: dpu\r\n"
    "[UNILOG][INFO] Debug mode: null\n"
    "[UNILOG][INFO] Target architecture: DPUCZDX8G_ISA1_B4096\n"
    "[UNILOG][INFO] Graph name: tinybert, with op num: 1022\n"
    "[UNILOG][INFO] Begin to compile...\n"
    "[UNILOG][WARNING] xir::Op{name = Softmax_3, type = softmax} has been assigned to CPU.\n"
    "[UNILOG][INFO] Total device subgraph number 5, DPU subgraph number 1\n"
    "[UNILOG][INFO] Compile done.\n"
    "[UNILOG][INFO] The meta json is saved to \"/w/out/meta.json\"\n"
    "[UNILOG][INFO] The compiled xmodel is saved to \"/w/out/tinybert.xmodel\"\n"
    "[UNILOG][INFO] The compiled xmodel's md5sum is 1D1B0D6B0AB6AA4B4B4C6F8C0E2F9A11, and has been saved to "
    "\"/w/out/md5sum.txt\"\n";

static void vendor_log(void **state) {
    (void)state;
    df_vitis_compile_log lg;
    df_error err = {0};
    assert_int_equal(df_vitis_parse_compile_log(LOG, strlen(LOG), "c.log", &lg, &err), DF_OK);
    assert_int_equal(lg.device_subgraphs, 5);
    assert_int_equal(lg.dpu_subgraphs, 1);
    assert_string_equal(lg.target, "DPUCZDX8G_ISA1_B4096");
    assert_string_equal(lg.graph_name, "tinybert");
    assert_int_equal(lg.op_num, 1022);
    assert_string_equal(lg.xmodel, "/w/out/tinybert.xmodel");
    assert_string_equal(lg.meta, "/w/out/meta.json");
    assert_string_equal(lg.md5, "1d1b0d6b0ab6aa4b4b4c6f8c0e2f9a11");
    assert_int_equal(lg.warnings, 1);
    assert_int_equal(lg.errors, 0);
    assert_int_equal(lg.infos, 10);
}

static void fatal_and_missing(void **state) {
    (void)state;
    const char *t = "[UNILOG][FATAL][XCOM_OP_NOT_SUPPORT] op Erf is not supported\nTraceback...\n";
    df_vitis_compile_log lg;
    df_error err = {0};
    assert_int_equal(df_vitis_parse_compile_log(t, strlen(t), "c.log", &lg, &err), DF_OK);
    assert_int_equal(lg.errors, 1);
    assert_string_equal(lg.first_error, "[XCOM_OP_NOT_SUPPORT] op Erf is not supported");
    assert_int_equal(lg.device_subgraphs, -1);
    assert_int_equal(lg.dpu_subgraphs, -1);
    assert_int_equal(df_vitis_parse_compile_log("", 0, "c.log", &lg, &err), DF_OK);
    assert_int_equal(lg.device_subgraphs, -1);
}

static void malformed_lines(void **state) {
    (void)state;
    static const char *bad[] = {
        "[UNILOG][INFO] Total device subgraph number five, DPU subgraph number 1\n",
        "[UNILOG][INFO] Total device subgraph number 5, DPU subgraph number\n",
        "[UNILOG][INFO] Total device subgraph number 5 DPU subgraph number 1\n",
        "[UNILOG][INFO] Total device subgraph number 2, DPU subgraph number 3\n",
        "[UNILOG][INFO] Total device subgraph number 99999999999, DPU subgraph number 1\n",
        "[UNILOG][INFO] Total device subgraph number 5, DPU subgraph number 1 (and more)\n",
        "[UNILOG][INFO] Graph name: g, with op num: many\n",
        "[UNILOG][INFO] Graph name: g\n",
        "[UNILOG][INFO] The compiled xmodel's md5sum is 1234, and has been saved to \"x\"\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char t[512];
        snprintf(t, sizeof t, "[UNILOG][INFO] Compile mode: dpu\n%s", bad[i]);
        df_vitis_compile_log lg;
        df_error err = {0};
        assert_int_equal(df_vitis_parse_compile_log(t, strlen(t), "c.log", &lg, &err), DF_EFORMAT);
        assert_non_null(strstr(err.msg, "c.log:2:"));
    }
    /* Not UNILOG lines, or a truncated prefix: skipped, not errors. */
    const char *t = "Total device subgraph number x\n[UNILOG][INFO\n[UNILOG][INFO] something new\n";
    df_vitis_compile_log lg;
    df_error err = {0};
    assert_int_equal(df_vitis_parse_compile_log(t, strlen(t), "c.log", &lg, &err), DF_OK);
    assert_int_equal(lg.device_subgraphs, -1);
}

static void md5sum_file(void **state) {
    (void)state;
    char md5[33];
    df_error err = {0};
    const char *ok1 = "d41d8cd98f00b204e9800998ecf8427e\n";
    const char *ok2 = "D41D8CD98F00B204E9800998ECF8427E  tinybert.xmodel\n";
    assert_int_equal(df_vitis_parse_md5sum(ok1, strlen(ok1), "m", md5, &err), DF_OK);
    assert_string_equal(md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_int_equal(df_vitis_parse_md5sum(ok2, strlen(ok2), "m", md5, &err), DF_OK);
    assert_string_equal(md5, "d41d8cd98f00b204e9800998ecf8427e");
    const char *bad[] = {"", "d41d8cd98f00b204e9800998ecf8427\n", "g41d8cd98f00b204e9800998ecf8427e\n",
                         "d41d8cd98f00b204e9800998ecf8427e0\n"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(df_vitis_parse_md5sum(bad[i], strlen(bad[i]), "md5sum.txt", md5, &err), DF_EFORMAT);
        assert_non_null(strstr(err.msg, "md5sum.txt"));
    }
}

static void meta_json(void **state) {
    (void)state;
    df_vitis_meta m;
    df_error err = {0};
    const char *ok = "{\"target\": \"DPUCZDX8G_ISA1_B4096\", \"lib\": \"libvart-dpu-runner.so\", "
                     "\"filename\": \"t.xmodel\", \"kernel\": [\"subgraph_a\", \"subgraph_b\"]}";
    assert_int_equal(df_vitis_parse_meta(ok, strlen(ok), "meta.json", &m, &err), DF_OK);
    assert_int_equal(m.n_kernels, 2);
    assert_string_equal(m.kernels[1], "subgraph_b");
    assert_string_equal(m.target, "DPUCZDX8G_ISA1_B4096");
    assert_string_equal(m.filename, "t.xmodel");
    df_vitis_meta_free(&m);
    const char *ok2 = "{\"kernels\": [\"k\"]}";
    assert_int_equal(df_vitis_parse_meta(ok2, strlen(ok2), "meta.json", &m, &err), DF_OK);
    assert_int_equal(m.n_kernels, 1);
    df_vitis_meta_free(&m);
    const char *bad[] = {"{", "[]", "{\"kernel\": \"k\"}", "{\"kernel\": [1]}", "{\"kernel\": [\"\"]}",
                         "{\"kernel\": [], \"target\": 3}", "{\"target\": \"x\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(df_vitis_parse_meta(bad[i], strlen(bad[i]), "meta.json", &m, &err), DF_EFORMAT);
        assert_non_null(strstr(err.msg, "meta.json"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vendor_log), cmocka_unit_test(fatal_and_missing), cmocka_unit_test(malformed_lines),
        cmocka_unit_test(md5sum_file), cmocka_unit_test(meta_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
