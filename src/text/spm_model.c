/* SentencePiece .model files: a bounds-checked protobuf wire-format reader for the handful of
 * ModelProto fields a Unigram encoder needs, and the precompiled normalization charsmap.
 *
 * Fields read (sentencepiece_model.proto):
 *   ModelProto      1 pieces, 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece, 2 score (float), 3 type
 *   TrainerSpec     3 model_type, 24 treat_whitespace_as_suffix, 35 byte_fallback,
 *                   40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
 *   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
 *                   4 remove_extra_whitespaces, 5 escape_whitespaces
 * Everything else is skipped by wire type. */
#include <stdlib.h>
#include <string.h>

#include "text/text_internal.h"

typedef struct pb {
    const unsigned char *p, *end;
    const unsigned char *base; /* for offsets in messages */
} pb;

typedef struct pb_field {
    uint32_t num;
    int wt;
    uint64_t v;               /* varint / fixed value */
    const unsigned char *d;   /* length-delimited payload */
    size_t n;
} pb_field;

static bool pb_varint(pb *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return false;
        unsigned c = *b->p++;
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* 1 = got a field, 0 = end of message, -1 = malformed. */
static int pb_next(pb *b, pb_field *f) {
    if (b->p >= b->end) return 0;
    uint64_t key;
    if (!pb_varint(b, &key)) return -1;
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    if (f->num == 0 || (key >> 3) > 0x1FFFFFFF) return -1;
    switch (f->wt) {
    case 0:
        return pb_varint(b, &f->v) ? 1 : -1;
    case 1:
        if (b->end - b->p < 8) return -1;
        f->v = 0;
        for (int i = 7; i >= 0; i--) f->v = (f->v << 8) | b->p[i];
        b->p += 8;
        return 1;
    case 2: {
        uint64_t n;
        if (!pb_varint(b, &n) || n > (uint64_t)(b->end - b->p)) return -1;
        f->d = b->p;
        f->n = (size_t)n;
        b->p += n;
        return 1;
    }
    case 5:
        if (b->end - b->p < 4) return -1;
        f->v = (uint64_t)b->p[0] | ((uint64_t)b->p[1] << 8) | ((uint64_t)b->p[2] << 16) | ((uint64_t)b->p[3] << 24);
        b->p += 4;
        return 1;
    default:
        return -1; /* groups (3, 4) are not used by sentencepiece */
    }
}

static float f32_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- precompiled charsmap ---------------------------------------------------------------- */

/* Darts-clone unit layout: bits 0-7 label, bit 8 has_leaf, bit 9 offset scale, 10-31 offset;
 * a leaf unit holds its value in the low 31 bits. */
static uint32_t du_offset(uint32_t u) {
    return (u >> 10) << ((u & (1u << 9)) >> 6);
}
static bool du_has_leaf(uint32_t u) {
    return (u >> 8) & 1;
}
static uint32_t du_value(uint32_t u) {
    return u & 0x7FFFFFFFu;
}
static uint32_t du_label(uint32_t u) {
    return u & (0x80000000u | 0xFFu);
}

void charsmap_free(df_charsmap *cm) {
    free(cm->units);
    free(cm->norm);
    memset(cm, 0, sizeof *cm);
}

df_status charsmap_parse(df_charsmap *cm, const unsigned char *blob, size_t len, df_error *err) {
    memset(cm, 0, sizeof *cm);
    if (len < 4) return df_error_set(err, DF_EFORMAT, "precompiled_charsmap: %zu bytes, too short", len);
    uint32_t tsize = (uint32_t)blob[0] | ((uint32_t)blob[1] << 8) | ((uint32_t)blob[2] << 16) | ((uint32_t)blob[3] << 24);
    if (tsize > len - 4 || tsize % 4 != 0 || tsize == 0)
        return df_error_set(err, DF_EFORMAT, "precompiled_charsmap: trie size %u does not fit the %zu-byte blob",
                            tsize, len);
    size_t nu = tsize / 4;
    size_t nlen = len - 4 - tsize;
    cm->units = malloc(tsize);
    cm->norm = malloc(nlen + 1);
    if (!cm->units || !cm->norm) {
        charsmap_free(cm);
        return df_error_set(err, DF_ENOMEM, "out of memory reading precompiled_charsmap");
    }
    for (size_t i = 0; i < nu; i++) {
        const unsigned char *q = blob + 4 + 4 * i;
        cm->units[i] = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
    }
    memcpy(cm->norm, blob + 4 + tsize, nlen);
    cm->norm[nlen] = '\0'; /* a last string missing its NUL ends at the blob's end */
    cm->n_units = nu;
    cm->norm_len = nlen;
    /* Replacements become model input: every string must be UTF-8 so normalized text is. */
    for (size_t i = 0; i < nlen;) {
        if (cm->norm[i] == '\0') {
            i++;
            continue;
        }
        int32_t c;
        size_t k = utf8_dec((const unsigned char *)cm->norm + i, nlen - i, &c);
        if (k == 0) {
            charsmap_free(cm);
            return df_error_set(err, DF_EFORMAT, "precompiled_charsmap: replacement at byte %zu is not UTF-8", i);
        }
        i += k;
    }
    return DF_OK;
}

size_t charsmap_lookup(const df_charsmap *cm, const unsigned char *s, size_t n, const char **rep, size_t *rep_len) {
    if (!cm->units) return 0;
    size_t best = 0;
    uint32_t best_val = 0;
    size_t pos = 0;
    uint32_t u = cm->units[0];
    pos ^= du_offset(u);
    /* Real maps' keys are a few characters; the cap keeps a hostile map from making each
     * lookup scan the rest of the input. */
    if (n > 256) n = 256;
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= cm->n_units) break;
        u = cm->units[pos];
        if (du_label(u) != s[i]) break;
        pos ^= du_offset(u);
        if (du_has_leaf(u)) {
            if (pos >= cm->n_units) break;
            best = i + 1;
            best_val = du_value(cm->units[pos]);
        }
    }
    if (best == 0) return 0;
    /* A value pointing past the strings or into the middle of a character is a broken map:
     * treat it as no rule rather than emit bytes that are not UTF-8. */
    if (best_val >= cm->norm_len || ((unsigned char)cm->norm[best_val] & 0xC0) == 0x80) return 0;
    *rep = cm->norm + best_val;
    *rep_len = strlen(cm->norm + best_val);
    return best;
}

