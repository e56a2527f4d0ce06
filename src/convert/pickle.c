/* A restricted pickle machine for torch.save state dicts (the data.pkl of pytorch_model.bin).
 *
 * Pickle is a program: a general unpickler imports and calls whatever the file names, which
 * is how a malicious checkpoint runs code. This machine understands only the opcodes that
 * torch.save emits (protocol 2, plus the few protocol 4 ones newer writers use) and only
 * the globals a state dict needs; "calling" one of them builds a plain description (an
 * ordered dict, a storage reference, a tensor view), never runs anything. Opcode meanings
 * follow CPython's Lib/pickletools.py; the tensor layout follows torch/_utils.py
 * (_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks)). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert_internal.h"

/* Caps keep a hostile file from making the machine allocate without bound. */
#define PK_MAX_OBJECTS (1 << 20) /* ~15 per tensor: room for 60k tensors */
#define PK_MAX_STACK (1 << 20)
#define PK_MAX_MEMO (1 << 22)

typedef enum pv_type {
    PV_NONE, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_TUPLE, PV_LIST, PV_DICT, PV_GLOBAL, PV_STORAGE, PV_TENSOR
} pv_type;

typedef enum pk_global {
    G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE_TYPE
} pk_global;

typedef struct pv pv;
struct pv {
    pv_type type;
    int64_t i;          /* INT, BOOL; GLOBAL: pk_global; STORAGE: numel */
    double f;
    char *s;            /* STR; STORAGE: key */
    df_dtype dtype;     /* GLOBAL storage type; STORAGE; TENSOR */
    pv **items;         /* TUPLE, LIST; DICT: key, value pairs */
    size_t n, cap;
    pv *storage;        /* TENSOR */
    int64_t offset;     /* TENSOR */
    df_shape shape;     /* TENSOR */
    int64_t strides[DF_MAX_RANK];
};

typedef struct pk {
    const uint8_t *p, *end, *begin;
    const char *what;
    df_error *err;
    pv **all;           /* every object, freed together: the memo and stack share them */
    size_t n_all, cap_all;
    pv **stack;
    size_t sp, cap_stack;
    size_t *marks;
    size_t n_marks, cap_marks;
    pv **memo;
    size_t n_memo;
} pk;

static df_status pk_fail(pk *m, df_status st, const char *fmt, const char *a) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a ? a : "");
    return df_error_set(m->err, st, "%s: pickle byte %zu: %s", m->what, (size_t)(m->p - m->begin), msg);
}

static pv *pv_new(pk *m, pv_type t) {
    if (m->n_all >= PK_MAX_OBJECTS) return NULL;
    if (m->n_all == m->cap_all) {
        size_t cap = m->cap_all ? m->cap_all * 2 : 256;
        pv **na = realloc(m->all, cap * sizeof *na);
        if (!na) return NULL;
        m->all = na;
        m->cap_all = cap;
    }
    pv *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->type = t;
    m->all[m->n_all++] = v;
    return v;
}

static int pv_append(pv *c, pv *x) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        if (cap > ((size_t)1 << 26)) return -1;
        pv **ni = realloc(c->items, cap * sizeof *ni);
        if (!ni) return -1;
        c->items = ni;
        c->cap = cap;
    }
    c->items[c->n++] = x;
    return 0;
}

static df_status push(pk *m, pv *v) {
    if (!v) return df_error_set(m->err, DF_ENOMEM, "%s: pickle: too many objects or out of memory", m->what);
    if (m->sp == m->cap_stack) {
        if (m->cap_stack >= PK_MAX_STACK) return pk_fail(m, DF_EFORMAT, "stack too deep%s", NULL);
        size_t cap = m->cap_stack ? m->cap_stack * 2 : 64;
        pv **ns = realloc(m->stack, cap * sizeof *ns);
        if (!ns) return df_error_set(m->err, DF_ENOMEM, "%s: pickle: out of memory", m->what);
        m->stack = ns;
        m->cap_stack = cap;
    }
    m->stack[m->sp++] = v;
    return DF_OK;
}

/* Everything above the innermost mark must belong to the current frame. */
static size_t frame_base(const pk *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }

