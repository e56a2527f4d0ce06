/* ONNX protobuf -> IR. The protobuf-c bindings are generated at build time from the system's
 * onnx.proto, so the wire format is parsed by a maintained library, not by hand. Everything
 * the file claims (dims, sizes, offsets, names) is validated before it is trusted. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpuflow/onnx.h"
#include "graph/ir.h"
#include "onnx/onnx.pb-c.h"
#include "onnx/onnx_internal.h"

#define DF_ONNX_MAX_FILE ((size_t)4 << 30)

static df_status read_file(const char *path, uint8_t **data, size_t *size, df_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return df_error_set(err, DF_EIO, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > DF_ONNX_MAX_FILE) {
        close(fd);
        return df_error_set(err, DF_ERANGE, "%s: file of %lld bytes is larger than the 4 GiB limit", path,
                            (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return df_error_set(err, DF_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            close(fd);
            return df_error_set(err, DF_EIO, "%s: read failed: %s", path, r < 0 ? strerror(errno) : "short read");
        }
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *size = n;
    return DF_OK;
}

static bool dtype_supported(int32_t dt) {
    switch (dt) {
    case DF_F32: case DF_U8: case DF_I8: case DF_U16: case DF_I16: case DF_I32: case DF_I64:
    case DF_BOOL: case DF_F16: case DF_F64: case DF_U32: case DF_U64: case DF_BF16:
        return true;
    default:
        return false;
    }
}

/* Reads external data for t from base_dir/location at offset, length. */
static df_status read_external(const Onnx__TensorProto *tp, const char *base_dir, df_tensor *t, const char *what,
                               df_error *err) {
    const char *location = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = tp->external_data[i];
        if (!kv->key || !kv->value) continue;
        char *end = NULL;
        if (!strcmp(kv->key, "location")) location = kv->value;
        else if (!strcmp(kv->key, "offset")) offset = strtoll(kv->value, &end, 10);
        else if (!strcmp(kv->key, "length")) length = strtoll(kv->value, &end, 10);
        if (end && *end)
            return df_error_set(err, DF_EFORMAT, "%s: tensor '%s': external_data %s='%s' is not a number", what,
                                tp->name, kv->key, kv->value);
    }
    if (!location || !*location)
        return df_error_set(err, DF_EFORMAT, "%s: tensor '%s' has external data without a location", what, tp->name);
    if (!base_dir)
        return df_error_set(err, DF_EINVAL, "%s: tensor '%s' needs external file '%s' but the model was loaded from memory",
                            what, tp->name, location);
    if (location[0] == '/' || strstr(location, ".."))
        return df_error_set(err, DF_EFORMAT, "%s: tensor '%s': external location '%s' must be a relative path inside the model's folder",
                            what, tp->name, location);
    if (offset < 0 || (length >= 0 && (size_t)length != t->nbytes))
        return df_error_set(err, DF_EFORMAT, "%s: tensor '%s': external data length %lld does not match its shape (%zu bytes)",
                            what, tp->name, length, t->nbytes);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", base_dir, location);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return df_error_set(err, DF_EIO, "%s: tensor '%s': %s: %s", what, tp->name, path, strerror(errno));
    size_t got = 0;
    while (got < t->nbytes) {
        ssize_t r = pread(fd, (char *)t->data + got, t->nbytes - got, (off_t)offset + (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            close(fd);
            return df_error_set(err, DF_EFORMAT, "%s: tensor '%s': %s ends before offset %lld + %zu bytes", what,
                                tp->name, path, offset, t->nbytes);
        }
        got += (size_t)r;
    }
    close(fd);
    return DF_OK;
}

