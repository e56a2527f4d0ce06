/* IR -> ONNX protobuf. Live nodes are written in topological order and every constant a live
 * node reads becomes an initializer, so a folded graph saves as a smaller, static model.
 * Large initializers can go to an external data file beside the model (protobuf messages are
 * limited to 2 GiB). Both files are written atomically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/base.h"
#include "dpuflow/onnx.h"
#include "graph/ir.h"
#include "onnx/onnx.pb-c.h"

/* Every allocation made while building the message, freed together after packing. */
typedef struct pool {
    void **ptrs;
    size_t n, cap;
    bool oom;
} pool;

static void *pool_alloc(pool *p, size_t size) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        void **np = realloc(p->ptrs, cap * sizeof *np);
        if (!np) {
            p->oom = true;
            return NULL;
        }
        p->ptrs = np;
        p->cap = cap;
    }
    void *mem = calloc(1, size ? size : 1);
    if (!mem) {
        p->oom = true;
        return NULL;
    }
    p->ptrs[p->n++] = mem;
    return mem;
}

static char *pool_str(pool *p, const char *s) {
    size_t n = strlen(s);
    char *d = pool_alloc(p, n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static void pool_free(pool *p) {
    for (size_t i = 0; i < p->n; i++) free(p->ptrs[i]);
    free(p->ptrs);
}

typedef struct external_sink {
    df_atomic_file *file;
    const char *location; /* file name relative to the model */
    size_t offset;
    size_t threshold;
} external_sink;

static Onnx__TensorProto *tensor_proto(pool *p, const char *name, const df_tensor *t, external_sink *ext,
                                       df_error *err) {
    Onnx__TensorProto *tp = pool_alloc(p, sizeof *tp);
    if (!tp) return NULL;
    onnx__tensor_proto__init(tp);
    tp->name = pool_str(p, name);
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    tp->n_dims = (size_t)t->shape.rank;
    tp->dims = pool_alloc(p, sizeof(int64_t) * (size_t)(t->shape.rank ? t->shape.rank : 1));
    if (!tp->dims) return NULL;
    for (int d = 0; d < t->shape.rank; d++) tp->dims[d] = t->shape.dims[d];
    if (ext && ext->threshold && t->nbytes >= ext->threshold) {
        /* Keep each tensor 64-byte aligned in the data file so it can be mmap'ed in place. */
        static const uint8_t zeros[64];
        size_t pad = (64 - ext->offset % 64) % 64;
        if (pad && df_atomic_write(ext->file, zeros, pad, err)) return NULL;
        ext->offset += pad;
        if (df_atomic_write(ext->file, t->data, t->nbytes, err)) return NULL;
        char offset[32], length[32];
        snprintf(offset, sizeof offset, "%zu", ext->offset);
        snprintf(length, sizeof length, "%zu", t->nbytes);
        ext->offset += t->nbytes;
        const char *keys[3] = {"location", "offset", "length"}, *vals[3] = {ext->location, offset, length};
        tp->n_external_data = 3;
        tp->external_data = pool_alloc(p, 3 * sizeof *tp->external_data);
        if (!tp->external_data) return NULL;
        for (int i = 0; i < 3; i++) {
            Onnx__StringStringEntryProto *kv = pool_alloc(p, sizeof *kv);
            if (!kv) return NULL;
            onnx__string_string_entry_proto__init(kv);
            kv->key = pool_str(p, keys[i]);
            kv->value = pool_str(p, vals[i]);
            tp->external_data[i] = kv;
        }
        tp->has_data_location = 1;
        tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    } else {
        tp->has_raw_data = 1;
        tp->raw_data.len = t->nbytes;
        tp->raw_data.data = t->data; /* borrowed: packed before the graph can change */
    }
    return tp;
}

static Onnx__ValueInfoProto *value_info(pool *p, const df_value *v) {
    Onnx__ValueInfoProto *vi = pool_alloc(p, sizeof *vi);
    Onnx__TypeProto *tp = pool_alloc(p, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = pool_alloc(p, sizeof *tt);
    Onnx__TensorShapeProto *sp = pool_alloc(p, sizeof *sp);
    if (!vi || !tp || !tt || !sp) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sp);
    vi->name = pool_str(p, v->name);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = (int32_t)v->dtype;
    tt->shape = sp;
    sp->n_dim = (size_t)v->shape.rank;
    sp->dim = pool_alloc(p, sizeof *sp->dim * (size_t)(v->shape.rank ? v->shape.rank : 1));
    if (!sp->dim) return NULL;
    for (int d = 0; d < v->shape.rank; d++) {
        Onnx__TensorShapeProto__Dimension *dim = pool_alloc(p, sizeof *dim);
        if (!dim) return NULL;
        onnx__tensor_shape_proto__dimension__init(dim);
        if (v->shape.dims[d] >= 0) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = v->shape.dims[d];
        } else if (v->dim_params[d]) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = pool_str(p, v->dim_params[d]);
        }
        sp->dim[d] = dim;
    }
    return vi;
}

