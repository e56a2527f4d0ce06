/* compile/: the static checker (pin, fold, simplify) and the cpu artifact writer (the fpga
 * path is fpga_compile.c).
 *
 * The cpu artifact is the checked graph saved as ONNX: portable (ONNX Runtime loads it, so a
 * user can compare), and the engine's own fusions run when a session opens it. The numbers in
 * meta.json and compile_log.txt come from such a session, so they describe what executes. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpuflow/base.h"
#include "dpuflow/compile.h"
#include "dpuflow/onnx.h"
#include "dpuflow/session.h"
#include "compile/fpga.h"
#include "graph/ir.h"
#include "graph/passes.h"

static int live_nodes(const df_graph *g) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += !g->nodes[i].dead;
    return n;
}

/* Pins dynamic dims of inputs whose rank matches the configured shape; token inputs of rank 2
 * get [batch, seq] from it too. Any input still dynamic is named. */
static df_status pin(df_graph *g, const int64_t *shape, int rank, df_error *err) {
    static const int64_t def[2] = {1, 64};
    if (!shape) { shape = def; rank = 2; }
    for (int k = 0; k < g->n_inputs; k++) {
        df_value *v = &g->values[g->inputs[k]];
        if (v->shape.rank == rank)
            for (int d = 0; d < rank; d++)
                if (v->shape.dims[d] < 0) v->shape.dims[d] = shape[d];
        bool known = v->shape.rank > 0 || v->shape_known;
        for (int d = 0; d < v->shape.rank; d++)
            if (v->shape.dims[d] < 0) {
                known = false;
                return df_error_set(err, DF_ESHAPE,
                                    "input '%s' dim %d ('%s') is dynamic and the configured input_shape (rank %d) "
                                    "cannot resolve it (input rank %d)",
                                    v->name, d, v->dim_params[d] ? v->dim_params[d] : "?", rank, v->shape.rank);
            }
        v->shape_known = known || v->shape_known;
    }
    return DF_OK;
}

/* Load, pin, infer+fold, simplify, compact, re-infer: the static form both check and compile
 * write out. fuse_int8 (the fpga path) runs fuse_qdq before compaction: it reads the int8
 * weights from the folded DequantizeLinear nodes that compaction would drop. */
static df_status make_static_ex(const char *path, const int64_t *shape, int rank, bool simplify, bool fuse_int8,
                                df_graph **out, df_check_report *rep, int *fused, df_error *err) {
    df_graph *g = NULL;
    df_status st = df_onnx_load(path, &g, err);
    if (st) return st;
    memset(rep, 0, sizeof *rep);
    rep->nodes_before = live_nodes(g);
    df_graph_resolve_ops(g);
    if ((st = df_graph_check_ops(g, err))) goto fail;
    /* The cpu artifact stays a QDQ model (int8 weights + DequantizeLinear), which sessions
     * fuse into int8 GEMMs on load; the fpga path fuses here and needs the folded form. */
    g->keep_dequantize = !fuse_int8;
    if ((st = pin(g, shape, rank, err))) goto fail;
    if ((st = df_graph_infer(g, err))) goto fail;
    for (int i = 0; i < g->n_nodes; i++) rep->folded += g->nodes[i].dead;
    if (simplify) {
        if ((st = df_graph_simplify(g, &rep->removed, err))) goto fail;
    }
    if (fuse_int8) {
        df_optimize_opts oo = {0};
        if ((st = df_pass_fuse_qdq(g, &oo, fused, err))) goto fail;
    }
    df_graph_compact(g);
    if ((st = df_graph_toposort(g, err))) goto fail;
    if ((st = df_graph_infer(g, err))) goto fail;
    for (int k = 0; k < g->n_outputs; k++) {
        const df_value *v = &g->values[g->outputs[k]];
        if (!v->shape_known)
            { st = df_error_set(err, DF_ESHAPE, "output '%s': shape could not be made static", v->name); goto fail; }
    }
    rep->nodes_after = live_nodes(g);
    *out = g;
    return DF_OK;
fail:
    df_graph_free(g);
    return df_error_prefix(err, "%s: ", path);
}

df_status df_check_model(const char *in_onnx, const int64_t *shape, int rank, bool simplify, const char *out_onnx,
                         df_check_report *rep, df_error *err) {
    df_check_report local;
    if (!rep) rep = &local;
    df_graph *g = NULL;
    df_status st = df_compile_make_static(in_onnx, shape, rank, simplify, &g, rep, err);
    if (st) return st;
    if (out_onnx) st = df_onnx_save(g, out_onnx, NULL, err);
    df_graph_free(g);
    return st;
}

df_status df_compile_make_static(const char *path, const int64_t *shape, int rank, bool simplify, df_graph **out,
                                 df_check_report *rep, df_error *err) {
    return make_static_ex(path, shape, rank, simplify, false, out, rep, NULL, err);
}

