/* fpga target: profiles and fingerprints, the bank-depth rule, the cost model's arithmetic on
 * a known layer, MD5 (RFC 1321 test suite) and the DPU's pof2 rounding edge cases. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "compile/fpga.h"
#include "dpuflow/base.h"
#include "dpuflow/quant.h"
#include "ops/int8_dpu.h"

static void test_fingerprint_zcu104(void **state) {
    (void)state;
    df_fpga_profile p;
    df_error err = {0};
    assert_int_equal(df_fpga_profile_get("DPUCZDX8G/ZCU104", &p, &err), DF_OK);
    assert_int_equal(p.arch, 7);
    assert_int_equal(p.pp, 8);
    assert_int_equal(p.icp, 16);
    assert_int_equal(p.ocp, 16);
    assert_int_equal(df_fpga_peak_ops_per_cycle(&p), 4096);
    assert_string_equal(p.dpu, "B4096");
    assert_int_equal(p.cores, 2);
    assert_true(p.clock_mhz == 300.0);
    assert_true(p.fingerprint == 0x101000056010407ull);
    assert_int_equal(df_fpga_profile_get("DPUCZDX8G/ZCU102", &p, &err), DF_OK);
    assert_int_equal(p.cores, 3);
    assert_true(p.clock_mhz == 281.0);
    assert_true(p.fingerprint == 0x101000056010407ull); /* B4096, Vitis AI 3.x arch.json */
    assert_int_equal(df_fpga_profile_get("DPUCZDX8G/KV260", &p, &err), DF_OK);
    assert_int_equal(p.cores, 1);
    assert_true(p.fingerprint == 0x101000016010407ull); /* B4096, the starter kit's 2.5-era IP */
    /* Both decode to the profile's DPU size. */
    df_fpga_profile d;
    assert_int_equal(df_fpga_decode_fingerprint(p.fingerprint, &d, &err), DF_OK);
    assert_int_equal(df_fpga_peak_ops_per_cycle(&d), 4096);
    assert_int_equal(df_fpga_profile_get(NULL, &p, &err), DF_OK);
    assert_string_equal(p.name, "DPUCZDX8G/ZCU104");
    assert_int_not_equal(df_fpga_profile_get("DPUCZDX8G/ZCU999", &p, &err), DF_OK);
    assert_non_null(strstr(err.msg, "ZCU999"));
    /* Every ARCH index decodes to the table; 12..15 are errors. */
    static const int pp[12] = {4, 4, 8, 4, 8, 8, 8, 8, 4, 2, 2, 2}, cp[12] = {8, 10, 8, 12, 10, 12, 14, 16, 4, 6, 8, 4};
    for (int a = 0; a < 16; a++) {
        df_status st = df_fpga_decode_fingerprint(0x1010000560104f0ull | (uint64_t)a, &p, &err);
        if (a >= 12) { assert_int_not_equal(st, DF_OK); continue; }
        assert_int_equal(st, DF_OK);
        assert_int_equal(p.pp, pp[a]);
        assert_int_equal(p.icp, cp[a]);
        assert_int_equal(p.ocp, cp[a]);
    }
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_arch_json(void **state) {
    (void)state;
    char dir[] = "/tmp/df_fpga_archXXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/arch.json", dir);
    df_fpga_profile p;
    df_error err = {0};
    write_file(path, "{\"fingerprint\": \"0x101000056010407\"}");
    assert_int_equal(df_fpga_profile_get(path, &p, &err), DF_OK);
    assert_int_equal(df_fpga_peak_ops_per_cycle(&p), 4096);
    write_file(path, "{\"fingerprint\": \"0x10100005601040c\"}"); /* ARCH 12 */
    assert_int_not_equal(df_fpga_profile_get(path, &p, &err), DF_OK);
    assert_non_null(strstr(err.msg, path));
    write_file(path, "{\"fingerprint\": \"banana\"}");
    assert_int_not_equal(df_fpga_profile_get(path, &p, &err), DF_OK);
    assert_non_null(strstr(err.msg, path));
    write_file(path, "{\"fp\": 1}");
    assert_int_not_equal(df_fpga_profile_get(path, &p, &err), DF_OK);
    assert_non_null(strstr(err.msg, "fingerprint"));
    write_file(path, "{not json");
    assert_int_not_equal(df_fpga_profile_get(path, &p, &err), DF_OK);
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    rmdir(dir);
}

static void test_bank_depth(void **state) {
    (void)state;
    df_fpga_profile p;
    df_error err = {0};
    assert_int_equal(df_fpga_profile_get(NULL, &p, &err), DF_OK);
    assert_true(df_fpga_bank_ok(&p, 1, 1, 312));        /* TinyBERT hidden: 20 banks */
    assert_true(df_fpga_bank_ok(&p, 1, 1, 32768));      /* 2048 exactly */
    assert_false(df_fpga_bank_ok(&p, 1, 1, 32769));     /* 2049 */
    assert_true(df_fpga_bank_ok(&p, 3, 3, 16 * 227));   /* 9 * 227 = 2043 */
    assert_false(df_fpga_bank_ok(&p, 3, 3, 16 * 228));  /* 9 * 228 = 2052 */
}

