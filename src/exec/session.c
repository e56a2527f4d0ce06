/* Sessions: load -> pin dynamic dims -> infer and fold -> plan -> prepare kernels, once; then
 * run as often as needed with no allocation. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/onnx.h"
#include "exec/exec.h"
#include "graph/passes.h"

struct df_session {
    df_plan plan;
    const df_backend *backend;
    int threads;
    char batch_note[256];    /* why a max_batch request opened at a static batch */
};

static df_status pin_from_opts(df_graph *g, const df_session_opts *o, df_error *err) {
    df_status st;
    if (o->n_dims > 0 && (st = df_graph_pin_dims(g, o->dim_names, o->dim_values, o->n_dims, err))) return st;
    for (int k = 0; k < g->n_inputs; k++) {
        df_value *v = &g->values[g->inputs[k]];
        const df_tensor *sample = o->sample_inputs ? df_tensor_list_find(o->sample_inputs, v->name) : NULL;
        if (sample) {
            if (v->shape.rank == 0 && !v->shape_known && sample->shape.rank > 0) v->shape.rank = sample->shape.rank;
            if (sample->shape.rank != v->shape.rank) {
                char a[128], b[128];
                return df_error_set(err, DF_ESHAPE, "input '%s': the model expects rank %d %s, got %s", v->name,
                                    v->shape.rank, df_shape_str(&v->shape, a, sizeof a),
                                    df_shape_str(&sample->shape, b, sizeof b));
            }
            for (int d = 0; d < v->shape.rank; d++) {
                const char *param = v->dim_params[d];
                if (v->shape.dims[d] < 0 && param) {
                    /* One symbolic dim ("sequence") must get one size across all inputs. */
                    for (int j = 0; j < k; j++) {
                        const df_value *w = &g->values[g->inputs[j]];
                        for (int e = 0; e < w->shape.rank; e++)
                            if (w->dim_params[e] && !strcmp(w->dim_params[e], param) &&
                                w->shape.dims[e] != sample->shape.dims[d])
                                return df_error_set(err, DF_ESHAPE,
                                                    "input '%s' has %lld for dim '%s', but input '%s' has %lld",
                                                    v->name, (long long)sample->shape.dims[d], param, w->name,
                                                    (long long)w->shape.dims[e]);
                    }
                }
                if (v->shape.dims[d] < 0) v->shape.dims[d] = sample->shape.dims[d];
                else if (v->shape.dims[d] != sample->shape.dims[d]) {
                    char a[128], b[128];
                    return df_error_set(err, DF_ESHAPE, "input '%s': the model expects shape %s, got %s", v->name,
                                        df_shape_str(&v->shape, a, sizeof a), df_shape_str(&sample->shape, b, sizeof b));
                }
            }
            if (v->dtype == DF_UNDEFINED) v->dtype = sample->dtype;
            v->shape_known = true;
        } else if (o->batch > 0 && o->seq > 0 && v->shape.rank == 2 && (v->dtype == DF_I64 || v->dtype == DF_I32)) {
            if (v->shape.dims[0] < 0) v->shape.dims[0] = o->batch;
            if (v->shape.dims[1] < 0) v->shape.dims[1] = o->seq;
            v->shape_known = v->shape.dims[0] >= 0 && v->shape.dims[1] >= 0;
        }
    }
    return DF_OK;
}

/* Turns graph inputs named in samples into constants (for shape-carrying inputs). */
static void bind_inputs_as_constants(df_graph *g, const df_tensor_list *samples, bool integer_only) {
    int w = 0;
    for (int k = 0; k < g->n_inputs; k++) {
        df_value *v = &g->values[g->inputs[k]];
        const df_tensor *sample = df_tensor_list_find(samples, v->name);
        bool is_int = sample && (sample->dtype == DF_I64 || sample->dtype == DF_I32);
        if (sample && (is_int || !integer_only)) {
            df_tensor copy;
            if (df_tensor_copy(&copy, sample, NULL) == DF_OK) {
                df_value_set_const(v, &copy);
                v->is_graph_input = false;
                continue;
            }
        }
        g->inputs[w++] = g->inputs[k];
    }
    g->n_inputs = w;
}

static df_status session_build(df_graph *g, const df_session_opts *o, df_session **out, df_error *err) {
    df_session *s = calloc(1, sizeof *s);
    if (!s) {
        df_graph_free(g);
        return df_error_set(err, DF_ENOMEM, "out of memory creating a session");
    }
    s->plan.graph = g;
    s->backend = df_backend_find(o->backend);
    if (!s->backend) {
        df_session_close(s);
        return df_error_set(err, DF_ENOTFOUND, "unknown backend '%s' (available: cpu, dpu-sim, vart)", o->backend);
    }
    s->threads = o->threads > 0 ? o->threads : omp_get_num_procs();
    s->plan.threads = s->threads;
    s->plan.profile = o->profile;
    df_status st = df_plan_build(&s->plan, err);
    if (!st) st = s->backend->prepare(&s->plan, err);
    if (st) {
        df_session_close(s);
        return st;
    }
    for (int i = 0; i < g->n_nodes; i++) s->plan.folded += g->nodes[i].dead;
    *out = s;
    return DF_OK;
}

