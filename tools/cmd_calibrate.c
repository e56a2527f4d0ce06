/* dpuflow calibrate --model MODEL.onnx --tokenizer vocab.txt [--corpus FILE] [--samples N] [--seq N]
 *                   --out calib_data.npz [--heldout calib_heldout.npz [--heldout-every 5]] */
#include "cli.h"
#include "dpuflow/quant.h"

static const char *USAGE =
    "--model MODEL.onnx --tokenizer vocab.txt|tokenizer.json [--corpus FILE.txt] [--samples 50] [--seq 64] "
    "--out calib_data.npz [--heldout calib_heldout.npz [--heldout-every 5]]";

int df_cmd_calibrate(int argc, char **argv) {
    const char *model = NULL, *tok = NULL, *corpus = NULL, *out = NULL, *heldout = NULL;
    long samples = 50, seq = 64, every = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) return df_cli_help("calibrate", USAGE);
        bool has = i + 1 < argc;
        if (!strcmp(a, "--model") && has) model = argv[++i];
        else if (!strcmp(a, "--tokenizer") && has) tok = argv[++i];
        else if (!strcmp(a, "--corpus") && has) corpus = argv[++i];
        else if (!strcmp(a, "--out") && has) out = argv[++i];
        else if (!strcmp(a, "--heldout") && has) heldout = argv[++i];
        else if (!strcmp(a, "--samples") && has) {
            if ((samples = df_cli_int(argv[++i])) < 1) return df_cli_usage("calibrate", USAGE, "--samples takes a number >= 1");
        } else if (!strcmp(a, "--seq") && has) {
            if ((seq = df_cli_int(argv[++i])) < 2) return df_cli_usage("calibrate", USAGE, "--seq takes a number >= 2");
        } else if (!strcmp(a, "--heldout-every") && has) {
            if ((every = df_cli_int(argv[++i])) < 2) return df_cli_usage("calibrate", USAGE, "--heldout-every takes a number >= 2");
        } else return df_cli_usage("calibrate", USAGE, "unknown option or missing value");
    }
    if (!model || !tok || !out) return df_cli_usage("calibrate", USAGE, "--model, --tokenizer and --out are required");
    df_error err = {0};
    if (df_calib_build_split(corpus, (int)samples, tok, seq, model, out, heldout, (int)every, &err))
        return df_cli_fail("calibrate", &err);
    printf("calibrate: wrote %s%s%s (%s, seq %ld)\n", out, heldout ? " and " : "", heldout ? heldout : "",
           corpus ? corpus : "built-in corpus", seq);
    return DF_EXIT_OK;
}
