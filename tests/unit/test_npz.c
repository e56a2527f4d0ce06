/* .npy / .npz: round trips, files written by numpy (tests/fixtures/npz/make_npz.py), strict
 * header checks, damaged input, and atomic replacement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpuflow/base.h"
#include "dpuflow/tensor.h"

#define FIX DF_SOURCE_DIR "/tests/fixtures/npz/"


static int setup(void **state) {
    (void)state;
    return tmpdir_make("df_npz");
}

static int teardown(void **state) {
    (void)state;
    tmpdir_remove();
    return 0;
}

static const char *tmp_path(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static int count_dir_entries(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void expect_error(df_status st, const df_error *err, df_status want, const char *needle) {
    if (st != want || !strstr(err->msg, needle))
        fail_msg("want status %d with \"%s\", got %d: %s", want, needle, st, err->msg);
}

static void make_tensor(df_tensor *t, df_dtype dt, int rank, const int64_t *dims, unsigned seed) {
    df_shape s = df_shape_make(rank, dims);
    df_error err;
    assert_int_equal(df_tensor_alloc(t, dt, &s, &err), DF_OK);
    uint8_t *b = t->data;
    for (size_t i = 0; i < t->nbytes; i++) b[i] = dt == DF_BOOL ? (uint8_t)((i + seed) % 3 == 0) : (uint8_t)(i * 37 + seed);
}

static void assert_tensor_equal(const df_tensor *a, const df_tensor *b) {
    assert_int_equal(a->dtype, b->dtype);
    assert_true(df_shape_equal(&a->shape, &b->shape));
    assert_int_equal(a->nbytes, b->nbytes);
    if (a->nbytes) assert_memory_equal(a->data, b->data, a->nbytes);
}

static const df_dtype ALL_DTYPES[] = {DF_F32, DF_F64, DF_F16, DF_I8, DF_I16, DF_I32, DF_I64,
                                      DF_U8,  DF_U16, DF_U32, DF_U64, DF_BOOL};
#define N_DTYPES (sizeof ALL_DTYPES / sizeof ALL_DTYPES[0])

/* ---- round trips ------------------------------------------------------------------------ */

static void test_npy_roundtrip_every_dtype(void **state) {
    (void)state;
    const int64_t dims[3] = {2, 3, 5};
    for (size_t k = 0; k < N_DTYPES; k++) {
        for (int rank = 0; rank <= 3; rank++) {
            df_tensor t, back;
            df_error err;
            make_tensor(&t, ALL_DTYPES[k], rank, dims, (unsigned)k);
            const char *p = tmp_path("rt.npy");
            assert_int_equal(df_npy_write(p, &t, &err), DF_OK);
            if (df_npy_read(p, &back, &err) != DF_OK) fail_msg("%s rank %d: %s", df_dtype_name(t.dtype), rank, err.msg);
            assert_tensor_equal(&t, &back);
            /* numpy pads headers so data starts 64-byte aligned; so do we. */
            df_file_map m;
            assert_int_equal(df_file_mmap(p, &m, &err), DF_OK);
            assert_int_equal((m.size - t.nbytes) % 64, 0);
            df_file_munmap(&m);
            df_tensor_free(&t);
            df_tensor_free(&back);
        }
    }
}

