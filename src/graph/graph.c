/* Graph construction and bookkeeping: values and nodes by index, a name index, attributes,
 * topological sort and compaction. */
#include <stdlib.h>
#include <string.h>

#include "graph/ir.h"
#include "ops/op.h" /* only for df_op_def.release */

/* Open-addressing hash from value name to index; rebuilt on growth. */
typedef struct name_index {
    int *slots; /* value index + 1; 0 = empty */
    size_t cap;
} name_index;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int index_rebuild(df_graph *g, size_t cap) {
    name_index *ix = g->name_index;
    int *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    for (int v = 0; v < g->n_values; v++) {
        size_t i = hash_str(g->values[v].name) & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = v + 1;
    }
    return 0;
}

df_status df_graph_new(df_graph **out, df_error *err) {
    df_graph *g = calloc(1, sizeof *g);
    name_index *ix = calloc(1, sizeof *ix);
    if (!g || !ix) {
        free(g);
        free(ix);
        return df_error_set(err, DF_ENOMEM, "out of memory creating a graph");
    }
    g->name_index = ix;
    g->opset = 13;
    if (index_rebuild(g, 64)) {
        df_graph_free(g);
        return df_error_set(err, DF_ENOMEM, "out of memory creating a graph");
    }
    *out = g;
    return DF_OK;
}

static void attr_free(df_attr *a) {
    free(a->name);
    free(a->s);
    df_tensor_free(&a->t);
    free(a->floats);
    free(a->ints);
    if (a->strings)
        for (size_t i = 0; i < a->count; i++) free(a->strings[i]);
    free(a->strings);
    memset(a, 0, sizeof *a);
}

static void node_free(df_node *n) {
    if (n->op && n->op->release && n->state) n->op->release(n);
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->inputs);
    free(n->outputs);
    for (int i = 0; i < n->n_attrs; i++) attr_free(&n->attrs[i]);
    free(n->attrs);
    memset(n, 0, sizeof *n);
}

static void value_free(df_value *v) {
    free(v->name);
    for (int i = 0; i < DF_MAX_RANK; i++) free(v->dim_params[i]);
    df_tensor_free(&v->value);
    memset(v, 0, sizeof *v);
}

void df_graph_free(df_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) node_free(&g->nodes[i]);
    for (int i = 0; i < g->n_values; i++) value_free(&g->values[i]);
    free(g->nodes);
    free(g->values);
    free(g->inputs);
    free(g->outputs);
    free(g->name);
    free(g->producer_name);
    free(g->producer_version);
    if (g->name_index) free(((name_index *)g->name_index)->slots);
    free(g->name_index);
    free(g);
}

int df_graph_find_value(const df_graph *g, const char *name) {
    const name_index *ix = g->name_index;
    size_t i = hash_str(name) & (ix->cap - 1);
    while (ix->slots[i]) {
        int v = ix->slots[i] - 1;
        if (!strcmp(g->values[v].name, name)) return v;
        i = (i + 1) & (ix->cap - 1);
    }
    return -1;
}

int df_graph_value(df_graph *g, const char *name) {
    int found = df_graph_find_value(g, name);
    if (found >= 0) return found;
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 64;
        df_value *nv = realloc(g->values, (size_t)cap * sizeof *nv);
        if (!nv) return -1;
        g->values = nv;
        g->cap_values = cap;
    }
    df_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = strdup(name);
    if (!v->name) return -1;
    v->producer = -1;
    int idx = g->n_values++;
    name_index *ix = g->name_index;
    if ((size_t)g->n_values * 2 > ix->cap) {
        if (index_rebuild(g, ix->cap * 2)) {
            g->n_values--;
            free(v->name);
            return -1;
        }
    } else {
        size_t i = hash_str(name) & (ix->cap - 1);
        while (ix->slots[i]) i = (i + 1) & (ix->cap - 1);
        ix->slots[i] = idx + 1;
    }
    return idx;
}

