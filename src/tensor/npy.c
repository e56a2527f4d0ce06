/* .npy and .npz files, as numpy writes them (numpy/lib/format.py, NEP 1).
 *
 * An .npy file is a 10- or 12-byte preamble, a Python dict literal describing dtype, layout
 * and shape, then the raw array bytes. An .npz is a zip of .npy members. Both arrive from
 * users, so every length and number in them is checked before it is trusted. */
#include "dpuflow/tensor.h"

#include "dpuflow/base.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

/* numpy refuses headers over 10000 bytes by default; a real header is under 300. */
#define NPY_MAX_HEADER 65536
/* Matches df_tensor_alloc's ceiling. */
#define NPY_MAX_BYTES ((uint64_t)1 << 40)
/* Deflate cannot expand by more than about 1032:1; a member that claims more is lying. */
#define DEFLATE_MAX_RATIO 1040

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static bool host_is_le(void) {
    return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
}

typedef struct npy_header {
    df_dtype dtype;
    size_t itemsize;
    bool swap;           /* file byte order differs from the host's */
    df_shape shape;
    uint64_t nbytes;     /* of the array data */
    size_t data_offset;  /* preamble + header */
} npy_header;

/* ---- preamble --------------------------------------------------------------------------- */

/* Needs the first 12 bytes (or fewer when n is shorter); sets the preamble and header length. */
static df_status npy_preamble(const uint8_t *p, size_t n, size_t *prelen, size_t *hlen, df_error *err) {
    if (n < 10) return df_error_set(err, DF_EFORMAT, "%zu bytes is too short for a .npy preamble", n);
    if (memcmp(p, NPY_MAGIC, sizeof NPY_MAGIC) != 0)
        return df_error_set(err, DF_EFORMAT, "not a .npy file (bad magic at byte 0)");
    uint8_t major = p[6], minor = p[7];
    if (minor != 0 || major < 1 || major > 3)
        return df_error_set(err, DF_EUNSUPPORTED, ".npy format version %u.%u is not supported (byte 6)", major, minor);
    if (major == 1) {
        *prelen = 10;
        *hlen = (size_t)p[8] | (size_t)p[9] << 8;
    } else {
        if (n < 12) return df_error_set(err, DF_EFORMAT, "%zu bytes is too short for a .npy %u.0 preamble", n, major);
        *prelen = 12;
        *hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
    }
    if (*hlen > NPY_MAX_HEADER)
        return df_error_set(err, DF_EFORMAT, "header length %zu at byte 8 exceeds the %d byte limit", *hlen, NPY_MAX_HEADER);
    return DF_OK;
}

/* ---- header dict ------------------------------------------------------------------------ */

/* A cursor over the dict text; base makes reported offsets count from the start of the file. */
typedef struct cursor {
    const char *s;
    size_t n, i, base;
    df_error *err;
} cursor;

static df_status fail(cursor *c, df_status st, const char *what) {
    if (c->i < c->n)
        return df_error_set(c->err, st, "header byte %zu: %s (found '%c')", c->base + c->i, what,
                            (c->s[c->i] >= 0x20 && c->s[c->i] < 0x7f) ? c->s[c->i] : '?');
    return df_error_set(c->err, st, "header byte %zu: %s (found end of header)", c->base + c->i, what);
}

static void skip_ws(cursor *c) {
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static bool eat(cursor *c, char ch) {
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == ch) {
        c->i++;
        return true;
    }
    return false;
}

static bool eat_word(cursor *c, const char *w) {
    size_t len = strlen(w);
    skip_ws(c);
    if (c->n - c->i >= len && memcmp(c->s + c->i, w, len) == 0) {
        c->i += len;
        return true;
    }
    return false;
}

/* A Python string literal without escapes (numpy never writes any in these fields). */
static df_status parse_str(cursor *c, const char **out, size_t *len) {
    skip_ws(c);
    if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"')) return fail(c, DF_EFORMAT, "expected a string");
    char q = c->s[c->i++];
    size_t start = c->i;
    while (c->i < c->n && c->s[c->i] != q) {
        if (c->s[c->i] == '\\') return fail(c, DF_EFORMAT, "escape sequences are not supported");
        c->i++;
    }
    if (c->i >= c->n) return fail(c, DF_EFORMAT, "unterminated string");
    *out = c->s + start;
    *len = c->i - start;
    c->i++;
    return DF_OK;
}

