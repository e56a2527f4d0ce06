/* The vart backend: Vitis AI .xmodel subgraphs run through the Vitis AI runtime's C API.
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
 * Two ways in:
 *  - an .xmodel whose whole work is one DPU subgraph: the session owns one runner (batch 1),
 *    its inputs and outputs are the runner's own buffers (vart_runner_get_inputs/outputs,
 *    RunnerExt), resolved to host addresses once at prepare; a run copies the inputs in,
 *    calls execute_async and wait, and the outputs are views of the runner's buffers.
 *  - a dpuflow fpga artifact (.dfm) with the vendor xmodel that the Vitis AI compile stage
 *    wrote beside it (meta.json's "vitis"."xmodel"): hybrid execution. The .dfm's partition
 *    says which nodes are DPU work (dpu_subgraph attributes); each of its DPU subgraphs is
 *    matched to one DPU subgraph of the xmodel and run by its own runner, and every other
 *    node runs on dpuflow's cpu kernels exactly as dpu-sim runs them. That is the job Vitis
 *    AI's C++ graph runner does on a board, which its C API does not expose. */
#include <dlfcn.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpuflow/base.h"
#include "dpuflow/onnx.h"
#include "dpuflow/vart.h"
#include "exec/exec.h"
#include "ops/int8_dpu.h"

extern const df_backend df_backend_dpusim; /* backend_dpusim.c: the CPU side of a hybrid run */

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
/* Hybrid runs: one runner tensor and the session value it carries across the boundary. */
enum { HY_COPY, HY_DEQUANT, HY_QUANT };
typedef struct hy_port {
    char name[256];      /* the runner tensor's */
    df_dtype dtype;      /* as the runner holds it */
    df_shape shape;
    int value;           /* the session graph's value (bound in prepare) */
    int conv, fix;       /* how it crosses: a copy, or int8 <-> float at 2^-fix */
    size_t numel, bytes;
    void *host;          /* the runner's buffer */
} hy_port;

/* One DPU subgraph of the .dfm and the runner on its xmodel counterpart. */
typedef struct hy_sub {
    char name[128], xname[128];
    vart_runner_t runner;
    size_t n_in, n_out;
    hy_port *in, *out;
    vart_tensor_buffer_t *in_tb, *out_tb;
    int profile_step;    /* the step a profile charges the runner's time to */
} hy_sub;

/* The run, flattened at prepare: cpu steps, inputs staged into a runner when the plan's order
 * reaches their first DPU consumer (their arena bytes may be reused after), and runner calls. */
enum { HY_RUN, HY_STAGE, HY_EXEC };
typedef struct hy_op { int kind, a, b; } hy_op;

typedef struct vart_state {
    xir_graph_t graph;
    hy_sub *subs;               /* hybrid when non-NULL */
    int n_subs;
    hy_op *ops;
    int n_ops;
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
    for (int i = 0; s->subs && i < s->n_subs; i++) {
        hy_sub *b = &s->subs[i];
        if (api_ok && b->runner) API.vart_destroy_runner(b->runner);
        free(b->in); free(b->out); free(b->in_tb); free(b->out_tb);
    }
    free(s->subs);
    free(s->ops);
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
                            "%s: %d DPU and %d CPU subgraphs (first CPU one: '%s'); an .xmodel alone runs only "
                            "when its whole work is one DPU subgraph: open the fpga artifact (.dfm) it was built "
                            "with, with backend vart, to run the CPU subgraphs on dpuflow's kernels",
                            path, n_dpu, n_cpu, cpu_name);
    return DF_OK;
}

/* ---- hybrid: a .dfm + its vendor xmodel --------------------------------------------------------- */

