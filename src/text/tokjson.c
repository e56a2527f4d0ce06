/* Hugging Face tokenizer.json: WordPiece and Unigram models with the normalizers,
 * pre-tokenizers and post-processors BERT- and XLM-R-style exports use. Anything else is
 * refused by name rather than tokenized differently from Hugging Face. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "text/text_internal.h"

/* Ids a tokenizer.json may use: generous for any real vocabulary, small enough that a hostile
 * file cannot make us allocate gigabytes for holes. */
#define MAX_JSON_ID (1 << 24)

static df_status b64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len) {
    unsigned char *o = malloc(n / 4 * 3 + 4);
    if (!o) return DF_ENOMEM;
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else if (c == '=') break;
        else if (c == '\n' || c == '\r' || c == ' ') continue;
        else {
            free(o);
            return DF_EFORMAT;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
        }
    }
    *out = o;
    *out_len = k;
    return DF_OK;
}

static const char *jstr(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(json_t *o, const char *key, bool dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* Places a piece at an id, filling holes with unmatched placeholders. */
typedef struct idtab {
    const char **s;
    size_t *len;
    float *score;
    uint8_t *type;
    size_t n;
} idtab;

static void idtab_free(idtab *t) {
    free(t->s);
    free(t->len);
    free(t->score);
    free(t->type);
}

static df_status idtab_init(idtab *t, size_t n, const char *name, df_error *err) {
    t->n = n;
    t->s = calloc(n ? n : 1, sizeof *t->s);
    t->len = calloc(n ? n : 1, sizeof *t->len);
    t->score = calloc(n ? n : 1, sizeof *t->score);
    t->type = calloc(n ? n : 1, sizeof *t->type);
    if (!t->s || !t->len || !t->score || !t->type) return df_error_set(err, DF_ENOMEM, "%s: out of memory", name);
    return DF_OK;
}

static df_status idtab_to_vocab(idtab *t, df_tokenizer *tok, const char *name, df_error *err) {
    for (size_t i = 0; i < t->n; i++) {
        df_status s = t->s[i] ? vocab_add(&tok->v, t->s[i], t->len[i], t->score[i], t->type[i], err)
                              : vocab_add(&tok->v, "", 0, 0.0f, PT_UNUSED, err);
        if (s) return df_error_prefix(err, "%s: ", name);
    }
    return vocab_index(&tok->v, NULL, err);
}

static df_status check_piece_utf8(const char *s, size_t n, const char *name, df_error *err) {
    for (size_t i = 0; i < n;) {
        int32_t c;
        size_t k = utf8_dec((const unsigned char *)s + i, n - i, &c);
        if (k == 0) return df_error_set(err, DF_EFORMAT, "%s: token \"%.40s\" is not UTF-8", name, s);
        i += k;
    }
    return DF_OK;
}

/* [CLS]/[SEP] (or <s>/</s>) from the post-processor, when it names them. */
static void specials_from_post(df_tokenizer *tok, json_t *post) {
    const char *ty = jstr(post, "type");
    if (!ty) return;
    if (!strcmp(ty, "BertProcessing") || !strcmp(ty, "RobertaProcessing")) {
        json_t *cls = json_object_get(post, "cls"), *sep = json_object_get(post, "sep");
        if (json_is_array(cls) && json_is_integer(json_array_get(cls, 1)))
            tok->cls_id = json_integer_value(json_array_get(cls, 1));
        if (json_is_array(sep) && json_is_integer(json_array_get(sep, 1)))
            tok->sep_id = json_integer_value(json_array_get(sep, 1));
    } else if (!strcmp(ty, "TemplateProcessing")) {
        json_t *single = json_object_get(post, "single"), *sp = json_object_get(post, "special_tokens");
        size_t n = json_array_size(single);
        int64_t first = -1, last = -1;
        bool seen_seq = false;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(single, i);
            if (json_object_get(e, "Sequence")) {
                seen_seq = true;
                continue;
            }
            json_t *st = json_object_get(e, "SpecialToken");
            const char *name = jstr(st, "id");
            if (!name) continue;
            json_t *ids = json_object_get(json_object_get(sp, name), "ids");
            json_t *id0 = json_array_get(ids, 0);
            int64_t id = json_is_integer(id0) ? json_integer_value(id0) : vocab_find(&tok->v, name, strlen(name));
            if (!seen_seq && first < 0) first = id;
            if (seen_seq) last = id;
        }
        if (first >= 0) tok->cls_id = first;
        if (last >= 0) tok->sep_id = last;
    }
    if (tok->cls_id >= (int64_t)tok->v.n) tok->cls_id = -1;
    if (tok->sep_id >= (int64_t)tok->v.n) tok->sep_id = -1;
}

static df_status parse_wordpiece(df_tokenizer *tok, json_t *root, json_t *model, const char *name,
                                 const df_tokenizer_opts *opts, df_error *err) {
    tok->kind = DF_TOKENIZER_WORDPIECE;
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab) || json_object_size(vocab) == 0)
        return df_error_set(err, DF_EFORMAT, "%s: model.vocab is missing or empty", name);
    size_t maxid = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= MAX_JSON_ID)
            return df_error_set(err, DF_EFORMAT, "%s: model.vocab[\"%.40s\"] is not an id in [0, %d)", name, key,
                                MAX_JSON_ID);
        if ((size_t)json_integer_value(val) > maxid) maxid = (size_t)json_integer_value(val);
    }
    idtab t = {0};
    df_status s = idtab_init(&t, maxid + 1, name, err);
    json_object_foreach(vocab, key, val) {
        if (s) break;
        size_t id = (size_t)json_integer_value(val);
        /* jansson keys are NUL-terminated: a key with an embedded NUL cannot be a token. */
        t.s[id] = key;
        t.len[id] = strlen(key);
        t.type[id] = PT_NORMAL;
        s = check_piece_utf8(key, t.len[id], name, err);
    }
    if (!s) s = idtab_to_vocab(&t, tok, name, err);
    idtab_free(&t);
    if (s) return s;

    const char *unk = jstr(model, "unk_token");
    if (!unk) unk = "[UNK]";
    int32_t u = vocab_find(&tok->v, unk, strlen(unk));
    if (u < 0) return df_error_set(err, DF_EFORMAT, "%s: unk_token \"%.40s\" is not in the vocabulary", name, unk);
    tok->unk_id = u;
    const char *pre = jstr(model, "continuing_subword_prefix");
    if (!pre) pre = "##";
    if (strlen(pre) >= sizeof tok->prefix)
        return df_error_set(err, DF_EUNSUPPORTED, "%s: continuing_subword_prefix longer than %zu bytes", name,
                            sizeof tok->prefix - 1);
    strcpy(tok->prefix, pre);
    tok->prefix_len = strlen(pre);
    json_t *mc = json_object_get(model, "max_input_chars_per_word");
    if (json_is_integer(mc) && json_integer_value(mc) > 0) tok->max_chars_per_word = (size_t)json_integer_value(mc);
    if (opts && opts->max_input_chars_per_word) tok->max_chars_per_word = opts->max_input_chars_per_word;

    json_t *norm = json_object_get(root, "normalizer");
    if (json_is_object(norm)) {
        const char *ty = jstr(norm, "type");
        if (!ty || strcmp(ty, "BertNormalizer"))
            return df_error_set(err, DF_EUNSUPPORTED, "%s: normalizer type \"%s\" is not supported for WordPiece",
                                name, ty ? ty : "(none)");
        tok->clean_text = jbool(norm, "clean_text", true);
        tok->chinese_chars = jbool(norm, "handle_chinese_chars", true);
        tok->lowercase = jbool(norm, "lowercase", true);
        json_t *sa = json_object_get(norm, "strip_accents");
        tok->strip_accents = json_is_boolean(sa) ? json_is_true(sa) : tok->lowercase;
    } else if (norm && !json_is_null(norm)) {
        return df_error_set(err, DF_EFORMAT, "%s: normalizer is not an object", name);
    }
    json_t *pt = json_object_get(root, "pre_tokenizer");
    if (json_is_object(pt)) {
        const char *ty = jstr(pt, "type");
        if (!ty || strcmp(ty, "BertPreTokenizer"))
            return df_error_set(err, DF_EUNSUPPORTED, "%s: pre_tokenizer type \"%s\" is not supported for WordPiece",
                                name, ty ? ty : "(none)");
    }
    specials_from_post(tok, json_object_get(root, "post_processor"));
    json_t *pad = json_object_get(root, "padding");
    if (json_is_integer(json_object_get(pad, "pad_id"))) tok->pad_id = json_integer_value(json_object_get(pad, "pad_id"));
    if (tok->pad_id >= (int64_t)tok->v.n) tok->pad_id = -1;
    return wordpiece_finish(tok, name, err);
}

