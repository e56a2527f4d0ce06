/* Arbitrary bytes as a SentencePiece .model. A model that loads must then tokenize and encode
 * a few fixed texts (its charsmap and pieces come from the input) without fault. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/text.h"

static const char *const texts[] = {
    "hello world", "  今天  天气 ", "ＨＥＬＬＯ　ｗｏｒｌｄ！ﬁ①", "<sep2>x<sep2>", "\t\n", "😀👍🏻 é", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_tokenizer *tok = NULL;
    df_error err = {0};
    if (df_tokenizer_load_spm_mem(data, size, "fuzz.model", NULL, &tok, &err) != DF_OK) {
        if (tok || !strstr(err.msg, "fuzz.model")) abort();
        return 0;
    }
    size_t vocab = df_tokenizer_vocab_size(tok);
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        df_tokens *toks = NULL;
        if (df_tokenizer_tokenize(tok, texts[t], strlen(texts[t]), &toks, &err) != DF_OK) abort();
        for (size_t i = 0; i < toks->count; i++)
            if (toks->ids[i] < 0 || (size_t)toks->ids[i] >= vocab) abort();
        df_tokens_free(toks);
        int64_t ids[16];
        size_t n;
        df_status s = df_tokenizer_encode(tok, texts[t], strlen(texts[t]), 16, ids, NULL, NULL, &n, &err);
        if (s != DF_OK && s != DF_EUNSUPPORTED) abort();
    }
    df_tokenizer_free(tok);
    return 0;
}