static df_status pop(pk *m, pv **out) {
    if (m->sp <= frame_base(m)) return pk_fail(m, DF_EFORMAT, "stack underflow%s", NULL);
    *out = m->stack[--m->sp];
    return DF_OK;
}

static df_status pop_mark(pk *m, size_t *base) {
    if (!m->n_marks) return pk_fail(m, DF_EFORMAT, "no MARK on the stack%s", NULL);
    *base = m->marks[--m->n_marks];
    return DF_OK;
}

static df_status need(pk *m, size_t n) {
    if ((size_t)(m->end - m->p) < n) return pk_fail(m, DF_EFORMAT, "truncated (the pickle ends inside an opcode)%s", NULL);
    return DF_OK;
}

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static df_status memo_put(pk *m, uint64_t idx) {
    if (m->sp <= frame_base(m)) return pk_fail(m, DF_EFORMAT, "memoizing with an empty stack%s", NULL);
    if (idx >= PK_MAX_MEMO) return pk_fail(m, DF_EFORMAT, "memo index too large%s", NULL);
    if (idx >= m->n_memo) {
        size_t n = (size_t)idx + 1;
        if (n < m->n_memo * 2) n = m->n_memo * 2;
        if (n > PK_MAX_MEMO) n = PK_MAX_MEMO;
        pv **nm = realloc(m->memo, n * sizeof *nm);
        if (!nm) return df_error_set(m->err, DF_ENOMEM, "%s: pickle: out of memory", m->what);
        memset(nm + m->n_memo, 0, (n - m->n_memo) * sizeof *nm);
        m->memo = nm;
        m->n_memo = n;
    }
    m->memo[idx] = m->stack[m->sp - 1];
    return DF_OK;
}

static df_status memo_get(pk *m, uint64_t idx) {
    if (idx >= m->n_memo || !m->memo[idx]) return pk_fail(m, DF_EFORMAT, "memo index not set%s", NULL);
    return push(m, m->memo[idx]);
}

static df_status push_str(pk *m, size_t len) {
    df_status st = need(m, len);
    if (st) return st;
    pv *v = pv_new(m, PV_STR);
    if (v) {
        v->s = malloc(len + 1);
        if (!v->s) v = NULL;
        else {
            memcpy(v->s, m->p, len);
            v->s[len] = '\0';
            v->n = 0;
            v->i = (int64_t)len;
        }
    }
    m->p += len;
    return push(m, v);
}

static const struct { const char *name; df_dtype dt; } STORAGE_TYPES[] = {
    {"FloatStorage", DF_F32}, {"HalfStorage", DF_F16}, {"BFloat16Storage", DF_BF16},
    {"DoubleStorage", DF_F64}, {"LongStorage", DF_I64}, {"IntStorage", DF_I32},
    {"ShortStorage", DF_I16}, {"CharStorage", DF_I8}, {"ByteStorage", DF_U8}, {"BoolStorage", DF_BOOL},
};

/* GLOBAL "module\nname\n": resolved against the allow list, never imported. */
static df_status op_global(pk *m) {
    const uint8_t *nl1 = memchr(m->p, '\n', (size_t)(m->end - m->p));
    const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(m->end - nl1 - 1)) : NULL;
    if (!nl2) return pk_fail(m, DF_EFORMAT, "truncated GLOBAL%s", NULL);
    char full[256];
    size_t lm = (size_t)(nl1 - m->p), ln = (size_t)(nl2 - nl1 - 1);
    if (lm + ln + 2 > sizeof full) return pk_fail(m, DF_EUNSUPPORTED, "pickle global name too long%s", NULL);
    memcpy(full, m->p, lm);
    full[lm] = '.';
    memcpy(full + lm + 1, nl1 + 1, ln);
    full[lm + ln + 1] = '\0';
    for (size_t k = 0; k < lm + ln + 1; k++)
        if ((unsigned char)full[k] < 0x20 || (unsigned char)full[k] > 0x7e) full[k] = '?';
    m->p = nl2 + 1;
    pv *v = pv_new(m, PV_GLOBAL);
    if (!v) return push(m, NULL);
    if (!strcmp(full, "collections.OrderedDict")) v->i = G_ORDERED_DICT;
    else if (!strcmp(full, "torch._utils._rebuild_tensor_v2")) v->i = G_REBUILD_TENSOR_V2;
    else if (!strcmp(full, "torch._utils._rebuild_parameter")) v->i = G_REBUILD_PARAMETER;
    else {
        v->i = -1;
        if (!strncmp(full, "torch.", 6))
            for (size_t k = 0; k < sizeof STORAGE_TYPES / sizeof STORAGE_TYPES[0]; k++)
                if (!strcmp(full + 6, STORAGE_TYPES[k].name)) {
                    v->i = G_STORAGE_TYPE;
                    v->dtype = STORAGE_TYPES[k].dt;
                }
        if (v->i < 0)
            return df_error_set(m->err, DF_EUNSUPPORTED,
                                "%s: pickle global '%s' is not allowed (only torch state-dict globals are; nothing is executed)",
                                m->what, full);
    }
    return push(m, v);
}

