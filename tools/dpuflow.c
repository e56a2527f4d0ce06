/* dpuflow — the command line. Thin: it parses arguments and calls the library. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Verbs that later modules add: weak, so the CLI links before their cmd_<verb>.c exists and
 * says "not available in this build" instead. */
#define DF_WEAK_VERB(fn) __attribute__((weak)) int fn(int argc, char **argv);
DF_WEAK_VERB(df_cmd_export)
DF_WEAK_VERB(df_cmd_calibrate)
DF_WEAK_VERB(df_cmd_quantize)
DF_WEAK_VERB(df_cmd_validate)
DF_WEAK_VERB(df_cmd_compile)
DF_WEAK_VERB(df_cmd_register)
DF_WEAK_VERB(df_cmd_registry)
DF_WEAK_VERB(df_cmd_build)
DF_WEAK_VERB(df_cmd_serve)
DF_WEAK_VERB(df_cmd_bench)

typedef struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} verb;

static const verb verbs[] = {
    {"build", df_cmd_build, "model.json -> export, check, calibrate, quantize, validate, compile, register"},
    {"export", df_cmd_export, "Hugging Face checkpoint -> static ONNX + metadata.json"},
    {"calibrate", df_cmd_calibrate, "tokenize a corpus into calib_data.npz"},
    {"quantize", df_cmd_quantize, "FP32 ONNX + calibration data -> QDQ INT8 deploy_model.onnx"},
    {"validate", df_cmd_validate, "FP32 vs INT8: cosine, top-1 agreement, per-layer error"},
    {"compile", df_cmd_compile, "optimize and package for a target (cpu, fpga)"},
    {"register", df_cmd_register, "add a compiled model to model_registry.json"},
    {"registry", df_cmd_registry, "list, show, disable, enable, remove, check registry entries"},
    {"serve", df_cmd_serve, "serve the registry's models over HTTP"},
    {"bench", df_cmd_bench, "load generator against a running server"},
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
        if (verbs[i].fn) fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].summary);
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
        if (!strcmp(argv[1], verbs[i].name)) {
            if (!verbs[i].fn) {
                fprintf(stderr, "dpuflow: '%s' is not available in this build yet\n", argv[1]);
                return DF_EXIT_FAIL;
            }
            return verbs[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "dpuflow: unknown verb '%s'\n", argv[1]);
    usage(stderr);
    return DF_EXIT_USAGE;
}
