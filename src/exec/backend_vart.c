/* The vart backend: an .xmodel's DPU subgraph run through the Vitis AI runtime's C API.
 *
 * Nothing here links against Vitis AI: libxir.so and libvart-runner.so are opened with
 * dlopen on first use, so one dpuflow binary runs on a board and on a laptop. Only the
 * functions below are declared, with the signatures of the vendor's C headers
 * (xir/cxir.h and vart/vart.h in Xilinx/Vitis-AI, src/vai_runtime; the implementations are
 * thin extern "C" wrappers over vart::Runner / xir::Graph). Two things are assumptions,
 * marked where they are used: that xir_subgraph_get_attrs returns a copy the caller
 * destroys (xir::Subgraph::get_attrs returns a unique_ptr), and the xir_attrs_get_string
 * accessor, which Vitis AI's own C API test calls but whose header we have not seen.
 *
 * A session owns one runner (batch 1) on the model's one DPU subgraph. Its input and output
 * tensor buffers are the runner's own (vart_runner_get_inputs/outputs, RunnerExt), resolved
 * to host addresses once at prepare; a run copies the inputs in, calls execute_async and
 * wait, and the session's outputs are views of the runner's output buffers. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/vart.h"
#include "exec/exec.h"

/* ---- the vendor's C types (xir/cxir.h, vart/vart.h) -------------------------------------- */
typedef void *xir_graph_t;
typedef void *xir_subgraph_t;
typedef void *xir_attrs_t;
typedef void *xir_tensor_t;
typedef void *vart_runner_t;
typedef void *vart_tensor_buffer_t;
typedef struct { const char *data; size_t size; } xir_string_t;
enum xir_tensor_data_type_t { XIR_INT, XIR_UINT, XIR_XINT, XIR_XUINT, XIR_FLOAT, XIR_UNKNOWN };
typedef struct { uint32_t job_id; int status; } vart_job_id_and_status_t;
typedef struct { uint64_t addr; size_t size; } vart_tensor_buffer_address_t;

/* Every symbol the backend uses; the table drives dlsym and the "missing symbol" message. */
typedef struct vart_api {
    /* libxir.so */
    xir_graph_t (*xir_graph_deserialize)(const char *pb_fname);
    int (*xir_graph_destroy)(xir_graph_t graph);
    xir_subgraph_t (*xir_graph_get_root_subgraph)(xir_graph_t graph);
    int32_t (*xir_subgraph_get_children_num)(xir_subgraph_t subgraph);
    void (*xir_subgraph_children_topological_sort)(xir_subgraph_t subgraph, xir_subgraph_t children[]);
    xir_string_t (*xir_subgraph_get_name)(xir_subgraph_t subgraph);
    int (*xir_subgraph_has_attr)(xir_subgraph_t subgraph, const char *key);
    xir_attrs_t (*xir_subgraph_get_attrs)(xir_subgraph_t subgraph);
    const char *(*xir_attrs_get_string)(xir_attrs_t attrs, const char *key);
    void (*xir_attrs_destroy)(xir_attrs_t attrs);
    xir_string_t (*xir_tensor_get_name)(xir_tensor_t tensor);
    int32_t (*xir_tensor_get_dim_num)(xir_tensor_t tensor);
    int32_t (*xir_tensor_get_dim_size)(xir_tensor_t tensor, int32_t idx);
    enum xir_tensor_data_type_t (*xir_tensor_get_data_type)(xir_tensor_t tensor);
    int32_t (*xir_tensor_get_bit_width)(xir_tensor_t tensor);
    /* libvart-runner.so */
    vart_runner_t (*vart_create_runner)(xir_subgraph_t subgraph, const char *mode);
    void (*vart_destroy_runner)(vart_runner_t runner);
    vart_job_id_and_status_t (*vart_runner_execute_async)(vart_runner_t runner, vart_tensor_buffer_t inputs[],
                                                          size_t num_of_inputs, vart_tensor_buffer_t outputs[],
                                                          size_t num_of_outputs);
    int (*vart_runner_wait)(vart_runner_t runner, int jobid, int timeout);
    size_t (*vart_runner_get_num_of_input_tensors)(vart_runner_t runner);
    void (*vart_runner_get_input_tensors)(vart_runner_t runner, xir_tensor_t inputs[]);
    size_t (*vart_runner_get_num_of_output_tensors)(vart_runner_t runner);
    void (*vart_runner_get_output_tensors)(vart_runner_t runner, xir_tensor_t outputs[]);
    void (*vart_runner_get_inputs)(vart_runner_t runner, vart_tensor_buffer_t inputs[]);
    void (*vart_runner_get_outputs)(vart_runner_t runner, vart_tensor_buffer_t outputs[]);
    vart_tensor_buffer_address_t (*vart_tensor_buffer_data)(vart_tensor_buffer_t tb, int32_t idx[], size_t num_of_idx);
} vart_api;