static void test_npz_roundtrip_every_dtype(void **state) {
    (void)state;
    df_tensor_list list = {0}, back;
    df_error err;
    char name[32];
    for (size_t k = 0; k < N_DTYPES; k++) {
        df_tensor t;
        const int64_t dims[2] = {4, (int64_t)k + 1};
        make_tensor(&t, ALL_DTYPES[k], 2, dims, (unsigned)k);
        snprintf(name, sizeof name, "t_%s", df_dtype_name(ALL_DTYPES[k]));
        assert_int_equal(df_tensor_list_add(&list, name, &t, &err), DF_OK);
        df_tensor_free(&t);
    }
    df_tensor empty, scalar;
    const int64_t zdims[2] = {0, 7};
    make_tensor(&empty, DF_F32, 2, zdims, 0);
    make_tensor(&scalar, DF_I64, 0, NULL, 9);
    assert_int_equal(df_tensor_list_add(&list, "empty", &empty, &err), DF_OK);
    assert_int_equal(df_tensor_list_add(&list, "dir/scalar", &scalar, &err), DF_OK);

    const char *p = tmp_path("rt.npz");
    assert_int_equal(df_npz_write(p, &list, &err), DF_OK);
    if (df_npz_read(p, &back, &err) != DF_OK) fail_msg("%s", err.msg);
    assert_int_equal(back.count, list.count);
    for (size_t i = 0; i < list.count; i++) {
        assert_string_equal(back.items[i].name, list.items[i].name);
        assert_tensor_equal(&back.items[i].tensor, &list.items[i].tensor);
    }
    /* The same arrays give the same bytes: build caches hash these files. */
    const char *p2 = tmp_path("rt2.npz");
    assert_int_equal(df_npz_write(p2, &list, &err), DF_OK);
    char h1[65], h2[65];
    assert_int_equal(df_sha256_file(p, h1, &err), DF_OK);
    assert_int_equal(df_sha256_file(p2, h2, &err), DF_OK);
    assert_string_equal(h1, h2);
    assert_int_equal(count_dir_entries(), 2);

    /* numpy itself must read what we write, when a numpy is at hand. */
    if (access("/usr/bin/python3", X_OK) == 0 &&
        system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import numpy as np; z = np.load('%s'); "
                 "assert z['t_float32'].shape == (4, 1) and z['t_float32'].dtype == np.float32; "
                 "assert z['t_bool'].dtype == bool and z['empty'].shape == (0, 7); "
                 "assert z['dir/scalar'].shape == () and len(z.files) == %zu\"",
                 p, list.count);
        assert_int_equal(system(cmd), 0);
    }
    df_tensor_list_free(&back);
    df_tensor_list_free(&list);
    df_tensor_free(&empty);
    df_tensor_free(&scalar);
}

static void test_npz_empty_list(void **state) {
    (void)state;
    df_tensor_list list = {0}, back;
    df_error err;
    const char *p = tmp_path("none.npz");
    assert_int_equal(df_npz_write(p, &list, &err), DF_OK);
    assert_int_equal(df_npz_read(p, &back, &err), DF_OK);
    assert_int_equal(back.count, 0);
    df_tensor_list_free(&back);
}

/* ---- files written by numpy ------------------------------------------------------------- */

static void check_f32(const df_tensor *t) {
    assert_int_equal(t->dtype, DF_F32);
    assert_int_equal(t->shape.rank, 2);
    assert_int_equal(t->shape.dims[0], 3);
    assert_int_equal(t->shape.dims[1], 4);
    const float *f = t->data;
    for (int i = 0; i < 12; i++) assert_true(f[i] == (float)i / 4);
}

static void check_i64(const df_tensor *t) {
    const int64_t want[4] = {-3, 0, 7, (int64_t)1 << 40};
    assert_int_equal(t->dtype, DF_I64);
    assert_int_equal(t->shape.rank, 1);
    assert_int_equal(t->shape.dims[0], 4);
    assert_memory_equal(t->data, want, sizeof want);
}