df_status df_onnx_tensor_from_proto(const Onnx__TensorProto *tp, const char *base_dir, const char *what,
                                    df_tensor *out, df_error *err) {
    const char *tname = tp->name ? tp->name : "<unnamed>";
    if (!dtype_supported(tp->data_type))
        return df_error_set(err, DF_EUNSUPPORTED, "%s: tensor '%s' has element type %d, which dpuflow does not support",
                            what, tname, tp->data_type);
    if (tp->n_dims > DF_MAX_RANK)
        return df_error_set(err, DF_EUNSUPPORTED, "%s: tensor '%s' has rank %zu (at most %d)", what, tname, tp->n_dims,
                            DF_MAX_RANK);
    if (tp->segment) return df_error_set(err, DF_EUNSUPPORTED, "%s: tensor '%s' is segmented", what, tname);
    df_shape s = {.rank = (int)tp->n_dims};
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0) return df_error_set(err, DF_EFORMAT, "%s: tensor '%s' has negative dim %zu", what, tname, i);
        s.dims[i] = tp->dims[i];
    }
    df_status st = df_tensor_alloc(out, (df_dtype)tp->data_type, &s, err);
    if (st) return df_error_prefix(err, "%s: tensor '%s': ", what, tname);
    size_t n = (size_t)df_shape_numel(&s), esize = df_dtype_size(out->dtype);
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        st = read_external(tp, base_dir, out, what, err);
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != out->nbytes)
            st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s' has %zu bytes of raw data, its shape needs %zu", what,
                              tname, tp->raw_data.len, out->nbytes);
        else if (n) memcpy(out->data, tp->raw_data.data, out->nbytes);
    } else {
        /* Typed fields: the proto stores small ints, bools and 16-bit floats in int32_data. */
        size_t have;
        switch (out->dtype) {
        case DF_F32: have = tp->n_float_data; break;
        case DF_I64: have = tp->n_int64_data; break;
        case DF_F64: have = tp->n_double_data; break;
        case DF_U32: case DF_U64: have = tp->n_uint64_data; break;
        default: have = tp->n_int32_data; break;
        }
        if (have != n) {
            st = df_error_set(err, DF_EFORMAT, "%s: tensor '%s' holds %zu values, its shape needs %zu", what, tname, have, n);
        } else {
            for (size_t i = 0; i < n; i++) {
                char *dst = (char *)out->data + i * esize;
                switch (out->dtype) {
                case DF_F32: memcpy(dst, &tp->float_data[i], 4); break;
                case DF_I64: memcpy(dst, &tp->int64_data[i], 8); break;
                case DF_F64: memcpy(dst, &tp->double_data[i], 8); break;
                case DF_U64: memcpy(dst, &tp->uint64_data[i], 8); break;
                case DF_U32: { uint32_t v = (uint32_t)tp->uint64_data[i]; memcpy(dst, &v, 4); break; }
                case DF_I32: memcpy(dst, &tp->int32_data[i], 4); break;
                case DF_U16: case DF_I16: case DF_F16: case DF_BF16: {
                    uint16_t v = (uint16_t)tp->int32_data[i];
                    memcpy(dst, &v, 2);
                    break;
                }
                case DF_BOOL: *(uint8_t *)dst = tp->int32_data[i] != 0; break;
                default: *(uint8_t *)dst = (uint8_t)tp->int32_data[i]; break;
                }
            }
        }
    }
    if (st) df_tensor_free(out);
    return st;
}

static df_status type_from_value_info(df_value *v, const Onnx__ValueInfoProto *vi, const char *what, df_error *err) {
    if (!vi->type) return DF_OK;
    if (vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !vi->type->tensor_type)
        return df_error_set(err, DF_EUNSUPPORTED, "%s: value '%s' is not a tensor (sequence, map or optional types are not supported)",
                            what, vi->name);
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    if (tt->has_elem_type) {
        if (!dtype_supported(tt->elem_type))
            return df_error_set(err, DF_EUNSUPPORTED, "%s: value '%s' has element type %d, which dpuflow does not support",
                                what, vi->name, tt->elem_type);
        v->dtype = (df_dtype)tt->elem_type;
    }
    if (!tt->shape) return DF_OK;
    if (tt->shape->n_dim > DF_MAX_RANK)
        return df_error_set(err, DF_EUNSUPPORTED, "%s: value '%s' has rank %zu (at most %d)", what, vi->name,
                            tt->shape->n_dim, DF_MAX_RANK);
    v->shape.rank = (int)tt->shape->n_dim;
    bool known = true;
    for (size_t d = 0; d < tt->shape->n_dim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        v->shape.dims[d] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dim->dim_value >= 0) {
            v->shape.dims[d] = dim->dim_value;
        } else {
            known = false;
            if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && dim->dim_param)
                v->dim_params[d] = strdup(dim->dim_param);
        }
    }
    v->shape_known = known;
    return DF_OK;
}

