/* SentencePiece Unigram: normalization (charsmap, whitespace, ▁) and Viterbi segmentation.
 *
 * Two flavours share the code:
 *   .model files follow the sentencepiece library (0.1.9x): leading/trailing/repeated spaces
 *     dropped per remove_extra_whitespaces, user-defined pieces matched verbatim, one Viterbi
 *     over the whole normalized string, path scores summed in float.
 *   tokenizer.json follows Hugging Face tokenizers: its normalizer list, then Metaspace, which
 *     splits before every ▁; each split is segmented on its own, scores summed in double. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/text_internal.h"

static const char SPACE_SYM[] = "\xE2\x96\x81"; /* ▁ U+2581 */

typedef struct lnode {
    double score;
    int32_t start;
    int32_t id;
} lnode;

df_status unigram_prepare(df_tokenizer *tok, const char *name, df_error *err) {
    const df_vocab *v = &tok->v;
    float mn = FLT_MAX, mx = FLT_MIN;
    size_t nuser = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->type[i] == PT_NORMAL) {
            if (v->score[i] < mn) mn = v->score[i];
            if (v->score[i] > mx) mx = v->score[i];
        }
        if (v->type[i] == PT_USER) nuser++;
    }
    /* sentencepiece starts max at FLT_MIN (the smallest positive float) and resets both when
     * no normal piece moved them; with all-negative scores max therefore ends at 0. */
    if (mn == FLT_MAX) mn = 0.0f;
    if (mx == FLT_MIN) mx = 0.0f;
    tok->min_score = mn;
    tok->max_score = mx;
    if (nuser) {
        tok->user_ids = malloc(nuser * sizeof *tok->user_ids);
        if (!tok->user_ids) return df_error_set(err, DF_ENOMEM, "out of memory");
        for (size_t i = 0; i < v->n; i++)
            if (v->type[i] == PT_USER) {
                tok->user_ids[tok->n_user++] = (int32_t)i;
                if (v->len[i] > tok->max_user_bytes) tok->max_user_bytes = v->len[i];
                unsigned char c0 = (unsigned char)v->blob[v->off[i]];
                tok->user_first[c0 >> 3] |= (uint8_t)(1u << (c0 & 7));
            }
    }
    for (int b = 0; b < 256; b++) tok->byte_ids[b] = -1;
    if (tok->byte_fallback) {
        for (int b = 0; b < 256; b++) {
            char p[8];
            snprintf(p, sizeof p, "<0x%02X>", b);
            int32_t id = vocab_find(v, p, 6);
            if (id < 0 || v->type[id] != PT_BYTE)
                return df_error_set(err, DF_EFORMAT, "%s: byte_fallback is set but byte piece %s is missing", name, p);
            tok->byte_ids[b] = id;
        }
    }
    return DF_OK;
}

static bool append(df_tokenizer_ws *ws, size_t *n, const void *p, size_t k) {
    if (!ws_reserve((void **)&ws->buf, &ws->buf_cap, *n + k + 1, 1)) return false;
    memcpy(ws->buf + *n, p, k);
    *n += k;
    return true;
}

/* One normalization step at s: the replacement text and how many input bytes it consumes. */
static size_t norm_prefix(const df_tokenizer *tok, const unsigned char *s, size_t n, bool use_user, const char **rep,
                          size_t *rep_len) {
    if (use_user && tok->n_user && (tok->user_first[s[0] >> 3] & (1u << (s[0] & 7)))) {
        /* Longest user-defined piece at s, via the piece hash: cost bounded by the longest
         * such piece, however many there are. */
        size_t best = 0, lim = n < tok->max_user_bytes ? n : tok->max_user_bytes;
        uint64_t h = VOCAB_HASH_INIT;
        for (size_t e = 0; e < lim;) {
            h = vocab_hash_step(h, s[e]);
            e++;
            if (e < n && (s[e] & 0xC0) == 0x80) continue;
            int32_t id = vocab_find_h(&tok->v, (const char *)s, e, h);
            if (id >= 0 && tok->v.type[id] == PT_USER) best = e;
        }
        if (best) {
            *rep = (const char *)s;
            *rep_len = best;
            return best;
        }
    }
    if (tok->has_cm) {
        size_t k = charsmap_lookup(&tok->cm, s, n, rep, rep_len);
        if (k) return k;
    }
    int32_t c;
    size_t k = utf8_dec(s, n, &c);
    if (k == 0) {
        /* Only reachable mid-character after a rule consumed part of one; sentencepiece
         * substitutes U+FFFD for the stray byte. */
        *rep = "\xEF\xBF\xBD";
        *rep_len = 3;
        return 1;
    }
    *rep = (const char *)s;
    *rep_len = k;
    return k;
}

