/* base/: sha256 against the FIPS 180-4 / NIST vectors, atomic writes, whole-file reads, maps,
 * clocks and the logger's levels. */
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


static int setup(void **state) {
    (void)state;
    return tmpdir_make("df_base");
}

static int teardown(void **state) {
    (void)state;
    tmpdir_remove();
    return 0;
}

static const char *tmp_path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
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

static void hex_of(const void *data, size_t len, char hex[65]) {
    uint8_t d[32];
    df_sha256(data, len, d);
    df_sha256_hex(d, hex);
}

/* ---- sha256 ----------------------------------------------------------------------------- */

static void test_sha256_vectors(void **state) {
    (void)state;
    char hex[65];
    hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(m896, strlen(m896), hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

    /* A million 'a', fed in uneven pieces so every buffering path runs. */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    df_sha256_ctx c;
    df_sha256_init(&c);
    size_t done = 0, step = 1;
    while (done < 1000000) {
        size_t n = step < 1000000 - done ? step : 1000000 - done;
        df_sha256_update(&c, a + done, n);
        done += n;
        step = step * 7 % 131 + 1;
    }
    uint8_t d[32];
    df_sha256_final(&c, d);
    df_sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    hex_of(a, 1000000, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* Lengths around the 55/56/64-byte padding boundaries, streamed vs one shot. */
static void test_sha256_streaming_matches_oneshot(void **state) {
    (void)state;
    uint8_t msg[300];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 31 + 7);
    for (size_t len = 0; len < sizeof msg; len++) {
        uint8_t one[32], two[32];
        df_sha256(msg, len, one);
        df_sha256_ctx c;
        df_sha256_init(&c);
        for (size_t i = 0; i < len; i++) df_sha256_update(&c, msg + i, 1);
        df_sha256_final(&c, two);
        assert_memory_equal(one, two, 32);
    }
}

static void test_sha256_file(void **state) {
    (void)state;
    df_error err;
    char hex[65];
    assert_int_equal(df_file_write_atomic(tmp_path("abc"), "abc", 3, &err), DF_OK);
    assert_int_equal(df_sha256_file(tmp_path("abc"), hex, &err), DF_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(df_sha256_file(tmp_path("missing"), hex, &err), DF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "missing"));
}

/* ---- files ------------------------------------------------------------------------------ */

static void test_atomic_write_and_replace(void **state) {
    (void)state;
    df_error err;
    const char *p = tmp_path("f.json");
    assert_int_equal(df_file_write_atomic(p, "old", 3, &err), DF_OK);
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(df_file_write_atomic(p, "newer", 5, &err), DF_OK);
    void *buf;
    size_t n;
    assert_int_equal(df_file_read_all(p, &buf, &n, 0, &err), DF_OK);
    assert_int_equal(n, 5);
    assert_string_equal(buf, "newer");
    free(buf);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);  /* a replaced file keeps its permissions */
    assert_int_equal(count_dir_entries(), 1);    /* and no temp file is left behind */

    /* Streamed, then aborted: the old content stays. */
    df_atomic_file *f;
    assert_int_equal(df_atomic_open(p, &f, &err), DF_OK);
    assert_int_equal(df_atomic_write(f, "partial", 7, &err), DF_OK);
    df_atomic_abort(f);
    assert_int_equal(df_file_read_all(p, &buf, &n, 0, &err), DF_OK);
    assert_string_equal(buf, "newer");
    free(buf);
    assert_int_equal(count_dir_entries(), 1);

    assert_int_equal(df_file_write_atomic(tmp_path("nodir/x"), "x", 1, &err), DF_EIO);
    assert_non_null(strstr(err.msg, "nodir/x"));
}

static void test_atomic_write_failure_keeps_old(void **state) {
    (void)state;
    df_error err;
    const char *p = tmp_path("keep");
    assert_int_equal(df_file_write_atomic(p, "old", 3, &err), DF_OK);
    size_t big = 1 << 20;
    char *data = calloc(1, big);
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    df_status st = df_file_write_atomic(p, data, big, &err);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, prev);
    free(data);
    assert_int_equal(st, DF_EIO);
    assert_non_null(strstr(err.msg, "keep"));
    void *buf;
    size_t n;
    assert_int_equal(df_file_read_all(p, &buf, &n, 0, &err), DF_OK);
    assert_string_equal(buf, "old");
    free(buf);
    assert_int_equal(count_dir_entries(), 1);

    if (geteuid() != 0) {  /* root writes into read-only directories anyway */
        assert_int_equal(chmod(g_dir, 0555), 0);
        st = df_file_write_atomic(p, "new", 3, &err);
        chmod(g_dir, 0755);
        assert_int_equal(st, DF_EIO);
        assert_int_equal(df_file_read_all(p, &buf, &n, 0, &err), DF_OK);
        assert_string_equal(buf, "old");
        free(buf);
    }
}

