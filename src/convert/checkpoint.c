/* Checkpoint readers: safetensors (mmap'ed), pytorch_model.bin (zip + restricted pickle) and
 * sharded checkpoints (an index json whose weight_map names each tensor's file).
 *
 * safetensors layout (huggingface/safetensors docs): u64 little-endian header length N, N
 * bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
 * {...}}, then the data; offsets are relative to the data start. torch.save's zip holds
 * "<prefix>/data.pkl" and one member "<prefix>/data/<key>" per storage. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <zip.h>

#include "convert/convert_internal.h"
#include "dpuflow/base.h"

/* A header larger than this is not a real checkpoint's (HF caps it at 100 MB too). */
#define ST_MAX_HEADER ((uint64_t)100 << 20)
/* Storages read from a zip are capped in total, so a zip bomb cannot exhaust memory. */
#define BIN_MAX_BYTES ((uint64_t)32 << 30)

typedef struct ck_entry {
    char *name;
    df_dtype dtype;
    df_shape shape;
    const uint8_t *data;
    size_t nbytes;
    int file;
} ck_entry;

struct df_checkpoint {
    ck_entry *e;
    size_t n, cap;
    char **files;
    size_t n_files;
    df_file_map *maps;
    size_t n_maps;
    void **bufs;
    size_t n_bufs;
};

static df_status oom(df_error *err, const char *what) { return df_error_set(err, DF_ENOMEM, "%s: out of memory", what); }

static int add_file(df_checkpoint *c, const char *path) {
    char **nf = realloc(c->files, (c->n_files + 1) * sizeof *nf);
    if (!nf) return -1;
    c->files = nf;
    if (!(c->files[c->n_files] = strdup(path))) return -1;
    return (int)c->n_files++;
}

static int add_buf(df_checkpoint *c, void *b) {
    void **nb = realloc(c->bufs, (c->n_bufs + 1) * sizeof *nb);
    if (!nb) return -1;
    c->bufs = nb;
    c->bufs[c->n_bufs++] = b;
    return 0;
}

int df_checkpoint_find(const df_checkpoint *c, const char *name) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].name, name)) return (int)i;
    return -1;
}

static df_status add_entry(df_checkpoint *c, const char *name, df_dtype dt, const df_shape *shape, const uint8_t *data,
                           size_t nbytes, int file, df_error *err) {
    if (df_checkpoint_find(c, name) >= 0)
        return df_error_set(err, DF_EFORMAT, "%s: tensor '%s' appears twice", c->files[file], name);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        ck_entry *ne = realloc(c->e, cap * sizeof *ne);
        if (!ne) return oom(err, c->files[file]);
        c->e = ne;
        c->cap = cap;
    }
    ck_entry *e = &c->e[c->n];
    if (!(e->name = strdup(name))) return oom(err, c->files[file]);
    e->dtype = dt;
    e->shape = *shape;
    e->data = data;
    e->nbytes = nbytes;
    e->file = file;
    c->n++;
    return DF_OK;
}

/* ---- safetensors ------------------------------------------------------------------------ */

static const struct { const char *name; df_dtype dt; } ST_DTYPES[] = {
    {"F32", DF_F32}, {"F16", DF_F16}, {"BF16", DF_BF16}, {"F64", DF_F64}, {"I64", DF_I64},
    {"I32", DF_I32}, {"I16", DF_I16}, {"I8", DF_I8}, {"U8", DF_U8}, {"BOOL", DF_BOOL},
};

typedef struct range { uint64_t b, e; const char *name; } range;

static int range_cmp(const void *a, const void *b) {
    const range *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : 0;
}