static df_status unigram_normalizer(df_tokenizer *tok, json_t *n, const char *name, int depth, df_error *err) {
    if (!n || json_is_null(n)) return DF_OK;
    const char *ty = jstr(n, "type");
    if (!ty) return df_error_set(err, DF_EFORMAT, "%s: normalizer without a type", name);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(n, "normalizers");
        if (depth > 4 || !json_is_array(list))
            return df_error_set(err, DF_EFORMAT, "%s: Sequence normalizer without a normalizers list", name);
        for (size_t i = 0; i < json_array_size(list); i++) {
            df_status s = unigram_normalizer(tok, json_array_get(list, i), name, depth + 1, err);
            if (s) return s;
        }
        return DF_OK;
    }
    if (!strcmp(ty, "Precompiled")) {
        const char *b64 = jstr(n, "precompiled_charsmap");
        if (!b64 || !*b64) return DF_OK;
        if (tok->has_cm) return df_error_set(err, DF_EUNSUPPORTED, "%s: two Precompiled normalizers", name);
        unsigned char *blob;
        size_t bl;
        df_status s = b64_decode(b64, strlen(b64), &blob, &bl);
        if (s) return df_error_set(err, s, "%s: precompiled_charsmap is not base64", name);
        s = charsmap_parse(&tok->cm, blob, bl, err);
        free(blob);
        if (s) return df_error_prefix(err, "%s: ", name);
        tok->has_cm = true;
        return DF_OK;
    }
    if (!strcmp(ty, "Replace")) {
        json_t *pat = json_object_get(n, "pattern");
        const char *str = jstr(pat, "String"), *re = jstr(pat, "Regex"), *content = jstr(n, "content");
        if (content && !strcmp(content, " ") && ((re && !strcmp(re, " {2,}")) || (str && !strcmp(str, "  ")))) {
            tok->hf_collapse = true;
            return DF_OK;
        }
        return df_error_set(err, DF_EUNSUPPORTED, "%s: Replace normalizer other than \" {2,}\" -> \" \"", name);
    }
    if (!strcmp(ty, "Strip")) {
        tok->hf_strip_l = jbool(n, "strip_left", true);
        tok->hf_strip_r = jbool(n, "strip_right", true);
        return DF_OK;
    }
    return df_error_set(err, DF_EUNSUPPORTED, "%s: normalizer type \"%s\" is not supported for Unigram", name, ty);
}

