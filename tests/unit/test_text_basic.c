/* Tokenizers on the in-repo fixtures (tests/fixtures/text): WordPiece rules, Unigram against
 * sentencepiece's own output, encode framing, and bad input. Needs nothing from ../shared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "dpuflow/text.h"

#define FIX DF_SOURCE_DIR "/tests/fixtures/text/"

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static df_tokenizer *load_vocab(df_text_case cs) {
    df_tokenizer_opts o = {.casing = cs};
    df_tokenizer *t = NULL;
    df_error err = {0};
    df_status s = df_tokenizer_load_vocab(FIX "tiny-vocab.txt", &o, &t, &err);
    if (s) print_error("%s\n", err.msg);
    assert_int_equal(s, DF_OK);
    return t;
}

/* Tokenizes text (len -1 = strlen) and compares with the expected ids, -1 terminated. */
static void expect_ids(const df_tokenizer *t, const char *text, long len, const int64_t *want) {
    df_tokens *toks = NULL;
    df_error err = {0};
    size_t n = len < 0 ? strlen(text) : (size_t)len;
    df_status s = df_tokenizer_tokenize(t, text, n, &toks, &err);
    if (s) print_error("%s\n", err.msg);
    assert_int_equal(s, DF_OK);
    size_t k = 0;
    while (want[k] >= 0) k++;
    if (toks->count != k) {
        print_error("\"%s\": got %zu tokens:", text, toks->count);
        for (size_t i = 0; i < toks->count; i++) print_error(" %lld:%s", (long long)toks->ids[i], toks->pieces[i]);
        print_error("\n");
    }
    assert_int_equal(toks->count, k);
    for (size_t i = 0; i < k; i++) assert_int_equal(toks->ids[i], want[i]);
    df_tokens_free(toks);
}

#define IDS(...) ((const int64_t[]){__VA_ARGS__, -1})
#define NONE ((const int64_t[]){-1})

static void test_wordpiece_rules(void **state) {
    (void)state;
    df_tokenizer *t = load_vocab(DF_TEXT_CASE_AUTO);
    /* 39 lines: the U+2028 line (id 6) is a token, not a line break; "hello\r" is "hello". */
    assert_int_equal(df_tokenizer_vocab_size(t), 39);
    assert_int_equal(df_tokenizer_piece_to_id(t, "hello", 5), 7);
    assert_int_equal(df_tokenizer_piece_to_id(t, "Dog", 3), 38);
    assert_true(df_tokenizer_lowercases(t)); /* one cased token is not a cased vocab */
    expect_ids(t, "Hello, World!", -1, IDS(7, 18, 8, 20));
    expect_ids(t, "unaffable", -1, IDS(9, 10, 11));
    expect_ids(t, "unaffed running", -1, IDS(9, 10, 12, 13, 14));
    expect_ids(t, "unaffabled", -1, IDS(2)); /* greedy: ##able leaves "d", no backtracking */
    expect_ids(t, "xyz unaffx", -1, IDS(2, 2));       /* partial match -> one [UNK] per word */
    expect_ids(t, "你好中国人", -1, IDS(28, 29, 25, 26, 27)); /* CJK split per character */
    expect_ids(t, "123", -1, IDS(33, 34));
    expect_ids(t, "Café's DOG", -1, IDS(35, 22, 2, 37)); /* accents stripped, ' splits */
    expect_ids(t, "hel\x01lo hel\xEF\xBF\xBDlo", -1, IDS(7, 7)); /* controls and U+FFFD dropped */
    expect_ids(t, "hel\0lo", 6, IDS(7));                   /* NUL dropped */
    expect_ids(t, "\xE2\x80\xA8 \t\r\n\xE3\x80\x80", -1, NONE); /* U+2028, ideographic space */
    expect_ids(t, "", 0, NONE);
    expect_ids(t, "(a)", -1, IDS(23, 16, 24));
    expect_ids(t, "$", -1, IDS(2)); /* ASCII symbol counts as punctuation, unknown piece */
    /* 100 characters: a + 99 x ##b; 101: [UNK] */
    char w[128];
    w[0] = 'a';
    memset(w + 1, 'b', 100);
    int64_t want[102];
    want[0] = 16;
    for (int i = 1; i < 100; i++) want[i] = 17;
    want[100] = -1;
    expect_ids(t, w, 100, want);
    expect_ids(t, w, 101, IDS(2));
    df_tokenizer_free(t);

    t = load_vocab(DF_TEXT_CASE_KEEP);
    assert_false(df_tokenizer_lowercases(t));
    expect_ids(t, "Dog dog Hello", -1, IDS(38, 37, 2));
    expect_ids(t, "Café", -1, IDS(2));
    df_tokenizer_free(t);
}

