/* Runs ONNX's operator conformance tests (Debian's libonnx-testdata) through dpuflow.
 *
 * A test is run when every op of its model is in dpuflow's table; it is skipped, with the
 * reason, when an op, a dtype or a type (sequence, optional) is unsupported. Outputs are
 * compared with ONNX's backend-test tolerances: rtol 1e-3, atol 1e-7 for floating point,
 * exact for integers and bools. Prints "N passed, N failed, N skipped". */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dpuflow/onnx.h"
#include "dpuflow/session.h"
#include "graph/ir.h"
#include "ops/op.h"

#define RTOL 1e-3
#define ATOL 1e-7

typedef struct reason_count {
    char reason[160];
    int count;
} reason_count;

static reason_count reasons[512];
static int n_reasons;

static void count_reason(const char *r) {
    for (int i = 0; i < n_reasons; i++)
        if (!strcmp(reasons[i].reason, r)) {
            reasons[i].count++;
            return;
        }
    if (n_reasons < 512) {
        snprintf(reasons[n_reasons].reason, sizeof reasons[0].reason, "%s", r);
        reasons[n_reasons++].count = 1;
    }
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static double as_double(const df_tensor *t, size_t i) {
    switch (t->dtype) {
    case DF_F32: return ((const float *)t->data)[i];
    case DF_F64: return ((const double *)t->data)[i];
    default: return 0;
    }
}

static int64_t as_int(const df_tensor *t, size_t i) {
    switch (t->dtype) {
    case DF_I64: return ((const int64_t *)t->data)[i];
    case DF_I32: return ((const int32_t *)t->data)[i];
    case DF_I16: return ((const int16_t *)t->data)[i];
    case DF_I8: return ((const int8_t *)t->data)[i];
    case DF_U8: case DF_BOOL: return ((const uint8_t *)t->data)[i];
    case DF_U16: case DF_F16: case DF_BF16: return ((const uint16_t *)t->data)[i];
    case DF_U32: return ((const uint32_t *)t->data)[i];
    case DF_U64: return (int64_t)((const uint64_t *)t->data)[i];
    default: return 0;
    }
}

/* Returns 0 when got matches want; fills why otherwise. */
static int compare(const df_tensor *got, const df_tensor *want, char *why, size_t why_size) {
    char a[128], b[128];
    if (got->dtype != want->dtype) {
        snprintf(why, why_size, "dtype %s, expected %s", df_dtype_name(got->dtype), df_dtype_name(want->dtype));
        return 1;
    }
    if (!df_shape_equal(&got->shape, &want->shape)) {
        snprintf(why, why_size, "shape %s, expected %s", df_shape_str(&got->shape, a, sizeof a),
                 df_shape_str(&want->shape, b, sizeof b));
        return 1;
    }
    size_t n = (size_t)df_shape_numel(&want->shape);
    bool fp = want->dtype == DF_F32 || want->dtype == DF_F64;
    for (size_t i = 0; i < n; i++) {
        if (fp) {
            double x = as_double(got, i), y = as_double(want, i);
            if (isnan(x) && isnan(y)) continue;
            if (isinf(y) && x == y) continue;
            if (!(fabs(x - y) <= ATOL + RTOL * fabs(y))) {
                snprintf(why, why_size, "element %zu is %.9g, expected %.9g", i, x, y);
                return 1;
            }
        } else if (as_int(got, i) != as_int(want, i)) {
            snprintf(why, why_size, "element %zu is %lld, expected %lld", i, (long long)as_int(got, i),
                     (long long)as_int(want, i));
            return 1;
        }
    }
    return 0;
}

typedef enum { T_PASS, T_FAIL, T_SKIP } outcome;

static outcome run_test(const char *dir, char *why, size_t why_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    df_error err = {0};
    df_graph *g = NULL;
    if (df_onnx_load(path, &g, &err)) {
        snprintf(why, why_size, "%s", err.msg);
        return err.status == DF_EUNSUPPORTED ? T_SKIP : T_FAIL;
    }
    /* Which ops are missing decides skip before anything runs. */
    df_graph_resolve_ops(g);
    if (df_graph_check_ops(g, &err)) {
        snprintf(why, why_size, "%s", err.msg);
        df_graph_free(g);
        return T_SKIP;
    }
    int n_in = g->n_inputs, n_out = g->n_outputs;
    char **in_names = calloc((size_t)n_in + 1, sizeof(char *));
    char **out_names = calloc((size_t)n_out + 1, sizeof(char *));
    for (int i = 0; i < n_in; i++) in_names[i] = strdup(g->values[g->inputs[i]].name);
    for (int i = 0; i < n_out; i++) out_names[i] = strdup(g->values[g->outputs[i]].name);
    df_graph_free(g);

    outcome result = T_PASS;
    df_tensor_list inputs = {0};
    df_tensor *expected = calloc((size_t)n_out + 1, sizeof *expected);
    df_session *s = NULL;
    for (int i = 0; i < n_in; i++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, i);
        df_tensor t = {0};
        struct stat sb;
        if (stat(path, &sb) != 0) continue; /* an omitted optional input */
        if (df_onnx_read_tensor(path, &t, NULL, &err)) {
            snprintf(why, why_size, "%s", err.msg);
            result = err.status == DF_EUNSUPPORTED ? T_SKIP : T_FAIL;
            goto done;
        }
        df_tensor_list_add(&inputs, in_names[i], &t, NULL);
        df_tensor_free(&t);
    }
    for (int i = 0; i < n_out; i++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/output_%d.pb", dir, i);
        if (df_onnx_read_tensor(path, &expected[i], NULL, &err)) {
            snprintf(why, why_size, "%s", err.msg);
            result = err.status == DF_EUNSUPPORTED ? T_SKIP : T_FAIL;
            goto done;
        }
    }
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    df_session_opts opts = {.threads = 1, .sample_inputs = &inputs};
    if (df_session_open(path, &opts, &s, &err)) {
        snprintf(why, why_size, "%s", err.msg);
        result = err.status == DF_EUNSUPPORTED ? T_SKIP : T_FAIL;
        goto done;
    }
    size_t ns_in = df_session_input_count(s);
    df_tensor *feed = calloc(ns_in + 1, sizeof *feed);
    for (size_t i = 0; i < ns_in; i++) {
        const char *name;
        df_session_input_info(s, i, &name, NULL, NULL);
        const df_tensor *t = df_tensor_list_find(&inputs, name);
        if (t) feed[i] = *t;
    }
    df_tensor *got = calloc((size_t)n_out + 1, sizeof *got);
    if (df_session_run(s, feed, ns_in, got, (size_t)n_out, &err)) {
        snprintf(why, why_size, "run: %s", err.msg);
        result = err.status == DF_EUNSUPPORTED ? T_SKIP : T_FAIL;
    } else {
        for (int i = 0; i < n_out && result == T_PASS; i++) {
            char detail[512];
            if (compare(&got[i], &expected[i], detail, sizeof detail)) {
                snprintf(why, why_size, "output '%s': %s", out_names[i], detail);
                result = T_FAIL;
            }
        }
    }
    free(feed);
    free(got);
done:
    df_session_close(s);
    df_tensor_list_free(&inputs);
    for (int i = 0; i < n_out; i++) df_tensor_free(&expected[i]);
    free(expected);
    for (int i = 0; i < n_in; i++) free(in_names[i]);
    for (int i = 0; i < n_out; i++) free(out_names[i]);
    free(in_names);
    free(out_names);
    return result;
}