df_status df_compile_make_static_int8(const char *path, const int64_t *shape, int rank, df_graph **out,
                                      df_check_report *rep, int *fused, df_error *err) {
    *fused = 0;
    return make_static_ex(path, shape, rank, true, true, out, rep, fused, err);
}

/* ---- compile ---------------------------------------------------------------------------- */

typedef struct op_count {
    char name[64];
    int before, after;
} op_count;

static void count_ops(const df_graph *g, op_count *ops, int *n, int max, bool after) {
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *nd = &g->nodes[i];
        if (nd->dead) continue;
        int k = 0;
        while (k < *n && strcmp(ops[k].name, nd->op_type)) k++;
        if (k == *n) {
            if (*n == max) continue;
            snprintf(ops[k].name, sizeof ops[k].name, "%s", nd->op_type);
            ops[k].before = ops[k].after = 0;
            (*n)++;
        }
        if (after) ops[k].after++;
        else ops[k].before++;
    }
}

/* Multiply-adds count twice for matrix products (2*M*N*K); any other op one per output
 * element: the usual rough cost model, good enough to compare builds. */
static double estimate_flops(const df_graph *g) {
    double total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const df_node *n = &g->nodes[i];
        if (n->dead || n->n_outputs < 1 || n->outputs[0] < 0) continue;
        const df_value *out = &g->values[n->outputs[0]];
        double numel = (double)df_shape_numel(&out->shape);
        const char *op = n->op_type;
        if (!strcmp(op, "MatMul") || !strcmp(op, "Gemm") || !strcmp(op, "MatMulInteger") ||
            !strcmp(op, "QLinearMatMul") || strstr(op, "MatMul")) {
            const df_value *a = df_node_in(g, n, 0);
            double k = 1;
            if (a && a->shape.rank > 0) {
                bool trans_a = !strcmp(op, "Gemm") && df_attr_int(n, "transA", 0);
                k = (double)a->shape.dims[trans_a ? a->shape.rank - 2 : a->shape.rank - 1];
            }
            total += 2.0 * numel * k;
        } else if (strcmp(op, "Reshape") && strcmp(op, "Squeeze") && strcmp(op, "Unsqueeze") && strcmp(op, "Flatten") &&
                   strcmp(op, "Shape")) {
            total += numel;
        }
    }
    return total;
}

static json_t *io_json(const df_session *s, bool inputs) {
    json_t *arr = json_array();
    size_t n = inputs ? df_session_input_count(s) : df_session_output_count(s);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        df_dtype dt;
        df_shape sh;
        if (inputs) df_session_input_info(s, i, &name, &dt, &sh);
        else df_session_output_info(s, i, &name, &dt, &sh);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(name));
        json_object_set_new(o, "dtype", json_string(df_dtype_name(dt)));
        json_t *d = json_array();
        for (int k = 0; k < sh.rank; k++) json_array_append_new(d, json_integer(sh.dims[k]));
        json_object_set_new(o, "shape", d);
        json_array_append_new(arr, o);
    }
    return arr;
}

static df_status copy_file(const char *from, const char *to, df_error *err) {
    void *buf = NULL;
    size_t size = 0;
    df_status st = df_file_read_all(from, &buf, &size, 0, err);
    if (st) return st;
    st = df_file_write_atomic(to, buf, size, err);
    free(buf);
    return st;
}