#define SYM(lib, name) {lib, #name, offsetof(vart_api, name)}
static const struct { int lib; const char *name; size_t off; } SYMS[] = {
    SYM(0, xir_graph_deserialize), SYM(0, xir_graph_destroy), SYM(0, xir_graph_get_root_subgraph),
    SYM(0, xir_subgraph_get_children_num), SYM(0, xir_subgraph_children_topological_sort),
    SYM(0, xir_subgraph_get_name), SYM(0, xir_subgraph_has_attr), SYM(0, xir_subgraph_get_attrs),
    SYM(0, xir_attrs_get_string), SYM(0, xir_attrs_destroy), SYM(0, xir_tensor_get_name),
    SYM(0, xir_tensor_get_dim_num), SYM(0, xir_tensor_get_dim_size), SYM(0, xir_tensor_get_data_type),
    SYM(0, xir_tensor_get_bit_width),
    SYM(1, vart_create_runner), SYM(1, vart_destroy_runner), SYM(1, vart_runner_execute_async),
    SYM(1, vart_runner_wait), SYM(1, vart_runner_get_num_of_input_tensors), SYM(1, vart_runner_get_input_tensors),
    SYM(1, vart_runner_get_num_of_output_tensors), SYM(1, vart_runner_get_output_tensors),
    SYM(1, vart_runner_get_inputs), SYM(1, vart_runner_get_outputs), SYM(1, vart_tensor_buffer_data),
};

static vart_api API;
static bool api_ok;
static char api_reason[512];
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

/* Tries each soname in dir (or the search path); keeps the first dlerror for the message. */
static void *open_lib(const char *dir, const char *const *names, char *why, size_t size) {
    why[0] = 0;
    for (int i = 0; names[i]; i++) {
        char path[1024];
        if (dir && *dir) snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        else snprintf(path, sizeof path, "%s", names[i]);
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
        if (!why[0]) {
            const char *e = dlerror();
            snprintf(why, size, "%s", e ? e : path);
        }
    }
    return NULL;
}

static void api_load(void) {
    static const char *const XIR[] = {"libxir.so", "libxir.so.3", NULL};
    static const char *const VART[] = {"libvart-runner.so", "libvart-runner.so.3", NULL};
    const char *dir = getenv("DF_VART_LIB_DIR");
    char why[400];
    /* libxir first: libvart-runner.so needs it, and when it comes from DF_VART_LIB_DIR the
     * runner's own DT_NEEDED lookup would not find it there. RTLD_GLOBAL for that reason. */
    void *h[2] = {NULL, NULL};
    const char *libname[2] = {"libxir.so", "libvart-runner.so"};
    for (int k = 0; k < 2; k++) {
        if (k == 0 && dir && *dir) {
            char path[1024];
            snprintf(path, sizeof path, "%s/libxir.so", dir);
            h[0] = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        }
        if (!h[k]) h[k] = open_lib(dir, k ? VART : XIR, why, sizeof why);
        if (!h[k]) {
            snprintf(api_reason, sizeof api_reason, "%s not found (%s)%s", libname[k], why,
                     dir && *dir ? "" : "; set DF_VART_LIB_DIR to the Vitis AI runtime's lib folder");
            return;
        }
    }
    for (size_t i = 0; i < sizeof SYMS / sizeof *SYMS; i++) {
        void *f = dlsym(h[SYMS[i].lib], SYMS[i].name);
        if (!f) {
            snprintf(api_reason, sizeof api_reason, "%s has no symbol %s (not a Vitis AI runtime with the C API?)",
                     libname[SYMS[i].lib], SYMS[i].name);
            return;
        }
        memcpy((char *)&API + SYMS[i].off, &f, sizeof f);
    }
    /* The handles stay open for the process's life: runners may outlive any one session. */
    api_ok = true;
}