static df_status parse_safetensors(df_checkpoint *c, const uint8_t *buf, size_t size, int file, df_error *err) {
    const char *what = c->files[file];
    if (size < 8) return df_error_set(err, DF_EFORMAT, "%s: %zu bytes, too short for a safetensors header length", what, size);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | buf[k];
    if (hlen > ST_MAX_HEADER || hlen > size - 8)
        return df_error_set(err, DF_EFORMAT, "%s: safetensors header length %" PRIu64 " exceeds the file (%zu bytes) or the 100 MB cap",
                            what, hlen, size);
    json_error_t je;
    json_t *h = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!h) return df_error_set(err, DF_EFORMAT, "%s: safetensors header is not valid JSON: %s (byte %d)", what, je.text, je.position);
    df_status st = DF_OK;
    range *rs = NULL;
    size_t nr = 0;
    if (!json_is_object(h)) {
        st = df_error_set(err, DF_EFORMAT, "%s: safetensors header is not a JSON object", what);
        goto done;
    }
    uint64_t data_size = size - 8 - hlen;
    const uint8_t *data = buf + 8 + hlen;
    rs = calloc(json_object_size(h) + 1, sizeof *rs);
    if (!rs) {
        st = oom(err, what);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(h, key, val) {
        if (!strcmp(key, "__metadata__")) continue;
        json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"), *jo = json_object_get(val, "data_offsets");
        if (!json_is_object(val) || !json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2) {
            st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s': header entry needs dtype, shape and data_offsets [begin, end]", what, key);
            goto done;
        }
        df_dtype dt = DF_UNDEFINED;
        for (size_t k = 0; k < sizeof ST_DTYPES / sizeof ST_DTYPES[0]; k++)
            if (!strcmp(json_string_value(jd), ST_DTYPES[k].name)) dt = ST_DTYPES[k].dt;
        if (dt == DF_UNDEFINED) {
            st = df_error_set(err, DF_EUNSUPPORTED, "%s: tensor '%s': dtype '%s' is not supported", what, key, json_string_value(jd));
            goto done;
        }
        df_shape shape = {0};
        if (json_array_size(js) > DF_MAX_RANK) {
            st = df_error_set(err, DF_EUNSUPPORTED, "%s: tensor '%s': rank %zu over 8", what, key, json_array_size(js));
            goto done;
        }
        shape.rank = (int)json_array_size(js);
        uint64_t numel = 1;
        for (int d = 0; d < shape.rank; d++) {
            json_t *x = json_array_get(js, (size_t)d);
            if (!json_is_integer(x) || json_integer_value(x) < 0) {
                st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer", what, key, d);
                goto done;
            }
            shape.dims[d] = json_integer_value(x);
            if (shape.dims[d] && numel > (UINT64_MAX >> 4) / (uint64_t)shape.dims[d]) {
                st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s': shape overflows", what, key);
                goto done;
            }
            numel *= (uint64_t)shape.dims[d];
        }
        json_t *jb = json_array_get(jo, 0), *je2 = json_array_get(jo, 1);
        if (!json_is_integer(jb) || !json_is_integer(je2) || json_integer_value(jb) < 0 ||
            json_integer_value(je2) < json_integer_value(jb)) {
            st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s': data_offsets are not integers 0 <= begin <= end", what, key);
            goto done;
        }
        uint64_t b = (uint64_t)json_integer_value(jb), e = (uint64_t)json_integer_value(je2);
        if (e > data_size) {
            st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] run past the data (%" PRIu64 " bytes)",
                              what, key, b, e, data_size);
            goto done;
        }
        if (e - b != numel * df_dtype_size(dt)) {
            st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s': %" PRIu64 " bytes for shape of %" PRIu64 " %s elements (%" PRIu64 " expected)",
                              what, key, e - b, numel, json_string_value(jd), numel * df_dtype_size(dt));
            goto done;
        }
        rs[nr++] = (range){b, e, key};
        if ((st = add_entry(c, key, dt, &shape, data + b, (size_t)(e - b), file, err))) goto done;
    }
    /* Overlapping tensors would alias each other's bytes: a sign of a forged header. */
    qsort(rs, nr, sizeof *rs, range_cmp);
    for (size_t k = 1; k < nr; k++)
        if (rs[k].b < rs[k - 1].e && rs[k].e > rs[k].b && rs[k - 1].e > rs[k - 1].b) {
            st = df_error_set(err, DF_EFORMAT, "%s: tensors '%s' and '%s' overlap in the data", what, rs[k - 1].name, rs[k].name);
            goto done;
        }
done:
    free(rs);
    json_decref(h);
    return st;
}

df_status df_checkpoint_open_safetensors_buffer(const void *buf, size_t size, const char *what, df_checkpoint **out,
                                                df_error *err) {
    *out = NULL;
    df_checkpoint *c = calloc(1, sizeof *c);
    if (!c) return oom(err, what);
    df_status st = add_file(c, what ? what : "safetensors") < 0 ? oom(err, what) : DF_OK;
    if (!st) st = parse_safetensors(c, buf, size, 0, err);
    if (st) {
        df_checkpoint_close(c);
        return st;
    }
    *out = c;
    return DF_OK;
}