static df_status open_graph(df_graph *g, const df_session_opts *o, const char *path, df_session **out, df_error *err) {
    /* oneDNN sizes its work partitioning when a primitive is created, from the calling
     * thread's OpenMP thread count: set it before anything folds or prepares, so a 1-thread
     * session never spins up (and busy-waits on) a team of idle workers. */
    omp_set_num_threads(o->threads > 0 ? o->threads : omp_get_num_procs());
    df_status st = pin_from_opts(g, o, err);
    if (!st) st = df_graph_infer(g, err);
    if (st == DF_ENEEDVALUE && o->sample_inputs && path) {
        /* An output shape depends on an input's value: reload and bind those values. */
        df_graph_free(g);
        g = NULL;
        df_error_clear(err);
        if ((st = df_onnx_load(path, &g, err))) return st;
        bind_inputs_as_constants(g, o->sample_inputs, true);
        st = pin_from_opts(g, o, err);
        if (!st) st = df_graph_infer(g, err);
        if (st == DF_ENEEDVALUE) {
            df_graph_free(g);
            g = NULL;
            df_error_clear(err);
            if ((st = df_onnx_load(path, &g, err))) return st;
            bind_inputs_as_constants(g, o->sample_inputs, false);
            st = pin_from_opts(g, o, err);
            if (!st) st = df_graph_infer(g, err);
        }
    }
    if (!st) {
        df_optimize_opts oo = {.no_fusion = o->no_fusion, .no_int8 = o->no_int8};
        st = df_graph_optimize(g, &oo, err);
    }
    if (st) {
        /* A backend that read its own format (vart) may hold state for g until prepare
         * claims it: hand it back now, before g's address can be reused by another graph. */
        const df_backend *b = df_backend_find(o->backend);
        if (b && b->load && b->release) {
            df_plan unclaimed = {.graph = g};
            b->release(&unclaimed);
        }
        df_graph_free(g);
        if (path) df_error_prefix(err, "%s: ", path);
        return st;
    }
    return session_build(g, o, out, err);
}

/* Tries one plan for batches 1..o->max_batch (exec/batch.c). Leaves *out NULL and says why
 * in note when the graph cannot vary its batch; returns an error only for what would fail a
 * static open too (an unreadable file, no memory). */
static df_status open_var_batch(const char *path, const df_session_opts *o, df_session **out, char *note,
                                size_t note_len, df_error *err) {
    *out = NULL;
    df_graph *g = NULL;
    df_status st = df_onnx_load(path, &g, err);
    if (st) return st;
    omp_set_num_threads(o->threads > 0 ? o->threads : omp_get_num_procs());
    df_error e = {0};
    df_session_opts at1 = *o;
    at1.batch = 1;
    bool shape_ops = false;
    for (int i = 0; i < g->n_nodes; i++)
        shape_ops |= !strcmp(g->nodes[i].op_type, "Shape") || !strcmp(g->nodes[i].op_type, "Size");
    if ((st = pin_from_opts(g, &at1, &e))) goto cannot;
    int carried = 0;
    for (int k = 0; k < g->n_inputs; k++) {
        const df_value *v = &g->values[g->inputs[k]];
        if (v->has_const || v->shape.rank < 1) continue;
        if (v->shape.dims[0] != 1) {
            st = df_error_set(&e, DF_ESHAPE, "input '%s' has a static batch of %lld", v->name,
                              (long long)v->shape.dims[0]);
            goto cannot;
        }
        carried++;
    }
    if (!carried) {
        st = df_error_set(&e, DF_ESHAPE, "no input has a batch dim");
        goto cannot;
    }
    /* Shapes at batch 1 find the Reshape targets a static export wrote the batch into; a graph
     * that computes its shapes (Shape, Size) gets them folded at max_batch and the analysis
     * below decides. */
    if (!shape_ops) {
        if ((st = df_graph_infer_opts(g, false, &e))) goto cannot;
        df_batch_unbake_reshapes(g);
    }
    for (int k = 0; k < g->n_inputs; k++) {
        df_value *v = &g->values[g->inputs[k]];
        if (!v->has_const && v->shape.rank >= 1) v->shape.dims[0] = o->max_batch;
    }
    if ((st = df_graph_infer(g, &e))) goto cannot;
    df_optimize_opts oo = {.no_fusion = o->no_fusion, .no_int8 = o->no_int8};
    if ((st = df_graph_optimize(g, &oo, &e))) goto cannot;
    char why[200];
    if (!df_batch_unfold(g, o->max_batch, why, sizeof why) || !df_batch_analyze(g, o->max_batch, why, sizeof why)) {
        snprintf(note, note_len, "%s", why);
        df_graph_free(g);
        return DF_OK;
    }
    return session_build(g, o, out, err);
cannot:
    snprintf(note, note_len, "%s", e.msg);
    df_graph_free(g);
    return DF_OK;
}