static df_status parse_shape(cursor *c, df_shape *shape) {
    memset(shape, 0, sizeof *shape);
    if (!eat(c, '(')) return fail(c, DF_EFORMAT, "expected '(' to start 'shape'");
    bool need_comma = false;  /* "(3)" is an int in Python, not a tuple */
    for (;;) {
        skip_ws(c);
        if (eat(c, ')')) break;
        if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '9') return fail(c, DF_EFORMAT, "expected a dimension in 'shape'");
        uint64_t v = 0;
        while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
            v = v * 10 + (uint64_t)(c->s[c->i] - '0');
            if (v > INT64_MAX) return fail(c, DF_ERANGE, "dimension in 'shape' overflows int64");
            c->i++;
        }
        if (c->i < c->n && c->s[c->i] == 'L') c->i++;  /* Python 2 long literal */
        if (shape->rank == DF_MAX_RANK)
            return fail(c, DF_EUNSUPPORTED, "'shape' has more dimensions than the supported 8");
        shape->dims[shape->rank++] = (int64_t)v;
        if (eat(c, ',')) {
            need_comma = false;
            continue;
        }
        need_comma = shape->rank == 1;
        if (!eat(c, ')')) return fail(c, DF_EFORMAT, "expected ',' or ')' in 'shape'");
        break;
    }
    if (need_comma) return df_error_set(c->err, DF_EFORMAT, "header byte %zu: 'shape' (N) is not a tuple; expected (N,)", c->base + c->i);
    return DF_OK;
}

