/* The DPU/CPU partitioner.
 *
 * It works on the quantized graph after the fuse_qdq pass (QDQ MatMul/Gemm [+ bias Add] ->
 * ai.dpuflow.QMatMul): one QMatMul is one quantized Linear, i.e. one DPU conv, and every
 * other node is a plain ONNX op. That is also the graph the .dfm holds and dpu-sim runs, so
 * the placement annotations sit on the nodes that execute.
 *
 * Placement follows the DPUCZDX8G's engines (issue 6, PG338): conv (a Linear K x N over M
 * tokens is a 1x1 conv with M pixels, in_ch K, out_ch N, under the bank-depth rule),
 * eltwise add/mul, the ALU's relu / leaky-relu(26/256) / relu6, and load/save (layout
 * changes that keep the batch). Everything else runs on the ARM CPU with a reason.
 *
 * Merging: nodes start as one cluster each; an edge u -> v between two clusters of the same
 * side merges them when the cluster graph stays acyclic. Acyclic cluster graph == every
 * cluster convex (a path leaving a cluster and re-entering it is a cycle once the cluster is
 * one vertex). Passes repeat until nothing merges, so the subgraphs are maximal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile/fpga.h"
#include "ops/int8_dpu.h"

bool df_fpga_bank_ok(const df_fpga_profile *p, int kw, int kh, int64_t in_ch) {
    int64_t cp = p->channel_parallel > 0 ? p->channel_parallel : 16;
    return (int64_t)kw * kh * ((in_ch + cp - 1) / cp) <= p->bank_depth;
}

static bool op_is(const df_node *n, const char *op) { return !strcmp(n->op_type, op); }

static bool is_activation(const df_value *v) { return v && !v->has_const; }

static bool scalar_pof2(const df_graph *g, const df_node *n, int i) {
    const df_tensor *t = df_node_in_const(g, n, i);
    int fix;
    if (!t || t->dtype != DF_F32) return false;
    int64_t k = df_shape_numel(&t->shape);
    for (int64_t j = 0; j < k; j++)
        if (!df_dpu_fix_of_scale(((const float *)t->data)[j], &fix)) return false;
    return k > 0;
}

static bool zero_point_zero(const df_graph *g, const df_node *n, int i) {
    const df_value *v = df_node_in(g, n, i);
    if (!v) return true;
    if (!v->has_const) return false;
    const df_tensor *t = &v->value;
    int64_t k = df_shape_numel(&t->shape);
    for (int64_t j = 0; j < k; j++) {
        int64_t z = t->dtype == DF_I8 ? ((const int8_t *)t->data)[j] : t->dtype == DF_U8 ? ((const uint8_t *)t->data)[j] : 1;
        if (z) return false;
    }
    return true;
}

static bool touches_int64(const df_graph *g, const df_node *n) {
    for (int k = 0; k < n->n_inputs; k++) {
        const df_value *v = df_node_in(g, n, k);
        if (is_activation(v) && v->dtype == DF_I64) return true;
    }
    for (int k = 0; k < n->n_outputs; k++) {
        const df_value *v = df_node_out(g, n, k);
        if (v && v->dtype == DF_I64) return true;
    }
    return false;
}

/* The side of the node producing input i (CPU for graph inputs and constants). */
static df_fpga_side producer_side(const df_graph *g, const df_fpga_place *pl, const df_node *n, int i) {
    const df_value *v = df_node_in(g, n, i);
    if (!v || v->producer < 0) return DF_SIDE_CPU;
    return pl[v->producer].side;
}

/* Per-element float operations a CPU op costs (ASSUMED rough counts: exp/erf ~10, a
 * normalization ~8, anything elementwise 1). */
static double flops_per_element(const char *op) {
    if (!strcmp(op, "Erf") || !strcmp(op, "Gelu") || !strcmp(op, "Tanh")) return 10;
    if (!strcmp(op, "Softmax")) return 6;
    if (!strcmp(op, "LayerNormalization")) return 8;
    if (!strcmp(op, "Reshape") || !strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze") || !strcmp(op, "Flatten") ||
        !strcmp(op, "Shape"))
        return 0;
    return 1;
}

#define REASON(...) snprintf(pl->reason, sizeof pl->reason, __VA_ARGS__)