static Onnx__AttributeProto *attr_proto(pool *p, const df_attr *a, df_error *err) {
    Onnx__AttributeProto *ap = pool_alloc(p, sizeof *ap);
    if (!ap) return NULL;
    onnx__attribute_proto__init(ap);
    ap->name = pool_str(p, a->name);
    ap->has_type = 1;
    ap->type = (Onnx__AttributeProto__AttributeType)a->type;
    switch (a->type) {
    case DF_ATTR_FLOAT: ap->has_f = 1; ap->f = a->f; break;
    case DF_ATTR_INT: ap->has_i = 1; ap->i = a->i; break;
    case DF_ATTR_STRING:
        ap->has_s = 1;
        ap->s.len = a->s_len;
        ap->s.data = (uint8_t *)a->s;
        break;
    case DF_ATTR_TENSOR: ap->t = tensor_proto(p, "", &a->t, NULL, err); break;
    case DF_ATTR_FLOATS: ap->n_floats = a->count; ap->floats = a->floats; break;
    case DF_ATTR_INTS: ap->n_ints = a->count; ap->ints = a->ints; break;
    case DF_ATTR_STRINGS:
        ap->n_strings = a->count;
        ap->strings = pool_alloc(p, sizeof *ap->strings * (a->count ? a->count : 1));
        if (!ap->strings) return NULL;
        for (size_t i = 0; i < a->count; i++) {
            ap->strings[i].len = strlen(a->strings[i]);
            ap->strings[i].data = (uint8_t *)a->strings[i];
        }
        break;
    default:
        df_error_set(err, DF_EUNSUPPORTED, "attribute '%s' of type %d cannot be saved", a->name, (int)a->type);
        return NULL;
    }
    return ap;
}