static void test_numpy_savez(void **state) {
    (void)state;
    df_tensor_list l;
    df_error err;
    if (df_npz_read(FIX "savez.npz", &l, &err) != DF_OK) fail_msg("%s", err.msg);
    assert_int_equal(l.count, 7);
    check_f32(df_tensor_list_find(&l, "f32"));
    check_i64(df_tensor_list_find(&l, "i64"));
    const df_tensor *b = df_tensor_list_find(&l, "flags");
    assert_int_equal(b->dtype, DF_BOOL);
    assert_memory_equal(b->data, "\1\0\1", 3);
    const df_tensor *s = df_tensor_list_find(&l, "scalar");
    assert_int_equal(s->dtype, DF_F64);
    assert_int_equal(s->shape.rank, 0);
    assert_true(*(const double *)s->data == 2.5);
    const df_tensor *e = df_tensor_list_find(&l, "empty");
    assert_int_equal(e->dtype, DF_I32);
    assert_int_equal(e->shape.rank, 2);
    assert_int_equal(e->shape.dims[0], 0);
    assert_int_equal(e->nbytes, 0);
    const df_tensor *u = df_tensor_list_find(&l, "u8");
    assert_memory_equal(u->data, "\0\1\2\3\4", 5);
    const df_tensor *h = df_tensor_list_find(&l, "f16");
    const uint16_t half[2] = {0x3E00, 0xC000};  /* 1.5, -2.0 */
    assert_int_equal(h->dtype, DF_F16);
    assert_memory_equal(h->data, half, sizeof half);
    assert_null(df_tensor_list_find(&l, "missing"));
    df_tensor_list_free(&l);
}

static void test_numpy_savez_compressed(void **state) {
    (void)state;
    df_tensor_list l;
    df_error err;
    if (df_npz_read(FIX "compressed.npz", &l, &err) != DF_OK) fail_msg("%s", err.msg);
    assert_int_equal(l.count, 3);
    check_f32(df_tensor_list_find(&l, "f32"));
    check_i64(df_tensor_list_find(&l, "i64"));
    const df_tensor *big = df_tensor_list_find(&l, "big");
    assert_int_equal(big->nbytes, 40000);
    df_tensor_list_free(&l);

    /* The same bytes from memory, and the size cap applied before decompression. */
    void *buf;
    size_t size;
    assert_int_equal(df_file_read_all(FIX "compressed.npz", &buf, &size, 0, &err), DF_OK);
    assert_int_equal(df_npz_parse_buffer(buf, size, 0, &l, &err), DF_OK);
    assert_int_equal(l.count, 3);
    df_tensor_list_free(&l);
    expect_error(df_npz_parse_buffer(buf, size, 10000, &l, &err), &err, DF_ERANGE, "big.npy");
    assert_int_equal(l.count, 0);
    free(buf);
}

static void test_numpy_npy_files(void **state) {
    (void)state;
    df_tensor t;
    df_error err;
    assert_int_equal(df_npy_read(FIX "f32.npy", &t, &err), DF_OK);
    check_f32(&t);
    df_tensor_free(&t);
    if (df_npy_read(FIX "v2.npy", &t, &err) != DF_OK) fail_msg("%s", err.msg);
    check_f32(&t);
    df_tensor_free(&t);

    assert_int_equal(df_npy_read(FIX "big_endian.npy", &t, &err), DF_OK);
    assert_int_equal(t.dtype, DF_I32);
    for (int i = 0; i < 6; i++) assert_int_equal(((int32_t *)t.data)[i], i);
    df_tensor_free(&t);
    assert_int_equal(df_npy_read(FIX "big_endian_f8.npy", &t, &err), DF_OK);
    assert_true(((double *)t.data)[0] == 1.0 && ((double *)t.data)[1] == -0.5);
    df_tensor_free(&t);

    assert_int_equal(df_npy_read(FIX "bool.npy", &t, &err), DF_OK);
    assert_int_equal(t.dtype, DF_BOOL);
    assert_memory_equal(t.data, "\1\0\1", 3);
    df_tensor_free(&t);

    assert_int_equal(df_npy_read(FIX "scalar.npy", &t, &err), DF_OK);
    assert_int_equal(t.shape.rank, 0);
    assert_int_equal(*(int16_t *)t.data, 7);
    df_tensor_free(&t);

    assert_int_equal(df_npy_read(FIX "empty.npy", &t, &err), DF_OK);
    assert_int_equal(t.shape.rank, 2);
    assert_int_equal(t.shape.dims[1], 0);
    assert_int_equal(t.nbytes, 0);
    df_tensor_free(&t);
}

