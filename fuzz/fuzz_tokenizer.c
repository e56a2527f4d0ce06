/* Arbitrary bytes as text through WordPiece (vocab.txt, both casings) and Unigram (.model and
 * tokenizer.json) tokenizers built once from tests/fixtures/text (or $DF_TEXT_FIXTURES).
 * The first byte picks the tokenizer, max_len and whether ill-formed UTF-8 is first repaired
 * (so most inputs reach the tokenizers instead of stopping at validation). Checks that
 * encode agrees with tokenize and that framing invariants hold. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/text.h"

static df_tokenizer *g_tok[4];
static df_tokenizer_ws *g_ws;

static void fixture(char *out, size_t cap, const char *name) {
    const char *env = getenv("DF_TEXT_FIXTURES");
    if (env && *env) {
        snprintf(out, cap, "%s/%s", env, name);
        return;
    }
    /* __FILE__ is this source's absolute path under CMake: fuzz/ sits beside tests/. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    snprintf(out, cap, "%s/../tests/fixtures/text/%s", dir, name);
}

static void init(void) {
    char p[8192];
    df_error err = {0};
    df_tokenizer_opts keep = {.casing = DF_TEXT_CASE_KEEP};
    fixture(p, sizeof p, "tiny-vocab.txt");
    if (df_tokenizer_load_vocab(p, NULL, &g_tok[0], &err) || df_tokenizer_load_vocab(p, &keep, &g_tok[1], &err)) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    fixture(p, sizeof p, "tiny.model");
    if (df_tokenizer_load_spm(p, NULL, &g_tok[2], &err)) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    fixture(p, sizeof p, "tiny-unigram.json");
    if (df_tokenizer_load_json(p, NULL, &g_tok[3], &err)) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    g_ws = df_tokenizer_ws_new();
}

/* Replaces each byte that does not start a well-formed sequence with '?'. */
static void repair(unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) ok = (s[i + k] & 0xC0) == 0x80;
        if (ok && len == 3) {
            unsigned c1 = s[i + 1];
            ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);
        }
        if (ok && len == 4) {
            unsigned c1 = s[i + 1];
            ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
        }
        if (!ok) {
            s[i++] = '?';
            continue;
        }
        i += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_ws) init();
    if (size < 1) return 0;
    unsigned sel = data[0];
    df_tokenizer *tok = g_tok[sel & 3];
    size_t max_len = (sel >> 2) & 7 ? ((sel >> 2) & 7) * 5 + 2 : 0;
    size_t n = size - 1;
    unsigned char *text = malloc(n ? n : 1);
    if (!text) return 0;
    memcpy(text, data + 1, n);
    if (sel & 0x20) repair(text, n);

    df_error err = {0};
    df_tokens *toks = NULL;
    df_status s = df_tokenizer_tokenize(tok, (const char *)text, n, &toks, &err);
    int64_t ids[64], mask[64], type_ids[64];
    size_t n_real = 0;
    df_status s2 = df_tokenizer_encode_ws(tok, g_ws, (const char *)text, n, max_len, ids, mask, type_ids, &n_real, &err);
    if ((s == DF_OK) != (s2 == DF_OK)) abort();
    if (s == DF_OK) {
        size_t vocab = df_tokenizer_vocab_size(tok);
        for (size_t i = 0; i < toks->count; i++) {
            if (toks->ids[i] < 0 || (size_t)toks->ids[i] >= vocab) abort();
            if (!toks->pieces[i] || toks->lens[i] == 0 || toks->pieces[i][toks->lens[i]] != '\0') abort();
        }
        if (max_len == 0) {
            if (n_real != toks->count) abort();
        } else {
            size_t k = toks->count < max_len - 2 ? toks->count : max_len - 2;
            df_tokenizer_specials sp = df_tokenizer_get_specials(tok);
            if (n_real != k + 2 || ids[0] != sp.cls || ids[k + 1] != sp.sep) abort();
            for (size_t i = 0; i < k; i++)
                if (ids[i + 1] != toks->ids[i]) abort();
            for (size_t i = 0; i < max_len; i++) {
                if (mask[i] != (i < k + 2) || type_ids[i] != 0) abort();
                if (i >= k + 2 && ids[i] != sp.pad) abort();
            }
        }
        df_tokens_free(toks);
    } else if (s != DF_EINVAL || !strstr(err.msg, "invalid UTF-8 at byte offset")) {
        abort();
    }
    free(text);
    return 0;
}