static void test_encode_framing(void **state) {
    (void)state;
    df_tokenizer *t = load_vocab(DF_TEXT_CASE_AUTO);
    df_error err = {0};
    int64_t ids[8], mask[8], ty[8];
    size_t n = 99;
    assert_int_equal(df_tokenizer_encode(t, "hello world", 11, 8, ids, mask, ty, &n, &err), DF_OK);
    const int64_t e1[8] = {3, 7, 8, 4, 0, 0, 0, 0}, m1[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    assert_memory_equal(ids, e1, sizeof e1);
    assert_memory_equal(mask, m1, sizeof m1);
    for (int i = 0; i < 8; i++) assert_int_equal(ty[i], 0);
    assert_int_equal(n, 4);
    /* truncation keeps the first max_len - 2 tokens */
    assert_int_equal(df_tokenizer_encode(t, "hello world hello world", 23, 4, ids, mask, NULL, &n, &err), DF_OK);
    const int64_t e2[4] = {3, 7, 8, 4};
    assert_memory_equal(ids, e2, sizeof e2);
    assert_int_equal(n, 4);
    assert_int_equal(df_tokenizer_encode(t, "hello", 5, 2, ids, NULL, NULL, &n, &err), DF_OK);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 4);
    /* max_len 0: count only, no specials */
    assert_int_equal(df_tokenizer_encode(t, "hello world !", 13, 0, NULL, NULL, NULL, &n, &err), DF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(df_tokenizer_encode(t, "hello", 5, 1, ids, NULL, NULL, &n, &err), DF_EINVAL);
    /* raw ids with a short buffer still report the full count */
    size_t got, total;
    assert_int_equal(df_tokenizer_ids(t, NULL, "hello world hello", 17, ids, 2, &got, &total, &err), DF_OK);
    assert_int_equal(got, 2);
    assert_int_equal(total, 3);
    /* a reused workspace gives the same answers, short and long inputs interleaved */
    df_tokenizer_ws *ws = df_tokenizer_ws_new();
    assert_non_null(ws);
    char big[5000];
    for (size_t i = 0; i + 6 <= sizeof big; i += 6) memcpy(big + i, "hello ", 6);
    for (int r = 0; r < 3; r++) {
        assert_int_equal(df_tokenizer_encode_ws(t, ws, big, sizeof big - 2, 8, ids, mask, NULL, &n, &err), DF_OK);
        assert_int_equal(n, 8);
        assert_int_equal(ids[7], 4);
        assert_int_equal(df_tokenizer_encode_ws(t, ws, "hello world", 11, 8, ids, mask, ty, &n, &err), DF_OK);
        assert_memory_equal(ids, e1, sizeof e1);
    }
    df_tokenizer_ws_free(ws);
    df_tokenizer_free(t);
}

static void test_invalid_utf8(void **state) {
    (void)state;
    df_tokenizer *t = load_vocab(DF_TEXT_CASE_AUTO);
    df_tokenizer *u = NULL;
    df_error err = {0};
    assert_int_equal(df_tokenizer_load_spm(FIX "tiny.model", NULL, &u, &err), DF_OK);
    static const char *bad[] = {"ab\xff" "cd", "ab\xC0\x80", "ab\xED\xA0\x80", "ab\xF4\x90\x80\x80", "ab\xE4\xB8"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        df_tokens *tk = NULL;
        int64_t ids[8];
        size_t n;
        assert_int_equal(df_tokenizer_tokenize(t, bad[i], strlen(bad[i]), &tk, &err), DF_EINVAL);
        assert_non_null(strstr(err.msg, "byte offset 2"));
        assert_null(tk);
        assert_int_equal(df_tokenizer_encode(u, bad[i], strlen(bad[i]), 8, ids, NULL, NULL, &n, &err), DF_EINVAL);
        assert_non_null(strstr(err.msg, "byte offset 2"));
    }
    df_tokenizer_free(t);
    df_tokenizer_free(u);
}

typedef struct spm_ctx {
    df_tokenizer *tok;
    bool hf; /* tokenizer.json flavour: skip texts where HF and sentencepiece differ */
    size_t total, ok;
} spm_ctx;

static void spm_line(json_t *j, spm_ctx *c) {
    const char *text = json_string_value(json_object_get(j, "text"));
    size_t len = json_string_length(json_object_get(j, "text"));
    json_t *pieces = json_object_get(j, "pieces"), *ids = json_object_get(j, "ids");
    /* Hugging Face keeps a leading/trailing space as a "▁" token; sentencepiece drops it. */
    if (c->hf && (len == 0 || text[0] == ' ' || text[len - 1] == ' ')) return;
    c->total++;
    df_tokens *t = NULL;
    df_error err = {0};
    assert_int_equal(df_tokenizer_tokenize(c->tok, text, len, &t, &err), DF_OK);
    bool ok = t->count == json_array_size(ids);
    for (size_t i = 0; ok && i < t->count; i++)
        ok = t->ids[i] == json_integer_value(json_array_get(ids, i)) &&
             !strcmp(t->pieces[i], json_string_value(json_array_get(pieces, i)));
    if (ok) {
        c->ok++;
    } else {
        print_error("MISMATCH \"%s\":", text);
        for (size_t i = 0; i < t->count; i++) print_error(" %lld:%s", (long long)t->ids[i], t->pieces[i]);
        print_error("\n");
    }
    df_tokens_free(t);
}

static void run_spm_vectors(spm_ctx *c) {
    FILE *f = fopen(FIX "tiny-spm.jsonl", "rb");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        spm_line(j, c);
        json_decref(j);
    }
    free(line);
    fclose(f);
}

