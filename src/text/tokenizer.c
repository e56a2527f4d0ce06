/* Public tokenizer API: loading (vocab.txt, tokenizer.json, .model), tokenize and encode. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "text/text_internal.h"

df_status wordpiece_load_vocab_txt(df_tokenizer *tok, const unsigned char *data, size_t len, const char *name,
                                   const df_tokenizer_opts *opts, df_error *err);

#define MAX_FILE_BYTES ((size_t)1 << 30)

static df_status read_file(const char *path, unsigned char **out, size_t *len, df_error *err) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return df_error_set(err, DF_ENOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                free(buf);
                fclose(f);
                return df_error_set(err, DF_ERANGE, "%s: larger than %zu bytes", path, MAX_FILE_BYTES);
            }
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return df_error_set(err, DF_ENOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return df_error_set(err, DF_EIO, "%s: read error", path);
    }
    *out = buf;
    *len = n;
    return DF_OK;
}

static df_tokenizer *tok_new(void) {
    df_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->unk_id = t->cls_id = t->sep_id = t->pad_id = -1;
    return t;
}

void df_tokenizer_free(df_tokenizer *tok) {
    if (!tok) return;
    vocab_free(&tok->v);
    charsmap_free(&tok->cm);
    free(tok->user_ids);
    free(tok);
}

typedef df_status (*mem_loader)(df_tokenizer *, const unsigned char *, size_t, const char *,
                                const df_tokenizer_opts *, df_error *);

static df_status load_spm_impl(df_tokenizer *t, const unsigned char *d, size_t n, const char *name,
                               const df_tokenizer_opts *o, df_error *err) {
    (void)o;
    return spm_parse(t, d, n, name, err);
}
static df_status load_json_impl(df_tokenizer *t, const unsigned char *d, size_t n, const char *name,
                                const df_tokenizer_opts *o, df_error *err) {
    return tokjson_parse(t, (const char *)d, n, name, o, err);
}

static df_status load_mem(mem_loader fn, const void *data, size_t len, const char *name,
                          const df_tokenizer_opts *opts, df_tokenizer **out, df_error *err) {
    if (!out) return df_error_set(err, DF_EINVAL, "tokenizer: NULL output");
    *out = NULL;
    if (!data && len) return df_error_set(err, DF_EINVAL, "tokenizer: NULL data");
    if (!name) name = "<memory>";
    df_tokenizer *t = tok_new();
    if (!t) return df_error_set(err, DF_ENOMEM, "%s: out of memory", name);
    static const unsigned char empty[1] = {0};
    df_status s = fn(t, data ? data : empty, len, name, opts, err);
    if (s) {
        df_tokenizer_free(t);
        return s;
    }
    *out = t;
    return DF_OK;
}

static df_status load_path(mem_loader fn, const char *path, const df_tokenizer_opts *opts, df_tokenizer **out,
                           df_error *err) {
    if (!out) return df_error_set(err, DF_EINVAL, "tokenizer: NULL output");
    *out = NULL;
    if (!path) return df_error_set(err, DF_EINVAL, "tokenizer: NULL path");
    unsigned char *d;
    size_t n;
    df_status s = read_file(path, &d, &n, err);
    if (s) return s;
    s = load_mem(fn, d, n, path, opts, out, err);
    free(d);
    return s;
}

df_status df_tokenizer_load_vocab_mem(const void *data, size_t len, const char *name, const df_tokenizer_opts *opts,
                                      df_tokenizer **out, df_error *err) {
    return load_mem(wordpiece_load_vocab_txt, data, len, name, opts, out, err);
}
df_status df_tokenizer_load_json_mem(const void *data, size_t len, const char *name, const df_tokenizer_opts *opts,
                                     df_tokenizer **out, df_error *err) {
    return load_mem(load_json_impl, data, len, name, opts, out, err);
}
df_status df_tokenizer_load_spm_mem(const void *data, size_t len, const char *name, const df_tokenizer_opts *opts,
                                    df_tokenizer **out, df_error *err) {
    return load_mem(load_spm_impl, data, len, name, opts, out, err);
}
df_status df_tokenizer_load_vocab(const char *path, const df_tokenizer_opts *opts, df_tokenizer **out,
                                  df_error *err) {
    return load_path(wordpiece_load_vocab_txt, path, opts, out, err);
}
df_status df_tokenizer_load_json(const char *path, const df_tokenizer_opts *opts, df_tokenizer **out,
                                 df_error *err) {
    return load_path(load_json_impl, path, opts, out, err);
}
df_status df_tokenizer_load_spm(const char *path, const df_tokenizer_opts *opts, df_tokenizer **out, df_error *err) {
    return load_path(load_spm_impl, path, opts, out, err);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

df_status df_tokenizer_load(const char *path, const df_tokenizer_opts *opts, df_tokenizer **out, df_error *err) {
    if (!path) return df_error_set(err, DF_EINVAL, "tokenizer: NULL path");
    struct stat st;
    if (stat(path, &st) != 0) return df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        static const char *const names[] = {"tokenizer.json", "vocab.txt", "spm.model", "sentencepiece.bpe.model",
                                            "spiece.model"};
        static const mem_loader fns[] = {load_json_impl, wordpiece_load_vocab_txt, load_spm_impl, load_spm_impl,
                                         load_spm_impl};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, names[i]);
            if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) return load_path(fns[i], p, opts, out, err);
        }
        return df_error_set(err, DF_ENOTFOUND, "%s: no tokenizer.json, vocab.txt or *.model in the directory", path);
    }
    if (ends_with(path, ".json")) return load_path(load_json_impl, path, opts, out, err);
    if (ends_with(path, ".model")) return load_path(load_spm_impl, path, opts, out, err);
    return load_path(wordpiece_load_vocab_txt, path, opts, out, err);
}

df_tokenizer_kind df_tokenizer_kind_of(const df_tokenizer *tok) {
    return tok ? tok->kind : (df_tokenizer_kind)0;
}
size_t df_tokenizer_vocab_size(const df_tokenizer *tok) {
    return tok ? tok->v.n : 0;
}
const char *df_tokenizer_id_to_piece(const df_tokenizer *tok, int64_t id) {
    if (!tok || id < 0 || (size_t)id >= tok->v.n) return NULL;
    return tok->v.blob + tok->v.off[id];
}
int64_t df_tokenizer_piece_to_id(const df_tokenizer *tok, const char *piece, size_t len) {
    if (!tok || (!piece && len)) return -1;
    return vocab_find(&tok->v, piece ? piece : "", len);
}
bool df_tokenizer_lowercases(const df_tokenizer *tok) {
    return tok && tok->lowercase;
}
df_tokenizer_specials df_tokenizer_get_specials(const df_tokenizer *tok) {
    df_tokenizer_specials s = {-1, -1, -1, 0};
    if (tok) s = (df_tokenizer_specials){tok->unk_id, tok->cls_id, tok->sep_id, tok->pad_id};
    return s;
}

df_tokenizer_ws *df_tokenizer_ws_new(void) {
    return calloc(1, sizeof(df_tokenizer_ws));
}
void df_tokenizer_ws_free(df_tokenizer_ws *ws) {
    if (!ws) return;
    free(ws->buf);
    free(ws->buf2);
    free(ws->lat);
    free(ws->tmp);
    free(ws);
}

static df_status check_utf8(const unsigned char *s, size_t n, df_error *err) {
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int32_t c;
        size_t k = utf8_dec(s + i, n - i, &c);
        if (k == 0) return df_error_set(err, DF_EINVAL, "invalid UTF-8 at byte offset %zu", i);
        i += k;
    }
    return DF_OK;
}

static df_status run(const df_tokenizer *tok, df_tokenizer_ws *ws, const char *text, size_t len, tok_sink *sink,
                     df_error *err) {
    if (!tok) return df_error_set(err, DF_EINVAL, "tokenizer: NULL tokenizer");
    if (!text && len) return df_error_set(err, DF_EINVAL, "tokenizer: NULL text");
    const unsigned char *s = text ? (const unsigned char *)text : (const unsigned char *)"";
    df_status st = check_utf8(s, len, err);
    if (st) return st;
    df_tokenizer_ws *own = NULL;
    if (!ws) {
        ws = own = df_tokenizer_ws_new();
        if (!ws) return df_error_set(err, DF_ENOMEM, "out of memory");
    }
    if (tok->kind == DF_TOKENIZER_WORDPIECE)
        st = wordpiece_run(tok, ws, s, len, sink, err);
    else
        st = unigram_run(tok, ws, s, len, sink, err);
    df_tokenizer_ws_free(own);
    return st;
}

typedef struct tokens_impl {
    df_tokens pub;
    char *blob;
} tokens_impl;

void df_tokens_free(df_tokens *t) {
    if (!t) return;
    tokens_impl *ti = (tokens_impl *)t;
    free(ti->pub.ids);
    free(ti->pub.pieces);
    free(ti->pub.lens);
    free(ti->blob);
    free(ti);
}

df_status df_tokenizer_tokenize(const df_tokenizer *tok, const char *text, size_t len, df_tokens **out,
                                df_error *err) {
    if (!out) return df_error_set(err, DF_EINVAL, "tokenizer: NULL output");
    *out = NULL;
    tok_sink sink = {.want_pieces = true};
    df_status s = run(tok, NULL, text, len, &sink, err);
    tokens_impl *ti = NULL;
    if (!s) {
        ti = calloc(1, sizeof *ti);
        char **pieces = sink.n ? malloc(sink.n * sizeof *pieces) : NULL;
        size_t *lens = sink.n ? malloc(sink.n * sizeof *lens) : NULL;
        if (!ti || (sink.n && (!pieces || !lens))) {
            free(ti);
            free(pieces);
            free(lens);
            s = df_error_set(err, DF_ENOMEM, "out of memory");
        } else {
            for (size_t i = 0; i < sink.n; i++) {
                pieces[i] = sink.pblob + sink.poff[i];
                lens[i] = (i + 1 < sink.n ? sink.poff[i + 1] : sink.plen) - sink.poff[i] - 1;
            }
            ti->pub.count = sink.n;
            ti->pub.ids = sink.dids;
            ti->pub.pieces = pieces;
            ti->pub.lens = lens;
            ti->blob = sink.pblob;
            sink.dids = NULL;
            sink.pblob = NULL;
        }
    }
    free(sink.dids);
    free(sink.poff);
    free(sink.pblob);
    if (!s) *out = &ti->pub;
    return s;
}

df_status df_tokenizer_ids(const df_tokenizer *tok, df_tokenizer_ws *ws, const char *text, size_t len, int64_t *ids,
                           size_t cap, size_t *n, size_t *total, df_error *err) {
    if (!ids && cap) return df_error_set(err, DF_EINVAL, "tokenizer: NULL ids with capacity %zu", cap);
    tok_sink sink = {.ids = ids, .cap = cap};
    df_status s = run(tok, ws, text, len, &sink, err);
    if (s) return s;
    if (n) *n = sink.n < cap ? sink.n : cap;
    if (total) *total = sink.n;
    return DF_OK;
}

df_status df_tokenizer_encode_ws(const df_tokenizer *tok, df_tokenizer_ws *ws, const char *text, size_t len,
                                 size_t max_len, int64_t *ids, int64_t *mask, int64_t *type_ids, size_t *n_real,
                                 df_error *err) {
    if (n_real) *n_real = 0;
    if (!tok) return df_error_set(err, DF_EINVAL, "tokenizer: NULL tokenizer");
    if (max_len == 0) {
        tok_sink sink = {0};
        df_status s = run(tok, ws, text, len, &sink, err);
        if (!s && n_real) *n_real = sink.n;
        return s;
    }
    if (max_len == 1) return df_error_set(err, DF_EINVAL, "max_len 1 leaves no room for both special tokens");
    if (!ids) return df_error_set(err, DF_EINVAL, "tokenizer: NULL ids");
    if (tok->cls_id < 0 || tok->sep_id < 0)
        return df_error_set(err, DF_EUNSUPPORTED, "tokenizer has no %s token to frame the text",
                            tok->cls_id < 0 ? (tok->kind == DF_TOKENIZER_WORDPIECE ? "[CLS]" : "bos (<s>)")
                                            : (tok->kind == DF_TOKENIZER_WORDPIECE ? "[SEP]" : "eos (</s>)"));
    tok_sink sink = {.ids = ids + 1, .cap = max_len - 2, .stop_when_full = true};
    df_status s = run(tok, ws, text, len, &sink, err);
    if (s) return s;
    size_t k = sink.n;
    ids[0] = tok->cls_id;
    ids[k + 1] = tok->sep_id;
    for (size_t i = k + 2; i < max_len; i++) ids[i] = tok->pad_id;
    if (mask)
        for (size_t i = 0; i < max_len; i++) mask[i] = i < k + 2;
    if (type_ids) memset(type_ids, 0, max_len * sizeof *type_ids);
    if (n_real) *n_real = k + 2;
    return DF_OK;
}

df_status df_tokenizer_encode(const df_tokenizer *tok, const char *text, size_t len, size_t max_len, int64_t *ids,
                              int64_t *mask, int64_t *type_ids, size_t *n_real, df_error *err) {
    return df_tokenizer_encode_ws(tok, NULL, text, len, max_len, ids, mask, type_ids, n_real, err);
}