df_status df_session_open(const char *path, const df_session_opts *opts, df_session **out, df_error *err) {
    df_session_opts defaults = {0};
    if (!opts) opts = &defaults;
    df_graph *g = NULL;
    const df_backend *b = df_backend_find(opts->backend);
    char note[256] = "";
    if (opts->max_batch > 1 && path && !opts->sample_inputs && b && !b->load && !strcmp(b->name, "cpu")) {
        df_status st = open_var_batch(path, opts, out, note, sizeof note, err);
        if (st || *out) return st;
    } else if (opts->max_batch > 1) {
        snprintf(note, sizeof note, "variable batches need the cpu backend, a file and no sample inputs");
    }
    df_status st = b && b->load ? b->load(path, &g, err) : df_onnx_load(path, &g, err);
    if (st) return st;
    if ((st = open_graph(g, opts, path, out, err))) return st;
    snprintf((*out)->batch_note, sizeof (*out)->batch_note, "%s", note);
    return DF_OK;
}

int df_session_max_batch(const df_session *s) {
    return s->plan.graph->max_batch > 1 ? s->plan.graph->max_batch : 0;
}

const char *df_session_batch_note(const df_session *s) { return s->batch_note; }

/* Points every batch-scaled tensor at batch b (the arena holds max_batch, so offsets stay). */
static void plan_set_batch(df_plan *p, int64_t b) {
    const df_graph *g = p->graph;
    for (int i = 0; i < p->n_scaled; i++) {
        int v = p->scaled[i];
        const df_value *val = &g->values[v];
        df_tensor *t = &p->tensors[v];
        t->shape.dims[val->batch_axis] = val->batch_unit * b;
        t->nbytes = (size_t)df_shape_numel(&t->shape) * df_dtype_size(t->dtype);
    }
    p->cur_batch = b;
}

/* The run's batch from its inputs, checked against the plan: every batch-carrying input must
 * give the same batch, every other dim the planned size. */
static df_status run_batch_of(const df_graph *g, const df_tensor *inputs, int64_t *batch, df_error *err) {
    int64_t b = 0;
    for (int k = 0; k < g->n_inputs; k++) {
        const df_value *val = &g->values[g->inputs[k]];
        const df_shape *want = &val->shape, *got = &inputs[k].shape;
        bool ok = got->rank == want->rank;
        for (int d = 0; ok && d < want->rank; d++) {
            if (val->batch_scaled && d == val->batch_axis) {
                int64_t rb = got->dims[d] % val->batch_unit ? -1 : got->dims[d] / val->batch_unit;
                ok = rb >= 1 && rb <= g->max_batch && (!b || rb == b);
                b = rb;
            } else {
                ok = got->dims[d] == want->dims[d];
            }
        }
        if (!ok) {
            char a[128], c[128];
            df_shape up_to = *want;
            return df_error_set(err, DF_ESHAPE, "input '%s' must have shape %s with a batch of 1 to %d (the same for every input), got %s",
                                val->name, df_shape_str(&up_to, a, sizeof a), g->max_batch,
                                df_shape_str(got, c, sizeof c));
        }
    }
    *batch = b ? b : g->max_batch;
    return DF_OK;
}

df_status df_session_open_graph(df_graph *g, const df_session_opts *opts, df_session **out, df_error *err) {
    df_session_opts defaults = {0};
    if (!opts) opts = &defaults;
    return open_graph(g, opts, NULL, out, err);
}

size_t df_session_input_count(const df_session *s) { return (size_t)s->plan.graph->n_inputs; }
size_t df_session_output_count(const df_session *s) { return (size_t)s->plan.graph->n_outputs; }

static void value_info(const df_graph *g, int v, const char **name, df_dtype *dtype, df_shape *shape) {
    if (name) *name = g->values[v].name;
    if (dtype) *dtype = g->values[v].dtype;
    if (shape) *shape = g->values[v].shape;
}

void df_session_input_info(const df_session *s, size_t i, const char **name, df_dtype *dtype, df_shape *shape) {
    value_info(s->plan.graph, s->plan.graph->inputs[i], name, dtype, shape);
}