/* sentencepiece's Normalizer::Normalize. */
static bool normalize_spm(const df_tokenizer *tok, df_tokenizer_ws *ws, const unsigned char *s, size_t len,
                          size_t *out_len) {
    size_t n = 0, pos = 0;
    const char *rep;
    size_t rl;
    if (tok->remove_extra_ws) {
        while (pos < len) {
            size_t k = norm_prefix(tok, s + pos, len - pos, true, &rep, &rl);
            if (!(rl == 1 && rep[0] == ' ')) break;
            pos += k;
        }
    }
    const char *sp = tok->escape_ws ? SPACE_SYM : " ";
    size_t spl = tok->escape_ws ? 3 : 1;
    if (tok->add_dummy_prefix && !append(ws, &n, sp, spl)) return false;
    bool prev_space = tok->remove_extra_ws;
    while (pos < len) {
        size_t k = norm_prefix(tok, s + pos, len - pos, true, &rep, &rl);
        if (prev_space && tok->remove_extra_ws)
            while (rl > 0 && rep[0] == ' ') rep++, rl--;
        if (rl > 0) {
            for (size_t i = 0; i < rl; i++) {
                bool ok = rep[i] == ' ' ? append(ws, &n, sp, spl) : append(ws, &n, rep + i, 1);
                if (!ok) return false;
            }
            prev_space = rep[rl - 1] == ' ';
        }
        pos += k;
        if (!tok->remove_extra_ws) prev_space = false;
    }
    if (tok->remove_extra_ws)
        while (n >= spl && memcmp(ws->buf + n - spl, sp, spl) == 0) n -= spl;
    *out_len = n;
    return true;
}

static bool is_ws_byte(unsigned char c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D);
}

/* Hugging Face: [Precompiled] [Replace(" {2,}", " ")] [Strip] then Metaspace. Strip here
 * handles ASCII whitespace, which is all the charsmap leaves (it maps the rest to ' '). */
static bool normalize_hf(const df_tokenizer *tok, df_tokenizer_ws *ws, const unsigned char *s, size_t len,
                         size_t *out_len) {
    if (!ws_reserve((void **)&ws->buf2, &ws->buf2_cap, len + 1, 1)) return false;
    size_t n = 0, pos = 0;
    const char *rep;
    size_t rl;
    /* Stage 1 into buf2: the charsmap output, spaces collapsed. */
    size_t tn = 0;
    bool last_space = false;
    while (pos < len) {
        size_t k = norm_prefix(tok, s + pos, len - pos, false, &rep, &rl);
        for (size_t i = 0; i < rl; i++) {
            unsigned char c = (unsigned char)rep[i];
            if (tok->hf_collapse && c == ' ' && last_space) continue;
            last_space = c == ' ';
            if (!ws_reserve((void **)&ws->buf2, &ws->buf2_cap, tn + 1, 1)) return false;
            ws->buf2[tn++] = c;
        }
        pos += k;
    }
    size_t a = 0, b = tn;
    if (tok->hf_strip_l)
        while (a < b && is_ws_byte(ws->buf2[a])) a++;
    if (tok->hf_strip_r)
        while (b > a && is_ws_byte(ws->buf2[b - 1])) b--;
    if (tok->add_dummy_prefix && a < b && ws->buf2[a] != ' ' &&
        !(b - a >= 3 && memcmp(ws->buf2 + a, SPACE_SYM, 3) == 0)) {
        if (!append(ws, &n, SPACE_SYM, 3)) return false;
    }
    for (size_t i = a; i < b; i++) {
        bool ok = ws->buf2[i] == ' ' ? append(ws, &n, SPACE_SYM, 3) : append(ws, &n, ws->buf2 + i, 1);
        if (!ok) return false;
    }
    *out_len = n;
    return true;
}

static size_t one_char_len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static bool emit_span(const df_tokenizer *tok, tok_sink *sink, int32_t id, const unsigned char *p, size_t n) {
    if (id == tok->unk_id && tok->byte_fallback) {
        for (size_t i = 0; i < n; i++) {
            int32_t b = tok->byte_ids[p[i]];
            if (!sink_emit(sink, b, tok->v.blob + tok->v.off[b], tok->v.len[b])) return false;
        }
        return true;
    }
    return sink_emit(sink, id, (const char *)p, n);
}

/* Viterbi over s[0..n): best path to every character boundary; an unmatched character becomes
 * an unknown node scored min_score - 10; then consecutive unknowns are merged. */