static void place_node(const df_graph *g, const df_fpga_profile *p, const df_node *n, df_fpga_place *all,
                       df_fpga_place *pl) {
    const df_value *out = df_node_out(g, n, 0);
    double numel = out ? (double)df_shape_numel(&out->shape) : 0;
    pl->side = DF_SIDE_CPU;
    pl->flops = numel * flops_per_element(n->op_type);
    const char *op = n->op_type;
    if (op_is(n, "QMatMul")) {
        const df_value *x = df_node_in(g, n, 0), *w = df_node_in(g, n, 3);
        int64_t K = w ? w->shape.dims[0] : 0, N = w ? w->shape.dims[1] : 0;
        int64_t M = K ? df_shape_numel(&x->shape) / K : 0;
        pl->macs = (double)M * (double)K * (double)N;
        pl->flops = 2 * pl->macs;
        pl->conv_pixels = M;
        pl->conv_in = K;
        pl->conv_out = N;
        int64_t banks = (K + p->channel_parallel - 1) / p->channel_parallel;
        if (!scalar_pof2(g, n, 1) || !scalar_pof2(g, n, 4) || !zero_point_zero(g, n, 2))
            REASON("QMatMul: scales are not powers of two / zero point not 0 (quantize with --scale pof2)");
        else if (!df_fpga_bank_ok(p, 1, 1, K))
            REASON("QMatMul %lldx%lld: bank depth 1*1*ceil(%lld/%d) = %lld > %d", (long long)K, (long long)N,
                   (long long)K, p->channel_parallel, (long long)banks, p->bank_depth);
        else {
            pl->side = DF_SIDE_DPU;
            REASON("conv 1x1 in_ch %lld out_ch %lld over %lld pixels (bank depth %lld <= %d)", (long long)K,
                   (long long)N, (long long)M, (long long)banks, p->bank_depth);
        }
        return;
    }
    if (op_is(n, "MatMul") || op_is(n, "Gemm")) {
        const df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1);
        bool ta = op_is(n, "Gemm") && df_attr_int(n, "transA", 0);
        double K = a && a->shape.rank > 0 ? (double)a->shape.dims[ta ? a->shape.rank - 2 : a->shape.rank - 1] : 0;
        pl->macs = numel * K;
        pl->flops = 2 * pl->macs;
        if (is_activation(a) && is_activation(b))
            REASON("%s of two activations (%s x %s): the conv engine needs a constant weight", op, a->name, b->name);
        else
            REASON("%s with float weights: not quantized (no QDQ pair), the DPU is int8-only", op);
        return;
    }
    if (op_is(n, "Gather")) { REASON("Gather (embedding/index lookup): no DPU engine"); return; }
    if (op_is(n, "Softmax")) { REASON("Softmax: no DPU engine (exp and division run on the ARM CPU)"); return; }
    if (op_is(n, "LayerNormalization")) { REASON("LayerNormalization: no DPU engine (mean, variance, rsqrt)"); return; }
    if (op_is(n, "ReduceMean") || op_is(n, "Pow") || op_is(n, "Sqrt") || op_is(n, "Reciprocal")) {
        REASON("%s: part of a LayerNorm decomposition, no DPU engine", op);
        return;
    }
    if (op_is(n, "Erf") || op_is(n, "Gelu") || op_is(n, "Tanh")) {
        REASON("%s (GELU): no DPU engine (the ALU fuses relu, leaky-relu 26/256 and relu6 only)", op);
        return;
    }
    if (touches_int64(g, n)) { REASON("%s on int64 tensors: the DPU is int8-only", op); return; }
    if (op_is(n, "Reshape") || op_is(n, "Transpose") || op_is(n, "Flatten") || op_is(n, "Squeeze") ||
        op_is(n, "Unsqueeze")) {
        const df_value *x = df_node_in(g, n, 0);
        const int64_t *perm = NULL;
        size_t np = 0;
        if (op_is(n, "Transpose")) perm = df_attr_ints(n, "perm", &np);
        bool batch_moves = !x || !out || x->shape.rank == 0 || out->shape.rank == 0 ||
                           x->shape.dims[0] != out->shape.dims[0] || (perm && np > 0 && perm[0] != 0) ||
                           (op_is(n, "Transpose") && !perm && x->shape.rank > 1);
        if (batch_moves) {
            REASON("%s changes the batch dim: the DPU's load/save keeps the batch", op);
            return;
        }
        if (producer_side(g, all, n, 0) == DF_SIDE_DPU) {
            pl->side = DF_SIDE_DPU;
            REASON("layout change on the DPU's output (load/save engine)");
        } else
            REASON("%s of a CPU tensor: stays with its producer", op);
        return;
    }
    if (op_is(n, "QuantizeLinear")) {
        if (producer_side(g, all, n, 0) == DF_SIDE_DPU && scalar_pof2(g, n, 1)) {
            pl->side = DF_SIDE_DPU;
            REASON("requantize inside the DPU subgraph");
        } else
            REASON("QuantizeLinear of a CPU tensor: the float->int8 'fix' at the CPU->DPU boundary runs on the CPU");
        return;
    }
    if (op_is(n, "DequantizeLinear")) { REASON("DequantizeLinear: int8->float for a CPU consumer"); return; }
    if (op_is(n, "Add") || op_is(n, "Mul")) {
        const df_value *a = df_node_in(g, n, 0), *b = df_node_in(g, n, 1);
        bool one_const = !is_activation(a) || !is_activation(b);
        int act = is_activation(a) ? 0 : 1;
        if (one_const && producer_side(g, all, n, act) == DF_SIDE_DPU) {
            pl->side = DF_SIDE_DPU;
            REASON("%s by a constant folded into the DPU conv", op);
        } else
            REASON("eltwise %s of float tensors: the quantizer gives them no fix position (it quantizes "
                   "MatMul/Gemm inputs only)",
                   op);
        return;
    }
    if (op_is(n, "Relu") || op_is(n, "LeakyRelu") || op_is(n, "Clip")) {
        if (op_is(n, "LeakyRelu")) {
            float alpha = df_attr_float(n, "alpha", 0.01f);
            if (alpha != (float)p->leaky_alpha) {
                REASON("LeakyRelu alpha %g: the DPU fuses only alpha 26/256", (double)alpha);
                return;
            }
        }
        if (op_is(n, "Clip")) {
            const df_tensor *lo = df_node_in_const(g, n, 1), *hi = df_node_in_const(g, n, 2);
            bool relu6 = lo && hi && lo->dtype == DF_F32 && hi->dtype == DF_F32 && ((const float *)lo->data)[0] == 0 &&
                         ((const float *)hi->data)[0] == 6;
            if (!relu6) { REASON("Clip that is not relu6: no DPU engine"); return; }
        }
        if (producer_side(g, all, n, 0) == DF_SIDE_DPU) {
            pl->side = DF_SIDE_DPU;
            REASON("%s fused into the DPU conv", op);
        } else
            REASON("%s of a CPU tensor: the DPU fuses activations only after its own conv", op);
        return;
    }
    REASON("%s: no DPU engine", op);
}