/* Tests listed in expected-failures are reported but do not fail the run; each line there
 * says why. Keep it empty: it is for upstream data bugs, not for our own. */
static int is_expected_failure(const char *name, const char *list_path) {
    FILE *f = list_path ? fopen(list_path, "r") : NULL;
    if (!f) return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *sp = strpbrk(line, " \t\n#");
        if (sp) *sp = '\0';
        if (*line && !strcmp(line, name)) found = 1;
    }
    fclose(f);
    return found;
}

int main(int argc, char **argv) {
    const char *root = NULL, *filter = NULL, *xfail = NULL;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--expected-failures") && i + 1 < argc) xfail = argv[++i];
        else if (!strcmp(argv[i], "-v")) verbose = 1;
        else root = argv[i];
    }
    if (!root) root = "/usr/share/libonnx-testdata/data/node";
    DIR *d = opendir(root);
    if (!d) {
        printf("conformance: %s is absent (install Debian's libonnx-testdata); skipping\n", root);
        return 77;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_", 5)) continue;
        if (filter && !strstr(e->d_name, filter)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            names = realloc(names, cap * sizeof *names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    int passed = 0, failed = 0, skipped = 0, xfailed = 0;
    for (size_t i = 0; i < n; i++) {
        char dir[4096], why[1024] = "";
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        outcome o = run_test(dir, why, sizeof why);
        if (o == T_PASS) {
            passed++;
            if (verbose) printf("PASS %s\n", names[i]);
        } else if (o == T_SKIP) {
            skipped++;
            if (verbose) printf("SKIP %s: %s\n", names[i], why);
            /* Group skip reasons by their first clause so the summary stays short. */
            char key[160];
            const char *colon = strstr(why, "not supported: ");
            const char *after_path = strstr(why, "model.onnx: ");
            if (colon) snprintf(key, sizeof key, "unsupported op %s", colon + 15);
            else snprintf(key, sizeof key, "%s", after_path ? after_path + 12 : why);
            char *paren = strstr(key, " (node");
            if (paren) *paren = '\0';
            /* Drop quoted tensor names so one reason groups every test it applies to. */
            char grouped[160];
            size_t w = 0;
            bool quoted = false;
            for (const char *c = key; *c && w + 1 < sizeof grouped; c++) {
                if (*c == '\'') {
                    quoted = !quoted;
                    if (quoted) grouped[w++] = '*';
                    continue;
                }
                if (!quoted) grouped[w++] = *c;
            }
            grouped[w] = '\0';
            count_reason(grouped);
        } else if (is_expected_failure(names[i], xfail)) {
            xfailed++;
            printf("XFAIL %s: %s\n", names[i], why);
        } else {
            failed++;
            printf("FAIL %s: %s\n", names[i], why);
        }
        free(names[i]);
    }
    free(names);
    printf("\nskip reasons:\n");
    for (int i = 0; i < n_reasons; i++) printf("  %4d  %s\n", reasons[i].count, reasons[i].reason);
    if (xfailed) printf("%d expected failures (listed in %s)\n", xfailed, xfail);
    printf("conformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