static df_status parse_descr(cursor *c, const char *s, size_t len, npy_header *h) {
    char d[32];
    if (len == 0 || len >= sizeof d) return df_error_set(c->err, DF_EFORMAT, "'descr' of %zu characters is not a dtype", len);
    memcpy(d, s, len);
    d[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (d[i] < 0x20 || d[i] >= 0x7f) d[i] = '?';
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return df_error_set(c->err, DF_EFORMAT, "'descr' '%s' lacks a byte order ('<', '>', '|' or '=')", d);
    char kind = d[1];
    if (kind == 'O')
        return df_error_set(c->err, DF_EUNSUPPORTED, "object arrays ('descr' '%s') are not supported: they need pickle", d);
    int size = 0;
    for (size_t i = 2; i < len; i++) {
        if (d[i] < '0' || d[i] > '9' || size > 1000)
            return df_error_set(c->err, DF_EUNSUPPORTED, "'descr' '%s' is not a supported dtype", d);
        size = size * 10 + (d[i] - '0');
    }
    df_dtype dt = DF_UNDEFINED;
    switch (kind) {
    case 'f': dt = size == 2 ? DF_F16 : size == 4 ? DF_F32 : size == 8 ? DF_F64 : DF_UNDEFINED; break;
    case 'i': dt = size == 1 ? DF_I8 : size == 2 ? DF_I16 : size == 4 ? DF_I32 : size == 8 ? DF_I64 : DF_UNDEFINED; break;
    case 'u': dt = size == 1 ? DF_U8 : size == 2 ? DF_U16 : size == 4 ? DF_U32 : size == 8 ? DF_U64 : DF_UNDEFINED; break;
    case 'b': dt = size == 1 ? DF_BOOL : DF_UNDEFINED; break;
    default: break;
    }
    if (dt == DF_UNDEFINED)
        return df_error_set(c->err, DF_EUNSUPPORTED, "'descr' '%s' is not a supported dtype "
                            "(f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)", d);
    h->dtype = dt;
    h->itemsize = df_dtype_size(dt);
    /* '|' means "not applicable" and '=' means native; numpy resolves both to the host. */
    bool file_le = order == '<' || ((order == '|' || order == '=') && host_is_le());
    h->swap = h->itemsize > 1 && file_le != host_is_le();
    return DF_OK;
}

/* Parses "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" padded with spaces
 * and a newline. Each key must appear exactly once and nothing else may. */
static df_status npy_parse_dict(const char *s, size_t n, size_t base, npy_header *h, df_error *err) {
    cursor c = {s, n, 0, base, err};
    bool have_descr = false, have_order = false, have_shape = false, fortran = false;
    df_status st;
    if (!eat(&c, '{')) return fail(&c, DF_EFORMAT, "expected '{' to start the header dict");
    for (;;) {
        if (eat(&c, '}')) break;
        const char *key;
        size_t klen;
        size_t key_at = c.i;
        if ((st = parse_str(&c, &key, &klen))) return st;
        if (!eat(&c, ':')) return fail(&c, DF_EFORMAT, "expected ':' after a key");
        if (klen == 5 && !memcmp(key, "descr", 5)) {
            if (have_descr) return df_error_set(err, DF_EFORMAT, "header byte %zu: 'descr' appears twice", base + key_at);
            have_descr = true;
            skip_ws(&c);
            if (c.i < c.n && c.s[c.i] == '[')
                return fail(&c, DF_EUNSUPPORTED, "structured dtypes are not supported");
            const char *v;
            size_t vlen;
            if ((st = parse_str(&c, &v, &vlen))) return st;
            if ((st = parse_descr(&c, v, vlen, h))) return st;
        } else if (klen == 13 && !memcmp(key, "fortran_order", 13)) {
            if (have_order) return df_error_set(err, DF_EFORMAT, "header byte %zu: 'fortran_order' appears twice", base + key_at);
            have_order = true;
            if (eat_word(&c, "True")) fortran = true;
            else if (eat_word(&c, "False")) fortran = false;
            else return fail(&c, DF_EFORMAT, "'fortran_order' must be True or False");
        } else if (klen == 5 && !memcmp(key, "shape", 5)) {
            if (have_shape) return df_error_set(err, DF_EFORMAT, "header byte %zu: 'shape' appears twice", base + key_at);
            have_shape = true;
            if ((st = parse_shape(&c, &h->shape))) return st;
        } else {
            char k[40];
            size_t m = klen < sizeof k - 1 ? klen : sizeof k - 1;
            for (size_t i = 0; i < m; i++) k[i] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
            k[m] = '\0';
            return df_error_set(err, DF_EFORMAT, "header byte %zu: unexpected key '%s'", base + key_at, k);
        }
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        return fail(&c, DF_EFORMAT, "expected ',' or '}' in the header dict");
    }
    skip_ws(&c);
    if (c.i != c.n) return fail(&c, DF_EFORMAT, "unexpected text after the header dict");
    if (!have_descr) return df_error_set(err, DF_EFORMAT, "header has no 'descr'");
    if (!have_order) return df_error_set(err, DF_EFORMAT, "header has no 'fortran_order'");
    if (!have_shape) return df_error_set(err, DF_EFORMAT, "header has no 'shape'");
    if (fortran) {
        /* With at most one dimension above 1 the two layouts are the same bytes. */
        int big = 0;
        for (int i = 0; i < h->shape.rank; i++) big += h->shape.dims[i] > 1;
        if (big > 1)
            return df_error_set(err, DF_EUNSUPPORTED, "fortran_order True is not supported; "
                                "save the array with np.ascontiguousarray first");
    }
    uint64_t numel = 1;
    for (int i = 0; i < h->shape.rank; i++)
        if (__builtin_mul_overflow(numel, (uint64_t)h->shape.dims[i], &numel))
            return df_error_set(err, DF_ERANGE, "'shape' has more elements than fit in 64 bits");
    if (__builtin_mul_overflow(numel, (uint64_t)h->itemsize, &h->nbytes) || h->nbytes > NPY_MAX_BYTES)
        return df_error_set(err, DF_ERANGE, "array of %" PRIu64 " elements is too large", numel);
    return DF_OK;
}

/* Parses preamble and header from a buffer holding at least all of them. */
static df_status npy_parse_header(const uint8_t *p, size_t n, npy_header *h, df_error *err) {
    size_t prelen, hlen;
    df_status st = npy_preamble(p, n, &prelen, &hlen, err);
    if (st) return st;
    if (n - prelen < hlen)
        return df_error_set(err, DF_EFORMAT, "header of %zu bytes is cut off at byte %zu", hlen, n);
    memset(h, 0, sizeof *h);
    if ((st = npy_parse_dict((const char *)p + prelen, hlen, prelen, h, err))) return st;
    h->data_offset = prelen + hlen;
    return DF_OK;
}

static void swap_bytes(void *data, size_t count, size_t itemsize) {
    if (itemsize == 2) {
        uint16_t *q = data;
        for (size_t i = 0; i < count; i++) q[i] = __builtin_bswap16(q[i]);
    } else if (itemsize == 4) {
        uint32_t *q = data;
        for (size_t i = 0; i < count; i++) q[i] = __builtin_bswap32(q[i]);
    } else if (itemsize == 8) {
        uint64_t *q = data;
        for (size_t i = 0; i < count; i++) q[i] = __builtin_bswap64(q[i]);
    }
}

/* Booleans other than 0 and 1 would be undefined behavior in C and differ from numpy. */
static void normalize(df_tensor *t, const npy_header *h) {
    if (h->swap) swap_bytes(t->data, t->nbytes / h->itemsize, h->itemsize);
    if (t->dtype == DF_BOOL) {
        uint8_t *b = t->data;
        for (size_t i = 0; i < t->nbytes; i++) b[i] = b[i] != 0;
    }
}

df_status df_npy_parse(const void *buf, size_t size, df_tensor *out, df_error *err) {
    memset(out, 0, sizeof *out);
    npy_header h;
    df_status st = npy_parse_header(buf, size, &h, err);
    if (st) return st;
    uint64_t have = size - h.data_offset;
    if (have != h.nbytes)
        return df_error_set(err, DF_EFORMAT, "data at byte %zu has %" PRIu64 " bytes; shape and dtype need %" PRIu64,
                            h.data_offset, have, h.nbytes);
    if ((st = df_tensor_alloc(out, h.dtype, &h.shape, err))) return st;
    if (h.nbytes) memcpy(out->data, (const uint8_t *)buf + h.data_offset, h.nbytes);
    normalize(out, &h);
    return DF_OK;
}

df_status df_npy_read(const char *path, df_tensor *out, df_error *err) {
    memset(out, 0, sizeof *out);
    df_file_map map;
    df_status st = df_file_mmap(path, &map, err);
    if (st) return st;
    st = df_npy_parse(map.data, map.size, out, err);
    df_file_munmap(&map);
    if (st) df_error_prefix(err, "%s: ", path);
    return st;
}

/* ---- writing ---------------------------------------------------------------------------- */

static const char *npy_descr(df_dtype dt) {
    bool le = host_is_le();
    switch (dt) {
    case DF_F16: return le ? "<f2" : ">f2";
    case DF_F32: return le ? "<f4" : ">f4";
    case DF_F64: return le ? "<f8" : ">f8";
    case DF_I8: return "|i1";
    case DF_I16: return le ? "<i2" : ">i2";
    case DF_I32: return le ? "<i4" : ">i4";
    case DF_I64: return le ? "<i8" : ">i8";
    case DF_U8: return "|u1";
    case DF_U16: return le ? "<u2" : ">u2";
    case DF_U32: return le ? "<u4" : ">u4";
    case DF_U64: return le ? "<u8" : ">u8";
    case DF_BOOL: return "|b1";
    default: return NULL;
    }
}

/* Checks t and writes a version 1.0 preamble and header into hdr (NPY_HDR_CAP bytes), padded
 * like numpy so the data starts 64-byte aligned. */
#define NPY_HDR_CAP 512
static df_status npy_build_header(const df_tensor *t, char *hdr, size_t *len, df_error *err) {
    const char *descr = npy_descr(t->dtype);
    if (!descr) return df_error_set(err, DF_EUNSUPPORTED, "dtype %s cannot be stored in .npy", df_dtype_name(t->dtype));
    if (t->shape.rank < 0 || t->shape.rank > DF_MAX_RANK)
        return df_error_set(err, DF_EINVAL, "tensor rank %d is outside 0..%d", t->shape.rank, DF_MAX_RANK);
    uint64_t numel = 1;
    for (int i = 0; i < t->shape.rank; i++) {
        if (t->shape.dims[i] < 0) return df_error_set(err, DF_ESHAPE, "tensor has dynamic dim %d", i);
        if (__builtin_mul_overflow(numel, (uint64_t)t->shape.dims[i], &numel))
            return df_error_set(err, DF_ERANGE, "tensor shape overflows");
    }
    if (numel * df_dtype_size(t->dtype) != t->nbytes || (t->nbytes && !t->data))
        return df_error_set(err, DF_EINVAL, "tensor holds %zu bytes; shape and dtype need %" PRIu64, t->nbytes,
                            numel * df_dtype_size(t->dtype));
    char dict[NPY_HDR_CAP];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->shape.rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%" PRId64, i ? ", " : "", t->shape.dims[i]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", t->shape.rank == 1 ? "," : "");
    size_t total = 10 + (size_t)n + 1;           /* preamble, dict, newline */
    size_t padded = (total + 63) & ~(size_t)63;
    size_t hlen = padded - 10;
    memcpy(hdr, NPY_MAGIC, 6);
    hdr[6] = 1;
    hdr[7] = 0;
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    memcpy(hdr + 10, dict, (size_t)n);
    memset(hdr + 10 + n, ' ', padded - total);
    hdr[padded - 1] = '\n';
    *len = padded;
    return DF_OK;
}