/* ---- merging -------------------------------------------------------------------------- */

typedef struct edge { int u, v; } edge;

static int find(int *rep, int x) {
    while (rep[x] != x) x = rep[x] = rep[rep[x]];
    return x;
}

/* Kahn's algorithm over the cluster graph: true when it has no cycle. */
static bool clusters_acyclic(const int *rep, int n_nodes, const bool *live, const edge *e, int ne, int *indeg,
                             int *queue, int *head, int *next, int *to) {
    int clusters = 0;
    for (int i = 0; i < n_nodes; i++) {
        indeg[i] = 0;
        head[i] = -1;
    }
    for (int i = 0; i < n_nodes; i++) clusters += live[i] && rep[i] == i;
    int m = 0;
    for (int k = 0; k < ne; k++) {
        int a = rep[e[k].u], b = rep[e[k].v];
        if (a == b) continue;
        to[m] = b;
        next[m] = head[a];
        head[a] = m++;
        indeg[b]++;
    }
    int qh = 0, qt = 0;
    for (int i = 0; i < n_nodes; i++)
        if (live[i] && rep[i] == i && indeg[i] == 0) queue[qt++] = i;
    while (qh < qt) {
        int a = queue[qh++];
        for (int k = head[a]; k >= 0; k = next[k])
            if (--indeg[to[k]] == 0) queue[qt++] = to[k];
    }
    return qt == clusters;
}