int df_graph_add_node(df_graph *g, const char *op_type, const char *name, const char *domain,
                      const int *inputs, int n_inputs, const int *outputs, int n_outputs) {
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        df_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return -1;
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    df_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op_type = strdup(op_type);
    n->name = strdup(name ? name : "");
    n->domain = strdup(domain ? domain : "");
    n->inputs = malloc(sizeof(int) * (size_t)(n_inputs > 0 ? n_inputs : 1));
    n->outputs = malloc(sizeof(int) * (size_t)(n_outputs > 0 ? n_outputs : 1));
    if (!n->op_type || !n->name || !n->domain || !n->inputs || !n->outputs) {
        node_free(n);
        return -1;
    }
    if (n_inputs) memcpy(n->inputs, inputs, sizeof(int) * (size_t)n_inputs);
    if (n_outputs) memcpy(n->outputs, outputs, sizeof(int) * (size_t)n_outputs);
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    n->opset = (int)g->opset;
    int idx = g->n_nodes++;
    for (int i = 0; i < n_outputs; i++)
        if (outputs[i] >= 0) g->values[outputs[i]].producer = idx;
    return idx;
}

df_status df_node_add_attr(df_node *n, const df_attr *a, df_error *err) {
    df_attr *na = realloc(n->attrs, sizeof *na * (size_t)(n->n_attrs + 1));
    if (!na) return df_error_set(err, DF_ENOMEM, "out of memory adding attribute %s", a->name);
    n->attrs = na;
    df_attr *d = &na[n->n_attrs];
    memset(d, 0, sizeof *d);
    d->name = strdup(a->name);
    d->type = a->type;
    d->f = a->f;
    d->i = a->i;
    d->count = a->count;
    int oom = !d->name;
    if (a->s) {
        d->s = malloc(a->s_len + 1);
        if (d->s) {
            memcpy(d->s, a->s, a->s_len);
            d->s[a->s_len] = '\0';
            d->s_len = a->s_len;
        } else oom = 1;
    }
    if (a->type == DF_ATTR_TENSOR && a->t.data) {
        if (df_tensor_copy(&d->t, &a->t, err)) oom = 1;
    } else if (a->type == DF_ATTR_TENSOR) {
        d->t = a->t;
        d->t.data = NULL;
        d->t.owns_data = false;
    }
    if (a->floats && a->count) {
        d->floats = malloc(sizeof(float) * a->count);
        if (d->floats) memcpy(d->floats, a->floats, sizeof(float) * a->count);
        else oom = 1;
    }
    if (a->ints && a->count) {
        d->ints = malloc(sizeof(int64_t) * a->count);
        if (d->ints) memcpy(d->ints, a->ints, sizeof(int64_t) * a->count);
        else oom = 1;
    }
    if (a->strings && a->count) {
        d->strings = calloc(a->count, sizeof(char *));
        if (d->strings)
            for (size_t i = 0; i < a->count; i++)
                if (!(d->strings[i] = strdup(a->strings[i] ? a->strings[i] : ""))) oom = 1;
        if (!d->strings) oom = 1;
    }
    n->n_attrs++;
    if (oom) return df_error_set(err, DF_ENOMEM, "out of memory copying attribute %s", a->name);
    return DF_OK;
}

void df_value_set_const(df_value *v, df_tensor *t) {
    df_tensor_free(&v->value);
    v->value = *t;
    v->has_const = true;
    v->dtype = t->dtype;
    v->shape = t->shape;
    v->shape_known = true;
    memset(t, 0, sizeof *t);
}

