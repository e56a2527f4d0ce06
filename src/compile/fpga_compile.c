/* The fpga artifact writer: static QDQ graph -> fuse_qdq -> partition -> cost -> files.
 *
 * <net>_fpga.dfm is one ONNX file (opset imports ai.onnx + ai.dpuflow): the static,
 * quantized graph after fuse_qdq, so every quantized Linear is one ai.dpuflow.QMatMul. The
 * partition lives on the nodes as attributes, so the file alone carries it:
 *   dpu_subgraph (string)  on every node placed on the DPU: its subgraph's name;
 *   out_fix (int)          on DPU QMatMuls: the fix position the DPU writes the conv's int8
 *                          output at (chosen here from the calibration rows, see out_fixes);
 *   dpu_round (int, 1)     on QuantizeLinear nodes that feed only DPU convs: they quantize
 *                          the DPU's input, half toward +inf.
 * The cpu backend ignores them (QMatMul's round_mode stays "onnx": the quantizer's QDQ
 * numerics); the dpu-sim backend switches those nodes to the DPU's exact integer rules. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile/fpga.h"
#include "dpuflow/base.h"
#include "dpuflow/onnx.h"
#include "dpuflow/quant.h"
#include "dpuflow/session.h"
#include "graph/passes.h"

#define OUT_FIX_ROWS 16

static df_status set_attr_str(df_node *n, const char *name, const char *v, df_error *err) {
    df_attr a = {.name = (char *)name, .type = DF_ATTR_STRING, .s = (char *)v, .s_len = strlen(v)};
    return df_node_add_attr(n, &a, err);
}

static df_status set_attr_int(df_node *n, const char *name, int64_t v, df_error *err) {
    df_attr a = {.name = (char *)name, .type = DF_ATTR_INT, .i = v};
    return df_node_add_attr(n, &a, err);
}

/* The calibration npz the quantizer used, from quant_info.json's "calibration". */
static bool calib_path(const char *quant_info, char *out, size_t size) {
    if (!quant_info) return false;
    json_error_t je;
    json_t *qi = json_load_file(quant_info, 0, &je);
    if (!qi) return false;
    const char *c = json_string_value(json_object_get(qi, "calibration"));
    bool ok = c && access(c, R_OK) == 0;
    if (ok) snprintf(out, size, "%s", c);
    json_decref(qi);
    return ok;
}

/* The fix position of each DPU conv's output: the DPU writes int8, so the compiler must pick
 * one. Taken like the quantizer's overflow bound: floor(log2(127 / amax)) over the first
 * calibration rows, run through the artifact itself (cpu backend, every QMatMul output made a
 * graph output). out_fix[node] = INT32_MIN when not measured. */