df_status df_onnx_save(const df_graph *g, const char *path, const df_onnx_save_opts *opts, df_error *err) {
    pool p = {0};
    df_status st = DF_OK;
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    onnx__model_proto__init(&model);
    onnx__graph_proto__init(&graph);
    model.has_ir_version = 1;
    model.ir_version = 8; /* ONNX 1.12's IR, what opsets up to 17 need */
    model.producer_name = "dpuflow";
    model.producer_version = "0.1.0";
    model.graph = &graph;
    graph.name = g->name && *g->name ? g->name : "dpuflow";

    external_sink ext = {0};
    char ext_path[4096], ext_name[1024];
    if (opts && opts->external_threshold) {
        const char *base = strrchr(path, '/');
        snprintf(ext_name, sizeof ext_name, "%s.data", base ? base + 1 : path);
        snprintf(ext_path, sizeof ext_path, "%s.data", path);
        if ((st = df_atomic_open(ext_path, &ext.file, err))) return st;
        ext.location = ext_name;
        ext.threshold = opts->external_threshold;
    }

    /* Opsets: the default domain plus every other domain a live node uses. */
    Onnx__OperatorSetIdProto *opsets[16];
    size_t n_opsets = 0;
    opsets[n_opsets] = pool_alloc(&p, sizeof **opsets);
    if (opsets[0]) {
        onnx__operator_set_id_proto__init(opsets[0]);
        opsets[0]->domain = "";
        opsets[0]->has_version = 1;
        opsets[0]->version = g->opset;
        n_opsets = 1;
    }
    int n_live = 0;
    for (int i = 0; i < g->n_nodes; i++) n_live += !g->nodes[i].dead;
    graph.node = pool_alloc(&p, sizeof *graph.node * (size_t)(n_live + 1));
    char *needed = pool_alloc(&p, (size_t)g->n_values + 1);
    if (!graph.node || !needed) goto oom;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        Onnx__NodeProto *np = pool_alloc(&p, sizeof *np);
        if (!np) goto oom;
        onnx__node_proto__init(np);
        np->name = n->name;
        np->op_type = n->op_type;
        np->domain = n->domain;
        np->n_input = (size_t)n->n_inputs;
        np->input = pool_alloc(&p, sizeof(char *) * (size_t)(n->n_inputs + 1));
        np->n_output = (size_t)n->n_outputs;
        np->output = pool_alloc(&p, sizeof(char *) * (size_t)(n->n_outputs + 1));
        np->n_attribute = (size_t)n->n_attrs;
        np->attribute = pool_alloc(&p, sizeof *np->attribute * (size_t)(n->n_attrs + 1));
        if (!np->input || !np->output || !np->attribute) goto oom;
        for (int k = 0; k < n->n_inputs; k++) {
            np->input[k] = n->inputs[k] >= 0 ? g->values[n->inputs[k]].name : "";
            if (n->inputs[k] >= 0) needed[n->inputs[k]] = 1;
        }
        for (int k = 0; k < n->n_outputs; k++) np->output[k] = n->outputs[k] >= 0 ? g->values[n->outputs[k]].name : "";
        for (int k = 0; k < n->n_attrs; k++) {
            np->attribute[k] = attr_proto(&p, &n->attrs[k], err);
            if (!np->attribute[k]) {
                st = p.oom ? DF_ENOMEM : err ? err->status : DF_EINVAL;
                goto fail;
            }
        }
        if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx")) {
            bool seen = false;
            for (size_t o = 0; o < n_opsets; o++)
                if (!strcmp(opsets[o]->domain, n->domain)) seen = true;
            if (!seen && n_opsets < 16) {
                Onnx__OperatorSetIdProto *op = pool_alloc(&p, sizeof *op);
                if (!op) goto oom;
                onnx__operator_set_id_proto__init(op);
                op->domain = n->domain;
                op->has_version = 1;
                op->version = n->opset > 0 ? n->opset : 1;
                opsets[n_opsets++] = op;
            }
        }
        graph.node[graph.n_node++] = np;
    }
    model.opset_import = opsets;
    model.n_opset_import = n_opsets;
    for (int k = 0; k < g->n_outputs; k++) needed[g->outputs[k]] = 1;

    graph.initializer = pool_alloc(&p, sizeof *graph.initializer * (size_t)(g->n_values + 1));
    graph.input = pool_alloc(&p, sizeof *graph.input * (size_t)(g->n_inputs + 1));
    graph.output = pool_alloc(&p, sizeof *graph.output * (size_t)(g->n_outputs + 1));
    if (!graph.initializer || !graph.input || !graph.output) goto oom;
    for (int v = 0; v < g->n_values; v++) {
        const df_value *val = &g->values[v];
        if (!val->has_const || !needed[v]) continue;
        Onnx__TensorProto *tp = tensor_proto(&p, val->name, &val->value, ext.file ? &ext : NULL, err);
        if (!tp) {
            st = p.oom ? DF_ENOMEM : err ? err->status : DF_EIO;
            goto fail;
        }
        graph.initializer[graph.n_initializer++] = tp;
    }
    for (int k = 0; k < g->n_inputs; k++) {
        if (!(graph.input[graph.n_input++] = value_info(&p, &g->values[g->inputs[k]]))) goto oom;
    }
    for (int k = 0; k < g->n_outputs; k++) {
        if (!(graph.output[graph.n_output++] = value_info(&p, &g->values[g->outputs[k]]))) goto oom;
    }
    size_t size = onnx__model_proto__get_packed_size(&model);
    if (size > ((size_t)2 << 30) - 1) {
        st = df_error_set(err, DF_ERANGE, "%s: the model is %zu bytes, over protobuf's 2 GiB limit; save with external data",
                          path, size);
        goto fail;
    }
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) goto oom;
    onnx__model_proto__pack(&model, buf);
    if (ext.file) {
        if ((st = df_atomic_commit(ext.file, err))) {
            ext.file = NULL;
            free(buf);
            goto fail;
        }
        ext.file = NULL;
    }
    st = df_file_write_atomic(path, buf, size, err);
    free(buf);
    goto fail;
oom:
    st = df_error_set(err, DF_ENOMEM, "%s: out of memory building the ONNX message", path);
fail:
    if (ext.file) df_atomic_abort(ext.file);
    pool_free(&p);
    return st;
}