df_status df_npy_write(const char *path, const df_tensor *t, df_error *err) {
    char hdr[NPY_HDR_CAP];
    size_t hlen;
    df_status st = npy_build_header(t, hdr, &hlen, err);
    if (st) {
        df_error_prefix(err, "%s: ", path);  /* returns DF_OK when err is NULL */
        return st;
    }
    df_atomic_file *f;
    if ((st = df_atomic_open(path, &f, err))) return st;
    if ((st = df_atomic_write(f, hdr, hlen, err)) || (st = df_atomic_write(f, t->data, t->nbytes, err))) {
        df_atomic_abort(f);
        return st;
    }
    return df_atomic_commit(f, err);
}

/* ---- tensor lists ----------------------------------------------------------------------- */

/* Takes ownership of *t on success. */
static df_status list_push(df_tensor_list *list, const char *name, size_t name_len, df_tensor *t, df_error *err) {
    char *copy = strndup(name, name_len);
    df_named_tensor *items = copy ? realloc(list->items, (list->count + 1) * sizeof *items) : NULL;
    if (!items) {
        free(copy);
        return df_error_set(err, DF_ENOMEM, "out of memory");
    }
    list->items = items;
    items[list->count].name = copy;
    items[list->count].tensor = *t;
    list->count++;
    memset(t, 0, sizeof *t);
    return DF_OK;
}