bool df_vart_xmodel_for(const char *artifact, char *out, size_t size) {
    if (!artifact || !out || !size) return false;
    char dir[PATH_MAX], meta[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s", artifact);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    snprintf(meta, sizeof meta, "%s/meta.json", dir);
    json_error_t je;
    json_t *root = json_load_file(meta, 0, &je);
    if (!root) return false;
    const char *x = json_string_value(json_object_get(json_object_get(root, "vitis"), "xmodel"));
    bool ok = false;
    if (x && *x) {
        int n = x[0] == '/' ? snprintf(out, size, "%s", x) : snprintf(out, size, "%s/%s", dir, x);
        ok = n > 0 && (size_t)n < size && access(out, R_OK) == 0;
    }
    json_decref(root);
    if (!ok) out[0] = 0;
    return ok;
}

static void pending_push(vart_state *s, df_graph *g) {
    s->owner = g;
    pthread_mutex_lock(&pending_mu);
    s->next = pending;
    pending = s;
    pthread_mutex_unlock(&pending_mu);
}

static vart_state *pending_take(const df_graph *g) {
    vart_state *s = NULL;
    pthread_mutex_lock(&pending_mu);
    for (vart_state **pp = &pending; *pp; pp = &(*pp)->next)
        if ((*pp)->owner == g && g->name && !strcmp((*pp)->tag, g->name)) {
            s = *pp;
            *pp = s->next;
            break;
        }
    pthread_mutex_unlock(&pending_mu);
    if (s) s->next = NULL;
    return s;
}

/* Names the graph with a tag no other session's graph carries, so prepare finds its state. */
static df_status tag_graph(vart_state *s, df_graph *g, df_error *err) {
    static unsigned long seq;
    pthread_mutex_lock(&pending_mu);
    snprintf(s->tag, sizeof s->tag, "vart-xmodel-%lu", ++seq);
    pthread_mutex_unlock(&pending_mu);
    free(g->name);
    if (!(g->name = strdup(s->tag))) return df_error_set(err, DF_ENOMEM, "out of memory");
    return DF_OK;
}

static void xstr(xir_string_t v, char *out, size_t size) {
    snprintf(out, size, "%.*s", (int)(v.data ? v.size : 0), v.data ? v.data : "");
}

/* The runner's input or output tensors as ports (names, types, shapes; buffers at prepare). */
static df_status read_ports(hy_sub *b, bool input, const char *xmodel, df_error *err) {
    size_t n = input ? API.vart_runner_get_num_of_input_tensors(b->runner)
                     : API.vart_runner_get_num_of_output_tensors(b->runner);
    if (n == 0 || n > 256)
        return df_error_set(err, DF_EFORMAT, "%s: the runner of DPU subgraph '%s' has %zu %s tensors", xmodel, b->xname,
                            n, input ? "input" : "output");
    xir_tensor_t *t = calloc(n, sizeof *t);
    hy_port *ports = calloc(n, sizeof *ports);
    vart_tensor_buffer_t *tb = calloc(n, sizeof *tb);
    if (input) { b->in = ports; b->in_tb = tb; b->n_in = n; }
    else { b->out = ports; b->out_tb = tb; b->n_out = n; }
    if (!t || !ports || !tb) {
        free(t);
        return df_error_set(err, DF_ENOMEM, "out of memory");
    }
    if (input) API.vart_runner_get_input_tensors(b->runner, t);
    else API.vart_runner_get_output_tensors(b->runner, t);
    df_status st = DF_OK;
    for (size_t k = 0; k < n && !st; k++) {
        hy_port *q = &ports[k];
        q->value = -1;
        xstr(API.xir_tensor_get_name(t[k]), q->name, sizeof q->name);
        int rank = API.xir_tensor_get_dim_num(t[k]);
        q->dtype = map_dtype(API.xir_tensor_get_data_type(t[k]), API.xir_tensor_get_bit_width(t[k]));
        if (rank < 0 || rank > DF_MAX_RANK || q->dtype == DF_UNDEFINED) {
            st = df_error_set(err, DF_EUNSUPPORTED, "%s: DPU subgraph '%s': %s tensor '%s' has rank %d and XIR type %d "
                              "with %d bits", xmodel, b->xname, input ? "input" : "output", q->name, rank,
                              (int)API.xir_tensor_get_data_type(t[k]), (int)API.xir_tensor_get_bit_width(t[k]));
            break;
        }
        q->shape.rank = rank;
        for (int d = 0; d < rank; d++) q->shape.dims[d] = API.xir_tensor_get_dim_size(t[k], d);
        q->numel = (size_t)df_shape_numel(&q->shape);
        q->bytes = q->numel * df_dtype_size(q->dtype);
    }
    free(t);
    return st;
}

/* The DPU children of the xmodel's root subgraph, in topological order. */
static df_status xmodel_dpu_subgraphs(xir_graph_t xg, const char *xmodel, xir_subgraph_t **out, int *n_out,
                                      df_error *err) {
    xir_subgraph_t root = API.xir_graph_get_root_subgraph(xg);
    int32_t n = root ? API.xir_subgraph_get_children_num(root) : 0;
    if (n <= 0 || n > 4096) return df_error_set(err, DF_EFORMAT, "%s: the xmodel has no subgraphs (not compiled?)", xmodel);
    xir_subgraph_t *kids = calloc((size_t)n, sizeof *kids);
    if (!kids) return df_error_set(err, DF_ENOMEM, "out of memory");
    API.xir_subgraph_children_topological_sort(root, kids);
    int m = 0;
    for (int32_t i = 0; i < n; i++) {
        char device[32] = "";
        if (API.xir_subgraph_has_attr(kids[i], "device")) {
            xir_attrs_t a = API.xir_subgraph_get_attrs(kids[i]); /* a copy we own: see the file comment */
            const char *d = a ? API.xir_attrs_get_string(a, "device") : NULL;
            snprintf(device, sizeof device, "%s", d ? d : "");
            if (a) API.xir_attrs_destroy(a);
        }
        if (!strcmp(device, "DPU")) kids[m++] = kids[i];
    }
    *out = kids;
    *n_out = m;
    return DF_OK;
}

/* Opens the .dfm as the session's graph and one runner per DPU subgraph of the xmodel beside
 * it. Subgraphs pair up by name when every name matches (dpuflow's fake toolchain and any
 * compiler that keeps the names), else by order when the counts agree: both lists are in
 * topological order of the same model, and prepare checks every tensor's size. */
static df_status hybrid_load(const char *path, df_graph **out, df_error *err) {
    char xm[PATH_MAX];
    if (!df_vart_xmodel_for(path, xm, sizeof xm))
        return df_error_set(err, DF_ENOTFOUND,
                            "%s: no vendor xmodel beside it (the meta.json in its folder has no \"vitis\" object "
                            "naming a readable \"xmodel\"; build with target.toolchain \"vitis\")", path);
    df_graph *g = NULL;
    df_status st = df_onnx_load(path, &g, err);
    if (st) return st;
    vart_state *s = calloc(1, sizeof *s);
    xir_subgraph_t *kids = NULL;
    int n_kids = 0, n_names = 0;
    const char **names = calloc((size_t)g->n_nodes + 1, sizeof *names);
    if (!s || !names) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const char *sg = df_attr_string(&g->nodes[i], "dpu_subgraph", NULL);
        int k = 0;
        while (sg && k < n_names && strcmp(names[k], sg)) k++;
        if (sg && k == n_names) names[n_names++] = sg;
    }
    if (!n_names) {
        st = df_error_set(err, DF_EINVAL, "%s: no DPU subgraph (no node has a dpu_subgraph attribute); open the .dfm "
                          "that `dpuflow compile --platform fpga` writes", path);
        goto fail;
    }
    /* The vendor's deserializer aborts the process on a missing file; df_vart_xmodel_for checked it. */
    if (!(s->graph = API.xir_graph_deserialize(xm))) {
        st = df_error_set(err, DF_EFORMAT, "%s: xir_graph_deserialize failed (not an xmodel?)", xm);
        goto fail;
    }
    if ((st = xmodel_dpu_subgraphs(s->graph, xm, &kids, &n_kids, err))) goto fail;
    if (!(s->subs = calloc((size_t)n_names, sizeof *s->subs))) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    s->n_subs = n_names;
    char kname[128];
    int *pick = calloc((size_t)n_names, sizeof *pick);
    if (!pick) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto fail;
    }
    bool by_name = n_kids == n_names;
    const char *missing = NULL;
    for (int i = 0; i < n_names; i++) {
        pick[i] = -1;
        for (int k = 0; k < n_kids && pick[i] < 0; k++) {
            xstr(API.xir_subgraph_get_name(kids[k]), kname, sizeof kname);
            if (!strcmp(kname, names[i])) pick[i] = k;
        }
        if (pick[i] < 0) {
            by_name = false;
            if (!missing) missing = names[i];
        }
    }
    if (n_kids != n_names) {
        char extra[128] = "";
        for (int k = 0; k < n_kids && !missing && !extra[0]; k++) {
            bool used = false;
            for (int i = 0; i < n_names; i++) used |= pick[i] == k;
            if (!used) xstr(API.xir_subgraph_get_name(kids[k]), extra, sizeof extra);
        }
        if (missing)
            st = df_error_set(err, DF_EINVAL, "%s has %d DPU subgraphs, %s has %d: DPU subgraph '%s' of the .dfm is "
                              "not in the xmodel (was the xmodel compiled from this artifact?)", xm, n_kids, path,
                              n_names, missing);
        else
            st = df_error_set(err, DF_EINVAL, "%s has %d DPU subgraphs, %s has %d: the xmodel's DPU subgraph '%s' is "
                              "not in the .dfm (was the xmodel compiled from this artifact?)", xm, n_kids, path,
                              n_names, extra);
        free(pick);
        goto fail;
    }
    if (!by_name)
        df_log(DF_LOG_INFO, "%s: DPU subgraph names differ from the .dfm's (first: '%s'); pairing %d subgraphs by order",
               xm, missing, n_names);
    for (int i = 0; i < n_names && !st; i++) {
        hy_sub *b = &s->subs[i];
        xir_subgraph_t k = kids[by_name ? pick[i] : i];
        snprintf(b->name, sizeof b->name, "%s", names[i]);
        xstr(API.xir_subgraph_get_name(k), b->xname, sizeof b->xname);
        if (!(b->runner = API.vart_create_runner(k, "run"))) {
            st = df_error_set(err, DF_EIO, "%s: vart_create_runner returned no runner for DPU subgraph '%s' (is the "
                              "DPU driver loaded?)", xm, b->xname);
            break;
        }
        if (!(st = read_ports(b, true, xm, err))) st = read_ports(b, false, xm, err);
    }
    free(pick);
    if (st || (st = tag_graph(s, g, err))) goto fail;
    free(kids);
    free(names);
    pending_push(s, g);
    *out = g;
    return DF_OK;
