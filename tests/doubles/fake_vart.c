/* Fake libvart-runner.so (tests only): the VART C API over dpuflow's cpu and dpu-sim backends; see
 * fake_vitis.h. The runner's tensor buffers are plain host memory, as a CPU runner's are. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/session.h"
#include "fake_vitis.h"

typedef struct { uint32_t job_id; int status; } vart_job_id_and_status_t;
typedef struct { uint64_t addr; size_t size; } vart_tensor_buffer_address_t;

typedef struct fake_tb {
    fake_tensor *tensor;
    void *data;
    size_t bytes;
} fake_tb;

typedef struct fake_runner {
    df_session *s;
    size_t n_in, n_out;
    fake_tensor tin[16], tout[16];
    fake_tb bin[16], bout[16];
    df_tensor feed[16], got[16];
    uint32_t jobs;
    int last_status;
} fake_runner;

static void describe(fake_tensor *t, const char *name, df_dtype dt, const df_shape *sh) {
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rank = sh->rank;
    for (int d = 0; d < sh->rank; d++) t->dims[d] = (int32_t)sh->dims[d];
    t->bits = (int)df_dtype_size(dt) * 8;
    t->type = dt == DF_F32 || dt == DF_F16 ? XIR_FLOAT : dt == DF_U8 || dt == DF_U16 || dt == DF_U32 || dt == DF_U64 ? XIR_UINT
                                                                                                                      : XIR_INT;
}

void *vart_create_runner(void *subgraph, const char *mode) {
    if (!mode || strcmp(mode, "run")) return NULL;
    fake_runner *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    df_error err = {0};
    /* Rank-2 integer inputs (token ids, masks) of a dynamic model pinned to [1, FAKE_VART_SEQ
     * or 64]: batch 1, as a DPU runner; a static model keeps its shapes. */
    const char *seq = getenv("FAKE_VART_SEQ");
    df_session_opts o = {.threads = 1, .batch = 1, .seq = seq ? atoi(seq) : 64,
                         .backend = fake_xir_subgraph_backend(subgraph)};
    if (!strcmp(((fake_subgraph *)subgraph)->device, "CPU")) {
        fprintf(stderr, "fake vart: subgraph %s is a CPU subgraph: no DPU runner for it\n",
                ((fake_subgraph *)subgraph)->name);
        free(r);
        return NULL;
    }
    if (df_session_open(fake_xir_subgraph_path(subgraph), &o, &r->s, &err)) {
        fprintf(stderr, "fake vart: %s\n", err.msg);
        free(r);
        return NULL;
    }
    r->n_in = df_session_input_count(r->s);
    r->n_out = df_session_output_count(r->s);
    if (r->n_in > 16 || r->n_out > 16) { df_session_close(r->s); free(r); return NULL; }
    for (size_t k = 0; k < r->n_in + r->n_out; k++) {
        bool in = k < r->n_in;
        size_t i = in ? k : k - r->n_in;
        const char *name;
        df_dtype dt;
        df_shape sh;
        if (in) df_session_input_info(r->s, i, &name, &dt, &sh);
        else df_session_output_info(r->s, i, &name, &dt, &sh);
        fake_tensor *t = in ? &r->tin[i] : &r->tout[i];
        fake_tb *b = in ? &r->bin[i] : &r->bout[i];
        describe(t, name, dt, &sh);
        b->tensor = t;
        b->bytes = (size_t)df_shape_numel(&sh) * df_dtype_size(dt);
        b->data = calloc(1, b->bytes ? b->bytes : 1);
        if (in) r->feed[i] = (df_tensor){.dtype = dt, .shape = sh, .data = b->data, .nbytes = b->bytes};
    }
    return r;
}

void vart_destroy_runner(void *runner) {
    fake_runner *r = runner;
    if (!r) return;
    for (size_t i = 0; i < r->n_in; i++) free(r->bin[i].data);
    for (size_t i = 0; i < r->n_out; i++) free(r->bout[i].data);
    df_session_close(r->s);
    free(r);
}

vart_job_id_and_status_t vart_runner_execute_async(void *runner, void *inputs[], size_t num_of_inputs, void *outputs[],
                                                   size_t num_of_outputs) {
    fake_runner *r = runner;
    vart_job_id_and_status_t j = {++r->jobs, 0};
    if (num_of_inputs != r->n_in || num_of_outputs != r->n_out) { j.status = 2; return j; }
    for (size_t i = 0; i < r->n_in; i++) r->feed[i].data = ((fake_tb *)inputs[i])->data;
    df_error err = {0};
    if (df_session_run(r->s, r->feed, r->n_in, r->got, r->n_out, &err)) {
        fprintf(stderr, "fake vart: %s\n", err.msg);
        j.status = 1;
    } else {
        for (size_t i = 0; i < r->n_out; i++) memcpy(((fake_tb *)outputs[i])->data, r->got[i].data, r->got[i].nbytes);
    }
    r->last_status = j.status;
    return j;
}

int vart_runner_wait(void *runner, int jobid, int timeout) {
    (void)timeout;
    fake_runner *r = runner;
    return (uint32_t)jobid == r->jobs ? r->last_status : -1;
}

size_t vart_runner_get_num_of_input_tensors(void *runner) { return ((fake_runner *)runner)->n_in; }
size_t vart_runner_get_num_of_output_tensors(void *runner) { return ((fake_runner *)runner)->n_out; }
void vart_runner_get_input_tensors(void *runner, void *inputs[]) {
    fake_runner *r = runner;
    for (size_t i = 0; i < r->n_in; i++) inputs[i] = &r->tin[i];
}
void vart_runner_get_output_tensors(void *runner, void *outputs[]) {
    fake_runner *r = runner;
    for (size_t i = 0; i < r->n_out; i++) outputs[i] = &r->tout[i];
}
void vart_runner_get_inputs(void *runner, void *inputs[]) {
    fake_runner *r = runner;
    for (size_t i = 0; i < r->n_in; i++) inputs[i] = &r->bin[i];
}
void vart_runner_get_outputs(void *runner, void *outputs[]) {
    fake_runner *r = runner;
    for (size_t i = 0; i < r->n_out; i++) outputs[i] = &r->bout[i];
}
vart_tensor_buffer_address_t vart_tensor_buffer_data(void *tb, int32_t idx[], size_t num_of_idx) {
    (void)idx;
    (void)num_of_idx;
    fake_tb *b = tb;
    return (vart_tensor_buffer_address_t){(uint64_t)(uintptr_t)b->data, b->bytes};
}