static int is_int(const pv *v) { return v && (v->type == PV_INT || v->type == PV_BOOL); }

/* BINPERSID ('storage', <storage type>, key, location, numel) -> a storage reference. */
static df_status op_persid(pk *m) {
    pv *pid = NULL;
    df_status st = pop(m, &pid);
    if (st) return st;
    if (pid->type != PV_TUPLE || pid->n < 5 || pid->items[0]->type != PV_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->type != PV_GLOBAL || pid->items[1]->i != G_STORAGE_TYPE || pid->items[2]->type != PV_STR ||
        !is_int(pid->items[4]) || pid->items[4]->i < 0)
        return pk_fail(m, DF_EFORMAT, "persistent id is not ('storage', type, key, location, numel)%s", NULL);
    pv *s = pv_new(m, PV_STORAGE);
    if (!s) return push(m, NULL);
    s->dtype = pid->items[1]->dtype;
    s->s = strdup(pid->items[2]->s);
    s->i = pid->items[4]->i;
    if (!s->s) return push(m, NULL);
    return push(m, s);
}

static df_status rebuild_tensor(pk *m, pv *args, pv **out) {
    if (args->n < 4 || args->items[0]->type != PV_STORAGE || !is_int(args->items[1]) ||
        args->items[2]->type != PV_TUPLE || args->items[3]->type != PV_TUPLE)
        return pk_fail(m, DF_EFORMAT, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)%s", NULL);
    pv *size = args->items[2], *stride = args->items[3];
    if (size->n != stride->n) return pk_fail(m, DF_EFORMAT, "tensor size and stride ranks differ%s", NULL);
    if (size->n > DF_MAX_RANK) return pk_fail(m, DF_EUNSUPPORTED, "tensor rank over 8%s", NULL);
    pv *t = pv_new(m, PV_TENSOR);
    if (!t) return df_error_set(m->err, DF_ENOMEM, "%s: pickle: out of memory", m->what);
    t->storage = args->items[0];
    t->offset = args->items[1]->i;
    t->dtype = t->storage->dtype;
    t->shape.rank = (int)size->n;
    for (size_t d = 0; d < size->n; d++) {
        if (!is_int(size->items[d]) || !is_int(stride->items[d]) || size->items[d]->i < 0 || stride->items[d]->i < 0)
            return pk_fail(m, DF_EFORMAT, "tensor size or stride is not a non-negative int%s", NULL);
        t->shape.dims[d] = size->items[d]->i;
        t->strides[d] = stride->items[d]->i;
    }
    /* Checked here so that every later element count is free of overflow. */
    int64_t numel = 1;
    for (int d = 0; d < t->shape.rank; d++) {
        if (t->shape.dims[d] && numel > INT64_MAX / t->shape.dims[d])
            return pk_fail(m, DF_EFORMAT, "tensor size overflows%s", NULL);
        numel *= t->shape.dims[d];
    }
    *out = t;
    return DF_OK;
}