bool df_vart_available(char *reason, size_t size) {
    pthread_once(&api_once, api_load);
    if (reason && size) snprintf(reason, size, "%s", api_ok ? "" : api_reason);
    return api_ok;
}

/* ---- per-session state ---------------------------------------------------------------------- */
typedef struct vart_state {
    xir_graph_t graph;
    vart_runner_t runner;
    size_t n_in, n_out;
    vart_tensor_buffer_t *in_tb, *out_tb;
    void **in_host, **out_host;
    size_t *in_bytes, *out_bytes;
    int *in_value, *out_value;  /* the session graph's value for each runner tensor */
    df_graph *owner;            /* the graph load built: prepare finds its state by it */
    char tag[64];               /* and by its unique name, so a freed graph's address never matches */
    struct vart_state *next;
} vart_state;

/* load() builds the graph before the session has a plan, so the state waits here until
 * prepare claims it. Touched only when sessions open, never per run. */
static pthread_mutex_t pending_mu = PTHREAD_MUTEX_INITIALIZER;
static vart_state *pending;

static void state_free(vart_state *s) {
    if (!s) return;
    if (api_ok) {
        if (s->runner) API.vart_destroy_runner(s->runner);
        if (s->graph) API.xir_graph_destroy(s->graph);
    }
    free(s->in_tb); free(s->out_tb); free(s->in_host); free(s->out_host);
    free(s->in_bytes); free(s->out_bytes); free(s->in_value); free(s->out_value);
    free(s);
}

static df_dtype map_dtype(enum xir_tensor_data_type_t t, int bits) {
    switch (t) {
    case XIR_INT:
    case XIR_XINT: /* fixed point: the int8 bits the DPU reads; the caller quantizes */
        return bits == 8 ? DF_I8 : bits == 16 ? DF_I16 : bits == 32 ? DF_I32 : bits == 64 ? DF_I64 : DF_UNDEFINED;
    case XIR_UINT:
    case XIR_XUINT:
        return bits == 8 ? DF_U8 : bits == 16 ? DF_U16 : bits == 32 ? DF_U32 : bits == 64 ? DF_U64 : DF_UNDEFINED;
    case XIR_FLOAT:
        return bits == 32 ? DF_F32 : bits == 16 ? DF_F16 : DF_UNDEFINED;
    default:
        return DF_UNDEFINED;
    }
}

