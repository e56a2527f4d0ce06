/* dpuflow — tokenizers: BERT WordPiece and SentencePiece Unigram.
 *
 * Sources a tokenizer loads from:
 *   vocab.txt       WordPiece, one token a line, id = line index (lines split on '\n' only).
 *   tokenizer.json  Hugging Face tokenizers file, model type "WordPiece" or "Unigram".
 *   *.model         SentencePiece ModelProto, Unigram model type.
 *
 * A loaded tokenizer is immutable: any number of threads may tokenize with it at once, each
 * with its own workspace (df_tokenizer_ws). Input text must be valid UTF-8; anything else is
 * DF_EINVAL naming the byte offset of the first bad byte.
 *
 * Allocation: df_tokenizer_encode_ws allocates only when the workspace is smaller than the
 * current input needs (it grows to the largest input seen, then never again). Workspace size:
 * WordPiece, about 4 x max_input_chars_per_word bytes whatever the input length; Unigram, about
 * 24 bytes per byte of normalized text. Passing a NULL workspace makes one per call.
 *
 * Fidelity: WordPiece matches Hugging Face tokenizers' BertNormalizer + BertPreTokenizer +
 * WordPiece; .model files match the sentencepiece library; Unigram tokenizer.json follows
 * Hugging Face's Precompiled / Replace / Strip normalizers and Metaspace pre-tokenizer.
 * Deliberate differences:
 *   - special-token strings typed in the text ("[SEP]", "<s>") are tokenized as plain text,
 *     never turned into special ids (Hugging Face extracts them first);
 *   - sentencepiece maps ill-formed UTF-8 to U+FFFD; here it is DF_EINVAL;
 *   - .model ids are the model's own: XLM-R's sentencepiece.bpe.model is shifted by one from
 *     the fairseq ids Hugging Face uses, so load XLM-R / BGE-M3 from their tokenizer.json;
 *   - tokenizer.json types other than those named above (BPE, NFKC normalizer, ...) are
 *     refused with DF_EUNSUPPORTED rather than approximated. */
#ifndef DPUFLOW_TEXT_H
#define DPUFLOW_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct df_tokenizer df_tokenizer;
typedef struct df_tokenizer_ws df_tokenizer_ws;

typedef enum df_tokenizer_kind {
    DF_TOKENIZER_WORDPIECE = 1,
    DF_TOKENIZER_UNIGRAM = 2,
} df_tokenizer_kind;

/* Casing for vocab.txt (tokenizer.json and .model files carry their own normalization). */
typedef enum df_text_case {
    /* Lowercase and strip accents unless the vocabulary is cased (10 or more tokens, outside
     * [..] and <..> specials, with a letter that lowercasing changes). That is
     * BertTokenizer(vocab_file)'s default (do_lower_case=True) for every uncased vocab,
     * bert-base-chinese's included, and what Google trained bert-base-chinese, MacBERT, RBT3
     * and bge-small-zh with; a cased vocab (bert-base-cased, multilingual-cased) keeps case. */
    DF_TEXT_CASE_AUTO = 0,
    DF_TEXT_CASE_LOWER,   /* lowercase + strip accents (do_lower_case=True) */
    DF_TEXT_CASE_KEEP,    /* neither (do_lower_case=False; what the Hugging Face hub's
                             bert-base-chinese config asks for: uppercase Latin -> [UNK]) */
} df_text_case;

typedef struct df_tokenizer_opts {
    df_text_case casing;             /* vocab.txt only */
    size_t max_input_chars_per_word; /* WordPiece; 0 = 100 (BERT's) */
} df_tokenizer_opts;

/* Each loader accepts opts == NULL for defaults. */
df_status df_tokenizer_load_vocab(const char *path, const df_tokenizer_opts *opts, df_tokenizer **out,
                                  df_error *err);
df_status df_tokenizer_load_json(const char *path, const df_tokenizer_opts *opts, df_tokenizer **out,
                                 df_error *err);
df_status df_tokenizer_load_spm(const char *path, const df_tokenizer_opts *opts, df_tokenizer **out,
                                df_error *err);
/* Picks the loader: a directory (tokenizer.json, then vocab.txt, then spm.model,
 * sentencepiece.bpe.model), "*.json", "*.model", otherwise vocab.txt. */
