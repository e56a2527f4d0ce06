/* The cpu backend: every step runs its operator's kernel from the op table, in order. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/base.h"
#include "exec/exec.h"

static df_status cpu_prepare(df_plan *p, df_error *err) {
    size_t scratch = 0;
    for (int s = 0; s < p->n_steps; s++) {
        df_node *n = p->steps[s].node;
        if (!n->op->prepare) continue;
        size_t need = 0;
        df_status st = n->op->prepare(p->graph, n, &need, err);
        if (st) return st;
        if (need > scratch) scratch = need;
    }
    if (scratch) {
        p->scratch = aligned_alloc(64, (scratch + 63) & ~(size_t)63);
        if (!p->scratch) return df_error_set(err, DF_ENOMEM, "out of memory allocating %zu bytes of scratch", scratch);
    }
    p->scratch_bytes = scratch;
    for (int s = 0; s < p->n_steps; s++) {
        p->steps[s].args.scratch = p->scratch;
        p->steps[s].args.scratch_size = scratch;
    }
    return DF_OK;
}

static df_status cpu_execute(df_plan *p, df_error *err) {
    /* Per calling thread, so sessions on different server workers keep their own budgets. */
    omp_set_num_threads(p->threads);
    if (p->profile) {
        p->profile_runs++;
        for (int s = 0; s < p->n_steps; s++) {
            df_step *st = &p->steps[s];
            st->args.err = err;
            uint64_t t0 = df_now_ns();
            df_status rc = st->node->op->run(&st->args);
            st->profile_ns += df_now_ns() - t0;
            if (rc) return rc;
        }
        return DF_OK;
    }
    for (int s = 0; s < p->n_steps; s++) {
        df_step *st = &p->steps[s];
        st->args.err = err;
        df_status rc = st->node->op->run(&st->args);
        if (rc) return rc;
    }
    return DF_OK;
}

static void cpu_release(df_plan *p) {
    for (int s = 0; s < p->n_steps; s++) {
        df_node *n = p->steps[s].node;
        if (n->op && n->op->release && n->state) n->op->release(n);
        n->state = NULL;
    }
}

const df_backend df_backend_cpu = {
    .name = "cpu", .prepare = cpu_prepare, .execute = cpu_execute, .release = cpu_release,
};

extern const df_backend df_backend_vart; /* backend_vart.c: Vitis AI runtime, loaded with dlopen */
extern const df_backend df_backend_dpusim; /* backend_dpusim.c: DPU numerics on the CPU */
const df_backend *df_backend_find(const char *name) {
    if (!name || !*name || !strcmp(name, "cpu")) return &df_backend_cpu;
    if (!strcmp(name, "dpu-sim")) return &df_backend_dpusim;
    if (!strcmp(name, "vart")) return &df_backend_vart;
    return NULL;
}