fail:
    free(kids);
    free(names);
    df_graph_free(g);
    state_free(s);
    return st;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static df_status vart_load(const char *path, df_graph **out, df_error *err) {
    *out = NULL;
    char why[512];
    if (!df_vart_available(why, sizeof why))
        return df_error_set(err, DF_EUNSUPPORTED, "backend 'vart' is unavailable: %s", why);
    if (ends_with(path, ".dfm")) return hybrid_load(path, out, err);
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
    if (st || (st = tag_graph(s, g, err))) goto fail;
    pending_push(s, g);
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

static bool is_layout_op(const char *op) {
    static const char *const L[] = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Relu", NULL};
    for (int i = 0; L[i]; i++)
        if (!strcmp(op, L[i])) return true;
    return false;
}

/* The fix position of value v as the .dfm fixes it: the scale of the QuantizeLinear that made
 * it, or the out_fix of the DPU conv it comes from through layout ops (which move int8 values
 * without changing them). prod maps a value to the step producing it. */
static bool value_fix(const df_plan *p, const int *prod, int v, int *fix) {
    for (int hops = 0; hops < 64 && v >= 0 && prod[v] >= 0; hops++) {
        const df_node *n = p->steps[prod[v]].node;
        if (!strcmp(n->op_type, "QuantizeLinear")) {
            const df_tensor *sc = df_node_in_const(p->graph, n, 1);
            return sc && sc->dtype == DF_F32 && df_shape_numel(&sc->shape) == 1 &&
                   df_dpu_fix_of_scale(((const float *)sc->data)[0], fix);
        }
        if (!strcmp(n->op_type, "QMatMul")) {
            const df_attr *a = df_node_attr(n, "out_fix");
            if (a) *fix = (int)a->i;
            return a != NULL;
        }
        if (!is_layout_op(n->op_type)) return false;
        v = n->n_inputs ? n->inputs[0] : -1;
    }
    return false;
}

/* Pairs a subgraph's runner tensors with the .dfm values crossing its boundary (by name when
 * all names match, else by order), decides each conversion and binds the runner's buffers. */
static df_status bind_ports(df_plan *p, const int *prod, hy_sub *b, bool input, const int *vals, int n_vals,
                            df_error *err) {
    const df_graph *g = p->graph;
    hy_port *ports = input ? b->in : b->out;
    size_t n = input ? b->n_in : b->n_out;
    const char *kind = input ? "input" : "output";
    if ((size_t)n_vals != n)
        return df_error_set(err, DF_EINVAL, "DPU subgraph '%s' (xmodel '%s'): the runner has %zu %s tensors, the .dfm's "
                            "subgraph has %d (first: '%s')", b->name, b->xname, n, kind, n_vals,
                            n_vals ? g->values[vals[0]].name : "");
    bool by_name = true;
    for (size_t k = 0; k < n; k++) {
        ports[k].value = -1;
        for (int i = 0; i < n_vals && ports[k].value < 0; i++)
            if (!strcmp(g->values[vals[i]].name, ports[k].name)) ports[k].value = vals[i];
        by_name &= ports[k].value >= 0;
    }
    vart_tensor_buffer_t *tb = input ? b->in_tb : b->out_tb;
    if (input) API.vart_runner_get_inputs(b->runner, tb);
    else API.vart_runner_get_outputs(b->runner, tb);
    for (size_t k = 0; k < n; k++) {
        hy_port *q = &ports[k];
        if (!by_name) q->value = vals[k];
        const df_value *val = &g->values[q->value];
        char a[128], c[128];
        if ((size_t)df_shape_numel(&val->shape) != q->numel)
            return df_error_set(err, DF_ESHAPE, "DPU subgraph '%s' (xmodel '%s'): runner %s '%s' has shape %s, but the "
                                ".dfm's tensor '%s' has %s", b->name, b->xname, kind, q->name, df_shape_str(&q->shape, a, sizeof a),
                                val->name, df_shape_str(&val->shape, c, sizeof c));
        df_dtype from = input ? val->dtype : q->dtype, to = input ? q->dtype : val->dtype;
        if (from == to) q->conv = HY_COPY;
        else if (from == DF_I8 && to == DF_F32) q->conv = HY_DEQUANT;
        else if (from == DF_F32 && to == DF_I8) q->conv = HY_QUANT;
        else
            return df_error_set(err, DF_EUNSUPPORTED, "DPU subgraph '%s' (xmodel '%s'): runner %s '%s' is %s, the .dfm's "
                                "tensor '%s' is %s", b->name, b->xname, kind, q->name, df_dtype_name(q->dtype),
                                val->name, df_dtype_name(val->dtype));
        if (q->conv != HY_COPY && !value_fix(p, prod, q->value, &q->fix))
            return df_error_set(err, DF_EINVAL, "DPU subgraph '%s' (xmodel '%s'): runner %s '%s' is %s but the .dfm gives "
                                "its tensor '%s' no fix point (a DPU conv without out_fix: compile with calibration "
                                "rows, see docs/fpga.md)", b->name, b->xname, kind, q->name, df_dtype_name(q->dtype),
                                val->name);
        int32_t idx[DF_MAX_RANK] = {0};
        vart_tensor_buffer_address_t ad =
            tb[k] ? API.vart_tensor_buffer_data(tb[k], idx, (size_t)q->shape.rank) : (vart_tensor_buffer_address_t){0, 0};
        if (!ad.addr || ad.size < q->bytes)
            return df_error_set(err, DF_EIO, "DPU subgraph '%s' (xmodel '%s'): the runner's buffer for %s '%s' holds %zu "
                                "bytes, %zu needed", b->name, b->xname, kind, q->name, ad.size, q->bytes);
        q->host = (void *)(uintptr_t)ad.addr;
    }
    return DF_OK;
}

static int sub_index(const vart_state *s, const char *name) {
    for (int i = 0; i < s->n_subs; i++)
        if (!strcmp(s->subs[i].name, name)) return i;
    return -1;
}

static df_status hybrid_prepare(vart_state *s, df_plan *p, df_error *err) {
    /* The CPU side exactly as dpu-sim runs it (DPU rounding on the quantizers feeding the DPU);
     * the DPU nodes get kernels too, which the runs below never call. */
    df_status st = df_backend_dpusim.prepare(p, err);
    if (st) return st;
    const df_graph *g = p->graph;
    int ns = p->n_steps, nv = g->n_values;
    int *prod = malloc((size_t)nv * sizeof *prod), *sub_of = malloc((size_t)(ns + 1) * sizeof *sub_of);
    int *first = calloc((size_t)s->n_subs, sizeof *first), *last = calloc((size_t)s->n_subs, sizeof *last);
    int *vals = malloc((size_t)(nv + 1) * sizeof *vals);
    size_t ports = 0;
    for (int j = 0; j < s->n_subs; j++) ports += s->subs[j].n_in;
    s->ops = calloc((size_t)ns + ports + (size_t)s->n_subs, sizeof *s->ops);
    if (!prod || !sub_of || !first || !last || !vals || !s->ops) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    for (int v = 0; v < nv; v++) prod[v] = -1;
    for (int j = 0; j < s->n_subs; j++) first[j] = last[j] = -1;
    for (int t = 0; t < ns && !st; t++) {
        const df_node *n = p->steps[t].node;
        for (int o = 0; o < n->n_outputs; o++)
            if (n->outputs[o] >= 0) prod[n->outputs[o]] = t;
        const char *sg = df_attr_string(n, "dpu_subgraph", NULL);
        sub_of[t] = sg ? sub_index(s, sg) : -1;
        if (sg && sub_of[t] < 0) {
            st = df_error_set(err, DF_EINVAL, "node '%s' is in DPU subgraph '%s', which the session did not open",
                              n->name, sg);
            break;
        }
        if (sub_of[t] >= 0) {
            if (first[sub_of[t]] < 0) first[sub_of[t]] = t;
            last[sub_of[t]] = t;
        }
    }
    for (int j = 0; j < s->n_subs && !st; j++) {
        hy_sub *b = &s->subs[j];
        if (first[j] < 0) {
            st = df_error_set(err, DF_EINVAL, "DPU subgraph '%s' has no node left to run after optimization", b->name);
            break;
        }
        b->profile_step = first[j];
        /* Inputs: runtime values its nodes read that it does not make, in order of first use. */
        int nin = 0;
        for (int t = first[j]; t <= last[j]; t++) {
            const df_node *n = p->steps[t].node;
            for (int i = 0; sub_of[t] == j && i < n->n_inputs; i++) {
                int v = n->inputs[i];
                if (v < 0 || g->values[v].has_const || (prod[v] >= 0 && sub_of[prod[v]] == j)) continue;
                int k = 0;
                while (k < nin && vals[k] != v) k++;
                if (k == nin) vals[nin++] = v;
            }
        }
        if ((st = bind_ports(p, prod, b, true, vals, nin, err))) break;
        /* Outputs: what it makes that a node outside it or the caller reads; all of those
         * readers must come after its last node, where its runner runs. */
        int nout = 0;
        for (int t = first[j]; t <= last[j] && !st; t++) {
            const df_node *n = p->steps[t].node;
            for (int o = 0; sub_of[t] == j && o < n->n_outputs && !st; o++) {
                int v = n->outputs[o];
                if (v < 0) continue;
                bool used = false;
                for (int k = 0; k < g->n_outputs; k++) used |= g->outputs[k] == v;
                for (int u = 0; u < ns && !st; u++) {
                    const df_node *c = p->steps[u].node;
                    if (sub_of[u] == j) continue;
                    for (int i = 0; i < c->n_inputs && !st; i++) {
                        if (c->inputs[i] != v) continue;
                        used = true;
                        if (u < last[j])
                            st = df_error_set(err, DF_EUNSUPPORTED, "DPU subgraph '%s': node '%s' reads its output "
                                              "'%s' before the subgraph's last node '%s' has run", b->name, c->name,
                                              g->values[v].name, p->steps[last[j]].node->name);
                    }
                }
                if (used) vals[nout++] = v;
            }
        }
        if (!st) st = bind_ports(p, prod, b, false, vals, nout, err);
    }
    if (st) goto done;
    /* The run: cpu steps in plan order; each runner input staged when its first consumer in
     * the subgraph comes up; the runner at its subgraph's last node. */
    for (int t = 0; t < ns; t++) {
        int j = sub_of[t];
        if (j < 0) {
            s->ops[s->n_ops++] = (hy_op){HY_RUN, t, 0};
            continue;
        }
        hy_sub *b = &s->subs[j];
        const df_node *n = p->steps[t].node;
        for (int i = 0; i < n->n_inputs; i++)
            for (size_t k = 0; k < b->n_in; k++)
                if (b->in[k].value == n->inputs[i] && b->in[k].host) {
                    bool staged = false;
                    for (int o = 0; o < s->n_ops; o++)
                        staged |= s->ops[o].kind == HY_STAGE && s->ops[o].a == j && s->ops[o].b == (int)k;
                    if (!staged) s->ops[s->n_ops++] = (hy_op){HY_STAGE, j, (int)k};
                }
        if (t == last[j]) s->ops[s->n_ops++] = (hy_op){HY_EXEC, j, 0};
    }
done:
    free(prod); free(sub_of); free(first); free(last); free(vals);
    return st;
}

static void port_in(const df_plan *p, const hy_port *q) {
    const void *src = p->tensors[q->value].data;
    if (q->conv == HY_COPY) {
        memcpy(q->host, src, q->bytes);
    } else if (q->conv == HY_QUANT) {
        const float *x = src;
        int8_t *y = q->host;
        for (size_t i = 0; i < q->numel; i++) y[i] = df_dpu_quantize(x[i], q->fix);
    } else {
        const int8_t *x = src;
        float *y = q->host;
        for (size_t i = 0; i < q->numel; i++) y[i] = ldexpf((float)x[i], -q->fix);
    }
}

static void port_out(df_plan *p, const hy_port *q) {
    void *dst = p->tensors[q->value].data;
    if (q->conv == HY_COPY) {
        memcpy(dst, q->host, q->bytes);
    } else if (q->conv == HY_QUANT) {
        const float *x = q->host;
        int8_t *y = dst;
        for (size_t i = 0; i < q->numel; i++) y[i] = df_dpu_quantize(x[i], q->fix);
    } else {
        const int8_t *x = q->host;
        float *y = dst;
        for (size_t i = 0; i < q->numel; i++) y[i] = ldexpf((float)x[i], -q->fix);
    }
}

static df_status hybrid_execute(vart_state *s, df_plan *p, df_error *err) {
    omp_set_num_threads(p->threads);
    if (p->profile) p->profile_runs++;
    for (int o = 0; o < s->n_ops; o++) {
        const hy_op *op = &s->ops[o];
        uint64_t t0 = p->profile ? df_now_ns() : 0;
        int at = op->a;
        if (op->kind == HY_RUN) {
            df_step *st = &p->steps[op->a];
            st->args.err = err;
            df_status rc = st->node->op->run(&st->args);
            if (rc) return rc;
        } else if (op->kind == HY_STAGE) {
            port_in(p, &s->subs[op->a].in[op->b]);
            at = s->subs[op->a].profile_step;
        } else {
            hy_sub *b = &s->subs[op->a];
            vart_job_id_and_status_t job = API.vart_runner_execute_async(b->runner, b->in_tb, b->n_in, b->out_tb, b->n_out);
            if (job.status != 0)
                return df_error_set(err, DF_EIO, "vart: DPU subgraph '%s': vart_runner_execute_async returned status %d",
                                    b->xname, job.status);
            int rc = API.vart_runner_wait(b->runner, (int)job.job_id, -1);
            if (rc != 0)
                return df_error_set(err, DF_EIO, "vart: DPU subgraph '%s': vart_runner_wait(job %u) returned %d", b->xname,
                                    job.job_id, rc);
            for (size_t k = 0; k < b->n_out; k++) port_out(p, &b->out[k]);
            at = b->profile_step;
        }
        if (p->profile) p->steps[at].profile_ns += df_now_ns() - t0;
    }
    return DF_OK;
}

static df_status vart_prepare(df_plan *p, df_error *err) {
    vart_state *s = pending_take(p->graph);
    if (!s) {
        char why[512];
        if (!df_vart_available(why, sizeof why))
            return df_error_set(err, DF_EUNSUPPORTED, "backend 'vart' is unavailable: %s", why);
        return df_error_set(err, DF_EUNSUPPORTED,
                            "backend 'vart' runs .xmodel files opened with df_session_open, not graphs in memory");
    }
    p->backend_state = s;
    if (s->subs) return hybrid_prepare(s, p, err);
    df_status st = bind_buffers(s, p, true, err);
    if (!st) st = bind_buffers(s, p, false, err);
    return st;
}

static df_status vart_execute(df_plan *p, df_error *err) {
    vart_state *s = p->backend_state;
    if (s->subs) return hybrid_execute(s, p, err);
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
    /* prepare never ran (the plan failed): the state may still wait to be claimed. */
    if (!s) s = pending_take(p->graph);
    /* A hybrid plan's cpu kernels; an .xmodel's graph has no nodes. */
    df_backend_dpusim.release(p);
    state_free(s);
    p->backend_state = NULL;
}

const df_backend df_backend_vart = {
    .name = "vart", .load = vart_load, .prepare = vart_prepare, .execute = vart_execute, .release = vart_release,
};
