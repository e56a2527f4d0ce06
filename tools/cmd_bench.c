/* dpuflow bench: load a running dpuflow server (loopback only) and report throughput,
 * latency percentiles, errors by status and the server's stage split. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dpuflow/base.h"
#include "dpuflow/observe.h"

int df_cmd_bench(int argc, char **argv);

static const char *USAGE =
    "--url http://127.0.0.1:8080 --task T [--concurrency C] [--duration S] [--rate R [--poisson]]\n"
    "       [--text \"...\" | --texts-file F] [--timeout S] [--out bench.json] [--svg latency.svg]\n"
    "  closed loop (C connections sending back-to-back) unless --rate is given (open loop at R req/s,\n"
    "  latency measured from each request's due time). Only loopback servers are accepted.";

static int write_out(const char *verb, const char *path, const char *text) {
    df_error err = {0};
    if (!text) {
        fprintf(stderr, "dpuflow %s: out of memory writing %s\n", verb, path);
        return DF_EXIT_FAIL;
    }
    if (df_file_write_atomic(path, text, strlen(text), &err)) return df_cli_fail(verb, &err);
    return DF_EXIT_OK;
}

int df_cmd_bench(int argc, char **argv) {
    const char *verb = argv[0];
    df_bench_opts o = {.concurrency = 1, .duration_s = 10};
    const char *text = NULL, *texts_file = NULL, *out = NULL, *svg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return df_cli_help(verb, USAGE);
        if (!strcmp(a, "--poisson")) { o.poisson = true; continue; }
        if (i + 1 >= argc) return df_cli_usage(verb, USAGE, "an option is missing its value");
        const char *v = argv[++i];
        char *end = NULL;
        if (!strcmp(a, "--url")) o.url = v;
        else if (!strcmp(a, "--task")) o.task = v;
        else if (!strcmp(a, "--text")) text = v;
        else if (!strcmp(a, "--texts-file")) texts_file = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--svg")) svg = v;
        else if (!strcmp(a, "--concurrency")) {
            long c = df_cli_int(v);
            if (c < 1 || c > 1024) return df_cli_usage(verb, USAGE, "--concurrency must be 1..1024");
            o.concurrency = (int)c;
        } else if (!strcmp(a, "--duration") || !strcmp(a, "--rate") || !strcmp(a, "--timeout")) {
            double d = strtod(v, &end);
            if (!*v || *end || !(d > 0) || d > 1e7) {
                fprintf(stderr, "dpuflow %s: %s '%s' must be a positive number\n", verb, a, v);
                return DF_EXIT_USAGE;
            }
            if (a[2] == 'd') o.duration_s = d; else if (a[2] == 'r') o.rate = d; else o.timeout_s = d;
        } else {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown option %s", a);
            return df_cli_usage(verb, USAGE, msg);
        }
    }
    if (!o.url) return df_cli_usage(verb, USAGE, "--url is required");
    if (text && texts_file) return df_cli_usage(verb, USAGE, "give --text or --texts-file, not both");

    char *file_buf = NULL;
    const char **texts = NULL;
    size_t n_texts = 0;
    df_error err = {0};
    if (text) {
        texts = malloc(sizeof *texts);
        if (!texts) return DF_EXIT_FAIL;
        texts[n_texts++] = text;
    } else if (texts_file) {
        void *buf = NULL;
        size_t size = 0;
        if (df_file_read_all(texts_file, &buf, &size, 64u << 20, &err)) return df_cli_fail(verb, &err);
        file_buf = buf;
        size_t lines = 1;
        for (size_t i = 0; i < size; i++) lines += file_buf[i] == '\n';
        texts = malloc(lines * sizeof *texts);
        if (!texts) { free(file_buf); return DF_EXIT_FAIL; }
        /* One text per non-empty line. */
        for (char *save = NULL, *line = strtok_r(file_buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save))
            if (*line) texts[n_texts++] = line;
        if (!n_texts) {
            fprintf(stderr, "dpuflow %s: %s: no non-empty lines\n", verb, texts_file);
            free(texts);
            free(file_buf);
            return DF_EXIT_FAIL;
        }
    }
    o.texts = texts;
    o.n_texts = n_texts;

    df_bench_result *r = NULL;
    df_status st = df_bench_run(&o, &r, &err);
    free(texts);
    if (st) {
        free(file_buf);
        return df_cli_fail(verb, &err);
    }
    int rc = DF_EXIT_OK;
    char *summary = df_bench_report_text(r);
    if (summary) fputs(summary, stdout);
    free(summary);
    char *json = df_bench_report_json(r);
    if (out) rc |= write_out(verb, out, json);
    else if (json) fputs(json, stdout);
    free(json);
    if (svg) {
        char *s = df_bench_report_svg(r);
        rc |= write_out(verb, svg, s);
        free(s);
    }
    df_bench_result_free(r);
    free(file_buf);
    return rc ? DF_EXIT_FAIL : DF_EXIT_OK;
}