static void test_numpy_rejected(void **state) {
    (void)state;
    df_tensor t;
    df_tensor_list l;
    df_error err;
    expect_error(df_npy_read(FIX "fortran.npy", &t, &err), &err, DF_EUNSUPPORTED, "fortran_order");
    assert_non_null(strstr(err.msg, "fortran.npy"));
    expect_error(df_npy_read(FIX "object.npy", &t, &err), &err, DF_EUNSUPPORTED, "object");
    expect_error(df_npz_read(FIX "fortran.npz", &l, &err), &err, DF_EUNSUPPORTED, "member 'f.npy'");
    expect_error(df_npz_read(FIX "object.npz", &l, &err), &err, DF_EUNSUPPORTED, "member 'obj.npy'");
    assert_non_null(strstr(err.msg, "object"));
    assert_int_equal(l.count, 0);
    assert_null(l.items);
    expect_error(df_npz_read(FIX "not_npy.npz", &l, &err), &err, DF_EFORMAT, "'readme.txt'");
    expect_error(df_npz_read(FIX "truncated.npz", &l, &err), &err, DF_EFORMAT, "truncated.npz");
    expect_error(df_npz_read(FIX "bomb.npz", &l, &err), &err, DF_EFORMAT, "more than deflate can produce");
    /* Found by fuzz_npz: a member whose v1 header is shorter than a v2 preamble. */
    expect_error(df_npz_read(FIX "short_header.npz", &l, &err), &err, DF_EFORMAT, "member 'a.npy'");
    expect_error(df_npz_read(FIX "missing.npz", &l, &err), &err, DF_ENOTFOUND, "missing.npz");
    expect_error(df_npy_read(FIX "missing.npy", &t, &err), &err, DF_ENOTFOUND, "missing.npy");
    expect_error(df_npz_read(FIX "f32.npy", &l, &err), &err, DF_EFORMAT, "f32.npy");
    expect_error(df_npy_read(FIX "savez.npz", &t, &err), &err, DF_EFORMAT, "bad magic");
}

/* ---- strict headers --------------------------------------------------------------------- */

/* An .npy image with the given header dict (padded numpy-style) followed by ndata bytes. */
static size_t build_npy(uint8_t *out, size_t cap, const char *dict, size_t ndata) {
    size_t dl = strlen(dict);
    size_t total = 10 + dl + 1;
    size_t padded = (total + 63) & ~(size_t)63;
    assert_true(padded + ndata <= cap);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (uint8_t)((padded - 10) & 0xff);
    out[9] = (uint8_t)((padded - 10) >> 8);
    memcpy(out + 10, dict, dl);
    memset(out + 10 + dl, ' ', padded - total);
    out[padded - 1] = '\n';
    memset(out + padded, 0x11, ndata);
    return padded + ndata;
}

static df_status parse_dict(const char *dict, size_t ndata, df_error *err) {
    static uint8_t buf[1 << 16];
    size_t n = build_npy(buf, sizeof buf, dict, ndata);
    df_tensor t;
    df_status st = df_npy_parse(buf, n, &t, err);
    df_tensor_free(&t);
    return st;
}