static df_status op_reduce(pk *m) {
    pv *args = NULL, *fn = NULL, *res = NULL;
    df_status st = pop(m, &args);
    if (!st) st = pop(m, &fn);
    if (st) return st;
    if (fn->type != PV_GLOBAL || args->type != PV_TUPLE)
        return pk_fail(m, DF_EFORMAT, "REDUCE on something that is not an allowed global%s", NULL);
    switch ((pk_global)fn->i) {
    case G_ORDERED_DICT:
        res = pv_new(m, PV_DICT);
        if (!res) return push(m, NULL);
        break;
    case G_REBUILD_TENSOR_V2:
        if ((st = rebuild_tensor(m, args, &res))) return st;
        break;
    case G_REBUILD_PARAMETER: /* (data, requires_grad, hooks): a Parameter is its data here */
        if (args->n < 1 || args->items[0]->type != PV_TENSOR)
            return pk_fail(m, DF_EFORMAT, "_rebuild_parameter without a tensor%s", NULL);
        res = args->items[0];
        break;
    default:
        return pk_fail(m, DF_EUNSUPPORTED, "a storage type cannot be called%s", NULL);
    }
    return push(m, res);
}

static df_status op_tuple_from(pk *m, size_t base) {
    pv *t = pv_new(m, PV_TUPLE);
    if (!t) return push(m, NULL);
    for (size_t k = base; k < m->sp; k++)
        if (pv_append(t, m->stack[k])) return push(m, NULL);
    m->sp = base;
    return push(m, t);
}

static df_status op_setitems(pk *m, size_t base) {
    if (base == 0 || (m->sp - base) % 2) return pk_fail(m, DF_EFORMAT, "SETITEMS needs a dict and key/value pairs%s", NULL);
    pv *d = m->stack[base - 1];
    if (d->type != PV_DICT) return pk_fail(m, DF_EFORMAT, "SETITEM(S) on something that is not a dict%s", NULL);
    for (size_t k = base; k < m->sp; k++)
        if (pv_append(d, m->stack[k])) return df_error_set(m->err, DF_ENOMEM, "%s: pickle: dict too large", m->what);
    m->sp = base;
    return DF_OK;
}