static void test_read_all_limits(void **state) {
    (void)state;
    df_error err;
    void *buf;
    size_t n;
    const char *p = tmp_path("ten");
    assert_int_equal(df_file_write_atomic(p, "0123456789", 10, &err), DF_OK);
    assert_int_equal(df_file_read_all(p, &buf, &n, 10, &err), DF_OK);
    assert_int_equal(n, 10);
    assert_int_equal(((char *)buf)[10], '\0');
    free(buf);
    assert_int_equal(df_file_read_all(p, &buf, &n, 9, &err), DF_ERANGE);
    assert_null(buf);
    assert_non_null(strstr(err.msg, "ten"));
    assert_int_equal(df_file_read_all(tmp_path("none"), &buf, &n, 0, &err), DF_ENOTFOUND);
    assert_int_equal(df_file_read_all(g_dir, &buf, &n, 0, &err), DF_EIO);
    assert_non_null(strstr(err.msg, "directory"));

    assert_int_equal(df_file_write_atomic(tmp_path("empty"), "", 0, &err), DF_OK);
    assert_int_equal(df_file_read_all(tmp_path("empty"), &buf, &n, 0, &err), DF_OK);
    assert_int_equal(n, 0);
    free(buf);

    /* Files whose stat size is 0 are read to the end, and the cap still holds. */
    if (access("/proc/self/status", R_OK) == 0) {
        assert_int_equal(df_file_read_all("/proc/self/status", &buf, &n, 0, &err), DF_OK);
        assert_true(n > 0 && strstr(buf, "Name:"));
        free(buf);
        assert_int_equal(df_file_read_all("/proc/self/status", &buf, &n, 16, &err), DF_ERANGE);
    }
    /* A pipe has no size at all. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "0123456789abcdef", 16), 16);
    close(fds[1]);
    char pipe_path[64];
    snprintf(pipe_path, sizeof pipe_path, "/dev/fd/%d", fds[0]);
    if (access(pipe_path, R_OK) == 0) {
        assert_int_equal(df_file_read_all(pipe_path, &buf, &n, 8, &err), DF_ERANGE);
    }
    close(fds[0]);
}

static void test_mmap(void **state) {
    (void)state;
    df_error err;
    df_file_map m;
    const char *p = tmp_path("m");
    assert_int_equal(df_file_write_atomic(p, "mapped", 6, &err), DF_OK);
    assert_int_equal(df_file_mmap(p, &m, &err), DF_OK);
    assert_int_equal(m.size, 6);
    assert_memory_equal(m.data, "mapped", 6);
    df_file_munmap(&m);
    assert_null(m.data);
    df_file_munmap(&m);
    assert_int_equal(df_file_write_atomic(p, "", 0, &err), DF_OK);
    assert_int_equal(df_file_mmap(p, &m, &err), DF_OK);
    assert_int_equal(m.size, 0);
    df_file_munmap(&m);
    assert_int_equal(df_file_mmap(tmp_path("none"), &m, &err), DF_ENOTFOUND);
    assert_int_equal(df_file_mmap(g_dir, &m, &err), DF_EIO);
}

/* ---- clocks and log --------------------------------------------------------------------- */

static void test_clocks(void **state) {
    (void)state;
    uint64_t a = df_now_ns();
    uint64_t b = df_now_ns();
    assert_true(b >= a && a > 0);
    char buf[DF_ISO8601_MAX];
    df_wall_iso8601(buf);
    assert_int_equal(strlen(buf), 20);
    assert_true(buf[4] == '-' && buf[7] == '-' && buf[10] == 'T' && buf[13] == ':' && buf[19] == 'Z');
    assert_true(strncmp(buf, "2020", 4) > 0);
}

static void test_log_levels(void **state) {
    (void)state;
    df_error err;
    assert_int_equal(df_log_level_parse("DEBUG"), DF_LOG_DEBUG);
    assert_int_equal(df_log_level_parse("warning"), DF_LOG_WARN);
    assert_int_equal(df_log_level_parse("off"), DF_LOG_OFF);
    assert_int_equal(df_log_level_parse("loud"), -1);
    assert_int_equal(df_log_level_parse(NULL), -1);

    /* Capture stderr to see exactly what reaches it. */
    const char *p = tmp_path("log");
    FILE *cap = fopen(p, "w");
    assert_non_null(cap);
    int saved = dup(2);
    dup2(fileno(cap), 2);
    char huge[5000];
    memset(huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    df_log_set_level(DF_LOG_WARN);
    assert_int_equal(df_log_get_level(), DF_LOG_WARN);
    df_log(DF_LOG_INFO, "not shown %d", 1);
    df_log(DF_LOG_WARN, "shown %d", 42);
    df_log(DF_LOG_ERROR, "%s", huge);
    df_log_set_level(DF_LOG_OFF);
    df_log(DF_LOG_ERROR, "silenced");
    dup2(saved, 2);
    close(saved);
    fclose(cap);
    df_log_set_level(DF_LOG_INFO);

    char *buf;
    size_t n;
    assert_int_equal(df_file_read_all(p, (void **)&buf, &n, 0, &err), DF_OK);
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_int_equal(strlen(buf), 20 + strlen(" WARN shown 42"));
    assert_string_equal(buf + 20, " WARN shown 42");
    char *second = nl + 1;
    nl = strchr(second, '\n');
    assert_non_null(nl);            /* the long line is cut but still ends the line */
    assert_true(nl - second < 2048);
    assert_true(strstr(second, " ERROR xxxx") == second + 20);
    assert_string_equal(nl + 1, ""); /* nothing else was written */
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_streaming_matches_oneshot),
        cmocka_unit_test_setup_teardown(test_sha256_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_write_and_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_write_failure_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_all_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmap, setup, teardown),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test_setup_teardown(test_log_levels, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
