/* WordPiece with bert-base-chinese's vocab (../shared) on mixed Chinese / English / digits /
 * punctuation / full-width / emoji text. Expected tokens in tests/fixtures/text/
 * bert-base-chinese-cases.jsonl were written by bert_ref.py, an independent Python statement of
 * BertTokenizer's algorithm, in both casings: lowercase (our default for this uncased vocab,
 * and how Google trained it) and keep-case (the Hugging Face hub config's do_lower_case=False,
 * under which any capital Latin letter makes its word [UNK]). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>

#include "dpuflow/text.h"

static char g_vocab[4096];

static void test_chinese_cases(void **state) {
    (void)state;
    struct stat st;
    if (stat(g_vocab, &st) != 0) {
        print_message("%s absent: skipping\n", g_vocab);
        skip();
    }
    df_error err = {0};
    df_tokenizer *lower = NULL, *keep = NULL;
    df_tokenizer_opts ko = {.casing = DF_TEXT_CASE_KEEP};
    assert_int_equal(df_tokenizer_load_vocab(g_vocab, NULL, &lower, &err), DF_OK);
    assert_int_equal(df_tokenizer_load_vocab(g_vocab, &ko, &keep, &err), DF_OK);
    assert_int_equal(df_tokenizer_vocab_size(lower), 21128);
    assert_true(df_tokenizer_lowercases(lower));
    /* id 343 is U+2028; the line split must not move the ids after it */
    assert_string_equal(df_tokenizer_id_to_piece(lower, 343), "\xE2\x80\xA8");
    assert_int_equal(df_tokenizer_piece_to_id(lower, "[UNK]", 5), 100);
    assert_int_equal(df_tokenizer_piece_to_id(lower, "##s", 3), 8118);

    FILE *f = fopen(DF_SOURCE_DIR "/tests/fixtures/text/bert-base-chinese-cases.jsonl", "rb");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0, total = 0, ok = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        json_t *text = json_object_get(j, "text"), *toks = json_object_get(j, "tokens"), *ids = json_object_get(j, "ids");
        df_tokenizer *t = json_is_true(json_object_get(j, "lowercase")) ? lower : keep;
        df_tokens *got = NULL;
        assert_int_equal(df_tokenizer_tokenize(t, json_string_value(text), json_string_length(text), &got, &err), DF_OK);
        bool same = got->count == json_array_size(ids);
        for (size_t i = 0; same && i < got->count; i++)
            same = got->ids[i] == json_integer_value(json_array_get(ids, i)) &&
                   !strcmp(got->pieces[i], json_string_value(json_array_get(toks, i)));
        total++;
        if (same) {
            ok++;
        } else {
            print_error("MISMATCH (%s) %s:", t == lower ? "lower" : "keep", json_string_value(text));
            for (size_t i = 0; i < got->count; i++) print_error(" %s", got->pieces[i]);
            print_error("\n");
        }
        df_tokens_free(got);
        json_decref(j);
    }
    free(line);
    fclose(f);
    print_message("bert-base-chinese cases: %zu/%zu match\n", ok, total);
    assert_true(total >= 20);
    assert_int_equal(ok, total);

    /* a classifier input: [CLS] 101 ... [SEP] 102, [PAD] 0 */
    int64_t e[12], m[12];
    size_t n;
    assert_int_equal(df_tokenizer_encode(lower, "今天天气", strlen("今天天气"), 12, e, m, NULL, &n, &err), DF_OK);
    const int64_t want[12] = {101, 791, 1921, 1921, 3698, 102, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(e, want, sizeof want);
    assert_int_equal(n, 6);
    df_tokenizer_free(lower);
    df_tokenizer_free(keep);
}

int main(void) {
    const char *env = getenv("DF_SHARED_DIR");
    snprintf(g_vocab, sizeof g_vocab, "%s/data/vocab/bert-base-chinese/vocab.txt", env && *env ? env : DF_SHARED_DIR);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_chinese_cases)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