static df_status convert_attr(const Onnx__AttributeProto *ap, const char *base_dir, const char *what, df_node *n,
                              df_error *err) {
    df_attr a;
    memset(&a, 0, sizeof a);
    a.name = ap->name ? ap->name : "";
    a.type = ap->has_type ? (df_attr_type)ap->type : DF_ATTR_UNDEFINED;
    df_status st = DF_OK;
    switch (a.type) {
    case DF_ATTR_FLOAT: a.f = ap->f; break;
    case DF_ATTR_INT: a.i = ap->i; break;
    case DF_ATTR_STRING:
        a.s = (char *)(ap->s.data ? (char *)ap->s.data : "");
        a.s_len = ap->s.len;
        break;
    case DF_ATTR_TENSOR:
        if (!ap->t) return df_error_set(err, DF_EFORMAT, "%s: node '%s': tensor attribute '%s' is empty", what, n->name, a.name);
        if ((st = df_onnx_tensor_from_proto(ap->t, base_dir, what, &a.t, err))) return st;
        break;
    case DF_ATTR_FLOATS: a.floats = ap->floats; a.count = ap->n_floats; break;
    case DF_ATTR_INTS: a.ints = ap->ints; a.count = ap->n_ints; break;
    case DF_ATTR_STRINGS: {
        a.count = ap->n_strings;
        a.strings = calloc(a.count ? a.count : 1, sizeof(char *));
        if (!a.strings) return df_error_set(err, DF_ENOMEM, "out of memory");
        for (size_t i = 0; i < a.count; i++) {
            a.strings[i] = strndup((const char *)ap->strings[i].data, ap->strings[i].len);
            if (!a.strings[i]) st = DF_ENOMEM;
        }
        break;
    }
    case DF_ATTR_GRAPH:
        break; /* subgraphs (If, Loop, Scan) are unsupported; the op table will say so */
    default:
        /* Sparse tensors, type protos and attribute types from newer IRs. */
        return df_error_set(err, DF_EUNSUPPORTED, "%s: node '%s' (%s): attribute '%s' has unsupported type %d", what,
                            n->name, n->op_type, a.name, (int)a.type);
    }
    if (!st) st = df_node_add_attr(n, &a, err);
    if (a.type == DF_ATTR_TENSOR) df_tensor_free(&a.t);
    if (a.type == DF_ATTR_STRINGS) {
        for (size_t i = 0; i < a.count; i++) free(a.strings[i]);
        free(a.strings);
    }
    return st;
}

static int opset_for(const Onnx__ModelProto *m, const char *domain) {
    bool is_default = !domain || !*domain || !strcmp(domain, "ai.onnx");
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *d = m->opset_import[i]->domain;
        bool d_default = !d || !*d || !strcmp(d, "ai.onnx");
        if ((is_default && d_default) || (!is_default && d && !strcmp(d, domain)))
            return (int)m->opset_import[i]->version;
    }
    return -1;
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

