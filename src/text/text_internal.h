/* Internals shared by the tokenizer sources. */
#ifndef DF_TEXT_INTERNAL_H
#define DF_TEXT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"
#include "dpuflow/text.h"

/* SentencePiece piece types (ModelProto.SentencePiece.Type). */
enum { PT_NORMAL = 1, PT_UNKNOWN = 2, PT_CONTROL = 3, PT_USER = 4, PT_UNUSED = 5, PT_BYTE = 6 };

/* Pieces in one blob, id = index, with an open-addressing hash from bytes to id. */
typedef struct df_vocab {
    char *blob; /* every piece NUL-terminated */
    size_t blob_len, blob_cap;
    uint32_t *off, *len;
    float *score;
    uint8_t *type;
    size_t n, cap;
    int32_t *slots; /* -1 = empty */
    size_t nslots;
    size_t max_piece_bytes;
} df_vocab;

void vocab_free(df_vocab *v);
/* Appends a piece as the next id. *dup is set to the earlier id of an equal piece or -1. */
df_status vocab_add(df_vocab *v, const char *s, size_t n, float score, uint8_t type, df_error *err);
/* Builds the hash; later duplicates shadow earlier ones (as Python's dict and Rust's HashMap
 * do when a vocab file repeats a line). *first_dup gets the id of the first shadowed repeat
 * or -1. */
df_status vocab_index(df_vocab *v, int64_t *first_dup, df_error *err);
uint64_t vocab_hash_step(uint64_t h, unsigned char c);
#define VOCAB_HASH_INIT 1469598103934665603ULL
int32_t vocab_find_h(const df_vocab *v, const char *s, size_t n, uint64_t h);
int32_t vocab_find(const df_vocab *v, const char *s, size_t n);

/* SentencePiece precompiled charsmap: a Darts-clone double array over the input bytes whose
 * values index NUL-terminated replacements. */
typedef struct df_charsmap {
    uint32_t *units; /* owned copy, host order */
    size_t n_units;
    char *norm; /* owned copy */
    size_t norm_len;
} df_charsmap;

df_status charsmap_parse(df_charsmap *cm, const unsigned char *blob, size_t len, df_error *err);
void charsmap_free(df_charsmap *cm);
/* Longest replacement rule matching a prefix of s; returns the bytes consumed (0 = none) and
 * points *rep / *rep_len at the replacement. */
size_t charsmap_lookup(const df_charsmap *cm, const unsigned char *s, size_t n, const char **rep, size_t *rep_len);

struct df_tokenizer {
    df_tokenizer_kind kind;
    df_vocab v;
    int64_t unk_id, cls_id, sep_id, pad_id;

    /* WordPiece */
    bool clean_text, chinese_chars, strip_accents, lowercase;
    char prefix[16];
    size_t prefix_len;
    size_t max_chars_per_word;

    /* Unigram */
    df_charsmap cm;
    bool has_cm;
    bool add_dummy_prefix, remove_extra_ws, escape_ws;
    bool hf_style;     /* tokenizer.json: split at each ▁, no leading-space skip */
    bool hf_collapse;  /* Replace(" {2,}", " ") */
    bool hf_strip_l, hf_strip_r;
    bool hf_nfkc;
    bool f32_scores;   /* sum path scores in float, as sentencepiece does */
    float min_score, max_score;
    int32_t *user_ids; /* USER_DEFINED pieces, matched verbatim before normalization */
    size_t n_user;
    size_t max_user_bytes;
    uint8_t user_first[32]; /* bitmap of their first bytes */
    bool byte_fallback;
    int32_t byte_ids[256];
};

struct df_tokenizer_ws {
    unsigned char *buf; /* normalized text or the current word */
    size_t buf_cap;
    void *lat; /* Unigram lattice */
    size_t lat_cap;
    int32_t *tmp;
    size_t tmp_cap;
    unsigned char *buf2;
    size_t buf2_cap;
};

/* Where tokens go: a bounded id array (encode) and optionally growing piece storage (tokenize). */
typedef struct tok_sink {
    int64_t *ids;
    size_t cap;       /* ids capacity */
    size_t n;         /* tokens seen (counts past cap unless stop_when_full) */
    bool stop_when_full;
    bool want_pieces;
    int64_t *dids;
    size_t *poff;
    size_t dcap;
    char *pblob;
    size_t plen, pcap;
    bool oom;
} tok_sink;

/* Returns false when the caller should stop (sink full or out of memory). */
bool sink_emit(tok_sink *s, int64_t id, const char *piece, size_t piece_len);
bool sink_done(const tok_sink *s);

bool ws_reserve(void **p, size_t *cap, size_t need, size_t elem);

/* Decodes one scalar value; returns its length, 0 for ill-formed UTF-8 (overlong, surrogate,
 * beyond U+10FFFF, truncated). */
size_t utf8_dec(const unsigned char *s, size_t n, int32_t *cp);
size_t utf8_enc(int32_t cp, unsigned char *out);

df_status wordpiece_run(const df_tokenizer *tok, df_tokenizer_ws *ws, const unsigned char *text, size_t len,
                        tok_sink *sink, df_error *err);
df_status unigram_run(const df_tokenizer *tok, df_tokenizer_ws *ws, const unsigned char *text, size_t len,
                      tok_sink *sink, df_error *err);
/* Derives min/max score, user-defined list and byte pieces after the vocab is filled. */
df_status unigram_prepare(df_tokenizer *tok, const char *name, df_error *err);

df_status spm_parse(df_tokenizer *tok, const unsigned char *data, size_t len, const char *name, df_error *err);
df_status tokjson_parse(df_tokenizer *tok, const char *data, size_t len, const char *name,
                        const df_tokenizer_opts *opts, df_error *err);
df_status wordpiece_finish(df_tokenizer *tok, const char *name, df_error *err);

#endif