df_status df_tokenizer_load(const char *path, const df_tokenizer_opts *opts, df_tokenizer **out, df_error *err);

/* The same from memory; name is used in error messages only. */
df_status df_tokenizer_load_vocab_mem(const void *data, size_t len, const char *name, const df_tokenizer_opts *opts,
                                      df_tokenizer **out, df_error *err);
df_status df_tokenizer_load_json_mem(const void *data, size_t len, const char *name, const df_tokenizer_opts *opts,
                                     df_tokenizer **out, df_error *err);
df_status df_tokenizer_load_spm_mem(const void *data, size_t len, const char *name, const df_tokenizer_opts *opts,
                                    df_tokenizer **out, df_error *err);

void df_tokenizer_free(df_tokenizer *tok);

df_tokenizer_kind df_tokenizer_kind_of(const df_tokenizer *tok);
size_t df_tokenizer_vocab_size(const df_tokenizer *tok);
/* NUL-terminated piece for an id, NULL when out of range. */
const char *df_tokenizer_id_to_piece(const df_tokenizer *tok, int64_t id);
/* Id of a piece, -1 when absent. */
int64_t df_tokenizer_piece_to_id(const df_tokenizer *tok, const char *piece, size_t len);
/* True when the tokenizer lowercases its input (WordPiece) — what AUTO resolved to. */
bool df_tokenizer_lowercases(const df_tokenizer *tok);

typedef struct df_tokenizer_specials {
    int64_t unk; /* always >= 0 */
    int64_t cls; /* [CLS] or <s> (bos); -1 when the model has none */
    int64_t sep; /* [SEP] or </s> (eos); -1 when the model has none */
    int64_t pad; /* [PAD] or <pad>; 0 when the model has none */
} df_tokenizer_specials;
df_tokenizer_specials df_tokenizer_get_specials(const df_tokenizer *tok);

df_tokenizer_ws *df_tokenizer_ws_new(void);
void df_tokenizer_ws_free(df_tokenizer_ws *ws);

/* Tokens of a text with no special tokens: ids and their pieces. For WordPiece a piece is the
 * vocabulary entry ("##ing", "[UNK]"); for Unigram it is the normalized surface ("▁今天"; an
 * unknown run is one piece holding the unknown characters, as sentencepiece returns). */
typedef struct df_tokens {
    size_t count;
    int64_t *ids;
    char **pieces; /* count NUL-terminated strings */
    size_t *lens;  /* their byte lengths (a Unigram unknown run may hold a U+0000) */
} df_tokens;
df_status df_tokenizer_tokenize(const df_tokenizer *tok, const char *text, size_t len, df_tokens **out,
                                df_error *err);
void df_tokens_free(df_tokens *t);

/* Fixed-length model input. ids, mask and type_ids hold max_len entries each (mask and type_ids
 * may be NULL). max_len >= 2: [CLS] text [SEP] (Unigram: bos text eos, ids from the model),
 * the text truncated to max_len - 2 tokens, then padding with the pad id, attention mask 1 for
 * real tokens and 0 for padding, type ids all 0; *n_real = real tokens including specials.
 * max_len == 0: nothing is written; *n_real = the text's token count without specials.
 * max_len == 1 is DF_EINVAL. */
df_status df_tokenizer_encode(const df_tokenizer *tok, const char *text, size_t len, size_t max_len, int64_t *ids,
                              int64_t *mask, int64_t *type_ids, size_t *n_real, df_error *err);
df_status df_tokenizer_encode_ws(const df_tokenizer *tok, df_tokenizer_ws *ws, const char *text, size_t len,
                                 size_t max_len, int64_t *ids, int64_t *mask, int64_t *type_ids, size_t *n_real,
                                 df_error *err);

/* Raw ids without specials or padding into ids[cap]; *n = ids written (the first cap tokens),
 * *total = the text's full token count (may exceed cap). ws may be NULL. */
df_status df_tokenizer_ids(const df_tokenizer *tok, df_tokenizer_ws *ws, const char *text, size_t len, int64_t *ids,
                           size_t cap, size_t *n, size_t *total, df_error *err);

#ifdef __cplusplus
}
#endif
#endif