static df_status viterbi(const df_tokenizer *tok, df_tokenizer_ws *ws, const unsigned char *s, size_t n,
                         tok_sink *sink, df_error *err) {
    if (n == 0) return DF_OK;
    if (!ws_reserve(&ws->lat, &ws->lat_cap, n + 1, sizeof(lnode)) ||
        !ws_reserve((void **)&ws->tmp, &ws->tmp_cap, n + 1, sizeof(int32_t)))
        return df_error_set(err, DF_ENOMEM, "out of memory tokenizing %zu bytes", n);
    lnode *lat = ws->lat;
    for (size_t i = 0; i <= n; i++) lat[i].start = -1, lat[i].score = 0.0, lat[i].id = -1;
    const df_vocab *v = &tok->v;
    const float unk_score = tok->min_score - 10.0f;
    size_t maxb = v->max_piece_bytes;
    for (size_t pos = 0; pos < n;) {
        double base = lat[pos].score;
        size_t mb = one_char_len(s[pos]);
        if (mb > n - pos) mb = n - pos;
        bool single = false;
        uint64_t h = VOCAB_HASH_INIT;
        for (size_t e = pos; e < n && e - pos < maxb;) {
            h = vocab_hash_step(h, s[e]);
            e++;
            if (e < n && (s[e] & 0xC0) == 0x80) continue;
            int32_t id = vocab_find_h(v, (const char *)s + pos, e - pos, h);
            if (id < 0) continue;
            uint8_t ty = v->type[id];
            if (ty != PT_NORMAL && ty != PT_USER) continue;
            double cand;
            if (ty == PT_USER) {
                double sc = (double)((float)(e - pos) * tok->max_score) - 0.1;
                cand = sc + base;
            } else {
                cand = (double)v->score[id] + base;
            }
            if (tok->f32_scores) cand = (double)(float)cand;
            if (lat[e].start < 0 || cand > lat[e].score) {
                lat[e].score = cand;
                lat[e].start = (int32_t)pos;
                lat[e].id = id;
            }
            if (e - pos == mb) single = true;
        }
        if (!single) {
            double cand = (double)unk_score + base;
            if (tok->f32_scores) cand = (double)(float)cand;
            size_t e = pos + mb;
            if (lat[e].start < 0 || cand > lat[e].score) {
                lat[e].score = cand;
                lat[e].start = (int32_t)pos;
                lat[e].id = (int32_t)tok->unk_id;
            }
        }
        pos += mb;
    }
    /* Backtrack: tmp[k] = end position of the k-th node from the right. */
    size_t cnt = 0;
    for (size_t e = n; e > 0; e = (size_t)lat[e].start) {
        if (lat[e].start < 0) return df_error_set(err, DF_EINTERNAL, "tokenizer lattice broken at byte %zu", e);
        ws->tmp[cnt++] = (int32_t)e;
    }
    size_t unk_a = 0, unk_b = 0;
    bool pending = false;
    for (size_t k = cnt; k-- > 0;) {
        size_t e = (size_t)ws->tmp[k];
        size_t b = (size_t)lat[e].start;
        int32_t id = lat[e].id;
        if (id == tok->unk_id) {
            if (!pending) unk_a = b;
            unk_b = e;
            pending = true;
            continue;
        }
        if (pending) {
            pending = false;
            if (!emit_span(tok, sink, (int32_t)tok->unk_id, s + unk_a, unk_b - unk_a)) return DF_OK;
        }
        if (!emit_span(tok, sink, id, s + b, e - b)) return DF_OK;
    }
    if (pending) emit_span(tok, sink, (int32_t)tok->unk_id, s + unk_a, unk_b - unk_a);
    return DF_OK;
}

df_status unigram_run(const df_tokenizer *tok, df_tokenizer_ws *ws, const unsigned char *text, size_t len,
                      tok_sink *sink, df_error *err) {
    size_t n = 0;
    bool ok = tok->hf_style ? normalize_hf(tok, ws, text, len, &n) : normalize_spm(tok, ws, text, len, &n);
    if (!ok) return df_error_set(err, DF_ENOMEM, "out of memory normalizing %zu bytes", len);
    df_status s = DF_OK;
    if (!tok->hf_style) {
        s = viterbi(tok, ws, ws->buf, n, sink, err);
    } else {
        /* Metaspace splits before each ▁ (the ▁ starts the next word). */
        size_t a = 0;
        for (size_t i = 1; i <= n && !sink_done(sink); i++) {
            if (i == n || (i + 3 <= n && memcmp(ws->buf + i, SPACE_SYM, 3) == 0)) {
                if ((s = viterbi(tok, ws, ws->buf + a, i - a, sink, err))) break;
                a = i;
            }
        }
    }
    if (!s && sink->oom) s = df_error_set(err, DF_ENOMEM, "out of memory collecting tokens");
    return s;
}
