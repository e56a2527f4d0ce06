/* BERT WordPiece: the BertNormalizer + BertPreTokenizer + WordPiece pipeline of Hugging Face
 * tokenizers, done in one streaming pass over the code points.
 *
 * Where the Python BertTokenizer and the Rust tokenizers differ we follow Rust (the "fast"
 * tokenizer AutoTokenizer returns, and the source of the reference vectors):
 *   - no NFC pass before splitting (Python added one in transformers 4.27);
 *   - strip accents runs before lowercasing, and lowercasing is per character, so a
 *     word-final capital sigma becomes σ, not ς. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/text_internal.h"

#define WORD_HEADROOM 16

static bool is_control(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
        return true;
    default:
        return false;
    }
}

/* Unicode White_Space, which Rust's char::is_whitespace tests. */
static bool is_white(int32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return true;
    if (c < 0x85) return false;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The blocks BERT's _is_chinese_char lists (CJK ideographs, not Hangul or kana). */
static bool is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_punct(int32_t c) {
    /* BERT counts all non-alphanumeric printable ASCII ($, +, ^, ...) as punctuation although
     * Unicode files several under symbols. */
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
    if (c < 128) return false;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return true;
    default:
        return false;
    }
}

typedef struct wp_state {
    const df_tokenizer *tok;
    df_tokenizer_ws *ws;
    tok_sink *sink;
    unsigned char *w; /* word bytes start here; WORD_HEADROOM bytes before it are scratch */
    size_t wlen, wchars;
    size_t wmax; /* bytes storable */
    bool stop;
} wp_state;

static void emit_id(wp_state *st, int32_t id) {
    const df_vocab *v = &st->tok->v;
    if (!sink_emit(st->sink, id, v->blob + v->off[id], v->len[id])) st->stop = true;
}

/* Greedy longest-match-first over the current word; a word with any unmatched rest is one
 * [UNK], as is a word longer than max_chars_per_word characters. */
static void flush_word(wp_state *st) {
    if (st->wlen == 0 && st->wchars == 0) return;
    const df_tokenizer *tok = st->tok;
    size_t n = st->wlen, nch = st->wchars;
    st->wlen = st->wchars = 0;
    if (nch > tok->max_chars_per_word) {
        emit_id(st, (int32_t)tok->unk_id);
        return;
    }
    unsigned char *w = st->w;
    int32_t *sub = st->ws->tmp;
    size_t nsub = 0, start = 0;
    size_t maxb = tok->v.max_piece_bytes;
    while (start < n) {
        size_t pl = start > 0 ? tok->prefix_len : 0;
        unsigned char *key = w + start - pl;
        /* The bytes before start were already matched, so the prefix may overwrite them. */
        if (pl) memcpy(key, tok->prefix, pl);
        size_t end = n;
        if (maxb < pl) break;
        if (end - start > maxb - pl) {
            end = start + (maxb - pl);
            while (end > start && (w[end] & 0xC0) == 0x80) end--;
        }
        int32_t found = -1;
        while (end > start) {
            found = vocab_find(&tok->v, (const char *)key, end - start + pl);
            if (found >= 0) break;
            end--;
            while (end > start && (w[end] & 0xC0) == 0x80) end--;
        }
        if (found < 0) break;
        sub[nsub++] = found;
        start = end;
    }
    if (start < n) {
        emit_id(st, (int32_t)tok->unk_id);
        return;
    }
    for (size_t i = 0; i < nsub && !st->stop; i++) emit_id(st, sub[i]);
}

static void push_cp(wp_state *st, int32_t c) {
    if (c == ' ' || is_white(c)) {
        flush_word(st);
        return;
    }
    if (is_punct(c)) {
        flush_word(st);
        st->wlen = utf8_enc(c, st->w);
        st->wchars = 1;
        flush_word(st);
        return;
    }
    /* Past the per-word limit the word is [UNK] whatever follows: count, stop storing. */
    if (st->wchars < st->tok->max_chars_per_word + 1 && st->wlen + 4 <= st->wmax)
        st->wlen += utf8_enc(c, st->w + st->wlen);
    st->wchars++;
}

static void push_normalized(wp_state *st, int32_t c) {
    const df_tokenizer *tok = st->tok;
    int32_t dec[16];
    size_t nd = 1;
    dec[0] = c;
    if (tok->strip_accents) {
        int bound = 0;
        utf8proc_ssize_t r = utf8proc_decompose_char(c, dec, 16, UTF8PROC_DECOMPOSE, &bound);
        if (r < 1 || r > 16) {
            dec[0] = c;
            r = 1;
        }
        nd = (size_t)r;
    }
    for (size_t i = 0; i < nd && !st->stop; i++) {
        int32_t d = dec[i];
        if (tok->strip_accents && utf8proc_category(d) == UTF8PROC_CATEGORY_MN) continue;
        if (tok->lowercase) {
            if (d == 0x130) { /* İ lowercases to i + combining dot above */
                push_cp(st, 'i');
                push_cp(st, 0x307);
                continue;
            }
            d = utf8proc_tolower(d);
        }
        push_cp(st, d);
    }
}