/* Declares runner tensor t as graph value; buffers come later, in prepare. */
static df_status declare_value(df_graph *g, xir_tensor_t t, const char *path, const char *kind, int *out,
                               df_error *err) {
    xir_string_t nm = API.xir_tensor_get_name(t);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(nm.data ? nm.size : 0), nm.data ? nm.data : "");
    int rank = API.xir_tensor_get_dim_num(t);
    if (rank < 0 || rank > DF_MAX_RANK)
        return df_error_set(err, DF_EUNSUPPORTED, "%s: %s tensor '%s' has rank %d", path, kind, name, rank);
    df_dtype dt = map_dtype(API.xir_tensor_get_data_type(t), API.xir_tensor_get_bit_width(t));
    if (dt == DF_UNDEFINED)
        return df_error_set(err, DF_EUNSUPPORTED, "%s: %s tensor '%s' has XIR type %d with %d bits", path, kind, name,
                            (int)API.xir_tensor_get_data_type(t), (int)API.xir_tensor_get_bit_width(t));
    int v = df_graph_value(g, name);
    if (v < 0) return df_error_set(err, DF_ENOMEM, "out of memory");
    df_value *val = &g->values[v];
    val->dtype = dt;
    val->shape.rank = rank;
    for (int d = 0; d < rank; d++) {
        val->shape.dims[d] = API.xir_tensor_get_dim_size(t, d);
        if (val->shape.dims[d] <= 0)
            return df_error_set(err, DF_EUNSUPPORTED, "%s: %s tensor '%s' dim %d is %lld", path, kind, name, d,
                                (long long)val->shape.dims[d]);
    }
    val->shape_known = true;
    *out = v;
    return DF_OK;
}

/* The one DPU child of the root subgraph; a model that needs its CPU subgraphs run is
 * refused, because only Vitis AI's graph runner (C++) runs those. */
static df_status find_dpu_subgraph(xir_graph_t xg, const char *path, xir_subgraph_t *out, df_error *err) {
    xir_subgraph_t root = API.xir_graph_get_root_subgraph(xg);
    int32_t n = root ? API.xir_subgraph_get_children_num(root) : 0;
    if (n <= 0 || n > 4096) return df_error_set(err, DF_EFORMAT, "%s: the xmodel has no subgraphs (not compiled?)", path);
    xir_subgraph_t *kids = calloc((size_t)n, sizeof *kids);
    if (!kids) return df_error_set(err, DF_ENOMEM, "out of memory");
    API.xir_subgraph_children_topological_sort(root, kids);
    int n_dpu = 0, n_cpu = 0;
    char cpu_name[128] = "";
    *out = NULL;
    for (int32_t i = 0; i < n; i++) {
        char device[32] = "";
        if (API.xir_subgraph_has_attr(kids[i], "device")) {
            /* Assumption: a copy the caller owns (see the file comment). */
            xir_attrs_t a = API.xir_subgraph_get_attrs(kids[i]);
            const char *d = a ? API.xir_attrs_get_string(a, "device") : NULL;
            snprintf(device, sizeof device, "%s", d ? d : "");
            if (a) API.xir_attrs_destroy(a);
        }
        if (!strcmp(device, "DPU")) {
            if (!n_dpu) *out = kids[i];
            n_dpu++;
        } else if (!strcmp(device, "CPU")) {
            if (!n_cpu) {
                xir_string_t nm = API.xir_subgraph_get_name(kids[i]);
                snprintf(cpu_name, sizeof cpu_name, "%.*s", (int)(nm.data ? nm.size : 0), nm.data ? nm.data : "");
            }
            n_cpu++;
        }
    }
    free(kids);
    if (n_dpu == 0) return df_error_set(err, DF_EUNSUPPORTED, "%s: the xmodel has no DPU subgraph", path);
    if (n_dpu > 1 || n_cpu > 0)
        return df_error_set(err, DF_EUNSUPPORTED,
                            "%s: %d DPU and %d CPU subgraphs (first CPU one: '%s'); the vart backend runs models "
                            "whose whole work is one DPU subgraph (the rest needs Vitis AI's C++ graph runner)",
                            path, n_dpu, n_cpu, cpu_name);
    return DF_OK;
}