df_status df_onnx_load_buffer(const void *data, size_t size, const char *base_dir, const char *what,
                              df_graph **out, df_error *err) {
    if (!what) what = "<memory>";
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    if (!m) return df_error_set(err, DF_EFORMAT, "%s: not a valid ONNX model (protobuf parse failed)", what);
    df_status st = DF_OK;
    df_graph *g = NULL;
    if (!m->graph) {
        st = df_error_set(err, DF_EFORMAT, "%s: the model has no graph", what);
        goto done;
    }
    if ((st = df_graph_new(&g, err))) goto done;
    const Onnx__GraphProto *gp = m->graph;
    int opset = opset_for(m, "");
    if (opset < 0) {
        if (m->n_opset_import == 0) opset = 1; /* IR < 3 models carry no opset_import */
        else opset = 1;
    }
    g->opset = opset;
    g->ir_version = m->ir_version;
    g->name = dup_or_empty(gp->name);
    g->producer_name = dup_or_empty(m->producer_name);
    g->producer_version = dup_or_empty(m->producer_version);

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name) {
            st = df_error_set(err, DF_EFORMAT, "%s: initializer %zu has no name", what, i);
            goto done;
        }
        int v = df_graph_value(g, tp->name);
        if (v < 0) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto done; }
        df_tensor t;
        if ((st = df_onnx_tensor_from_proto(tp, base_dir, what, &t, err))) goto done;
        df_value_set_const(&g->values[v], &t);
        g->values[v].is_initializer = true;
    }
    if (gp->n_sparse_initializer) {
        st = df_error_set(err, DF_EUNSUPPORTED, "%s: sparse initializers are not supported", what);
        goto done;
    }
    g->inputs = calloc(gp->n_input + 1, sizeof(int));
    g->outputs = calloc(gp->n_output + 1, sizeof(int));
    if (!g->inputs || !g->outputs) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !*vi->name) { st = df_error_set(err, DF_EFORMAT, "%s: graph input %zu has no name", what, i); goto done; }
        int v = df_graph_value(g, vi->name);
        if (v < 0) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto done; }
        if (g->values[v].has_const) continue; /* IR < 4 lists initializers as inputs too */
        if ((st = type_from_value_info(&g->values[v], vi, what, err))) goto done;
        g->values[v].is_graph_input = true;
        g->inputs[g->n_inputs++] = v;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        if (!vi->name || !*vi->name) { st = df_error_set(err, DF_EFORMAT, "%s: graph output %zu has no name", what, i); goto done; }
        int v = df_graph_value(g, vi->name);
        if (v < 0) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto done; }
        /* Kept for a save without inference; df_graph_infer recomputes both. */
        if (g->values[v].producer < 0 && !g->values[v].has_const && !g->values[v].is_graph_input &&
            (st = type_from_value_info(&g->values[v], vi, what, err)))
            goto done;
        g->values[v].is_graph_output = true;
        g->outputs[g->n_outputs++] = v;
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        if (!np->op_type || !*np->op_type) {
            st = df_error_set(err, DF_EFORMAT, "%s: node %zu ('%s') has no op_type", what, i, np->name ? np->name : "");
            goto done;
        }
        int ins[256], outs[64];
        if (np->n_input > 256 || np->n_output > 64) {
            st = df_error_set(err, DF_EUNSUPPORTED, "%s: node '%s' has too many inputs or outputs", what, np->name);
            goto done;
        }
        for (size_t k = 0; k < np->n_input; k++) {
            ins[k] = (np->input[k] && *np->input[k]) ? df_graph_value(g, np->input[k]) : -1;
            if (np->input[k] && *np->input[k] && ins[k] < 0) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto done; }
        }
        for (size_t k = 0; k < np->n_output; k++) {
            outs[k] = (np->output[k] && *np->output[k]) ? df_graph_value(g, np->output[k]) : -1;
            if (outs[k] >= 0 && (g->values[outs[k]].producer >= 0 || g->values[outs[k]].has_const ||
                                 g->values[outs[k]].is_graph_input)) {
                st = df_error_set(err, DF_EFORMAT, "%s: node '%s' (%s): output '%s' is already defined elsewhere", what,
                                  np->name ? np->name : "", np->op_type, np->output[k]);
                goto done;
            }
        }
        char fallback_name[64];
        snprintf(fallback_name, sizeof fallback_name, "%s_%zu", np->op_type, i);
        int ni = df_graph_add_node(g, np->op_type, np->name && *np->name ? np->name : fallback_name, np->domain, ins,
                                   (int)np->n_input, outs, (int)np->n_output);
        if (ni < 0) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto done; }
        df_node *n = &g->nodes[ni];
        int node_opset = opset_for(m, np->domain);
        n->opset = node_opset > 0 ? node_opset : opset;
        for (size_t k = 0; k < np->n_attribute; k++)
            if ((st = convert_attr(np->attribute[k], base_dir, what, n, err))) goto done;
    }
done:
    onnx__model_proto__free_unpacked(m, NULL);
    if (st) {
        df_graph_free(g);
        return st;
    }
    *out = g;
    return DF_OK;
}

df_status df_onnx_load(const char *path, df_graph **out, df_error *err) {
    uint8_t *data;
    size_t size;
    df_status st = read_file(path, &data, &size, err);
    if (st) return st;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    st = df_onnx_load_buffer(data, size, dir, path, out, err);
    free(data);
    return st;
}

df_status df_onnx_read_tensor(const char *path, df_tensor *out, char **name, df_error *err) {
    uint8_t *data;
    size_t size;
    df_status st = read_file(path, &data, &size, err);
    if (st) return st;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, size, data);
    free(data);
    if (!tp) return df_error_set(err, DF_EFORMAT, "%s: not a serialized TensorProto", path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    st = df_onnx_tensor_from_proto(tp, dir, path, out, err);
    if (!st && name) *name = tp->name ? strdup(tp->name) : NULL;
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}