df_status wordpiece_run(const df_tokenizer *tok, df_tokenizer_ws *ws, const unsigned char *text, size_t len,
                        tok_sink *sink, df_error *err) {
    size_t maxc = tok->max_chars_per_word;
    size_t need = WORD_HEADROOM + (maxc + 2) * 4 + 64;
    if (!ws_reserve((void **)&ws->buf, &ws->buf_cap, need, 1) ||
        !ws_reserve((void **)&ws->tmp, &ws->tmp_cap, maxc + 2, sizeof(int32_t)))
        return df_error_set(err, DF_ENOMEM, "out of memory tokenizing");
    wp_state st = {.tok = tok, .ws = ws, .sink = sink, .w = ws->buf + WORD_HEADROOM};
    st.wmax = ws->buf_cap - WORD_HEADROOM;
    size_t i = 0;
    while (i < len && !st.stop) {
        int32_t c;
        size_t k = utf8_dec(text + i, len - i, &c);
        if (k == 0) return df_error_set(err, DF_EINVAL, "invalid UTF-8 at byte offset %zu", i);
        i += k;
        if (c < 0x80) {
            /* ASCII: no decomposition, marks or ideographs; only case and controls matter. */
            if (tok->clean_text) {
                if (c == '\t' || c == '\n' || c == '\r') c = ' ';
                else if (c < 0x20 || c == 0x7F) continue;
            }
            if (tok->lowercase && c >= 'A' && c <= 'Z') c += 'a' - 'A';
            push_cp(&st, c);
            continue;
        }
        if (tok->clean_text) {
            if (c == 0 || c == 0xFFFD || is_control(c)) continue;
            if (is_white(c)) c = ' ';
        }
        if (tok->chinese_chars && is_cjk(c)) {
            push_cp(&st, ' ');
            push_normalized(&st, c);
            push_cp(&st, ' ');
            continue;
        }
        push_normalized(&st, c);
    }
    if (!st.stop) flush_word(&st);
    if (sink->oom) return df_error_set(err, DF_ENOMEM, "out of memory collecting tokens");
    return DF_OK;
}

/* A cased vocabulary has many tokens with letters that lowercasing changes (bert-base-cased:
 * thousands); an uncased one has none or a stray few, such as bert-base-uncased's "ℝ" (no
 * lowercase form) or bert-base-chinese's "<S>". */
static bool vocab_is_cased(const df_vocab *v) {
    size_t cased = 0;
    for (size_t i = 0; i < v->n; i++) {
        const unsigned char *s = (const unsigned char *)v->blob + v->off[i];
        size_t n = v->len[i];
        if (n >= 2 && ((s[0] == '[' && s[n - 1] == ']') || (s[0] == '<' && s[n - 1] == '>'))) continue;
        for (size_t j = 0; j < n;) {
            int32_t c;
            size_t k = utf8_dec(s + j, n - j, &c);
            if (k == 0) break;
            if (utf8proc_tolower(c) != c) {
                cased++;
                break;
            }
            j += k;
        }
    }
    return cased >= 10;
}

df_status wordpiece_finish(df_tokenizer *tok, const char *name, df_error *err) {
    if (tok->unk_id < 0) {
        int32_t u = vocab_find(&tok->v, "[UNK]", 5);
        if (u < 0) return df_error_set(err, DF_EFORMAT, "%s: vocabulary has no [UNK] token", name);
        tok->unk_id = u;
    }
    if (tok->cls_id < 0) tok->cls_id = vocab_find(&tok->v, "[CLS]", 5);
    if (tok->sep_id < 0) tok->sep_id = vocab_find(&tok->v, "[SEP]", 5);
    if (tok->pad_id < 0) {
        int32_t p = vocab_find(&tok->v, "[PAD]", 5);
        tok->pad_id = p < 0 ? 0 : p;
    }
    if (tok->max_chars_per_word == 0) tok->max_chars_per_word = 100;
    if (tok->max_chars_per_word > 100000)
        return df_error_set(err, DF_ERANGE, "%s: max_input_chars_per_word %zu is too large", name,
                            tok->max_chars_per_word);
    return DF_OK;
}

df_status wordpiece_load_vocab_txt(df_tokenizer *tok, const unsigned char *data, size_t len, const char *name,
                                   const df_tokenizer_opts *opts, df_error *err);
df_status wordpiece_load_vocab_txt(df_tokenizer *tok, const unsigned char *data, size_t len, const char *name,
                                   const df_tokenizer_opts *opts, df_error *err) {
    tok->kind = DF_TOKENIZER_WORDPIECE;
    size_t line = 1;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && data[j] != '\n') j++;
        size_t e = j;
        if (e > i && data[e - 1] == '\r') e--;
        int32_t c;
        for (size_t k = i; k < e;) {
            size_t m = utf8_dec(data + k, e - k, &c);
            if (m == 0)
                return df_error_set(err, DF_EFORMAT, "%s:%zu: invalid UTF-8 at byte %zu of the line", name, line,
                                    k - i);
            k += m;
        }
        df_status s = vocab_add(&tok->v, (const char *)data + i, e - i, 0.0f, PT_NORMAL, err);
        if (s) return df_error_prefix(err, "%s:%zu: ", name, line);
        line++;
        i = j + 1;
    }
    if (tok->v.n == 0) return df_error_set(err, DF_EFORMAT, "%s: empty vocabulary", name);
    df_status s = vocab_index(&tok->v, NULL, err);
    if (s) return s;
    df_text_case cs = opts ? opts->casing : DF_TEXT_CASE_AUTO;
    bool lower = cs == DF_TEXT_CASE_LOWER || (cs == DF_TEXT_CASE_AUTO && !vocab_is_cased(&tok->v));
    tok->lowercase = tok->strip_accents = lower;
    tok->clean_text = tok->chinese_chars = true;
    memcpy(tok->prefix, "##", 3);
    tok->prefix_len = 2;
    tok->max_chars_per_word = opts ? opts->max_input_chars_per_word : 0;
    return wordpiece_finish(tok, name, err);
}