static df_status open_safetensors(df_checkpoint *c, const char *path, df_error *err) {
    int file = add_file(c, path);
    if (file < 0) return oom(err, path);
    df_file_map map;
    df_status st = df_file_mmap(path, &map, err);
    if (st) return st;
    df_file_map *nm = realloc(c->maps, (c->n_maps + 1) * sizeof *nm);
    if (!nm) {
        df_file_munmap(&map);
        return oom(err, path);
    }
    c->maps = nm;
    c->maps[c->n_maps++] = map;
    return parse_safetensors(c, map.data, map.size, file, err);
}

/* ---- pytorch_model.bin ------------------------------------------------------------------ */

static df_status zip_read(zip_t *za, const char *member, uint64_t want, uint8_t **out, const char *path, df_error *err) {
    zip_stat_t zs;
    if (zip_stat(za, member, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
        return df_error_set(err, DF_EFORMAT, "%s: member '%s' is missing", path, member);
    if (want != UINT64_MAX && zs.size != want)
        return df_error_set(err, DF_EFORMAT, "%s: member '%s' holds %" PRIu64 " bytes, the pickle declares %" PRIu64, path, member,
                            (uint64_t)zs.size, want);
    if (zs.size > BIN_MAX_BYTES) return df_error_set(err, DF_ERANGE, "%s: member '%s' is too large", path, member);
    uint8_t *b = malloc(zs.size ? zs.size : 1);
    if (!b) return oom(err, path);
    zip_file_t *zf = zip_fopen(za, member, 0);
    if (!zf) {
        free(b);
        return df_error_set(err, DF_EFORMAT, "%s: cannot open member '%s': %s", path, member, zip_strerror(za));
    }
    uint64_t got = 0;
    while (got < zs.size) {
        zip_int64_t r = zip_fread(zf, b + got, zs.size - got);
        if (r <= 0) break;
        got += (uint64_t)r;
    }
    int closed = zip_fclose(zf);
    if (got != zs.size || closed != 0) {
        free(b);
        return df_error_set(err, DF_EFORMAT, "%s: member '%s' is truncated or fails its checksum", path, member);
    }
    *out = b;
    return DF_OK;
}

static df_status open_bin(df_checkpoint *c, const char *path, df_error *err) {
    int file = add_file(c, path);
    if (file < 0) return oom(err, path);
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        df_status st = df_error_set(err, zerr == ZIP_ER_OPEN || zerr == ZIP_ER_NOENT ? DF_EIO : DF_EFORMAT,
                                    "%s: not a readable PyTorch zip checkpoint: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return st;
    }
    df_status st = DF_OK;
    df_pk_tensor *ts = NULL;
    size_t nt = 0;
    uint8_t *pkl = NULL;
    /* The prefix is the archive's top folder (torch uses the file's stem), so find data.pkl. */
    char prefix[512] = "";
    zip_int64_t n = zip_get_num_entries(za, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(za, (zip_uint64_t)i, 0);
        size_t l = nm ? strlen(nm) : 0;
        if (l >= 9 && !strcmp(nm + l - 9, "/data.pkl") && l - 8 < sizeof prefix) {
            memcpy(prefix, nm, l - 8);
            prefix[l - 8] = '\0';
            break;
        }
    }
    if (!prefix[0]) {
        st = df_error_set(err, DF_EFORMAT, "%s: no '<name>/data.pkl' member: not a torch.save zip checkpoint%s", path,
                          n == 0 ? " (empty archive)" : "");
        goto done;
    }
    char member[1024];
    snprintf(member, sizeof member, "%sdata.pkl", prefix);
    if ((st = zip_read(za, member, UINT64_MAX, &pkl, path, err))) goto done;
    zip_stat_t zs;
    zip_stat(za, member, 0, &zs);
    char what[1024];
    snprintf(what, sizeof what, "%s: %s", path, member);
    if ((st = df_pickle_state_dict(pkl, zs.size, what, &ts, &nt, err))) goto done;
    /* One read per storage; tensors sharing a storage share the buffer. */
    struct { const char *key; uint8_t *data; uint64_t size; } *seen = calloc(nt + 1, sizeof *seen);
    size_t n_seen = 0;
    if (!seen) {
        st = oom(err, path);
        goto done;
    }
    for (size_t k = 0; k < nt && !st; k++) {
        size_t isz = df_dtype_size(ts[k].dtype);
        uint8_t *sdata = NULL;
        uint64_t ssize = 0;
        for (size_t s = 0; s < n_seen; s++)
            if (!strcmp(seen[s].key, ts[k].storage_key)) sdata = seen[s].data, ssize = seen[s].size;
        if (!sdata) {
            if (strchr(ts[k].storage_key, '/') || strstr(ts[k].storage_key, "..")) {
                st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s': storage key '%s' is not a plain name", path, ts[k].name,
                                  ts[k].storage_key);
                break;
            }
            if ((uint64_t)ts[k].storage_numel > BIN_MAX_BYTES / isz) {
                st = df_error_set(err, DF_ERANGE, "%s: tensor '%s': storage '%s' is too large", path, ts[k].name, ts[k].storage_key);
                break;
            }
            snprintf(member, sizeof member, "%sdata/%s", prefix, ts[k].storage_key);
            if ((st = zip_read(za, member, (uint64_t)ts[k].storage_numel * isz, &sdata, path, err))) break;
            if (add_buf(c, sdata)) {
                free(sdata);
                st = oom(err, path);
                break;
            }
            ssize = (uint64_t)ts[k].storage_numel * isz;
            seen[n_seen].key = ts[k].storage_key;
            seen[n_seen].size = ssize;
            seen[n_seen++].data = sdata;
        }
        /* Tensors sharing a storage may declare it differently; check against the bytes read. */
        if ((uint64_t)(ts[k].offset + df_shape_numel(&ts[k].shape)) * isz > ssize) {
            st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s' lies outside its storage '%s'", path, ts[k].name, ts[k].storage_key);
            break;
        }
        size_t nbytes = (size_t)df_shape_numel(&ts[k].shape) * isz;
        st = add_entry(c, ts[k].name, ts[k].dtype, &ts[k].shape, sdata + (size_t)ts[k].offset * isz, nbytes, file, err);
    }
    free(seen);
done:
    free(pkl);
    df_pk_tensors_free(ts, nt);
    zip_discard(za);
    return st;
}

/* ---- sharded checkpoints ---------------------------------------------------------------- */

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static df_status open_one(df_checkpoint *c, const char *path, df_error *err);

static df_status open_index(df_checkpoint *c, const char *path, df_error *err) {
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) return df_error_set(err, DF_EFORMAT, "%s: not valid JSON: %s (line %d)", path, je.text, je.line);
    df_status st = DF_OK;
    if (add_file(c, path) < 0) { /* listed so its hash goes into the export metadata */
        json_decref(root);
        return oom(err, path);
    }
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        st = df_error_set(err, DF_EFORMAT, "%s: 'weight_map' is missing or not an object", path);
        goto done;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = '\0';
    else strcpy(dir, "./");
    const char *key;
    json_t *val;
    /* Open each shard once, in first-mention order. */
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val)) {
            st = df_error_set(err, DF_EFORMAT, "%s: weight_map['%s'] is not a file name", path, key);
            goto done;
        }
        const char *f = json_string_value(val);
        if (!f[0] || strchr(f, '/') || !strcmp(f, "..")) {
            st = df_error_set(err, DF_EFORMAT, "%s: weight_map['%s'] = '%s' is not a file beside the index", path, key, f);
            goto done;
        }
        char full[8192];
        snprintf(full, sizeof full, "%s%s", dir, f);
        int have = 0;
        for (size_t k = 0; k < c->n_files; k++)
            if (!strcmp(c->files[k], full)) have = 1;
        if (!have && (st = open_one(c, full, err))) goto done;
    }
    json_object_foreach(wm, key, val) {
        if (df_checkpoint_find(c, key) < 0) {
            st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s' is not in its shard '%s'", path, key, json_string_value(val));
            goto done;
        }
    }