static df_status run(pk *m, pv **result) {
    df_status st = DF_OK;
    while (!st) {
        if (m->p >= m->end) return pk_fail(m, DF_EFORMAT, "ends without STOP%s", NULL);
        uint8_t op = *m->p++;
        pv *v = NULL;
        size_t base = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if (!(st = need(m, 1))) {
                if (*m->p > 5) return pk_fail(m, DF_EUNSUPPORTED, "unknown pickle protocol%s", NULL);
                m->p++;
            }
            break;
        case 0x95: /* FRAME: a length hint only */
            if (!(st = need(m, 8))) m->p += 8;
            break;
        case '.': /* STOP */
            if (m->sp != 1 || m->n_marks) return pk_fail(m, DF_EFORMAT, "STOP with %s objects left on the stack", m->sp ? "several" : "no");
            *result = m->stack[0];
            return DF_OK;
        case '}': st = push(m, pv_new(m, PV_DICT)); break;
        case ']': st = push(m, pv_new(m, PV_LIST)); break;
        case ')': st = push(m, pv_new(m, PV_TUPLE)); break;
        case 'N': st = push(m, pv_new(m, PV_NONE)); break;
        case 0x88: case 0x89:
            if ((v = pv_new(m, PV_BOOL))) v->i = op == 0x88;
            st = push(m, v);
            break;
        case '(': /* MARK */
            if (m->n_marks == m->cap_marks) {
                if (m->cap_marks >= PK_MAX_STACK) return pk_fail(m, DF_EFORMAT, "too many MARKs%s", NULL);
                size_t cap = m->cap_marks ? m->cap_marks * 2 : 16;
                size_t *nm = realloc(m->marks, cap * sizeof *nm);
                if (!nm) return df_error_set(m->err, DF_ENOMEM, "%s: pickle: out of memory", m->what);
                m->marks = nm;
                m->cap_marks = cap;
            }
            m->marks[m->n_marks++] = m->sp;
            break;
        case 'q': if (!(st = need(m, 1))) { st = memo_put(m, m->p[0]); m->p += 1; } break;
        case 'r': if (!(st = need(m, 4))) { st = memo_put(m, rd_le(m->p, 4)); m->p += 4; } break;
        case 0x94: st = memo_put(m, m->n_memo); break; /* MEMOIZE: the next free index */
        case 'h': if (!(st = need(m, 1))) { st = memo_get(m, m->p[0]); m->p += 1; } break;
        case 'j': if (!(st = need(m, 4))) { st = memo_get(m, rd_le(m->p, 4)); m->p += 4; } break;
        case 'X': case 'T': /* BINUNICODE, BINSTRING: 4-byte length */
            if (!(st = need(m, 4))) {
                uint64_t len = rd_le(m->p, 4);
                m->p += 4;
                st = push_str(m, (size_t)len);
            }
            break;
        case 0x8c: case 'U': /* SHORT_BINUNICODE, SHORT_BINSTRING */
            if (!(st = need(m, 1))) {
                size_t len = *m->p++;
                st = push_str(m, len);
            }
            break;
        case 'c': st = op_global(m); break;
        case 'K': if (!(st = need(m, 1)) && (v = pv_new(m, PV_INT))) { v->i = m->p[0]; } m->p += st ? 0 : 1; if (!st) st = push(m, v); break;
        case 'M': if (!(st = need(m, 2)) && (v = pv_new(m, PV_INT))) { v->i = (int64_t)rd_le(m->p, 2); } m->p += st ? 0 : 2; if (!st) st = push(m, v); break;
        case 'J': if (!(st = need(m, 4)) && (v = pv_new(m, PV_INT))) { v->i = (int32_t)(uint32_t)rd_le(m->p, 4); } m->p += st ? 0 : 4; if (!st) st = push(m, v); break;
        case 0x8a: /* LONG1: n-byte little-endian two's complement */
            if (!(st = need(m, 1))) {
                size_t n = m->p[0];
                if (n > 8) return pk_fail(m, DF_EUNSUPPORTED, "integer wider than 64 bits%s", NULL);
                if ((st = need(m, 1 + n))) break;
                uint64_t u = n ? rd_le(m->p + 1, (int)n) : 0;
                if (n && n < 8 && (m->p[n] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
                m->p += 1 + n;
                if ((v = pv_new(m, PV_INT))) v->i = (int64_t)u;
                st = push(m, v);
            }
            break;
        case 'G': /* BINFLOAT: big-endian double */
            if (!(st = need(m, 8))) {
                uint64_t u = 0;
                for (int k = 0; k < 8; k++) u = (u << 8) | m->p[k];
                m->p += 8;
                if ((v = pv_new(m, PV_FLOAT))) memcpy(&v->f, &u, sizeof v->f);
                st = push(m, v);
            }
            break;
        case 't': if (!(st = pop_mark(m, &base))) st = op_tuple_from(m, base); break;
        case 0x85: case 0x86: case 0x87: {
            size_t n = (size_t)(op - 0x84);
            if (m->sp < frame_base(m) + n) return pk_fail(m, DF_EFORMAT, "stack underflow in TUPLEn%s", NULL);
            st = op_tuple_from(m, m->sp - n);
            break;
        }
        case 'Q': st = op_persid(m); break;
        case 'R': st = op_reduce(m); break;
        case 's':
            if (m->sp < frame_base(m) + 3) return pk_fail(m, DF_EFORMAT, "stack underflow in SETITEM%s", NULL);
            st = op_setitems(m, m->sp - 2);
            break;
        case 'u': if (!(st = pop_mark(m, &base))) st = op_setitems(m, base); break;
        case 'a': case 'e': {
            if (op == 'a') {
                if (m->sp < frame_base(m) + 2) return pk_fail(m, DF_EFORMAT, "stack underflow in APPEND%s", NULL);
                base = m->sp - 1;
            } else if ((st = pop_mark(m, &base))) break;
            if (base == 0 || m->stack[base - 1]->type != PV_LIST)
                return pk_fail(m, DF_EFORMAT, "APPEND(S) on something that is not a list%s", NULL);
            for (size_t k = base; k < m->sp; k++)
                if (pv_append(m->stack[base - 1], m->stack[k])) return df_error_set(m->err, DF_ENOMEM, "%s: pickle: list too large", m->what);
            m->sp = base;
            break;
        }
        case 'b': { /* BUILD: torch sets an OrderedDict's _metadata this way; ignored */
            pv *state = NULL;
            if ((st = pop(m, &state))) break;
            if (m->sp <= frame_base(m) || m->stack[m->sp - 1]->type != PV_DICT)
                return pk_fail(m, DF_EFORMAT, "BUILD on something that is not a dict%s", NULL);
            break;
        }
        default: {
            char hex[8];
            snprintf(hex, sizeof hex, "0x%02x", op);
            m->p--;
            return pk_fail(m, DF_EUNSUPPORTED, "opcode %s is not one torch.save emits", hex);
        }
        }
    }
    return st;
}

void df_pk_tensors_free(df_pk_tensor *t, size_t n) {
    if (!t) return;
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].storage_key);
    }
    free(t);
}