const df_attr *df_node_attr(const df_node *n, const char *name) {
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

int64_t df_attr_int(const df_node *n, const char *name, int64_t def) {
    const df_attr *a = df_node_attr(n, name);
    return a && a->type == DF_ATTR_INT ? a->i : def;
}

float df_attr_float(const df_node *n, const char *name, float def) {
    const df_attr *a = df_node_attr(n, name);
    if (!a) return def;
    if (a->type == DF_ATTR_FLOAT) return a->f;
    if (a->type == DF_ATTR_INT) return (float)a->i;
    return def;
}

const char *df_attr_string(const df_node *n, const char *name, const char *def) {
    const df_attr *a = df_node_attr(n, name);
    return a && a->type == DF_ATTR_STRING && a->s ? a->s : def;
}

const int64_t *df_attr_ints(const df_node *n, const char *name, size_t *count) {
    const df_attr *a = df_node_attr(n, name);
    if (!a || a->type != DF_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->count;
    return a->ints ? a->ints : (const int64_t *)"";
}

const float *df_attr_floats(const df_node *n, const char *name, size_t *count) {
    const df_attr *a = df_node_attr(n, name);
    if (!a || a->type != DF_ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->count;
    return a->floats ? a->floats : (const float *)"";
}

const df_tensor *df_attr_tensor(const df_node *n, const char *name) {
    const df_attr *a = df_node_attr(n, name);
    return a && a->type == DF_ATTR_TENSOR ? &a->t : NULL;
}

df_status df_tensor_to_i64(const df_tensor *t, int64_t *out, size_t max, size_t *count, df_error *err) {
    int64_t n = df_shape_numel(&t->shape);
    if ((size_t)n > max) return df_error_set(err, DF_ERANGE, "integer tensor has %lld elements, at most %zu allowed", (long long)n, max);
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case DF_I64: out[i] = ((const int64_t *)t->data)[i]; break;
        case DF_I32: out[i] = ((const int32_t *)t->data)[i]; break;
        case DF_U8: out[i] = ((const uint8_t *)t->data)[i]; break;
        case DF_I8: out[i] = ((const int8_t *)t->data)[i]; break;
        default: return df_error_set(err, DF_ETYPE, "expected an integer tensor, got %s", df_dtype_name(t->dtype));
        }
    }
    *count = (size_t)n;
    return DF_OK;
}

/* Kahn's algorithm, picking ready nodes in their original order so files that are already
 * sorted keep their order (and their error messages stay predictable). */
df_status df_graph_toposort(df_graph *g, df_error *err) {
    if (g->n_nodes <= 0) return DF_OK;
    int n = g->n_nodes;
    size_t count = (size_t)g->n_nodes;
    int *pending = calloc(count, sizeof *pending);
    int *order = malloc(sizeof *order * count);
    char *ready_by_value = calloc((size_t)g->n_values, 1);
    if (!pending || !order || !ready_by_value) {
        free(pending); free(order); free(ready_by_value);
        return df_error_set(err, DF_ENOMEM, "out of memory sorting the graph");
    }
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].producer < 0) ready_by_value[v] = 1;
    int placed = 0;
    char *done = calloc(count, 1);
    if (!done) {
        free(pending); free(order); free(ready_by_value);
        return df_error_set(err, DF_ENOMEM, "out of memory sorting the graph");
    }
    /* Repeated sweeps are O(n^2) in the worst case but graphs are a few thousand nodes and
     * almost always already sorted, which takes one sweep. */
    int progress = 1;
    while (placed < n && progress) {
        progress = 0;
        for (int i = 0; i < n; i++) {
            if (done[i]) continue;
            df_node *nd = &g->nodes[i];
            int ok = 1;
            for (int k = 0; k < nd->n_inputs && ok; k++)
                if (nd->inputs[k] >= 0 && !ready_by_value[nd->inputs[k]]) ok = 0;
            if (!ok) continue;
            done[i] = 1;
            order[placed++] = i;
            for (int k = 0; k < nd->n_outputs; k++)
                if (nd->outputs[k] >= 0) ready_by_value[nd->outputs[k]] = 1;
            progress = 1;
        }
    }
    df_status st = DF_OK;
    if (placed < n) {
        for (int i = 0; i < n; i++) {
            if (done[i]) continue;
            df_node *nd = &g->nodes[i];
            const char *missing = "?";
            for (int k = 0; k < nd->n_inputs; k++)
                if (nd->inputs[k] >= 0 && !ready_by_value[nd->inputs[k]]) {
                    missing = g->values[nd->inputs[k]].name;
                    break;
                }
            st = df_error_set(err, DF_EFORMAT,
                              "node '%s' (%s): input '%s' is never produced before it (a cycle or a dangling reference)",
                              nd->name, nd->op_type, missing);
            break;
        }
    } else {
        df_node *sorted = malloc(sizeof *sorted * count);
        if (!sorted) st = df_error_set(err, DF_ENOMEM, "out of memory sorting the graph");
        else {
            for (int i = 0; i < n; i++) sorted[i] = g->nodes[order[i]];
            memcpy(g->nodes, sorted, sizeof *sorted * count);
            free(sorted);
            for (int i = 0; i < n; i++)
                for (int k = 0; k < g->nodes[i].n_outputs; k++)
                    if (g->nodes[i].outputs[k] >= 0) g->values[g->nodes[i].outputs[k]].producer = i;
        }
    }
    free(pending); free(order); free(ready_by_value); free(done);
    return st;
}

void df_graph_compact(df_graph *g) {
    int w = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead) {
            node_free(&g->nodes[i]);
            continue;
        }
        if (w != i) g->nodes[w] = g->nodes[i];
        w++;
    }
    g->n_nodes = w;
    for (int v = 0; v < g->n_values; v++) g->values[v].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k] >= 0) g->values[g->nodes[i].outputs[k]].producer = i;
}