df_status df_tensor_list_add(df_tensor_list *list, const char *name, const df_tensor *t, df_error *err) {
    if (!name || !*name) return df_error_set(err, DF_EINVAL, "tensor list: empty name");
    if (df_tensor_list_find(list, name)) return df_error_set(err, DF_EINVAL, "tensor list: duplicate name '%s'", name);
    df_tensor copy;
    memset(&copy, 0, sizeof copy);
    df_status st = df_tensor_copy(&copy, t, err);
    if (st) {
        df_error_prefix(err, "tensor list: '%s': ", name);
        return st;
    }
    if ((st = list_push(list, name, strlen(name), &copy, err))) df_tensor_free(&copy);
    return st;
}

const df_tensor *df_tensor_list_find(const df_tensor_list *list, const char *name) {
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, name) == 0) return &list->items[i].tensor;
    return NULL;
}

void df_tensor_list_free(df_tensor_list *list) {
    if (!list) return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].name);
        df_tensor_free(&list->items[i].tensor);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* ---- .npz reading ----------------------------------------------------------------------- */

static df_status zip_fail(df_error *err, df_status st, const char *what, zip_error_t *ze) {
    return df_error_set(err, st, "%s: %s", what, zip_error_strerror(ze));
}

/* Reads exactly n bytes of a member; short reads mean the archive lies about its size. */
static df_status zread(zip_file_t *zf, void *dst, uint64_t n, uint64_t at, df_error *err) {
    uint8_t *p = dst;
    while (n) {
        zip_int64_t got = zip_fread(zf, p, n);
        if (got < 0) return df_error_set(err, DF_EFORMAT, "read failed at byte %" PRIu64 ": %s", at, zip_file_strerror(zf));
        if (got == 0) return df_error_set(err, DF_EFORMAT, "data ends at byte %" PRIu64 ", before its declared size", at);
        p += got;
        at += (uint64_t)got;
        n -= (uint64_t)got;
    }
    return DF_OK;
}