/* A state dict's tensors must be dense row-major views (what a checkpoint saves); a strided
 * view would need a gather the exporter has no reason to support. */
static int contiguous(const pv *t) {
    int64_t expect = 1;
    for (int d = t->shape.rank - 1; d >= 0; d--) {
        if (t->shape.dims[d] != 1 && t->strides[d] != expect) return 0;
        if (t->shape.dims[d] && expect > INT64_MAX / t->shape.dims[d]) return 0;
        expect *= t->shape.dims[d];
    }
    return 1;
}

static df_status collect(pk *m, const pv *root, df_pk_tensor **out, size_t *count) {
    if (root->type != PV_DICT) return df_error_set(m->err, DF_EFORMAT, "%s: the pickle is not a state dict (a dict of tensors)", m->what);
    size_t n = root->n / 2;
    df_pk_tensor *ts = calloc(n ? n : 1, sizeof *ts);
    if (!ts) return df_error_set(m->err, DF_ENOMEM, "%s: out of memory", m->what);
    df_status st = DF_OK;
    size_t k = 0;
    for (; k < n; k++) {
        const pv *key = root->items[2 * k], *t = root->items[2 * k + 1];
        if (key->type != PV_STR) {
            st = df_error_set(m->err, DF_EFORMAT, "%s: state dict key %zu is not a string", m->what, k);
            break;
        }
        if (t->type != PV_TENSOR) {
            st = df_error_set(m->err, DF_EFORMAT, "%s: state dict entry '%s' is not a tensor", m->what, key->s);
            break;
        }
        if (!contiguous(t)) {
            st = df_error_set(m->err, DF_EUNSUPPORTED, "%s: tensor '%s' is not contiguous (strided views are not supported)",
                              m->what, key->s);
            break;
        }
        int64_t numel = df_shape_numel(&t->shape);
        if (numel < 0 || t->offset < 0 || t->offset > t->storage->i || numel > t->storage->i - t->offset) {
            st = df_error_set(m->err, DF_EFORMAT,
                              "%s: tensor '%s' (offset %" PRId64 ", %" PRId64 " elements) lies outside its storage '%s' of %" PRId64
                              " elements",
                              m->what, key->s, t->offset, numel, t->storage->s, t->storage->i);
            break;
        }
        ts[k].name = strdup(key->s);
        ts[k].storage_key = strdup(t->storage->s);
        if (!ts[k].name || !ts[k].storage_key) {
            k++;
            st = df_error_set(m->err, DF_ENOMEM, "%s: out of memory", m->what);
            break;
        }
        ts[k].dtype = t->dtype;
        ts[k].storage_numel = t->storage->i;
        ts[k].offset = t->offset;
        ts[k].shape = t->shape;
    }
    if (st) {
        df_pk_tensors_free(ts, k < n ? k + 1 : n);
        return st;
    }
    *out = ts;
    *count = n;
    return DF_OK;
}

df_status df_pickle_state_dict(const uint8_t *buf, size_t size, const char *what, df_pk_tensor **out,
                               size_t *count, df_error *err) {
    *out = NULL;
    *count = 0;
    pk m = {.p = buf, .begin = buf, .end = buf + size, .what = what ? what : "data.pkl", .err = err};
    pv *root = NULL;
    df_status st = run(&m, &root);
    if (!st) st = collect(&m, root, out, count);
    for (size_t i = 0; i < m.n_all; i++) {
        free(m.all[i]->s);
        free(m.all[i]->items);
        free(m.all[i]);
    }
    free(m.all);
    free(m.stack);
    free(m.marks);
    free(m.memo);
    return st;
}