done:
    json_decref(root);
    return st;
}

static df_status open_one(df_checkpoint *c, const char *path, df_error *err) {
    if (ends_with(path, ".index.json")) return open_index(c, path, err);
    if (ends_with(path, ".safetensors")) return open_safetensors(c, path, err);
    if (ends_with(path, ".bin") || ends_with(path, ".pt") || ends_with(path, ".pth")) return open_bin(c, path, err);
    return df_error_set(err, DF_EUNSUPPORTED, "%s: unknown checkpoint format (expected .safetensors, .bin or .index.json)", path);
}

df_status df_checkpoint_open(const char *path, df_checkpoint **out, df_error *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
    char found[4096];
    if (S_ISDIR(sb.st_mode)) {
        static const char *names[] = {"model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                                      "pytorch_model.bin.index.json"};
        found[0] = '\0';
        for (size_t k = 0; k < 4 && !found[0]; k++) {
            snprintf(found, sizeof found, "%s/%s", path, names[k]);
            if (stat(found, &sb) != 0) found[0] = '\0';
        }
        if (!found[0])
            return df_error_set(err, DF_ENOTFOUND,
                                "%s: no checkpoint (model.safetensors, pytorch_model.bin or a *.index.json)", path);
        path = found;
    }
    df_checkpoint *c = calloc(1, sizeof *c);
    if (!c) return oom(err, path);
    df_status st = open_one(c, path, err);
    if (st) {
        df_checkpoint_close(c);
        return st;
    }
    *out = c;
    return DF_OK;
}

void df_checkpoint_close(df_checkpoint *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->e[i].name);
    free(c->e);
    for (size_t i = 0; i < c->n_files; i++) free(c->files[i]);
    free(c->files);
    for (size_t i = 0; i < c->n_maps; i++) df_file_munmap(&c->maps[i]);
    free(c->maps);
    for (size_t i = 0; i < c->n_bufs; i++) free(c->bufs[i]);
    free(c->bufs);
    free(c);
}

