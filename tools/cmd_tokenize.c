/* dpuflow tokenize (--vocab V | --tokenizer T | --spm M) (--text "..." | --file F) [--max-len 64]
 * [--lowercase | --no-lowercase] [--json]: the tokens and ids a model would get.
 * --json prints one line per text: {"tokens":[...],"ids":[...],"attention_mask":[...]}.
 * --max-len N > 0 frames with [CLS]/[SEP] (<s>/</s>) and pads to N; 0 gives the bare tokens. */
#include <jansson.h>

#include "cli.h"
#include "dpuflow/text.h"

static const char *USAGE =
    "(--vocab vocab.txt | --tokenizer tokenizer.json | --spm spm.model) (--text TEXT | --file FILE)\n"
    "       [--max-len 64] [--lowercase | --no-lowercase] [--json]\n"
    "  --max-len 0: no [CLS]/[SEP], no padding; --file: one text per line, one output line each\n"
    "  --lowercase/--no-lowercase: vocab.txt only (default: lowercase unless the vocab is cased)";

static int emit(const df_tokenizer *tok, df_tokenizer_ws *ws, const char *text, size_t len, size_t max_len,
                bool as_json, const char *where, df_error *err) {
    df_tokens *toks = NULL;
    int64_t *ids = NULL, *mask = NULL;
    json_t *root = NULL;
    int rc = DF_EXIT_FAIL;
    if (df_tokenizer_tokenize(tok, text, len, &toks, err)) goto out;
    size_t n = max_len ? max_len : toks->count;
    ids = calloc(n ? n : 1, sizeof *ids);
    mask = calloc(n ? n : 1, sizeof *mask);
    if (!ids || !mask) {
        df_error_set(err, DF_ENOMEM, "out of memory");
        goto out;
    }
    size_t n_real = 0;
    if (max_len) {
        if (df_tokenizer_encode_ws(tok, ws, text, len, max_len, ids, mask, NULL, &n_real, err)) goto out;
    } else {
        for (size_t i = 0; i < n; i++) ids[i] = toks->ids[i], mask[i] = 1;
        n_real = n;
    }
    root = json_object();
    json_t *jt = json_array(), *ji = json_array(), *jm = json_array();
    json_object_set_new(root, "tokens", jt);
    json_object_set_new(root, "ids", ji);
    json_object_set_new(root, "attention_mask", jm);
    for (size_t i = 0; i < n; i++) {
        /* Real text tokens show their surface (Unigram unknowns keep their characters);
         * specials and padding show their vocabulary entry. */
        const char *p;
        size_t pl;
        size_t k = max_len ? i - 1 : i;
        if (!max_len || (i >= 1 && i + 1 < n_real)) {
            p = toks->pieces[k];
            pl = toks->lens[k];
        } else {
            p = df_tokenizer_id_to_piece(tok, ids[i]);
            if (!p) p = "";
            pl = strlen(p);
        }
        json_array_append_new(jt, json_stringn(p, pl));
        json_array_append_new(ji, json_integer(ids[i]));
        json_array_append_new(jm, json_integer(mask[i]));
    }
    if (as_json) {
        char *s = json_dumps(root, JSON_COMPACT);
        if (!s) {
            df_error_set(err, DF_ENOMEM, "cannot format JSON");
            goto out;
        }
        puts(s);
        free(s);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s%s", i ? " " : "", json_string_value(json_array_get(jt, i)));
        /* (a piece holding U+0000 prints up to it; --json shows it whole) */
        printf("\n");
        for (size_t i = 0; i < n; i++) printf("%s%lld", i ? " " : "", (long long)ids[i]);
        printf("\n");
    }
    rc = DF_EXIT_OK;
out:
    if (rc != DF_EXIT_OK && where) df_error_prefix(err, "%s: ", where);
    json_decref(root);
    free(ids);
    free(mask);
    df_tokens_free(toks);
    return rc;
}

int df_cmd_tokenize(int argc, char **argv) {
    const char *vocab = NULL, *tjson = NULL, *spm = NULL, *text = NULL, *file = NULL;
    long max_len = 64;
    bool as_json = false;
    df_tokenizer_opts opts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return df_cli_help("tokenize", USAGE);
        else if (!strcmp(a, "--vocab") && has) vocab = argv[++i];
        else if (!strcmp(a, "--tokenizer") && has) tjson = argv[++i];
        else if (!strcmp(a, "--spm") && has) spm = argv[++i];
        else if (!strcmp(a, "--text") && has) text = argv[++i];
        else if (!strcmp(a, "--file") && has) file = argv[++i];
        else if (!strcmp(a, "--max-len") && has) {
            max_len = df_cli_int(argv[++i]);
            if (max_len < 0 || max_len == 1 || max_len > 1000000)
                return df_cli_usage("tokenize", USAGE, "--max-len takes 0 or a number from 2 to 1000000");
        } else if (!strcmp(a, "--lowercase")) opts.casing = DF_TEXT_CASE_LOWER;
        else if (!strcmp(a, "--no-lowercase")) opts.casing = DF_TEXT_CASE_KEEP;
        else if (!strcmp(a, "--json")) as_json = true;
        else {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown option or missing value: %s", a);
            return df_cli_usage("tokenize", USAGE, msg);
        }
    }
    if ((vocab != NULL) + (tjson != NULL) + (spm != NULL) != 1)
        return df_cli_usage("tokenize", USAGE, "exactly one of --vocab, --tokenizer, --spm is required");
    if ((text != NULL) == (file != NULL))
        return df_cli_usage("tokenize", USAGE, "exactly one of --text, --file is required");
    if (opts.casing != DF_TEXT_CASE_AUTO && !vocab)
        return df_cli_usage("tokenize", USAGE, "--lowercase/--no-lowercase apply to --vocab only");

    df_error err = {0};
    df_tokenizer *tok = NULL;
    df_status st = vocab ? df_tokenizer_load_vocab(vocab, &opts, &tok, &err)
                   : tjson ? df_tokenizer_load_json(tjson, NULL, &tok, &err)
                           : df_tokenizer_load_spm(spm, NULL, &tok, &err);
    if (st) return df_cli_fail("tokenize", &err);
    df_tokenizer_ws *ws = df_tokenizer_ws_new();
    int rc = DF_EXIT_OK;
    if (!ws) {
        df_error_set(&err, DF_ENOMEM, "out of memory");
        rc = df_cli_fail("tokenize", &err);
    } else if (text) {
        if (emit(tok, ws, text, strlen(text), (size_t)max_len, as_json, "--text", &err))
            rc = df_cli_fail("tokenize", &err);
    } else {
        FILE *f = !strcmp(file, "-") ? stdin : fopen(file, "rb");
        if (!f) {
            df_error_set(&err, DF_EIO, "%s: cannot open", file);
            rc = df_cli_fail("tokenize", &err);
        } else {
            char *line = NULL;
            size_t cap = 0, lineno = 0;
            ssize_t k;
            while ((k = getline(&line, &cap, f)) >= 0) {
                lineno++;
                size_t n = (size_t)k;
                if (n && line[n - 1] == '\n') n--;
                if (n && line[n - 1] == '\r') n--;
                char where[4200];
                snprintf(where, sizeof where, "%s:%zu", file, lineno);
                if (emit(tok, ws, line, n, (size_t)max_len, as_json, where, &err)) {
                    rc = df_cli_fail("tokenize", &err);
                    break;
                }
            }
            free(line);
            if (f != stdin) fclose(f);
        }
    }
    fflush(stdout);
    df_tokenizer_ws_free(ws);
    df_tokenizer_free(tok);
    return rc;
}