/* ---- ModelProto -------------------------------------------------------------------------- */

typedef struct spm_specs {
    int64_t model_type;
    bool ws_suffix, byte_fallback;
    int64_t unk_id, bos_id, eos_id, pad_id;
    bool has_cm;
    const unsigned char *cm;
    size_t cm_len;
    char name[64];
    bool add_dummy_prefix, remove_extra_ws, escape_ws;
} spm_specs;

static df_status parse_piece(df_tokenizer *tok, const unsigned char *d, size_t n, size_t idx, const char *name,
                             df_error *err) {
    pb b = {d, d + n, d};
    pb_field f;
    const unsigned char *ps = NULL;
    size_t pn = 0;
    float score = 0.0f;
    uint64_t type = PT_NORMAL;
    int r;
    while ((r = pb_next(&b, &f)) == 1) {
        if (f.num == 1 && f.wt == 2) {
            ps = f.d;
            pn = f.n;
        } else if (f.num == 2 && f.wt == 5) {
            score = f32_of((uint32_t)f.v);
        } else if (f.num == 3 && f.wt == 0) {
            type = f.v;
        }
    }
    if (r < 0) return df_error_set(err, DF_EFORMAT, "%s: piece %zu: malformed protobuf", name, idx);
    if (!ps || pn == 0) return df_error_set(err, DF_EFORMAT, "%s: piece %zu is empty", name, idx);
    if (type < PT_NORMAL || type > PT_BYTE)
        return df_error_set(err, DF_EFORMAT, "%s: piece %zu has unknown type %llu", name, idx,
                            (unsigned long long)type);
    if (score != score || score > 1e30f || score < -1e30f)
        return df_error_set(err, DF_EFORMAT, "%s: piece %zu has score %g", name, idx, (double)score);
    for (size_t k = 0; k < pn;) {
        int32_t c;
        size_t m = utf8_dec(ps + k, pn - k, &c);
        if (m == 0) return df_error_set(err, DF_EFORMAT, "%s: piece %zu is not UTF-8", name, idx);
        k += m;
    }
    return vocab_add(&tok->v, (const char *)ps, pn, score, (uint8_t)type, err);
}

static df_status parse_trainer(spm_specs *sp, const unsigned char *d, size_t n, const char *name, df_error *err) {
    pb b = {d, d + n, d};
    pb_field f;
    int r;
    while ((r = pb_next(&b, &f)) == 1) {
        if (f.wt != 0) continue;
        int64_t v = (int64_t)(int32_t)(uint32_t)f.v; /* int32 fields: negatives are sign-extended */
        switch (f.num) {
        case 3: sp->model_type = (int64_t)f.v; break;
        case 24: sp->ws_suffix = f.v != 0; break;
        case 35: sp->byte_fallback = f.v != 0; break;
        case 40: sp->unk_id = v; break;
        case 41: sp->bos_id = v; break;
        case 42: sp->eos_id = v; break;
        case 43: sp->pad_id = v; break;
        default: break;
        }
    }
    if (r < 0) return df_error_set(err, DF_EFORMAT, "%s: trainer_spec: malformed protobuf", name);
    return DF_OK;
}