static df_status vart_load(const char *path, df_graph **out, df_error *err) {
    *out = NULL;
    char why[512];
    if (!df_vart_available(why, sizeof why))
        return df_error_set(err, DF_EUNSUPPORTED, "backend 'vart' is unavailable: %s", why);
    /* The vendor's deserializer aborts the process on a missing file, so check it here. */
    FILE *f = fopen(path, "rb");
    if (!f) return df_error_set(err, DF_ENOTFOUND, "%s: cannot open the xmodel", path);
    fclose(f);
    vart_state *s = calloc(1, sizeof *s);
    df_graph *g = NULL;
    df_status st = DF_OK;
    if (!s) return df_error_set(err, DF_ENOMEM, "out of memory");
    if (!(s->graph = API.xir_graph_deserialize(path))) {
        st = df_error_set(err, DF_EFORMAT, "%s: xir_graph_deserialize failed (not an xmodel?)", path);
        goto fail;
    }
    xir_subgraph_t dpu = NULL;
    if ((st = find_dpu_subgraph(s->graph, path, &dpu, err))) goto fail;
    if (!(s->runner = API.vart_create_runner(dpu, "run"))) {
        st = df_error_set(err, DF_EIO, "%s: vart_create_runner returned no runner (is the DPU driver loaded?)", path);
        goto fail;
    }
    s->n_in = API.vart_runner_get_num_of_input_tensors(s->runner);
    s->n_out = API.vart_runner_get_num_of_output_tensors(s->runner);
    if (s->n_in == 0 || s->n_out == 0 || s->n_in > 256 || s->n_out > 256) {
        st = df_error_set(err, DF_EFORMAT, "%s: the DPU runner has %zu inputs and %zu outputs", path, s->n_in, s->n_out);
        goto fail;
    }
    xir_tensor_t *tin = calloc(s->n_in, sizeof *tin), *tout = calloc(s->n_out, sizeof *tout);
    s->in_value = calloc(s->n_in, sizeof *s->in_value);
    s->out_value = calloc(s->n_out, sizeof *s->out_value);
    if (!tin || !tout || !s->in_value || !s->out_value) st = df_error_set(err, DF_ENOMEM, "out of memory");
    else st = df_graph_new(&g, err);
    if (st) {
        free(tin); free(tout);
        goto fail;
    }
    g->inputs = calloc(s->n_in, sizeof *g->inputs);
    g->outputs = calloc(s->n_out, sizeof *g->outputs);
    if (!g->inputs || !g->outputs) st = df_error_set(err, DF_ENOMEM, "out of memory");
    if (!st) {
        API.vart_runner_get_input_tensors(s->runner, tin);
        API.vart_runner_get_output_tensors(s->runner, tout);
    }
    for (size_t k = 0; k < s->n_in && !st; k++)
        if (!(st = declare_value(g, tin[k], path, "input", &s->in_value[k], err))) {
            g->values[s->in_value[k]].is_graph_input = true;
            g->inputs[g->n_inputs++] = s->in_value[k];
        }
    for (size_t k = 0; k < s->n_out && !st; k++)
        if (!(st = declare_value(g, tout[k], path, "output", &s->out_value[k], err)))
            g->outputs[g->n_outputs++] = s->out_value[k];
    free(tin);
    free(tout);
    if (st) goto fail;
    static unsigned long seq;
    pthread_mutex_lock(&pending_mu);
    snprintf(s->tag, sizeof s->tag, "vart-xmodel-%lu", ++seq);
    pthread_mutex_unlock(&pending_mu);
    free(g->name);
    if (!(g->name = strdup(s->tag))) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    s->owner = g;
    pthread_mutex_lock(&pending_mu);
    s->next = pending;
    pending = s;
    pthread_mutex_unlock(&pending_mu);
    *out = g;
    return DF_OK;
fail:
    df_graph_free(g);
    state_free(s);
    return st;
}