static df_status out_fixes(const char *dfm, const char *npz, const df_fpga_partition *pt, int *out_fix,
                           int *measured, df_error *err) {
    const df_graph *pg = pt->g;
    df_graph *g = NULL;
    df_status st = df_onnx_load(dfm, &g, err);
    if (st) return st;
    int n_extra = 0;
    for (int i = 0; i < pg->n_nodes; i++)
        n_extra += !pg->nodes[i].dead && pt->place[i].side == DF_SIDE_DPU && pt->place[i].conv_in > 0;
    int *outs = realloc(g->outputs, (size_t)(g->n_outputs + n_extra + 1) * sizeof *outs);
    if (!outs) { df_graph_free(g); return df_error_set(err, DF_ENOMEM, "out of memory"); }
    g->outputs = outs;
    int *node_of = calloc((size_t)n_extra + 1, sizeof *node_of), *out_idx = calloc((size_t)n_extra + 1, sizeof *out_idx);
    double *amax = calloc((size_t)n_extra + 1, sizeof *amax);
    if (!node_of || !amax || !out_idx) { free(node_of); free(amax); free(out_idx); df_graph_free(g); return df_error_set(err, DF_ENOMEM, "out of memory"); }
    int e = 0;
    for (int i = 0; i < pg->n_nodes; i++) {
        if (pg->nodes[i].dead || pt->place[i].side != DF_SIDE_DPU || pt->place[i].conv_in <= 0) continue;
        int v = df_graph_find_value(g, pg->values[pg->nodes[i].outputs[0]].name);
        if (v < 0) continue;
        int at = -1;
        for (int k = 0; k < g->n_outputs; k++)
            if (g->outputs[k] == v) at = k;
        if (at < 0) {
            g->values[v].is_graph_output = true;
            at = g->n_outputs;
            g->outputs[g->n_outputs++] = v;
        }
        node_of[e] = i;
        out_idx[e++] = at;
    }
    df_tensor_list rows = {0};
    df_session *s = NULL;
    if ((st = df_npz_read(npz, &rows, err))) goto done;
    df_session_opts so = {.threads = 1, .no_fusion = true};
    if ((st = df_session_open_graph(g, &so, &s, err))) { g = NULL; goto done; }
    g = NULL;
    size_t n_in = df_session_input_count(s), n_out = df_session_output_count(s);
    df_tensor feed[16], got[256];
    if (n_in > 16 || n_out > 256) { st = df_error_set(err, DF_EUNSUPPORTED, "%s: too many inputs/outputs", dfm); goto done; }
    int64_t n_rows = -1;
    for (size_t i = 0; i < n_in; i++) {
        const char *name;
        df_shape sh;
        df_session_input_info(s, i, &name, NULL, &sh);
        const df_tensor *t = df_tensor_list_find(&rows, name);
        if (!t || t->shape.rank != sh.rank || df_shape_numel(&sh) == 0) {
            st = df_error_set(err, DF_ENOTFOUND, "%s: no rows for input '%s' of shape rank %d", npz, name, sh.rank);
            goto done;
        }
        int64_t per = df_shape_numel(&sh);
        int64_t r = df_shape_numel(&t->shape) / per;
        if (n_rows < 0 || r < n_rows) n_rows = r;
        feed[i] = *t;
        feed[i].shape = sh;
        feed[i].nbytes = (size_t)per * df_dtype_size(t->dtype);
        feed[i].owns_data = false;
    }
    if (n_rows > OUT_FIX_ROWS) n_rows = OUT_FIX_ROWS;
    for (int64_t r = 0; r < n_rows; r++) {
        df_tensor f[16];
        for (size_t i = 0; i < n_in; i++) {
            f[i] = feed[i];
            f[i].data = (char *)feed[i].data + (size_t)r * feed[i].nbytes;
        }
        if ((st = df_session_run(s, f, n_in, got, n_out, err))) goto done;
        for (int k = 0; k < e; k++) {
            const df_tensor *t = &got[out_idx[k]];
            const float *x = t->data;
            int64_t n = df_shape_numel(&t->shape);
            for (int64_t j = 0; j < n; j++) amax[k] = fmax(amax[k], fabs((double)x[j]));
        }
    }
    for (int k = 0; k < e; k++) {
        int fp = df_pof2_overflow_pos(amax[k]);
        out_fix[node_of[k]] = fp;
        (*measured)++;
    }
done:
    df_session_close(s);
    if (g) df_graph_free(g);
    df_tensor_list_free(&rows);
    free(node_of);
    free(out_idx);
    free(amax);
    return st;
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

static json_t *shape_json(const df_shape *s) {
    json_t *d = json_array();
    for (int k = 0; k < s->rank; k++) json_array_append_new(d, json_integer(s->dims[k]));
    return d;
}

static json_t *tensors_json(const df_graph *g, const df_fpga_tensor *t, int n) {
    json_t *a = json_array();
    for (int k = 0; k < n; k++) {
        const df_value *v = &g->values[t[k].value];
        json_array_append_new(a, json_pack("{s:s, s:o, s:I}", "name", v->name, "shape", shape_json(&v->shape),
                                           "bytes", (json_int_t)t[k].bytes));
    }
    return a;
}

/* A growable text buffer for compile_log.txt. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->p ? vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap) : -2;
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        size_t nc = b->cap ? b->cap * 2 : 8192;
        while (n >= 0 && nc < b->len + (size_t)n + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) return;
        b->p = q;
        b->cap = nc;
    }
}

static const char *short_name(const char *s) {
    size_t n = strlen(s);
    return n > 48 ? s + n - 48 : s;
}

static void write_report(sbuf *b, const df_graph *g, const df_fpga_partition *pt, const df_fpga_profile *p,
                         const df_fpga_cost *c, const int *out_fix) {
    sb_printf(b, "[DPUFLOW][Check] target: %s, %s x %d cores @ %.0f MHz, fingerprint 0x%llx\n", p->name, p->dpu,
              p->cores, p->clock_mhz, (unsigned long long)p->fingerprint);
    sb_printf(b, "[DPUFLOW][Check] PP %d ICP %d OCP %d: %d ops/cycle, peak %.1f GOPS per core\n", p->pp, p->icp,
              p->ocp, df_fpga_peak_ops_per_cycle(p), df_fpga_peak_ops_per_cycle(p) * p->clock_mhz / 1e3);
    sb_printf(b, "[DPUFLOW] Total device subgraph number %d, DPU subgraph number %d\n", pt->n_subgraphs, pt->n_dpu);
    sb_printf(b, "[DPUFLOW] DPU coverage: %.2f%% of %.0f MACs\n",
              pt->macs_total > 0 ? 100.0 * pt->macs_dpu / pt->macs_total : 0.0, pt->macs_total);
    for (int s = 0; s < pt->n_subgraphs; s++) {
        const df_fpga_subgraph *S = &pt->subgraphs[s];
        sb_printf(b, "\n== %s (%s): %d ops, %.0f MACs, %.0f FLOPs ==\n", S->name, S->side == DF_SIDE_DPU ? "DPU" : "CPU",
                  S->n_nodes, S->macs, S->flops);
        if (S->side == DF_SIDE_DPU)
            sb_printf(b, "cost: compute %.0f cycles (utilization %.1f%%), DDR %.0f bytes = %.0f cycles, + %.0f us "
                         "invocation -> %.2f us; boundary %.2f us\n",
                      S->compute_cycles, 100 * S->util, S->ddr_bytes, S->ddr_cycles, p->invoke_us, S->time_us,
                      S->boundary_us);
        else
            sb_printf(b, "cost: %.0f FLOPs / %.2f GFLOP/s -> %.2f us\n", S->flops, p->cpu_gflops, S->time_us);
        for (int k = 0; k < S->n_ins; k++) {
            const df_value *v = &g->values[S->ins[k].value];
            char sh[128];
            sb_printf(b, "  in   %-48s %-18s %10lld bytes\n", short_name(v->name), df_shape_str(&v->shape, sh, sizeof sh),
                      (long long)S->ins[k].bytes);
        }
        for (int k = 0; k < S->n_outs; k++) {
            const df_value *v = &g->values[S->outs[k].value];
            char sh[128];
            sb_printf(b, "  out  %-48s %-18s %10lld bytes\n", short_name(v->name), df_shape_str(&v->shape, sh, sizeof sh),
                      (long long)S->outs[k].bytes);
        }
        for (int k = 0; k < S->n_nodes; k++) {
            int i = S->nodes[k];
            const df_node *n = &g->nodes[i];
            const df_fpga_place *pl = &pt->place[i];
            sb_printf(b, "  %-3s  %-16s %-48s %s", S->side == DF_SIDE_DPU ? "DPU" : "CPU", n->op_type,
                      short_name(n->name ? n->name : ""), pl->reason);
            if (out_fix && out_fix[i] != INT32_MIN) sb_printf(b, ", out_fix %d", out_fix[i]);
            if (pl->dpu_round) sb_printf(b, " [DPU rounding]");
            sb_printf(b, "\n");
        }
    }
    sb_printf(b, "\n== CPU fallback ops ==\n");
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && pt->place[i].side == DF_SIDE_CPU)
            sb_printf(b, "  %-16s %-48s %s\n", g->nodes[i].op_type, short_name(g->nodes[i].name ? g->nodes[i].name : ""),
                      pt->place[i].reason);
    sb_printf(b, "\n== cost model (batch 1; constants in docs/fpga.md) ==\n");
    sb_printf(b, "DPU %.1f us + CPU %.1f us + boundary %.1f us = latency %.3f ms\n", c->dpu_us, c->cpu_us,
              c->boundary_us, c->latency_us / 1e3);
    sb_printf(b, "max task: %s %.1f us\n", c->max_task, c->max_task_us);
    sb_printf(b, "throughput with %d DPU cores: %.1f inferences/s (%.1f per core), bound by %s\n", p->cores,
              c->fps_total, c->fps_per_core, c->bound);
    sb_printf(b, "parameters: DDR %.1f GB/s x %.2f, invocation %.0f us, CPU %.2f GFLOP/s per thread (%d x A53 @ %.1f "
                 "GHz), boundary %.1f GB/s\n",
              p->ddr_gbs, p->ddr_efficiency, p->invoke_us, p->cpu_gflops, p->cpu_cores, p->cpu_ghz, p->boundary_gbs);
}

df_status df_compile_fpga(const char *model_onnx, const df_compile_opts *o, const char *out_dir, df_compile_result *r,
                          df_error *err) {
    if (!o->model_name || !o->model_name[0]) return df_error_set(err, DF_EINVAL, "compile: model name is required");
    df_fpga_profile prof;
    df_status st = df_fpga_profile_get(o->arch, &prof, err);
    if (st) return df_error_prefix(err, "compile: ");
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        return df_error_set(err, DF_EIO, "%s: cannot create: %s", out_dir, strerror(errno));
    uint64_t t0 = df_now_ns();
    df_graph *g = NULL;
    df_check_report rep;
    int fused = 0;
    if ((st = df_compile_make_static_int8(model_onnx, o->input_shape, o->input_rank, &g, &rep, &fused, err)))
        return st;
    if (fused == 0) {
        st = df_error_set(err, DF_EINVAL,
                          "%s: no quantized MatMul/Gemm (QDQ pair): the fpga target compiles the pof2 "
                          "deploy_model.onnx that `dpuflow quantize --scale pof2` writes",
                          model_onnx);
        goto fail;
    }
    df_fpga_partition pt;
    if ((st = df_fpga_partition_build(g, &prof, &pt, err))) goto fail;
    if (pt.n_dpu == 0) {
        const char *why = "";
        for (int i = 0; i < g->n_nodes && !*why; i++)
            if (!g->nodes[i].dead && !strcmp(g->nodes[i].op_type, "QMatMul")) why = pt.place[i].reason;
        st = df_error_set(err, DF_EINVAL, "%s: no layer can run on the DPU (%s)", model_onnx, why);
        df_fpga_partition_free(&pt);
        goto fail;
    }
    df_fpga_cost cost;
    df_fpga_cost_eval(&pt, &prof, &cost);
    for (int i = 0; i < g->n_nodes && !st; i++) {
        df_node *n = &g->nodes[i];
        if (n->dead) continue;
        if (pt.place[i].side == DF_SIDE_DPU) st = set_attr_str(n, "dpu_subgraph", pt.subgraphs[pt.place[i].subgraph].name, err);
        if (!st && pt.place[i].dpu_round) st = set_attr_int(n, "dpu_round", 1, err);
    }
    int *out_fix = malloc((size_t)(g->n_nodes + 1) * sizeof *out_fix);
    if (!out_fix && !st) st = df_error_set(err, DF_ENOMEM, "out of memory");
    if (st) { free(out_fix); df_fpga_partition_free(&pt); goto fail; }
    for (int i = 0; i < g->n_nodes; i++) out_fix[i] = INT32_MIN;

    char artifact_name[512], path[4600];
    snprintf(artifact_name, sizeof artifact_name, "%s_fpga.dfm", o->model_name);
    snprintf(r->artifact, sizeof r->artifact, "%s/%s", out_dir, artifact_name);
    if ((st = df_onnx_save(g, r->artifact, NULL, err))) goto fail2;
    char npz[4096];
    int measured = 0;
    const char *fix_note = "no calibration rows (quant_info.json's \"calibration\"): DPU conv outputs keep the "
                           "accumulator's precision in dpu-sim";
    if (calib_path(o->quant_info, npz, sizeof npz)) {
        df_error e2 = {0};
        if (out_fixes(r->artifact, npz, &pt, out_fix, &measured, &e2) == DF_OK) {
            for (int i = 0; i < g->n_nodes && !st; i++)
                if (out_fix[i] != INT32_MIN) st = set_attr_int(&g->nodes[i], "out_fix", out_fix[i], err);
            if (!st) st = df_onnx_save(g, r->artifact, NULL, err);
            if (st) goto fail2;
            fix_note = "from the first calibration rows: floor(log2(127 / amax))";
        } else {
            df_log(DF_LOG_WARN, "compile: out_fix not measured: %s", e2.msg);
            for (int i = 0; i < g->n_nodes; i++) out_fix[i] = INT32_MIN;
            measured = 0;
        }
    }
    if ((st = df_sha256_file(r->artifact, r->sha256, err))) goto fail2;
    bool has_qi = false;
    if (o->quant_info && access(o->quant_info, R_OK) == 0) {
        snprintf(path, sizeof path, "%s/quant_info.json", out_dir);
        if ((st = copy_file(o->quant_info, path, err))) goto fail2;
        has_qi = true;
    }

    /* compile_log.txt */
    sbuf log = {0};
    char ts[DF_ISO8601_MAX];
    sb_printf(&log, "dpuflow compile %s\nsource:   %s\nartifact: %s (dfm: ONNX + partition attributes)\n",
              df_wall_iso8601(ts), model_onnx, artifact_name);
    sb_printf(&log, "nodes: %d as loaded, %d folded, %d removed, %d QDQ Linear layers fused to QMatMul\n",
              rep.nodes_before, rep.folded, rep.removed, fused);
    sb_printf(&log, "out_fix: %d DPU conv outputs, %s\n\n", measured, fix_note);
    write_report(&log, g, &pt, &prof, &cost, out_fix);
    sb_printf(&log, "compile time: %.3f s\n", (double)(df_now_ns() - t0) / 1e9);
    if (!log.p) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto fail2; }
    snprintf(path, sizeof path, "%s/compile_log.txt", out_dir);
    st = df_file_write_atomic(path, log.p, log.len, err);
    free(log.p);
    if (st) goto fail2;

    /* meta.json */
    json_t *meta = json_object();
    char fp[32];
    snprintf(fp, sizeof fp, "0x%llx", (unsigned long long)prof.fingerprint);
    json_object_set_new(meta, "target", json_string(prof.name));
    json_object_set_new(meta, "platform", json_string("fpga"));
    json_object_set_new(meta, "format", json_string("dfm"));
    json_object_set_new(meta, "artifact", json_string(artifact_name));
    json_object_set_new(meta, "source", json_string(model_onnx));
    json_object_set_new(meta, "fingerprint", prof.fingerprint ? json_string(fp) : json_null());
    json_object_set_new(meta, "dpu", json_pack("{s:s, s:i, s:i, s:i, s:i, s:f, s:i}", "size", prof.dpu, "pp", prof.pp,
                                               "icp", prof.icp, "ocp", prof.ocp, "cores", prof.cores, "clock_mhz",
                                               prof.clock_mhz, "peak_ops_per_cycle", df_fpga_peak_ops_per_cycle(&prof)));
    json_t *kernels = json_array(), *subs = json_array(), *fallback = json_array();
    for (int s = 0; s < pt.n_subgraphs; s++) {
        const df_fpga_subgraph *S = &pt.subgraphs[s];
        if (S->side == DF_SIDE_DPU) json_array_append_new(kernels, json_string(S->name));
        json_t *ops = json_object();
        for (int k = 0; k < S->n_nodes; k++) {
            const char *t = g->nodes[S->nodes[k]].op_type;
            json_object_set_new(ops, t, json_integer(json_integer_value(json_object_get(ops, t)) + 1));
        }
        json_array_append_new(subs, json_pack("{s:s, s:s, s:i, s:o, s:f, s:f, s:o, s:o, s:f}", "name", S->name, "device",
                                              S->side == DF_SIDE_DPU ? "DPU" : "CPU", "nodes", S->n_nodes, "ops", ops,
                                              "macs", S->macs, "flops", S->flops, "inputs",
                                              tensors_json(g, S->ins, S->n_ins), "outputs",
                                              tensors_json(g, S->outs, S->n_outs), "time_us", S->time_us));
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && pt.place[i].side == DF_SIDE_CPU)
            json_array_append_new(fallback, json_pack("{s:s, s:s, s:s}", "node", g->nodes[i].name ? g->nodes[i].name : "",
                                                      "op", g->nodes[i].op_type, "reason", pt.place[i].reason));
    double coverage = pt.macs_total > 0 ? 100.0 * pt.macs_dpu / pt.macs_total : 0;
    json_object_set_new(meta, "kernels", kernels);
    json_object_set_new(meta, "partition", json_pack("{s:i, s:i, s:i, s:o}", "device_subgraphs", pt.n_subgraphs,
                                                     "dpu_subgraphs", pt.n_dpu, "cpu_subgraphs", pt.n_cpu,
                                                     "subgraphs", subs));
    json_object_set_new(meta, "task_count", json_integer(pt.n_subgraphs));
    json_object_set_new(meta, "max_task_time_us", json_real(cost.max_task_us));
    json_object_set_new(meta, "max_task", json_string(cost.max_task));
    json_object_set_new(meta, "dpu_coverage_macs_pct", json_real(coverage));
    json_object_set_new(meta, "macs", json_real(pt.macs_total));
    json_object_set_new(meta, "estimated_latency_ms", json_real(cost.latency_us / 1e3));
    json_object_set_new(meta, "estimate", json_pack("{s:f, s:f, s:f, s:f, s:f, s:s}", "dpu_us", cost.dpu_us, "cpu_us",
                                                    cost.cpu_us, "boundary_us", cost.boundary_us, "fps_total",
                                                    cost.fps_total, "fps_per_core", cost.fps_per_core, "bound",
                                                    cost.bound));
    json_object_set_new(meta, "fallback_ops", fallback);
    json_object_set_new(meta, "out_fix_measured", json_integer(measured));
    json_object_set_new(meta, "sha256", json_string(r->sha256));
    json_object_set_new(meta, "quant_info", has_qi ? json_string("quant_info.json") : json_null());
    char *text = json_dumps(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(meta);
    if (!text) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto fail2; }
    snprintf(path, sizeof path, "%s/meta.json", out_dir);
    st = df_file_write_atomic(path, text, strlen(text), err);
    free(text);
    if (st) goto fail2;

    /* md5sum.txt, in md5sum(1)'s format so `md5sum -c md5sum.txt` checks the directory. */
    {
        const char *files[] = {artifact_name, "meta.json", "compile_log.txt", has_qi ? "quant_info.json" : NULL};
        sbuf m = {0};
        for (size_t k = 0; k < 4; k++) {
            if (!files[k]) continue;
            char hex[33];
            snprintf(path, sizeof path, "%s/%s", out_dir, files[k]);
            if ((st = df_md5_file(path, hex, err))) { free(m.p); goto fail2; }
            sb_printf(&m, "%s  %s\n", hex, files[k]);
        }
        snprintf(path, sizeof path, "%s/md5sum.txt", out_dir);
        st = m.p ? df_file_write_atomic(path, m.p, m.len, err) : df_error_set(err, DF_ENOMEM, "out of memory");
        free(m.p);
        if (st) goto fail2;
    }
    r->task_count = (size_t)pt.n_subgraphs;
    r->flops = 0;
    for (int s = 0; s < pt.n_subgraphs; s++) r->flops += pt.subgraphs[s].flops;
    r->nodes_before = rep.nodes_before;
    r->nodes_after = rep.nodes_after;
    r->dpu_subgraphs = pt.n_dpu;
    r->cpu_subgraphs = pt.n_cpu;
    r->dpu_mac_coverage = coverage;
    r->latency_ms = cost.latency_us / 1e3;
fail2:
    free(out_fix);
    df_fpga_partition_free(&pt);
fail:
    df_graph_free(g);
    return st;
}