df_status df_compile(const char *model_onnx, const df_compile_opts *o, const char *out_dir, df_compile_result *r,
                     df_error *err) {
    memset(r, 0, sizeof *r);
    const char *platform = o->platform ? o->platform : "cpu";
    if (!strcmp(platform, "fpga")) return df_compile_fpga(model_onnx, o, out_dir, r, err);
    if (strcmp(platform, "cpu"))
        return df_error_set(err, DF_EINVAL, "compile: unknown platform \"%s\" (expected cpu or fpga)", platform);
    if (!o->model_name || !o->model_name[0]) return df_error_set(err, DF_EINVAL, "compile: model name is required");
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        return df_error_set(err, DF_EIO, "%s: cannot create: %s", out_dir, strerror(errno));
    uint64_t t0 = df_now_ns();
    df_graph *g = NULL;
    df_check_report rep;
    df_status st = df_compile_make_static(model_onnx, o->input_shape, o->input_rank, true, &g, &rep, err);
    if (st) return st;
    op_count ops[256];
    int nops = 0;
    {
        df_graph *orig = NULL;
        if (!df_onnx_load(model_onnx, &orig, NULL)) {
            count_ops(orig, ops, &nops, 256, false);
            df_graph_free(orig);
        }
    }
    char artifact_name[512];
    snprintf(artifact_name, sizeof artifact_name, "%s_cpu.onnx", o->model_name);
    snprintf(r->artifact, sizeof r->artifact, "%s/%s", out_dir, artifact_name);
    /* FLOPs from the unfused static graph: the fused ops hide their matrix products. */
    r->flops = estimate_flops(g);
    st = df_onnx_save(g, r->artifact, NULL, err);
    df_graph_free(g);
    if (st) return st;
    /* What executes: a session over the artifact, with the engine's fusions. */
    df_session_opts so = {.threads = o->threads > 0 ? o->threads : 1, .no_fusion = o->opt_level < 2};
    df_session *s = NULL;
    if ((st = df_session_open(r->artifact, &so, &s, err))) return df_error_prefix(err, "compile: ");
    df_session_stats ss;
    df_session_get_stats(s, &ss);
    const df_graph *eg = df_session_graph(s);
    count_ops(eg, ops, &nops, 256, true);
    r->task_count = ss.nodes;
    r->arena_bytes = ss.arena_bytes;
    r->nodes_before = rep.nodes_before;
    r->nodes_after = (int)ss.nodes;
    if ((st = df_sha256_file(r->artifact, r->sha256, err))) { df_session_close(s); return st; }

    char path[4200];
    bool has_qi = false;
    if (o->quant_info && access(o->quant_info, R_OK) == 0) {
        snprintf(path, sizeof path, "%s/quant_info.json", out_dir);
        if ((st = copy_file(o->quant_info, path, err))) { df_session_close(s); return st; }
        has_qi = true;
    }
    json_t *meta = json_object();
    json_object_set_new(meta, "target", json_string("cpu"));
    json_object_set_new(meta, "platform", json_string("cpu"));
    json_object_set_new(meta, "format", json_string("onnx-static"));
    json_object_set_new(meta, "artifact", json_string(artifact_name));
    json_object_set_new(meta, "source", json_string(model_onnx));
    json_object_set_new(meta, "opt_level", json_integer(o->opt_level));
    json_object_set_new(meta, "inputs", io_json(s, true));
    json_object_set_new(meta, "outputs", io_json(s, false));
    json_object_set_new(meta, "task_count", json_integer((json_int_t)ss.nodes));
    json_object_set_new(meta, "sha256", json_string(r->sha256));
    json_object_set_new(meta, "arena_bytes", json_integer((json_int_t)ss.arena_bytes));
    json_object_set_new(meta, "const_bytes", json_integer((json_int_t)ss.const_bytes));
    json_object_set_new(meta, "flops", json_real(r->flops));
    json_object_set_new(meta, "quant_info", has_qi ? json_string("quant_info.json") : json_null());
    char *text = json_dumps(meta, JSON_INDENT(2));
    json_decref(meta);
    df_session_close(s);
    if (!text) return df_error_set(err, DF_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/meta.json", out_dir);
    st = df_file_write_atomic(path, text, strlen(text), err);
    free(text);
    if (st) return st;

    /* compile_log.txt */
    size_t cap = 8192 + (size_t)nops * 96, len = 0;
    char *log = malloc(cap);
    if (!log) return df_error_set(err, DF_ENOMEM, "out of memory");
#define LOGF(...) len += (size_t)snprintf(log + len, cap - len, __VA_ARGS__)
    char ts[DF_ISO8601_MAX];
    LOGF("dpuflow compile %s\n", df_wall_iso8601(ts));
    LOGF("source:   %s\nartifact: %s (onnx-static)\nplatform: cpu, opt_level %d\n", model_onnx, artifact_name,
         o->opt_level);
    LOGF("nodes: %d as loaded, %d folded, %d Identity/Dropout removed, %d written, %zu executed\n", rep.nodes_before,
         rep.folded, rep.removed, rep.nodes_after, ss.nodes);
    LOGF("\n%-28s %8s %8s\n", "op", "before", "after");
    for (int k = 0; k < nops; k++) LOGF("%-28s %8d %8d\n", ops[k].name, ops[k].before, ops[k].after);
    LOGF("\nestimated FLOPs per inference: %.4g (%.3f MFLOP)\n", r->flops, r->flops / 1e6);
    LOGF("memory plan: arena %zu bytes (naive %zu), scratch %zu, constants %zu\n", ss.arena_bytes, ss.naive_bytes,
         ss.scratch_bytes, ss.const_bytes);
    LOGF("sha256: %s\ncompile time: %.3f s\n", r->sha256, (double)(df_now_ns() - t0) / 1e9);
#undef LOGF
    snprintf(path, sizeof path, "%s/compile_log.txt", out_dir);
    st = df_file_write_atomic(path, log, len < cap ? len : cap - 1, err);
    free(log);
    return st;
}