static df_status npz_read_member(zip_t *za, zip_uint64_t index, uint64_t size, df_tensor *out, df_error *err) {
    zip_file_t *zf = zip_fopen_index(za, index, 0);
    if (!zf) return zip_fail(err, DF_EFORMAT, "cannot open", zip_get_error(za));
    uint8_t pre[12];
    uint8_t *hdr = NULL;
    npy_header h;
    size_t prelen = 0, hlen = 0;
    df_status st;
    /* The preamble says how long the header is; only then is the data size known, and only
     * once it matches the member's declared size is anything large allocated. Versions 2
     * and 3 have a 12-byte preamble, version 1 a 10-byte one: never read past the preamble
     * here, so that what was read always fits the header buffer below. */
    size_t want = size < 10 ? (size_t)size : 10;
    if ((st = zread(zf, pre, want, 0, err))) goto done;
    if (want == 10 && pre[6] >= 2 && size >= 12) {
        if ((st = zread(zf, pre + 10, 2, 10, err))) goto done;
        want = 12;
    }
    if ((st = npy_preamble(pre, want, &prelen, &hlen, err))) goto done;
    if (size < prelen + hlen) {
        st = df_error_set(err, DF_EFORMAT, "header of %zu bytes is cut off at byte %" PRIu64, hlen, size);
        goto done;
    }
    if (!(hdr = malloc(prelen + hlen + 1))) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(hdr, pre, want);
    if ((st = zread(zf, hdr + want, prelen + hlen - want, want, err))) goto done;
    if ((st = npy_parse_header(hdr, prelen + hlen, &h, err))) goto done;
    if (size - h.data_offset != h.nbytes) {
        st = df_error_set(err, DF_EFORMAT, "data at byte %zu has %" PRIu64 " bytes; shape and dtype need %" PRIu64,
                          h.data_offset, size - h.data_offset, h.nbytes);
        goto done;
    }
    if ((st = df_tensor_alloc(out, h.dtype, &h.shape, err))) goto done;
    if ((st = zread(zf, out->data, h.nbytes, h.data_offset, err))) goto done;
    /* One more read reaches the end of the stream, where libzip verifies the CRC. */
    uint8_t extra;
    zip_int64_t more = zip_fread(zf, &extra, 1);
    if (more != 0) {
        st = more < 0 ? df_error_set(err, DF_EFORMAT, "%s", zip_file_strerror(zf))
                      : df_error_set(err, DF_EFORMAT, "data runs past its declared size %" PRIu64, size);
        goto done;
    }
    normalize(out, &h);
done:
    if (zf && zip_fclose(zf) != 0 && st == DF_OK) st = df_error_set(err, DF_EFORMAT, "checksum or close failed");
    free(hdr);
    if (st) df_tensor_free(out);
    return st;
}

