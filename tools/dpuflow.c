/* dpuflow — the command line. Thin: it parses arguments and calls the library. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} verb;

static const verb verbs[] = {
    {"run", df_cmd_run, "run an ONNX model on .npz inputs, write every output to .npz"},
    {"infer", df_cmd_infer, "tokenize text, run a model, print its outputs"},
    {"check", df_cmd_check, "static check: pin dims, infer shapes, fold constants, write a static ONNX"},
    {"inspect", df_cmd_inspect, "inputs, outputs, op histogram, parameters, checker verdict"},
    {"bench-model", df_cmd_bench_model, "latency of the engine alone on one model"},
    {"tokenize", df_cmd_tokenize, "tokenize text with a vocab.txt, tokenizer.json or SentencePiece model"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: dpuflow <verb> [options]   (dpuflow <verb> --help for its options)\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return DF_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return DF_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("dpuflow 0.1.0\n");
        return DF_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(argv[1], verbs[i].name)) return verbs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "dpuflow: unknown verb '%s'\n", argv[1]);
    usage(stderr);
    return DF_EXIT_USAGE;
}