/* Resolves each runner buffer to a host address and checks it holds the whole tensor. */
static df_status bind_buffers(vart_state *s, df_plan *p, bool input, df_error *err) {
    size_t n = input ? s->n_in : s->n_out;
    vart_tensor_buffer_t *tb = calloc(n, sizeof *tb);
    void **host = calloc(n, sizeof *host);
    size_t *bytes = calloc(n, sizeof *bytes);
    if (input) { s->in_tb = tb; s->in_host = host; s->in_bytes = bytes; }
    else { s->out_tb = tb; s->out_host = host; s->out_bytes = bytes; }
    if (!tb || !host || !bytes) return df_error_set(err, DF_ENOMEM, "out of memory");
    if (input) API.vart_runner_get_inputs(s->runner, tb);
    else API.vart_runner_get_outputs(s->runner, tb);
    for (size_t k = 0; k < n; k++) {
        int v = input ? s->in_value[k] : s->out_value[k];
        const df_value *val = &p->graph->values[v];
        int32_t idx[DF_MAX_RANK] = {0};
        vart_tensor_buffer_address_t a =
            tb[k] ? API.vart_tensor_buffer_data(tb[k], idx, (size_t)val->shape.rank) : (vart_tensor_buffer_address_t){0, 0};
        bytes[k] = (size_t)df_shape_numel(&val->shape) * df_dtype_size(val->dtype);
        if (!a.addr || a.size < bytes[k])
            return df_error_set(err, DF_EIO, "vart: %s tensor '%s': the runner's buffer holds %zu bytes, %zu needed",
                                input ? "input" : "output", val->name, a.size, bytes[k]);
        host[k] = (void *)(uintptr_t)a.addr;
        /* Outputs are views of the runner's buffers: a run copies nothing out. */
        if (!input) p->tensors[v].data = host[k];
    }
    return DF_OK;
}

static df_status vart_prepare(df_plan *p, df_error *err) {
    vart_state *s = NULL;
    pthread_mutex_lock(&pending_mu);
    for (vart_state **pp = &pending; *pp; pp = &(*pp)->next)
        if ((*pp)->owner == p->graph && p->graph->name && !strcmp((*pp)->tag, p->graph->name)) {
            s = *pp;
            *pp = s->next;
            break;
        }
    pthread_mutex_unlock(&pending_mu);
    if (!s) {
        char why[512];
        if (!df_vart_available(why, sizeof why))
            return df_error_set(err, DF_EUNSUPPORTED, "backend 'vart' is unavailable: %s", why);
        return df_error_set(err, DF_EUNSUPPORTED,
                            "backend 'vart' runs .xmodel files opened with df_session_open, not graphs in memory");
    }
    s->next = NULL;
    p->backend_state = s;
    df_status st = bind_buffers(s, p, true, err);
    if (!st) st = bind_buffers(s, p, false, err);
    return st;
}

static df_status vart_execute(df_plan *p, df_error *err) {
    vart_state *s = p->backend_state;
    for (size_t k = 0; k < s->n_in; k++) memcpy(s->in_host[k], p->tensors[s->in_value[k]].data, s->in_bytes[k]);
    vart_job_id_and_status_t job = API.vart_runner_execute_async(s->runner, s->in_tb, s->n_in, s->out_tb, s->n_out);
    if (job.status != 0)
        return df_error_set(err, DF_EIO, "vart: vart_runner_execute_async returned status %d", job.status);
    /* -1: block until done; the DPU driver has its own timeout. */
    int rc = API.vart_runner_wait(s->runner, (int)job.job_id, -1);
    if (rc != 0) return df_error_set(err, DF_EIO, "vart: vart_runner_wait(job %u) returned %d", job.job_id, rc);
    return DF_OK;
}

static void vart_release(df_plan *p) {
    vart_state *s = p->backend_state;
    if (!s) {
        /* prepare never ran (the plan failed): the state may still wait to be claimed. */
        pthread_mutex_lock(&pending_mu);
        for (vart_state **pp = &pending; *pp; pp = &(*pp)->next)
            if ((*pp)->owner == p->graph && p->graph->name && !strcmp((*pp)->tag, p->graph->name)) {
                s = *pp;
                *pp = s->next;
                break;
            }
        pthread_mutex_unlock(&pending_mu);
    }
    state_free(s);
    p->backend_state = NULL;
}

const df_backend df_backend_vart = {
    .name = "vart", .load = vart_load, .prepare = vart_prepare, .execute = vart_execute, .release = vart_release,
};