static void test_header_accepts(void **state) {
    (void)state;
    df_error err;
    const char *ok[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{\"shape\": (2,3), \"descr\": \"<f4\", \"fortran_order\": False}",
        "{'descr':'=f4','fortran_order':False,'shape':(6,)}",
        "{'descr': '|f4', 'fortran_order': False, 'shape': (6L,), }",
        "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 6), }",  /* same bytes as C order */
        "{'descr': '<u2', 'fortran_order': False, 'shape': (3, 4, ), }",
    };
    size_t ndata[] = {24, 24, 24, 24, 24, 24};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (parse_dict(ok[i], ndata[i], &err) != DF_OK) fail_msg("%s: %s", ok[i], err.msg);
}

static void test_header_rejects(void **state) {
    (void)state;
    df_error err;
    struct { const char *dict; size_t ndata; df_status st; const char *needle; } bad[] = {
        {"{'descr': '<f4', 'fortran_order': False}", 4, DF_EFORMAT, "no 'shape'"},
        {"{'descr': '<f4', 'shape': ()}", 4, DF_EFORMAT, "no 'fortran_order'"},
        {"{'fortran_order': False, 'shape': ()}", 4, DF_EFORMAT, "no 'descr'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", 4, DF_EFORMAT, "twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}", 4, DF_EFORMAT, "unexpected key 'extra'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3)}", 12, DF_EFORMAT, "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", 12, DF_EFORMAT, "expected a dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 0, DF_ERANGE, "overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", 0, DF_ERANGE, "64 bits"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,)}", 0, DF_ERANGE, "too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 4, DF_EUNSUPPORTED, "dimensions"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)}", 24, DF_EUNSUPPORTED, "fortran_order"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", 24, DF_EFORMAT, "True or False"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': ()}", 8, DF_EUNSUPPORTED, "'<c8'"},
        {"{'descr': '<U3', 'fortran_order': False, 'shape': ()}", 12, DF_EUNSUPPORTED, "'<U3'"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': ()}", 8, DF_EUNSUPPORTED, "object"},
        {"{'descr': 'f4', 'fortran_order': False, 'shape': ()}", 4, DF_EFORMAT, "byte order"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", 4, DF_EUNSUPPORTED, "structured"},
        {"{'descr': '<f\\4', 'fortran_order': False, 'shape': ()}", 4, DF_EFORMAT, "escape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 23, DF_EFORMAT, "need 24"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 25, DF_EFORMAT, "need 24"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': ()} x", 4, DF_EFORMAT, "after the header dict"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': ()}", 4, DF_EFORMAT, "expected ','"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': ()", 4, DF_EFORMAT, "byte"},
        {"['descr']", 4, DF_EFORMAT, "expected '{'"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': ()}", 4, DF_EFORMAT, "expected ':'"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': ()}", 4, DF_EUNSUPPORTED, "'<f4, '"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        df_status st = parse_dict(bad[i].dict, bad[i].ndata, &err);
        if (st != bad[i].st || !strstr(err.msg, bad[i].needle))
            fail_msg("case %zu %s: want %d \"%s\", got %d \"%s\"", i, bad[i].dict, bad[i].st, bad[i].needle, st, err.msg);
    }
}

static void test_preamble_rejects(void **state) {
    (void)state;
    uint8_t buf[256];
    df_tensor t;
    df_error err;
    size_t n = build_npy(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': ()}", 4);
    assert_int_equal(df_npy_parse(buf, n, &t, &err), DF_OK);
    df_tensor_free(&t);
    buf[6] = 4;
    expect_error(df_npy_parse(buf, n, &t, &err), &err, DF_EUNSUPPORTED, "version 4.0");
    buf[6] = 1;
    buf[9] = 0x7f;  /* header length past the end */
    expect_error(df_npy_parse(buf, n, &t, &err), &err, DF_EFORMAT, "cut off");
    buf[9] = 0;
    buf[0] = 'X';
    expect_error(df_npy_parse(buf, n, &t, &err), &err, DF_EFORMAT, "bad magic");
    expect_error(df_npy_parse(buf, 3, &t, &err), &err, DF_EFORMAT, "too short");
    expect_error(df_npy_parse(NULL, 0, &t, &err), &err, DF_EFORMAT, "too short");
    memcpy(buf, "\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
    expect_error(df_npy_parse(buf, n, &t, &err), &err, DF_EFORMAT, "limit");
}

/* ---- damaged input ---------------------------------------------------------------------- */

static void test_every_truncation_fails(void **state) {
    (void)state;
    df_error err;
    const char *files[] = {FIX "f32.npy", FIX "savez.npz", FIX "compressed.npz"};
    for (size_t f = 0; f < 3; f++) {
        void *buf;
        size_t size;
        assert_int_equal(df_file_read_all(files[f], &buf, &size, 0, &err), DF_OK);
        for (size_t n = 0; n < size; n++) {
            /* A private copy of exactly n bytes, so ASan sees any over-read. */
            void *cut = malloc(n ? n : 1);
            memcpy(cut, buf, n);
            df_status st;
            if (f == 0) {
                df_tensor t;
                st = df_npy_parse(cut, n, &t, &err);
            } else {
                df_tensor_list l;
                st = df_npz_parse_buffer(cut, n, 0, &l, &err);
            }
            free(cut);
            if (st == DF_OK) fail_msg("%s cut to %zu bytes was accepted", files[f], n);
        }
        free(buf);
    }
}

static void test_corrupt_bytes_never_crash(void **state) {
    (void)state;
    df_error err;
    void *buf;
    size_t size;
    assert_int_equal(df_file_read_all(FIX "compressed.npz", &buf, &size, 0, &err), DF_OK);
    uint8_t *copy = malloc(size);
    int accepted = 0;
    for (size_t i = 0; i < size; i++) {
        memcpy(copy, buf, size);
        copy[i] ^= 0x5a;
        df_tensor_list l;
        if (df_npz_parse_buffer(copy, size, 0, &l, &err) == DF_OK) accepted++;
        else assert_true(err.msg[0] != '\0');
        df_tensor_list_free(&l);
    }
    /* Flips in the data are caught by the CRC; only metadata like timestamps may pass. */
    assert_true(accepted < (int)size / 4);
    free(copy);
    free(buf);
}

/* ---- atomic replacement ----------------------------------------------------------------- */

static void write_old(const char *p, df_tensor_list *old) {
    df_error err;
    df_tensor t;
    const int64_t d[1] = {8};
    make_tensor(&t, DF_I32, 1, d, 1);
    memset(old, 0, sizeof *old);
    assert_int_equal(df_tensor_list_add(old, "old", &t, &err), DF_OK);
    df_tensor_free(&t);
    assert_int_equal(df_npz_write(p, old, &err), DF_OK);
}

static void assert_still_old(const char *p, const df_tensor_list *old) {
    df_tensor_list l;
    df_error err;
    if (df_npz_read(p, &l, &err) != DF_OK) fail_msg("old file damaged: %s", err.msg);
    assert_int_equal(l.count, 1);
    assert_tensor_equal(&l.items[0].tensor, &old->items[0].tensor);
    df_tensor_list_free(&l);
}

static void test_atomic_write_failure_keeps_old(void **state) {
    (void)state;
    df_error err;
    df_tensor_list old, fresh = {0};
    const char *p = tmp_path("keep.npz");
    write_old(p, &old);

    /* A tensor that cannot be stored fails before anything touches the disk. */
    df_tensor bad;
    const int64_t d[1] = {4};
    make_tensor(&bad, DF_BF16, 1, d, 0);
    assert_int_equal(df_tensor_list_add(&fresh, "ok", &old.items[0].tensor, &err), DF_OK);
    assert_int_equal(df_tensor_list_add(&fresh, "bf", &bad, &err), DF_OK);
    expect_error(df_npz_write(p, &fresh, &err), &err, DF_EUNSUPPORTED, "array 'bf'");
    assert_int_equal(df_npz_write(p, &fresh, NULL), DF_EUNSUPPORTED);  /* err is optional */
    assert_int_equal(df_npy_write(p, &bad, NULL), DF_EUNSUPPORTED);
    assert_still_old(p, &old);
    assert_int_equal(count_dir_entries(), 1);
    df_tensor_list_free(&fresh);
    df_tensor_free(&bad);

    /* A write that fails half way (file size limit, works even as root). */
    df_tensor big;
    const int64_t bd[1] = {1 << 20};
    make_tensor(&big, DF_F32, 1, bd, 3);
    memset(&fresh, 0, sizeof fresh);
    assert_int_equal(df_tensor_list_add(&fresh, "big", &big, &err), DF_OK);
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 65536;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    df_status st_npz = df_npz_write(p, &fresh, &err);
    df_error err2;
    df_status st_npy = df_npy_write(tmp_path("keep.npz"), &big, &err2);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, prev);
    assert_int_equal(st_npz, DF_EIO);
    assert_non_null(strstr(err.msg, "keep.npz"));
    assert_int_equal(st_npy, DF_EIO);
    assert_still_old(p, &old);
    assert_int_equal(count_dir_entries(), 1);

    /* A missing directory is reported with the path. */
    expect_error(df_npz_write(tmp_path("no/such/dir.npz"), &fresh, &err), &err, DF_EIO, "dir.npz");

    /* A read-only directory (root ignores permissions, so only checked as a user). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(g_dir, 0555), 0);
        df_status st = df_npz_write(p, &fresh, &err);
        chmod(g_dir, 0755);
        assert_int_equal(st, DF_EIO);
        assert_still_old(p, &old);
        assert_int_equal(count_dir_entries(), 1);
    }

    /* And then a good write replaces it. */
    assert_int_equal(df_npz_write(p, &fresh, &err), DF_OK);
    df_tensor_list l;
    assert_int_equal(df_npz_read(p, &l, &err), DF_OK);
    assert_tensor_equal(df_tensor_list_find(&l, "big"), &big);
    assert_int_equal(count_dir_entries(), 1);
    df_tensor_list_free(&l);
    df_tensor_list_free(&fresh);
    df_tensor_list_free(&old);
    df_tensor_free(&big);
}

static void test_tensor_list(void **state) {
    (void)state;
    df_tensor_list l = {0};
    df_error err;
    df_tensor t;
    const int64_t d[1] = {3};
    make_tensor(&t, DF_U8, 1, d, 0);
    assert_int_equal(df_tensor_list_add(&l, "a", &t, &err), DF_OK);
    assert_int_equal(df_tensor_list_add(&l, "b", &t, &err), DF_OK);
    expect_error(df_tensor_list_add(&l, "a", &t, &err), &err, DF_EINVAL, "duplicate name 'a'");
    expect_error(df_tensor_list_add(&l, "", &t, &err), &err, DF_EINVAL, "empty name");
    const df_tensor *a = df_tensor_list_find(&l, "a");
    assert_non_null(a);
    assert_ptr_not_equal(a->data, t.data);  /* a deep copy */
    assert_tensor_equal(a, &t);
    assert_null(df_tensor_list_find(&l, "c"));
    df_tensor_list_free(&l);
    assert_int_equal(l.count, 0);
    df_tensor_list_free(&l);
    df_tensor_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_npy_roundtrip_every_dtype, setup, teardown),
        cmocka_unit_test_setup_teardown(test_npz_roundtrip_every_dtype, setup, teardown),
        cmocka_unit_test_setup_teardown(test_npz_empty_list, setup, teardown),
        cmocka_unit_test(test_numpy_savez),
        cmocka_unit_test(test_numpy_savez_compressed),
        cmocka_unit_test(test_numpy_npy_files),
        cmocka_unit_test(test_numpy_rejected),
        cmocka_unit_test(test_header_accepts),
        cmocka_unit_test(test_header_rejects),
        cmocka_unit_test(test_preamble_rejects),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_corrupt_bytes_never_crash),
        cmocka_unit_test_setup_teardown(test_atomic_write_failure_keeps_old, setup, teardown),
        cmocka_unit_test(test_tensor_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