static df_status npz_read_archive(zip_t *za, const char *label, uint64_t max_bytes, df_tensor_list *out,
                                  df_error *err) {
    if (max_bytes == 0) max_bytes = DF_NPZ_MAX_BYTES;
    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n < 0) return df_error_set(err, DF_EFORMAT, "%s: cannot list members", label);
    /* First pass: names, methods and declared sizes, before any member is decompressed. */
    uint64_t total = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t zs;
        if (zip_stat_index(za, (zip_uint64_t)i, 0, &zs) != 0)
            return df_error_set(err, DF_EFORMAT, "%s: member %" PRId64 ": %s", label, (int64_t)i, zip_strerror(za));
        const char *name = (zs.valid & ZIP_STAT_NAME) && zs.name ? zs.name : "";
        size_t len = strlen(name);
        if (len <= 4 || strcmp(name + len - 4, ".npy") != 0)
            return df_error_set(err, DF_EFORMAT, "%s: member '%s' is not an .npy array", label, name);
        if (!(zs.valid & ZIP_STAT_SIZE) || !(zs.valid & ZIP_STAT_COMP_SIZE) || !(zs.valid & ZIP_STAT_COMP_METHOD))
            return df_error_set(err, DF_EFORMAT, "%s: member '%s' has no recorded size", label, name);
        if (zs.comp_method != ZIP_CM_STORE && zs.comp_method != ZIP_CM_DEFLATE)
            return df_error_set(err, DF_EUNSUPPORTED, "%s: member '%s' uses compression method %u; only stored and deflated are supported",
                                label, name, (unsigned)zs.comp_method);
        if (zs.comp_method == ZIP_CM_DEFLATE && zs.size / DEFLATE_MAX_RATIO > zs.comp_size + 1)
            return df_error_set(err, DF_EFORMAT, "%s: member '%s' claims %" PRIu64 " bytes from %" PRIu64
                                " compressed, more than deflate can produce", label, name, (uint64_t)zs.size, (uint64_t)zs.comp_size);
        if (zs.size > max_bytes || total + zs.size > max_bytes)
            return df_error_set(err, DF_ERANGE, "%s: member '%s' brings the archive to more than the %" PRIu64 " byte limit",
                                label, name, max_bytes);
        total += zs.size;
    }
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t zs;
        if (zip_stat_index(za, (zip_uint64_t)i, 0, &zs) != 0)
            return df_error_set(err, DF_EFORMAT, "%s: member %" PRId64 ": %s", label, (int64_t)i, zip_strerror(za));
        size_t name_len = strlen(zs.name) - 4;
        for (size_t k = 0; k < out->count; k++)
            if (strlen(out->items[k].name) == name_len && !memcmp(out->items[k].name, zs.name, name_len))
                return df_error_set(err, DF_EFORMAT, "%s: member '%s' appears twice", label, zs.name);
        df_tensor t;
        memset(&t, 0, sizeof t);
        df_status st = npz_read_member(za, (zip_uint64_t)i, zs.size, &t, err);
        if (st) {
            df_error_prefix(err, "%s: member '%s': ", label, zs.name);
            return st;
        }
        if ((st = list_push(out, zs.name, name_len, &t, err))) {
            df_tensor_free(&t);
            return st;
        }
    }
    return DF_OK;
}

static df_status npz_parse(const void *buf, size_t size, const char *label, uint64_t max_bytes,
                           df_tensor_list *out, df_error *err) {
    out->items = NULL;
    out->count = 0;
    /* libzip takes a zero-length source for an empty archive; numpy and zipfile do not. */
    if (size == 0) return df_error_set(err, DF_EFORMAT, "%s: empty file is not an .npz archive", label);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(buf, size, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!za) {
        df_status st = zip_fail(err, DF_EFORMAT, label, &ze);
        zip_source_free(src);
        zip_error_fini(&ze);
        return st;
    }
    zip_error_fini(&ze);
    df_status st = npz_read_archive(za, label, max_bytes, out, err);
    zip_discard(za);
    if (st) df_tensor_list_free(out);
    return st;
}

df_status df_npz_read(const char *path, df_tensor_list *out, df_error *err) {
    out->items = NULL;
    out->count = 0;
    /* A mapping rather than zip_open: one code path with the buffer parser, and the page
     * cache serves as the archive buffer without a copy. */
    df_file_map map;
    df_status st = df_file_mmap(path, &map, err);
    if (st) return st;
    st = npz_parse(map.data, map.size, path, 0, out, err);
    df_file_munmap(&map);
    return st;
}

df_status df_npz_parse_buffer(const void *buf, size_t size, uint64_t max_bytes, df_tensor_list *out, df_error *err) {
    return npz_parse(buf, size, "npz buffer", max_bytes, out, err);
}