static df_status unigram_pretok(df_tokenizer *tok, json_t *p, const char *name, int depth, df_error *err) {
    if (!p || json_is_null(p)) return DF_OK;
    const char *ty = jstr(p, "type");
    if (!ty) return df_error_set(err, DF_EFORMAT, "%s: pre_tokenizer without a type", name);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (depth > 4 || !json_is_array(list))
            return df_error_set(err, DF_EFORMAT, "%s: Sequence pre_tokenizer without a pretokenizers list", name);
        for (size_t i = 0; i < json_array_size(list); i++) {
            df_status s = unigram_pretok(tok, json_array_get(list, i), name, depth + 1, err);
            if (s) return s;
        }
        return DF_OK;
    }
    if (!strcmp(ty, "WhitespaceSplit")) {
        /* Dropping whitespace and giving every word a ▁ equals collapsing and stripping it. */
        tok->hf_collapse = tok->hf_strip_l = tok->hf_strip_r = true;
        return DF_OK;
    }
    if (!strcmp(ty, "Metaspace")) {
        const char *rep = jstr(p, "replacement");
        if (rep && strcmp(rep, "\xE2\x96\x81"))
            return df_error_set(err, DF_EUNSUPPORTED, "%s: Metaspace replacement other than U+2581", name);
        const char *scheme = jstr(p, "prepend_scheme");
        if (scheme)
            tok->add_dummy_prefix = strcmp(scheme, "never") != 0;
        else
            tok->add_dummy_prefix = jbool(p, "add_prefix_space", true);
        return DF_OK;
    }
    return df_error_set(err, DF_EUNSUPPORTED, "%s: pre_tokenizer type \"%s\" is not supported for Unigram", name, ty);
}