static df_status merge(const df_graph *g, df_fpga_partition *pt, int **rep_out, df_error *err) {
    const int N = g->n_nodes;
    int ne = 0, cap = 16;
    edge *e = malloc((size_t)cap * sizeof *e);
    int *rep = malloc((size_t)(N + 1) * sizeof *rep), *flat = malloc((size_t)(N + 1) * sizeof *flat);
    bool *live = calloc((size_t)N + 1, 1);
    if (!e || !rep || !flat || !live) goto oom;
    for (int i = 0; i < N; i++) {
        rep[i] = i;
        live[i] = !g->nodes[i].dead;
    }
    for (int i = 0; i < N; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        for (int k = 0; k < n->n_inputs; k++) {
            const df_value *v = df_node_in(g, n, k);
            if (!v || v->producer < 0 || g->nodes[v->producer].dead) continue;
            if (ne == cap) {
                edge *ne2 = realloc(e, (size_t)(cap *= 2) * sizeof *e);
                if (!ne2) goto oom;
                e = ne2;
            }
            e[ne++] = (edge){v->producer, i};
        }
    }
    int *indeg = malloc((size_t)(N + 1) * sizeof(int)), *queue = malloc((size_t)(N + 1) * sizeof(int));
    int *head = malloc((size_t)(N + 1) * sizeof(int)), *next = malloc((size_t)(ne + 1) * sizeof(int));
    int *to = malloc((size_t)(ne + 1) * sizeof(int));
    if (!indeg || !queue || !head || !next || !to) {
        free(indeg); free(queue); free(head); free(next); free(to);
        goto oom;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (int k = 0; k < ne; k++) {
            int a = find(rep, e[k].u), b = find(rep, e[k].v);
            if (a == b || pt->place[a].side != pt->place[b].side) continue;
            int lo = a < b ? a : b, hi = a < b ? b : a;
            int *save = flat;
            memcpy(save, rep, (size_t)N * sizeof *rep);
            rep[hi] = lo;
            for (int i = 0; i < N; i++) rep[i] = find(rep, i);
            if (clusters_acyclic(rep, N, live, e, ne, indeg, queue, head, next, to)) changed = true;
            else memcpy(rep, save, (size_t)N * sizeof *rep);
        }
    }
    free(indeg); free(queue); free(head); free(next); free(to);
    for (int i = 0; i < N; i++) rep[i] = find(rep, i);
    free(e);
    free(flat);
    free(live);
    *rep_out = rep;
    return DF_OK;
oom:
    free(e);
    free(rep);
    free(flat);
    free(live);
    return df_error_set(err, DF_ENOMEM, "partition: out of memory");
}

/* ---- subgraphs and their boundaries --------------------------------------------------- */

static int64_t edge_bytes(const df_graph *g, const df_fpga_partition *pt, int value) {
    const df_value *v = &g->values[value];
    int64_t numel = df_shape_numel(&v->shape);
    /* The DPU reads and writes int8 feature maps; a CPU tensor keeps its dtype. */
    if (v->producer >= 0 && pt->place[v->producer].side == DF_SIDE_DPU) return numel;
    return numel * (int64_t)df_dtype_size(v->dtype);
}

static df_status add_tensor(df_fpga_tensor **arr, int *n, int value, int64_t bytes) {
    for (int k = 0; k < *n; k++)
        if ((*arr)[k].value == value) return DF_OK;
    df_fpga_tensor *a = realloc(*arr, (size_t)(*n + 1) * sizeof **arr);
    if (!a) return DF_ENOMEM;
    a[*n] = (df_fpga_tensor){value, bytes};
    *arr = a;
    (*n)++;
    return DF_OK;
}

static df_status boundaries(const df_graph *g, df_fpga_partition *pt, df_error *err) {
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead) continue;
        int s = pt->place[i].subgraph;
        df_fpga_subgraph *S = &pt->subgraphs[s];
        for (int k = 0; k < n->n_inputs; k++) {
            const df_value *v = df_node_in(g, n, k);
            if (!v || v->has_const) continue;
            if (v->producer >= 0 && pt->place[v->producer].subgraph == s) continue;
            if (add_tensor(&S->ins, &S->n_ins, n->inputs[k], edge_bytes(g, pt, n->inputs[k])))
                return df_error_set(err, DF_ENOMEM, "partition: out of memory");
            if (v->producer >= 0) {
                df_fpga_subgraph *P = &pt->subgraphs[pt->place[v->producer].subgraph];
                if (add_tensor(&P->outs, &P->n_outs, n->inputs[k], edge_bytes(g, pt, n->inputs[k])))
                    return df_error_set(err, DF_ENOMEM, "partition: out of memory");
            }
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        const df_value *v = &g->values[g->outputs[k]];
        if (v->producer < 0) continue;
        df_fpga_subgraph *P = &pt->subgraphs[pt->place[v->producer].subgraph];
        if (add_tensor(&P->outs, &P->n_outs, g->outputs[k], edge_bytes(g, pt, g->outputs[k])))
            return df_error_set(err, DF_ENOMEM, "partition: out of memory");
    }
    return DF_OK;
}

