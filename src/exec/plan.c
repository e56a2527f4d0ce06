/* The memory plan: every runtime value gets an offset in one arena, and values whose
 * lifetimes do not overlap share bytes. Lifetimes are [producing step, last consuming step];
 * graph outputs live to the end. Placement is greedy, largest first, into the lowest offset
 * that does not collide with an already placed value alive at the same time — the classic
 * approach for static graphs (TFLite's arena planner uses the same idea). */
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"

#define ALIGN 64

typedef struct live_range {
    int value;
    int first, last;
    size_t size, offset;
} live_range;

static int by_size_desc(const void *a, const void *b) {
    const live_range *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->first - y->first;
}

static size_t align_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

df_status df_plan_build(df_plan *p, df_error *err) {
    df_graph *g = p->graph;
    int nv = g->n_values;
    p->tensors = calloc((size_t)nv + 1, sizeof *p->tensors);
    int *first = malloc(sizeof(int) * ((size_t)nv + 1));
    int *last = malloc(sizeof(int) * ((size_t)nv + 1));
    int n_live_nodes = 0;
    for (int i = 0; i < g->n_nodes; i++) n_live_nodes += !g->nodes[i].dead;
    p->steps = calloc((size_t)n_live_nodes + 1, sizeof *p->steps);
    live_range *ranges = malloc(sizeof *ranges * ((size_t)nv + 1));
    if (!p->tensors || !first || !last || !p->steps || !ranges) {
        free(first); free(last); free(ranges);
        return df_error_set(err, DF_ENOMEM, "out of memory planning the graph");
    }
    for (int v = 0; v < nv; v++) {
        first[v] = -2;
        last[v] = -2;
    }
    int step = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        df_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) last[n->inputs[k]] = step;
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0) {
                first[n->outputs[k]] = step;
                if (last[n->outputs[k]] < step) last[n->outputs[k]] = step;
            }
        p->steps[step].node = n;
        step++;
    }
    p->n_steps = step;
    for (int k = 0; k < g->n_outputs; k++) last[g->outputs[k]] = step;

    int nr = 0;
    size_t naive = 0;
    for (int v = 0; v < nv; v++) {
        df_value *val = &g->values[v];
        df_tensor *t = &p->tensors[v];
        t->dtype = val->dtype;
        t->shape = val->shape;
        t->nbytes = (size_t)df_shape_numel(&val->shape) * df_dtype_size(val->dtype);
        if (val->has_const) {
            t->data = val->value.data;
            continue;
        }
        if (val->is_graph_input || first[v] < 0) continue; /* bound per run, or unused */
        ranges[nr].value = v;
        ranges[nr].first = first[v];
        ranges[nr].last = last[v];
        ranges[nr].size = align_up(t->nbytes ? t->nbytes : 1);
        naive += ranges[nr].size;
        nr++;
    }
    qsort(ranges, (size_t)nr, sizeof *ranges, by_size_desc);
    size_t total = 0;
    for (int i = 0; i < nr; i++) {
        /* Collect placed ranges that overlap in time, try offsets in increasing order. */
        size_t offset = 0;
        int moved = 1;
        while (moved) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                if (ranges[j].last < ranges[i].first || ranges[i].last < ranges[j].first) continue;
                size_t a0 = ranges[j].offset, a1 = a0 + ranges[j].size;
                if (offset < a1 && a0 < offset + ranges[i].size) {
                    offset = a1;
                    moved = 1;
                }
            }
        }
        ranges[i].offset = offset;
        if (offset + ranges[i].size > total) total = offset + ranges[i].size;
    }
    p->cur_batch = g->max_batch > 1 ? g->max_batch : 0;
    if (g->max_batch > 1) {
        p->scaled = malloc(sizeof(int) * ((size_t)nv + 1));
        if (!p->scaled) {
            free(first); free(last); free(ranges);
            return df_error_set(err, DF_ENOMEM, "out of memory planning the graph");
        }
        for (int v = 0; v < nv; v++)
            if (g->values[v].batch_scaled) p->scaled[p->n_scaled++] = v;
    }
    p->arena_bytes = total;
    p->naive_bytes = naive;
    p->arena = total ? aligned_alloc(ALIGN, total) : NULL;
    if (total && !p->arena) {
        free(first); free(last); free(ranges);
        return df_error_set(err, DF_ENOMEM, "out of memory allocating a %zu-byte activation arena", total);
    }
    if (p->arena) memset(p->arena, 0, total);
    for (int i = 0; i < nr; i++) p->tensors[ranges[i].value].data = p->arena + ranges[i].offset;
    free(first); free(last); free(ranges);

    /* Bind every step's argument arrays once; run only swaps input pointers. */
    for (int s = 0; s < p->n_steps; s++) {
        df_step *st = &p->steps[s];
        df_node *n = st->node;
        st->in = calloc((size_t)n->n_inputs + 1, sizeof *st->in);
        st->out = calloc((size_t)n->n_outputs + 1, sizeof *st->out);
        if (!st->in || !st->out) return df_error_set(err, DF_ENOMEM, "out of memory planning the graph");
        for (int k = 0; k < n->n_inputs; k++) st->in[k] = n->inputs[k] >= 0 ? &p->tensors[n->inputs[k]] : NULL;
        for (int k = 0; k < n->n_outputs; k++) st->out[k] = n->outputs[k] >= 0 ? &p->tensors[n->outputs[k]] : NULL;
        st->args = (df_kernel_args){.graph = g, .node = n, .in = st->in, .n_in = n->n_inputs, .out = st->out,
                                    .n_out = n->n_outputs, .threads = p->threads};
    }
    return DF_OK;
}

void df_plan_free(df_plan *p) {
    if (p->steps)
        for (int s = 0; s < p->n_steps; s++) {
            free(p->steps[s].in);
            free(p->steps[s].out);
        }
    free(p->steps);
    free(p->scaled);
    free(p->tensors);
    free(p->arena);
    free(p->scratch);
    memset(p, 0, sizeof *p);
}