static void test_conv_cycles(void **state) {
    (void)state;
    df_fpga_profile p;
    df_error err = {0};
    assert_int_equal(df_fpga_profile_get(NULL, &p, &err), DF_OK);
    double u;
    /* 64 pixels x 128 -> 128: whole tiles: 8 * 8 * 8 = 512 cycles, utilization 1. */
    assert_true(df_fpga_conv_cycles(&p, 64, 128, 128, &u) == 512.0);
    assert_true(u == 1.0);
    /* TinyBERT's 312 channels: ceil(312/16) = 20 tiles for 19.5 useful: 97.5% per axis. */
    double c = df_fpga_conv_cycles(&p, 64, 312, 312, &u);
    assert_true(c == 8.0 * 20 * 20);
    assert_true(fabs(u - (312.0 * 312.0) / (320.0 * 320.0)) < 1e-12);
    /* 1 pixel pays for a whole PP tile: utilization 1/8. */
    df_fpga_conv_cycles(&p, 1, 16, 16, &u);
    assert_true(u == 1.0 / 8);
}

static void check_md5(const char *msg, const char *hex) {
    df_md5 m;
    uint8_t d[16];
    char got[33];
    df_md5_init(&m);
    /* Feed in uneven pieces to exercise the buffering. */
    size_t n = strlen(msg), off = 0, step = 1;
    while (off < n) {
        size_t k = n - off < step ? n - off : step;
        df_md5_update(&m, msg + off, k);
        off += k;
        step = step * 3 + 1;
    }
    df_md5_final(&m, d);
    for (int i = 0; i < 16; i++) snprintf(got + 2 * i, 3, "%02x", d[i]);
    assert_string_equal(got, hex);
}

static void test_md5_rfc1321(void **state) {
    (void)state;
    check_md5("", "d41d8cd98f00b204e9800998ecf8427e");
    check_md5("a", "0cc175b9c0f1b6a831c399e269772661");
    check_md5("abc", "900150983cd24fb0d6963f7d28e17f72");
    check_md5("message digest", "f96b697d7cb7938d525a2f31aaf161d0");
    check_md5("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b");
    check_md5("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f");
    check_md5("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
              "57edf4a22be3c955ac49da2e2107b67a");
    char path[] = "/tmp/df_md5XXXXXX", hex[33];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    df_error err = {0};
    assert_int_equal(df_md5_file(path, hex, &err), DF_OK);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
    unlink(path);
}

/* The DPU's rounding: half toward +inf for activations (floor(x + 0.5)), half away from zero
 * for weights, saturation to [-128, 127], and the rounding right shift of requantization. */
static void test_pof2_numerics(void **state) {
    (void)state;
    /* activations at fix 0: the ties */
    assert_int_equal(df_dpu_quantize(0.5f, 0), 1);
    assert_int_equal(df_dpu_quantize(-0.5f, 0), 0);
    assert_int_equal(df_dpu_quantize(1.5f, 0), 2);
    assert_int_equal(df_dpu_quantize(-1.5f, 0), -1);
    /* the same ties at fix 2 (x * 4) */
    assert_int_equal(df_dpu_quantize(0.125f, 2), 1);
    assert_int_equal(df_dpu_quantize(-0.125f, 2), 0);
    assert_int_equal(df_dpu_quantize(-0.375f, 2), -1);
    /* saturation */
    assert_int_equal(df_dpu_quantize(127.5f, 0), 127);
    assert_int_equal(df_dpu_quantize(-128.5f, 0), -128);
    assert_int_equal(df_dpu_quantize(1e30f, 4), 127);
    assert_int_equal(df_dpu_quantize(-1e30f, 4), -128);
    /* the quantizer's exposed versions agree for activations; weights round away from zero */
    assert_int_equal(df_pof2_quant_act(-0.5f, 0), 0);
    assert_int_equal(df_pof2_quant_act(-1.5f, 0), -1);
    assert_int_equal(df_pof2_quant_weight(-0.5f, 0), -1);
    assert_int_equal(df_pof2_quant_weight(0.5f, 0), 1);
    assert_int_equal(df_pof2_quant_weight(-1.5f, 0), -2);
    assert_int_equal(df_pof2_quant_weight(200.0f, 0), 127);
    /* requantization: (acc + 2^(s-1)) >> s, ties toward +inf, saturated */
    assert_int_equal(df_dpu_requant(2, 2), 1);    /* 0.5 -> 1 */
    assert_int_equal(df_dpu_requant(-2, 2), 0);   /* -0.5 -> 0 */
    assert_int_equal(df_dpu_requant(6, 2), 2);    /* 1.5 -> 2 */
    assert_int_equal(df_dpu_requant(-6, 2), -1);  /* -1.5 -> -1 */
    assert_int_equal(df_dpu_requant(1 << 20, 4), 127);
    assert_int_equal(df_dpu_requant(-(1 << 20), 4), -128);
    assert_int_equal(df_dpu_requant(3, -2), 12);  /* a left shift */
    int fix = 0;
    assert_true(df_dpu_fix_of_scale(0.0625f, &fix));
    assert_int_equal(fix, 4);
    assert_false(df_dpu_fix_of_scale(0.1f, &fix));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint_zcu104), cmocka_unit_test(test_arch_json),
        cmocka_unit_test(test_bank_depth),        cmocka_unit_test(test_conv_cycles),
        cmocka_unit_test(test_md5_rfc1321),       cmocka_unit_test(test_pof2_numerics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