static void test_unigram_fixture(void **state) {
    (void)state;
    df_error err = {0};
    spm_ctx c = {0};
    assert_int_equal(df_tokenizer_load(FIX "tiny.model", NULL, &c.tok, &err), DF_OK);
    run_spm_vectors(&c);
    print_message("tiny.model: %zu/%zu match sentencepiece\n", c.ok, c.total);
    assert_int_equal(c.ok, c.total);
    int64_t ids[6], mask[6];
    size_t n;
    assert_int_equal(df_tokenizer_encode(c.tok, "hello world", 11, 6, ids, mask, NULL, &n, &err), DF_OK);
    const int64_t e[6] = {2, 50, 35, 3, 0, 0}, m[6] = {1, 1, 1, 1, 0, 0};
    assert_memory_equal(ids, e, sizeof e);
    assert_memory_equal(mask, m, sizeof m);
    /* sentencepiece: "a\0b" -> ▁ a \0 b, the NUL an unknown piece of length 1 */
    df_tokens *tk = NULL;
    assert_int_equal(df_tokenizer_tokenize(c.tok, "a\0b", 3, &tk, &err), DF_OK);
    assert_int_equal(tk->count, 4);
    const int64_t nul_ids[4] = {299, 294, 1, 278};
    assert_memory_equal(tk->ids, nul_ids, sizeof nul_ids);
    assert_int_equal(tk->lens[2], 1);
    assert_int_equal(tk->pieces[2][0], 0);
    df_tokens_free(tk);
    df_tokenizer_free(c.tok);

    spm_ctx h = {.hf = true};
    assert_int_equal(df_tokenizer_load(FIX "tiny-unigram.json", NULL, &h.tok, &err), DF_OK);
    assert_int_equal(df_tokenizer_kind_of(h.tok), DF_TOKENIZER_UNIGRAM);
    run_spm_vectors(&h);
    print_message("tiny-unigram.json: %zu/%zu match sentencepiece\n", h.ok, h.total);
    assert_int_equal(h.ok, h.total);
    expect_ids(h.tok, "hello ", -1, IDS(50, 299)); /* Metaspace keeps the trailing ▁ */
    expect_ids(h.tok, "a\0b", 3, IDS(299, 294, 1, 278));
    df_tokenizer_specials sp = df_tokenizer_get_specials(h.tok);
    assert_int_equal(sp.cls, 2);
    assert_int_equal(sp.sep, 3);
    assert_int_equal(sp.pad, 0);
    df_tokenizer_free(h.tok);
}

static void expect_load_error(df_status (*fn)(const void *, size_t, const char *, const df_tokenizer_opts *,
                                              df_tokenizer **, df_error *),
                              const char *data, df_status want, const char *needle) {
    df_tokenizer *t = (df_tokenizer *)1;
    df_error err = {0};
    df_status s = fn(data, strlen(data), "fixture.x", NULL, &t, &err);
    if (s != want || !strstr(err.msg, needle)) print_error("input %.60s -> %d %s\n", data, s, err.msg);
    assert_int_equal(s, want);
    assert_null(t);
    assert_non_null(strstr(err.msg, needle));
}