df_status df_fpga_partition_build(const df_graph *g, const df_fpga_profile *p, df_fpga_partition *pt, df_error *err) {
    memset(pt, 0, sizeof *pt);
    pt->g = g;
    const int N = g->n_nodes;
    pt->place = calloc((size_t)N + 1, sizeof *pt->place);
    if (!pt->place) return df_error_set(err, DF_ENOMEM, "partition: out of memory");
    for (int i = 0; i < N; i++) {
        pt->place[i].subgraph = -1;
        if (g->nodes[i].dead) continue;
        place_node(g, p, &g->nodes[i], pt->place, &pt->place[i]);
        pt->macs_total += pt->place[i].macs;
        if (pt->place[i].side == DF_SIDE_DPU) pt->macs_dpu += pt->place[i].macs;
    }
    /* A QuantizeLinear whose every reader is a DPU conv quantizes the DPU's input: dpu-sim
     * rounds it the DPU's way (half toward +inf) wherever it runs. */
    for (int i = 0; i < N; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead || !op_is(n, "QuantizeLinear") || !scalar_pof2(g, n, 1) || !zero_point_zero(g, n, 2)) continue;
        int readers = 0, dpu = 0;
        for (int j = 0; j < N; j++) {
            const df_node *m = &g->nodes[j];
            if (m->dead) continue;
            for (int k = 0; k < m->n_inputs; k++)
                if (m->inputs[k] == n->outputs[0]) {
                    readers++;
                    dpu += op_is(m, "QMatMul") && pt->place[j].side == DF_SIDE_DPU && k == 0;
                }
        }
        bool graph_out = g->values[n->outputs[0]].is_graph_output;
        pt->place[i].dpu_round = readers > 0 && readers == dpu && !graph_out;
    }
    int *rep = NULL;
    df_status st = merge(g, pt, &rep, err);
    if (st) { df_fpga_partition_free(pt); return st; }
    /* Subgraphs in the order of their first node (nodes are topologically sorted). */
    int *sid = malloc((size_t)(N + 1) * sizeof *sid);
    if (!sid) { free(rep); df_fpga_partition_free(pt); return df_error_set(err, DF_ENOMEM, "partition: out of memory"); }
    for (int i = 0; i < N; i++) sid[i] = -1;
    for (int i = 0; i < N; i++) {
        if (g->nodes[i].dead) continue;
        int r = rep[i];
        if (sid[r] < 0) {
            df_fpga_subgraph *a = realloc(pt->subgraphs, (size_t)(pt->n_subgraphs + 1) * sizeof *a);
            if (!a) { st = df_error_set(err, DF_ENOMEM, "partition: out of memory"); break; }
            pt->subgraphs = a;
            df_fpga_subgraph *S = &a[pt->n_subgraphs];
            memset(S, 0, sizeof *S);
            S->side = pt->place[i].side;
            int k = S->side == DF_SIDE_DPU ? pt->n_dpu++ : pt->n_cpu++;
            snprintf(S->name, sizeof S->name, "subgraph_%s_%d", S->side == DF_SIDE_DPU ? "dpu" : "cpu", k);
            sid[r] = pt->n_subgraphs++;
        }
        df_fpga_subgraph *S = &pt->subgraphs[sid[r]];
        int *nn = realloc(S->nodes, (size_t)(S->n_nodes + 1) * sizeof *nn);
        if (!nn) { st = df_error_set(err, DF_ENOMEM, "partition: out of memory"); break; }
        S->nodes = nn;
        S->nodes[S->n_nodes++] = i;
        pt->place[i].subgraph = sid[r];
        S->macs += pt->place[i].macs;
        S->flops += pt->place[i].flops;
    }
    free(sid);
    free(rep);
    if (!st) st = boundaries(g, pt, err);
    if (st) df_fpga_partition_free(pt);
    return st;
}

void df_fpga_partition_free(df_fpga_partition *pt) {
    for (int s = 0; s < pt->n_subgraphs; s++) {
        free(pt->subgraphs[s].nodes);
        free(pt->subgraphs[s].ins);
        free(pt->subgraphs[s].outs);
    }
    free(pt->subgraphs);
    free(pt->place);
    memset(pt, 0, sizeof *pt);
}