void df_session_output_info(const df_session *s, size_t i, const char **name, df_dtype *dtype, df_shape *shape) {
    value_info(s->plan.graph, s->plan.graph->outputs[i], name, dtype, shape);
}

int df_session_input_index(const df_session *s, const char *name) {
    for (int k = 0; k < s->plan.graph->n_inputs; k++)
        if (!strcmp(s->plan.graph->values[s->plan.graph->inputs[k]].name, name)) return k;
    return -1;
}

df_status df_session_run(df_session *s, const df_tensor *inputs, size_t n_inputs, df_tensor *outputs, size_t n_outputs,
                         df_error *err) {
    df_graph *g = s->plan.graph;
    if (n_inputs != (size_t)g->n_inputs)
        return df_error_set(err, DF_EINVAL, "the model takes %d inputs, got %zu", g->n_inputs, n_inputs);
    if (g->max_batch > 1) {
        int64_t b = 0;
        df_status st = run_batch_of(g, inputs, &b, err);
        if (st) return st;
        if (b != s->plan.cur_batch) plan_set_batch(&s->plan, b);
    }
    for (int k = 0; k < g->n_inputs; k++) {
        int v = g->inputs[k];
        const df_value *val = &g->values[v];
        if (inputs[k].dtype != val->dtype)
            return df_error_set(err, DF_ETYPE, "input '%s' must be %s, got %s", val->name, df_dtype_name(val->dtype),
                                df_dtype_name(inputs[k].dtype));
        if (g->max_batch <= 1 && !df_shape_equal(&inputs[k].shape, &val->shape)) {
            char a[128], b[128];
            return df_error_set(err, DF_ESHAPE, "input '%s' must have shape %s, got %s", val->name,
                                df_shape_str(&val->shape, a, sizeof a), df_shape_str(&inputs[k].shape, b, sizeof b));
        }
        s->plan.tensors[v].data = inputs[k].data;
    }
    df_status st = s->backend->execute(&s->plan, err);
    if (st) return st;
    for (size_t k = 0; k < n_outputs && k < (size_t)g->n_outputs; k++) {
        outputs[k] = s->plan.tensors[g->outputs[k]];
        outputs[k].owns_data = false;
    }
    return DF_OK;
}

void df_session_get_stats(const df_session *s, df_session_stats *stats) {
    memset(stats, 0, sizeof *stats);
    stats->nodes = (size_t)s->plan.n_steps;
    stats->folded = s->plan.folded;
    stats->arena_bytes = s->plan.arena_bytes;
    stats->naive_bytes = s->plan.naive_bytes;
    stats->scratch_bytes = s->plan.scratch_bytes;
    stats->threads = s->threads;
    const df_graph *g = s->plan.graph;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].has_const) stats->const_bytes += g->values[v].value.nbytes;
}

void df_session_profile_print(const df_session *s, FILE *out) {
    typedef struct { const char *op; uint64_t ns; int nodes; } row;
    row rows[256];
    int n = 0;
    uint64_t total = 0;
    for (int i = 0; i < s->plan.n_steps; i++) {
        const df_step *st = &s->plan.steps[i];
        int k = 0;
        while (k < n && strcmp(rows[k].op, st->node->op_type)) k++;
        if (k == n) {
            if (n == 256) continue;
            rows[n++] = (row){st->node->op_type, 0, 0};
        }
        rows[k].ns += st->profile_ns;
        rows[k].nodes++;
        total += st->profile_ns;
    }
    for (int i = 1; i < n; i++) /* insertion sort, largest first */
        for (int j = i; j > 0 && rows[j].ns > rows[j - 1].ns; j--) {
            row t = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = t;
        }
    uint64_t runs = s->plan.profile_runs ? s->plan.profile_runs : 1;
    fprintf(out, "  %-22s %6s %10s %6s\n", "op", "nodes", "us/run", "share");
    for (int i = 0; i < n; i++)
        fprintf(out, "  %-22s %6d %10.1f %5.1f%%\n", rows[i].op, rows[i].nodes, (double)rows[i].ns / 1e3 / (double)runs,
                total ? 100.0 * (double)rows[i].ns / (double)total : 0.0);
    fprintf(out, "  %-22s %6d %10.1f\n", "total", s->plan.n_steps, (double)total / 1e3 / (double)runs);
}

const df_graph *df_session_graph(const df_session *s) { return s->plan.graph; }

void df_session_close(df_session *s) {
    if (!s) return;
    if (s->backend && s->backend->release) s->backend->release(&s->plan);
    df_graph *g = s->plan.graph;
    df_plan_free(&s->plan);
    df_graph_free(g);
    free(s);
}