size_t df_checkpoint_count(const df_checkpoint *c) { return c->n; }

void df_checkpoint_info(const df_checkpoint *c, size_t i, const char **name, df_dtype *dtype, df_shape *shape) {
    if (name) *name = c->e[i].name;
    if (dtype) *dtype = c->e[i].dtype;
    if (shape) *shape = c->e[i].shape;
}

const char *df_checkpoint_file(const df_checkpoint *c, size_t i) { return c->files[c->e[i].file]; }

const char *const *df_checkpoint_files(const df_checkpoint *c, size_t *n) {
    *n = c->n_files;
    return (const char *const *)c->files;
}

static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalize */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

df_status df_checkpoint_get(const df_checkpoint *c, size_t i, df_tensor *out, df_error *err) {
    const ck_entry *e = &c->e[i];
    int is_float = e->dtype == DF_F32 || e->dtype == DF_F16 || e->dtype == DF_BF16 || e->dtype == DF_F64;
    int is_int = e->dtype == DF_I64 || e->dtype == DF_I32 || e->dtype == DF_I16 || e->dtype == DF_I8 || e->dtype == DF_U8;
    if (!is_float && !is_int)
        return df_error_set(err, DF_ETYPE, "%s: tensor '%s' has dtype %s, not a number type", c->files[e->file], e->name,
                            df_dtype_name(e->dtype));
    df_status st = df_tensor_alloc(out, is_float ? DF_F32 : DF_I64, &e->shape, err);
    if (st) return st;
    size_t n = (size_t)df_shape_numel(&e->shape);
    const uint8_t *p = e->data;
    /* memcpy per element: mmap'ed safetensors data need not be aligned for its type. */
    for (size_t k = 0; k < n; k++) {
        switch (e->dtype) {
        case DF_F32: memcpy((float *)out->data + k, p + 4 * k, 4); break;
        case DF_F16: { uint16_t h; memcpy(&h, p + 2 * k, 2); ((float *)out->data)[k] = half_to_f32(h); break; }
        case DF_BF16: { uint16_t h; memcpy(&h, p + 2 * k, 2); uint32_t b = (uint32_t)h << 16; memcpy((float *)out->data + k, &b, 4); break; }
        case DF_F64: { double d; memcpy(&d, p + 8 * k, 8); ((float *)out->data)[k] = (float)d; break; }
        case DF_I64: memcpy((int64_t *)out->data + k, p + 8 * k, 8); break;
        case DF_I32: { int32_t v; memcpy(&v, p + 4 * k, 4); ((int64_t *)out->data)[k] = v; break; }
        case DF_I16: { int16_t v; memcpy(&v, p + 2 * k, 2); ((int64_t *)out->data)[k] = v; break; }
        case DF_I8: ((int64_t *)out->data)[k] = (int8_t)p[k]; break;
        case DF_U8: ((int64_t *)out->data)[k] = p[k]; break;
        default: break;
        }
    }
    return DF_OK;
}