static df_status parse_normalizer(spm_specs *sp, const unsigned char *d, size_t n, const char *name,
                                  df_error *err) {
    pb b = {d, d + n, d};
    pb_field f;
    int r;
    while ((r = pb_next(&b, &f)) == 1) {
        if (f.num == 1 && f.wt == 2) {
            size_t k = f.n < sizeof sp->name - 1 ? f.n : sizeof sp->name - 1;
            memcpy(sp->name, f.d, k);
            sp->name[k] = '\0';
        } else if (f.num == 2 && f.wt == 2) {
            sp->cm = f.d;
            sp->cm_len = f.n;
            sp->has_cm = f.n > 0;
        } else if (f.wt == 0 && f.num == 3) {
            sp->add_dummy_prefix = f.v != 0;
        } else if (f.wt == 0 && f.num == 4) {
            sp->remove_extra_ws = f.v != 0;
        } else if (f.wt == 0 && f.num == 5) {
            sp->escape_ws = f.v != 0;
        }
    }
    if (r < 0) return df_error_set(err, DF_EFORMAT, "%s: normalizer_spec: malformed protobuf", name);
    return DF_OK;
}

df_status spm_parse(df_tokenizer *tok, const unsigned char *data, size_t len, const char *name, df_error *err) {
    /* proto2 defaults for fields a model may omit */
    spm_specs sp = {.model_type = 1, .unk_id = 0, .bos_id = 1, .eos_id = 2, .pad_id = -1,
                    .add_dummy_prefix = true, .remove_extra_ws = true, .escape_ws = true};
    pb b = {data, data + len, data};
    pb_field f;
    int r;
    size_t idx = 0;
    df_status s;
    while ((r = pb_next(&b, &f)) == 1) {
        if (f.wt != 2) continue;
        if (f.num == 1) {
            if ((s = parse_piece(tok, f.d, f.n, idx++, name, err))) return s;
        } else if (f.num == 2) {
            if ((s = parse_trainer(&sp, f.d, f.n, name, err))) return s;
        } else if (f.num == 3) {
            if ((s = parse_normalizer(&sp, f.d, f.n, name, err))) return s;
        }
    }
    if (r < 0)
        return df_error_set(err, DF_EFORMAT, "%s: not a SentencePiece model (malformed protobuf at byte %zu)", name,
                            (size_t)(b.p - data));
    if (tok->v.n == 0) return df_error_set(err, DF_EFORMAT, "%s: not a SentencePiece model (no pieces)", name);
    if (sp.model_type != 1)
        return df_error_set(err, DF_EUNSUPPORTED, "%s: model_type %lld is not Unigram (1); only Unigram is supported",
                            name, (long long)sp.model_type);
    if (sp.ws_suffix)
        return df_error_set(err, DF_EUNSUPPORTED, "%s: treat_whitespace_as_suffix is not supported", name);
    int64_t dup;
    if ((s = vocab_index(&tok->v, &dup, err))) return s;
    if (dup >= 0)
        return df_error_set(err, DF_EFORMAT, "%s: piece %lld (\"%s\") is defined twice", name, (long long)dup,
                            tok->v.blob + tok->v.off[dup]);
    int64_t n = (int64_t)tok->v.n;
    if (sp.unk_id < 0 || sp.unk_id >= n || tok->v.type[sp.unk_id] != PT_UNKNOWN)
        return df_error_set(err, DF_EFORMAT, "%s: unk_id %lld is not an UNKNOWN piece", name, (long long)sp.unk_id);
    for (int64_t i = 0; i < n; i++)
        if (tok->v.type[i] == PT_UNKNOWN && i != sp.unk_id)
            return df_error_set(err, DF_EFORMAT, "%s: piece %lld is a second UNKNOWN piece", name, (long long)i);
    if (sp.bos_id >= n || sp.eos_id >= n || sp.pad_id >= n)
        return df_error_set(err, DF_EFORMAT, "%s: bos/eos/pad id (%lld/%lld/%lld) out of range for %lld pieces", name,
                            (long long)sp.bos_id, (long long)sp.eos_id, (long long)sp.pad_id, (long long)n);
    tok->kind = DF_TOKENIZER_UNIGRAM;
    tok->unk_id = sp.unk_id;
    tok->cls_id = sp.bos_id < 0 ? -1 : sp.bos_id;
    tok->sep_id = sp.eos_id < 0 ? -1 : sp.eos_id;
    tok->pad_id = sp.pad_id < 0 ? 0 : sp.pad_id;
    tok->byte_fallback = sp.byte_fallback;
    tok->add_dummy_prefix = sp.add_dummy_prefix;
    tok->remove_extra_ws = sp.remove_extra_ws;
    tok->escape_ws = sp.escape_ws;
    tok->f32_scores = true;
    if (sp.has_cm) {
        if ((s = charsmap_parse(&tok->cm, sp.cm, sp.cm_len, err))) return df_error_prefix(err, "%s: ", name);
        tok->has_cm = true;
    }
    return unigram_prepare(tok, name, err);
}