/* ---- .npz writing ----------------------------------------------------------------------- */

/* numpy.savez writes an empty archive for no arrays; libzip would write no file at all. */
static const uint8_t EMPTY_ZIP[22] = {'P', 'K', 5, 6};

/* Members are stored uncompressed like numpy.savez. The archive is written by libzip to a
 * temp file of ours in the same directory and then published (fsync, rename, directory
 * fsync), so a reader never sees a half-written archive and a failure keeps the old one. */
df_status df_npz_write(const char *path, const df_tensor_list *list, df_error *err) {
    static atomic_uint counter;
    char (*hdrs)[NPY_HDR_CAP] = NULL;
    char *tmp = NULL, *member = NULL;
    zip_t *za = NULL;
    df_status st = DF_OK;

    if (list->count == 0) return df_file_write_atomic(path, EMPTY_ZIP, sizeof EMPTY_ZIP, err);
    size_t *lens = calloc(list->count, sizeof *lens);
    hdrs = calloc(list->count, sizeof *hdrs);
    size_t tmp_len = strlen(path) + 64;
    tmp = malloc(tmp_len);
    if (!lens || !hdrs || !tmp) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < list->count; i++) {
        const char *name = list->items[i].name;
        if (!name || !*name) {
            st = df_error_set(err, DF_EINVAL, "%s: array %zu has an empty name", path, i);
            goto done;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(list->items[k].name, name)) {
                st = df_error_set(err, DF_EINVAL, "%s: array name '%s' appears twice", path, name);
                goto done;
            }
        if ((st = npy_build_header(&list->items[i].tensor, hdrs[i], &lens[i], err))) {
            df_error_prefix(err, "%s: array '%s': ", path, name);
            goto done;
        }
    }
    int code = 0;
    for (int attempt = 0; !za; attempt++) {
        snprintf(tmp, tmp_len, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        za = zip_open(tmp, ZIP_CREATE | ZIP_EXCL, &code);
        if (!za && (code != ZIP_ER_EXISTS || attempt > 100)) {
            zip_error_t ze;
            zip_error_init_with_code(&ze, code);
            st = zip_fail(err, DF_EIO, path, &ze);
            zip_error_fini(&ze);
            goto done;
        }
    }
    for (size_t i = 0; i < list->count; i++) {
        const df_named_tensor *it = &list->items[i];
        zip_buffer_fragment_t frags[2] = {{(zip_uint8_t *)hdrs[i], lens[i]}, {it->tensor.data, it->tensor.nbytes}};
        zip_source_t *src = zip_source_buffer_fragment(za, frags, it->tensor.nbytes ? 2 : 1, 0);
        free(member);
        member = malloc(strlen(it->name) + 5);
        if (!src || !member) {
            zip_source_free(src);
            st = df_error_set(err, DF_ENOMEM, "%s: out of memory", path);
            goto done;
        }
        sprintf(member, "%s.npy", it->name);
        zip_int64_t idx = zip_file_add(za, member, src, ZIP_FL_ENC_UTF_8);
        if (idx < 0) {
            zip_source_free(src);
            st = df_error_set(err, DF_EIO, "%s: member '%s': %s", path, member, zip_strerror(za));
            goto done;
        }
        /* A fixed time keeps the archive a pure function of its arrays, so content hashes
         * of build outputs are stable from run to run. */
        if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0 ||
            zip_file_set_mtime(za, (zip_uint64_t)idx, 315705600 /* 1980-01-03 */, 0) != 0) {
            st = df_error_set(err, DF_EIO, "%s: member '%s': %s", path, member, zip_strerror(za));
            goto done;
        }
    }
    if (zip_close(za) != 0) {
        st = df_error_set(err, DF_EIO, "%s: %s", path, zip_strerror(za));
        goto done;
    }
    za = NULL;
    st = df_file_publish(tmp, path, err);
done:
    if (za) zip_discard(za);
    if (st && tmp) unlink(tmp);
    free(member);
    free(tmp);
    free(hdrs);
    free(lens);
    return st;
}
