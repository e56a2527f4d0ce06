/* Piece storage, hashing, UTF-8 helpers and token sinks shared by both tokenizers. */
#include <stdlib.h>
#include <string.h>

#include "text/text_internal.h"

bool ws_reserve(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) return false;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem) return false;
    void *q = realloc(*p, ncap * elem);
    if (!q) return false;
    *p = q;
    *cap = ncap;
    return true;
}

size_t utf8_dec(const unsigned char *s, size_t n, int32_t *cp) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    size_t len;
    int32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

size_t utf8_enc(int32_t cp, unsigned char *o) {
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

void vocab_free(df_vocab *v) {
    free(v->blob);
    free(v->off);
    free(v->len);
    free(v->score);
    free(v->type);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

df_status vocab_add(df_vocab *v, const char *s, size_t n, float score, uint8_t type, df_error *err) {
    /* Ids travel as int32 in the hash and offsets as uint32: cap both well below overflow. */
    if (v->n >= (size_t)INT32_MAX / 2 || v->blob_len + n + 1 > (size_t)UINT32_MAX)
        return df_error_set(err, DF_ERANGE, "vocabulary too large (%zu pieces)", v->n);
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 1024;
        uint32_t *off = realloc(v->off, nc * sizeof *off);
        if (off) v->off = off;
        uint32_t *len = realloc(v->len, nc * sizeof *len);
        if (len) v->len = len;
        float *sc = realloc(v->score, nc * sizeof *sc);
        if (sc) v->score = sc;
        uint8_t *ty = realloc(v->type, nc * sizeof *ty);
        if (ty) v->type = ty;
        if (!off || !len || !sc || !ty) return df_error_set(err, DF_ENOMEM, "out of memory growing vocabulary");
        v->cap = nc;
    }
    size_t blob_cap = v->blob_cap;
    if (!ws_reserve((void **)&v->blob, &blob_cap, v->blob_len + n + 1, 1))
        return df_error_set(err, DF_ENOMEM, "out of memory growing vocabulary");
    v->blob_cap = blob_cap;
    memcpy(v->blob + v->blob_len, s, n);
    v->blob[v->blob_len + n] = '\0';
    v->off[v->n] = (uint32_t)v->blob_len;
    v->len[v->n] = (uint32_t)n;
    v->score[v->n] = score;
    v->type[v->n] = type;
    v->blob_len += n + 1;
    v->n++;
    if (n > v->max_piece_bytes) v->max_piece_bytes = n;
    return DF_OK;
}

uint64_t vocab_hash_step(uint64_t h, unsigned char c) {
    return (h ^ c) * 1099511628211ULL;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = VOCAB_HASH_INIT;
    for (size_t i = 0; i < n; i++) h = vocab_hash_step(h, (unsigned char)s[i]);
    return h;
}

/* FNV's low bits are weak on short keys; fold the high half in before masking. */
static size_t slot_of(uint64_t h, size_t mask) {
    return (size_t)((h ^ (h >> 29) ^ (h >> 47)) & mask);
}

df_status vocab_index(df_vocab *v, int64_t *first_dup, df_error *err) {
    if (first_dup) *first_dup = -1;
    size_t ns = 16;
    while (ns < v->n * 2) ns *= 2;
    int32_t *slots = malloc(ns * sizeof *slots);
    if (!slots) return df_error_set(err, DF_ENOMEM, "out of memory indexing vocabulary");
    memset(slots, 0xFF, ns * sizeof *slots);
    free(v->slots);
    v->slots = slots;
    v->nslots = ns;
    for (size_t i = 0; i < v->n; i++) {
        const char *s = v->blob + v->off[i];
        size_t n = v->len[i];
        size_t j = slot_of(hash_bytes(s, n), ns - 1);
        for (;;) {
            int32_t id = slots[j];
            if (id < 0) {
                slots[j] = (int32_t)i;
                break;
            }
            if (v->len[id] == n && memcmp(v->blob + v->off[id], s, n) == 0) {
                if (first_dup && *first_dup < 0) *first_dup = (int64_t)i;
                slots[j] = (int32_t)i;
                break;
            }
            j = (j + 1) & (ns - 1);
        }
    }
    return DF_OK;
}

int32_t vocab_find_h(const df_vocab *v, const char *s, size_t n, uint64_t h) {
    if (!v->slots) return -1;
    size_t mask = v->nslots - 1;
    size_t j = slot_of(h, mask);
    for (;;) {
        int32_t id = v->slots[j];
        if (id < 0) return -1;
        if (v->len[id] == n && memcmp(v->blob + v->off[id], s, n) == 0) return id;
        j = (j + 1) & mask;
    }
}

int32_t vocab_find(const df_vocab *v, const char *s, size_t n) {
    return vocab_find_h(v, s, n, hash_bytes(s, n));
}

bool sink_done(const tok_sink *s) {
    return s->oom || (s->stop_when_full && s->n >= s->cap);
}

bool sink_emit(tok_sink *s, int64_t id, const char *piece, size_t piece_len) {
    if (sink_done(s)) return false;
    if (s->ids && s->n < s->cap) s->ids[s->n] = id;
    if (s->want_pieces) {
        if (s->n + 1 > s->dcap) {
            size_t nc = s->dcap ? s->dcap * 2 : 64;
            int64_t *d = realloc(s->dids, nc * sizeof *d);
            if (d) s->dids = d;
            size_t *p = realloc(s->poff, nc * sizeof *p);
            if (p) s->poff = p;
            if (!d || !p) {
                s->oom = true;
                return false;
            }
            s->dcap = nc;
        }
        if (!ws_reserve((void **)&s->pblob, &s->pcap, s->plen + piece_len + 1, 1)) {
            s->oom = true;
            return false;
        }
        s->dids[s->n] = id;
        s->poff[s->n] = s->plen;
        memcpy(s->pblob + s->plen, piece, piece_len);
        s->pblob[s->plen + piece_len] = '\0';
        s->plen += piece_len + 1;
    }
    s->n++;
    return !sink_done(s);
}
