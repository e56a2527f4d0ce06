/* Shared by the CLI verbs: each tools/cmd_<verb>.c defines df_cmd_<verb>(argc, argv) with
 * argv[0] = the verb. Exit codes: 0 success, 1 failure, 2 usage. */
#ifndef DF_CLI_H
#define DF_CLI_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/status.h"

#define DF_EXIT_OK 0
#define DF_EXIT_FAIL 1
#define DF_EXIT_USAGE 2

int df_cmd_run(int argc, char **argv);
int df_cmd_infer(int argc, char **argv);
int df_cmd_inspect(int argc, char **argv);
int df_cmd_bench_model(int argc, char **argv);
int df_cmd_tokenize(int argc, char **argv);
int df_cmd_check(int argc, char **argv);

static inline int df_cli_fail(const char *verb, const df_error *err) {
    fprintf(stderr, "dpuflow %s: %s\n", verb, err->msg[0] ? err->msg : df_status_str(err->status));
    return DF_EXIT_FAIL;
}

static inline int df_cli_usage(const char *verb, const char *usage, const char *problem) {
    if (problem) fprintf(stderr, "dpuflow %s: %s\n", verb, problem);
    fprintf(stderr, "usage: dpuflow %s %s\n", verb, usage);
    return DF_EXIT_USAGE;
}

static inline int df_cli_help(const char *verb, const char *usage) {
    printf("usage: dpuflow %s %s\n", verb, usage);
    return DF_EXIT_OK;
}

/* Parses a positive int option value; returns -1 when it is not one. */
static inline long df_cli_int(const char *s) {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end || v < 0) return -1;
    return v;
}

#endif