static df_status parse_unigram(df_tokenizer *tok, json_t *root, json_t *model, const char *name, df_error *err) {
    tok->kind = DF_TOKENIZER_UNIGRAM;
    tok->hf_style = true;
    tok->escape_ws = true;
    json_t *vocab = json_object_get(model, "vocab");
    size_t n = json_array_size(vocab);
    if (!json_is_array(vocab) || n == 0) return df_error_set(err, DF_EFORMAT, "%s: model.vocab is missing or empty", name);
    json_t *uid = json_object_get(model, "unk_id");
    if (!json_is_integer(uid) || json_integer_value(uid) < 0 || (size_t)json_integer_value(uid) >= n)
        return df_error_set(err, DF_EFORMAT, "%s: model.unk_id is missing or out of range", name);
    tok->unk_id = json_integer_value(uid);
    tok->byte_fallback = jbool(model, "byte_fallback", false);
    idtab t = {0};
    df_status s = idtab_init(&t, n, name, err);
    for (size_t i = 0; i < n && !s; i++) {
        json_t *e = json_array_get(vocab, i);
        json_t *p = json_array_get(e, 0), *sc = json_array_get(e, 1);
        if (!json_is_string(p) || !json_is_number(sc)) {
            s = df_error_set(err, DF_EFORMAT, "%s: model.vocab[%zu] is not [piece, score]", name, i);
            break;
        }
        t.s[i] = json_string_value(p);
        t.len[i] = json_string_length(p);
        double d = json_number_value(sc);
        if (!(d > -1e30 && d < 1e30)) {
            s = df_error_set(err, DF_EFORMAT, "%s: model.vocab[%zu] has score %g", name, i, d);
            break;
        }
        t.score[i] = (float)d;
        t.type[i] = i == (size_t)tok->unk_id ? PT_UNKNOWN : PT_NORMAL;
        if (t.len[i] == 0) t.type[i] = PT_UNUSED;
        if (!s && t.len[i] >= 4 && t.s[i][0] == '<' && t.s[i][1] == '0' && t.s[i][2] == 'x' && t.len[i] == 6 &&
            tok->byte_fallback)
            t.type[i] = PT_BYTE;
        s = check_piece_utf8(t.s[i], t.len[i], name, err);
    }
    /* Special added tokens are never matched inside text (see text.h). */
    json_t *added = json_object_get(root, "added_tokens");
    for (size_t i = 0; i < json_array_size(added) && !s; i++) {
        json_t *a = json_array_get(added, i);
        json_t *id = json_object_get(a, "id");
        if (json_is_integer(id) && json_integer_value(id) >= 0 && (size_t)json_integer_value(id) < n &&
            json_is_true(json_object_get(a, "special")) && json_integer_value(id) != tok->unk_id)
            t.type[json_integer_value(id)] = PT_CONTROL;
    }
    if (!s) s = idtab_to_vocab(&t, tok, name, err);
    idtab_free(&t);
    if (s) return s;
    tok->add_dummy_prefix = true;
    if ((s = unigram_normalizer(tok, json_object_get(root, "normalizer"), name, 0, err))) return s;
    if ((s = unigram_pretok(tok, json_object_get(root, "pre_tokenizer"), name, 0, err))) return s;
    int32_t b = vocab_find(&tok->v, "<s>", 3), e = vocab_find(&tok->v, "</s>", 4), p = vocab_find(&tok->v, "<pad>", 5);
    tok->cls_id = b;
    tok->sep_id = e;
    specials_from_post(tok, json_object_get(root, "post_processor"));
    json_t *pad = json_object_get(root, "padding");
    if (json_is_integer(json_object_get(pad, "pad_id"))) p = (int32_t)json_integer_value(json_object_get(pad, "pad_id"));
    tok->pad_id = p >= 0 && (size_t)p < n ? p : 0;
    return unigram_prepare(tok, name, err);
}

df_status tokjson_parse(df_tokenizer *tok, const char *data, size_t len, const char *name,
                        const df_tokenizer_opts *opts, df_error *err) {
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return df_error_set(err, DF_EFORMAT, "%s:%d:%d: %s", name, je.line, je.column, je.text);
    df_status s;
    json_t *model = json_object_get(root, "model");
    const char *ty = jstr(model, "type");
    if (!json_is_object(model)) {
        s = df_error_set(err, DF_EFORMAT, "%s: no \"model\" object", name);
    } else if (!ty) {
        /* Old exports omit model.type; the vocab's shape says which model it is. */
        json_t *v = json_object_get(model, "vocab");
        if (json_object_get(model, "merges"))
            s = df_error_set(err, DF_EUNSUPPORTED, "%s: BPE models are not supported (WordPiece, Unigram)", name);
        else if (json_is_object(v))
            s = parse_wordpiece(tok, root, model, name, opts, err);
        else if (json_is_array(v))
            s = parse_unigram(tok, root, model, name, err);
        else
            s = df_error_set(err, DF_EFORMAT, "%s: model has no type and no vocab", name);
    } else if (!strcmp(ty, "WordPiece")) {
        s = parse_wordpiece(tok, root, model, name, opts, err);
    } else if (!strcmp(ty, "Unigram")) {
        s = parse_unigram(tok, root, model, name, err);
    } else {
        s = df_error_set(err, DF_EUNSUPPORTED, "%s: model type \"%s\" is not supported (WordPiece, Unigram)", name, ty);
    }
    json_decref(root);
    return s;
}