static void test_bad_vocab_and_json(void **state) {
    (void)state;
    expect_load_error(df_tokenizer_load_vocab_mem, "", DF_EFORMAT, "fixture.x: empty vocabulary");
    expect_load_error(df_tokenizer_load_vocab_mem, "[PAD]\n[CLS]\nhello\n", DF_EFORMAT, "fixture.x: vocabulary has no [UNK]");
    expect_load_error(df_tokenizer_load_vocab_mem, "[UNK]\nok\nb\xffsd\n", DF_EFORMAT, "fixture.x:3");
    expect_load_error(df_tokenizer_load_json_mem, "{", DF_EFORMAT, "fixture.x:1:");
    expect_load_error(df_tokenizer_load_json_mem, "[]", DF_EFORMAT, "no \"model\"");
    expect_load_error(df_tokenizer_load_json_mem, "{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}", DF_EUNSUPPORTED, "BPE");
    expect_load_error(df_tokenizer_load_json_mem, "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", DF_EFORMAT,
                      "unk_token \"[UNK]\"");
    expect_load_error(df_tokenizer_load_json_mem,
                      "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"a\":99999999}}}", DF_EFORMAT,
                      "model.vocab[\"a\"]");
    expect_load_error(df_tokenizer_load_json_mem, "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":\"x\"}}}",
                      DF_EFORMAT, "model.vocab[\"[UNK]\"]");
    expect_load_error(df_tokenizer_load_json_mem,
                      "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0}},"
                      "\"normalizer\":{\"type\":\"NFKC\"}}",
                      DF_EUNSUPPORTED, "normalizer type \"NFKC\"");
    expect_load_error(df_tokenizer_load_json_mem, "{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",0]]}}",
                      DF_EFORMAT, "unk_id");
    expect_load_error(df_tokenizer_load_json_mem, "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"a\"]]}}",
                      DF_EFORMAT, "model.vocab[0]");
    expect_load_error(df_tokenizer_load_json_mem,
                      "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0]]},"
                      "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAA\"}}",
                      DF_EFORMAT, "precompiled_charsmap");
    df_tokenizer *t = NULL;
    df_error err = {0};
    assert_int_equal(df_tokenizer_load("/nonexistent/vocab.txt", NULL, &t, &err), DF_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/vocab.txt"));
    /* a minimal valid WordPiece tokenizer.json */
    const char *ok = "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"hi\":3}},"
                     "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":false}}";
    assert_int_equal(df_tokenizer_load_json_mem(ok, strlen(ok), "x", NULL, &t, &err), DF_OK);
    expect_ids(t, "hi Hi", -1, IDS(3, 0));
    df_tokenizer_free(t);
}

static void test_bad_spm(void **state) {
    (void)state;
    size_t len;
    unsigned char *m = slurp(FIX "tiny.model", &len);
    df_tokenizer *t = NULL;
    df_error err = {0};
    assert_int_equal(df_tokenizer_load_spm_mem(m, len, "tiny.model", NULL, &t, &err), DF_OK);
    df_tokenizer_free(t);
    expect_load_error(df_tokenizer_load_spm_mem, "", DF_EFORMAT, "fixture.x: not a SentencePiece model");
    expect_load_error(df_tokenizer_load_spm_mem, "garbage, not a protobuf at all", DF_EFORMAT,
                      "fixture.x: not a SentencePiece model");
    /* Every truncation and every single-byte corruption loads or fails cleanly; a loaded one
     * tokenizes without crashing (the sanitizer build checks the memory side). */
    size_t failed = 0;
    for (size_t cut = 0; cut < len; cut++) {
        df_status s = df_tokenizer_load_spm_mem(m, cut, "cut.model", NULL, &t, &err);
        if (s) {
            failed++;
            assert_null(t);
            assert_non_null(strstr(err.msg, "cut.model"));
            continue;
        }
        df_tokens *tk = NULL;
        assert_int_equal(df_tokenizer_tokenize(t, "hello 世界 ＡＢ", strlen("hello 世界 ＡＢ"), &tk, &err), DF_OK);
        df_tokens_free(tk);
        df_tokenizer_free(t);
    }
    assert_true(failed > len / 2);
    for (size_t i = 0; i < len; i += 3) {
        unsigned char save = m[i];
        m[i] ^= (unsigned char)(0x5A + i);
        if (df_tokenizer_load_spm_mem(m, len, "flip.model", NULL, &t, &err) == DF_OK) {
            df_tokens *tk = NULL;
            df_status s = df_tokenizer_tokenize(t, "hello 世界 ＡＢ ﬁ", strlen("hello 世界 ＡＢ ﬁ"), &tk, &err);
            assert_int_equal(s, DF_OK);
            df_tokens_free(tk);
            df_tokenizer_free(t);
        }
        m[i] = save;
    }
    /* a valid protobuf that is a BPE model */
    static const unsigned char bpe[] = {0x0A, 0x09, 0x0A, 0x05, '<', 'u', 'n', 'k', '>', 0x18, 0x02,
                                        0x12, 0x02, 0x18, 0x02};
    assert_int_equal(df_tokenizer_load_spm_mem(bpe, sizeof bpe, "bpe.model", NULL, &t, &err), DF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "bpe.model"));
    free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wordpiece_rules),  cmocka_unit_test(test_encode_framing),
        cmocka_unit_test(test_invalid_utf8),     cmocka_unit_test(test_unigram_fixture),
        cmocka_unit_test(test_bad_vocab_and_json), cmocka_unit_test(test_bad_spm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
