/* Fake libxir.so (tests only): see fake_vitis.h. For an ONNX "xmodel", FAKE_XIR_CPU_SUBGRAPH=1
 * adds a CPU subgraph, as a model with ops the DPU cannot run would have. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_vitis.h"

static int add_kid(fake_graph *g, const char *name, const char *device, const char *path) {
    fake_subgraph *k = realloc(g->kids, (size_t)(g->n_kids + 1) * sizeof *k);
    if (!k) return -1;
    g->kids = k;
    fake_subgraph *s = &k[g->n_kids++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->device, sizeof s->device, "%s", device);
    s->graph = g;
    if (path && !(s->path = strdup(path))) return -1;
    return 0;
}

/* Reads a manifest (fake_vitis.h); 1 = not a manifest, -1 = malformed. */
static int read_manifest(fake_graph *g, FILE *f) {
    char line[1024], name[128], device[8], file[512];
    if (!fgets(line, sizeof line, f) || strncmp(line, "FAKE-XMODEL 1", 13)) return 1;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", g->path);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0;
    else dir[0] = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n' || line[0] == '#') continue;
        file[0] = 0;
        int n = sscanf(line, "%127s %7s %511s", name, device, file);
        if (n < 2) return -1;
        char path[1600];
        snprintf(path, sizeof path, "%s%s", file[0] == '/' ? "" : dir, file);
        if (add_kid(g, name, device, n == 3 ? path : NULL)) return -1;
    }
    return 0;
}

int xir_graph_destroy(void *graph);

void *xir_graph_deserialize(const char *pb_fname) {
    FILE *f = fopen(pb_fname, "rb");
    if (!f) return NULL;
    fake_graph *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(pb_fname))) {
        free(g);
        fclose(f);
        return NULL;
    }
    snprintf(g->root.name, sizeof g->root.name, "root");
    g->root.graph = g;
    int rc = read_manifest(g, f);
    fclose(f);
    if (rc == 1) {
        rc = add_kid(g, "subgraph_input_ids", "USER", NULL) || add_kid(g, "subgraph_dpu_0", "DPU", NULL) ? -1 : 0;
        const char *cpu = getenv("FAKE_XIR_CPU_SUBGRAPH");
        if (!rc && cpu && !strcmp(cpu, "1")) rc = add_kid(g, "subgraph_softmax", "CPU", NULL);
    }
    if (rc) {
        fprintf(stderr, "fake xir: %s: malformed fake xmodel\n", pb_fname);
        xir_graph_destroy(g);
        return NULL;
    }
    return g;
}

int xir_graph_destroy(void *graph) {
    fake_graph *g = graph;
    if (!g) return 0;
    for (int i = 0; i < g->n_kids; i++) free(g->kids[i].path);
    free(g->kids);
    free(g->path);
    free(g);
    return 0;
}

void *xir_graph_get_root_subgraph(void *graph) { return &((fake_graph *)graph)->root; }

int32_t xir_subgraph_get_children_num(void *subgraph) {
    fake_subgraph *s = subgraph;
    return s == &s->graph->root ? s->graph->n_kids : 0;
}

void xir_subgraph_children_topological_sort(void *subgraph, void *children[]) {
    fake_subgraph *s = subgraph;
    for (int i = 0; s == &s->graph->root && i < s->graph->n_kids; i++) children[i] = &s->graph->kids[i];
}

xir_string_t xir_subgraph_get_name(void *subgraph) {
    fake_subgraph *s = subgraph;
    return (xir_string_t){s->name, strlen(s->name)};
}

int xir_subgraph_has_attr(void *subgraph, const char *key) {
    return ((fake_subgraph *)subgraph)->device[0] && !strcmp(key, "device");
}

/* A copy the caller destroys, as the backend assumes of the real one. */
void *xir_subgraph_get_attrs(void *subgraph) { return strdup(((fake_subgraph *)subgraph)->device); }

const char *xir_attrs_get_string(void *attrs, const char *key) { return strcmp(key, "device") ? NULL : attrs; }
void xir_attrs_destroy(void *attrs) { free(attrs); }

xir_string_t xir_tensor_get_name(void *t) { return (xir_string_t){((fake_tensor *)t)->name, strlen(((fake_tensor *)t)->name)}; }
int32_t xir_tensor_get_dim_num(void *t) { return ((fake_tensor *)t)->rank; }
int32_t xir_tensor_get_dim_size(void *t, int32_t idx) { return idx >= 0 && idx < 8 ? ((fake_tensor *)t)->dims[idx] : -1; }
enum xir_tensor_data_type_t xir_tensor_get_data_type(void *t) { return ((fake_tensor *)t)->type; }
int32_t xir_tensor_get_bit_width(void *t) { return ((fake_tensor *)t)->bits; }

const char *fake_xir_subgraph_path(void *subgraph) {
    fake_subgraph *s = subgraph;
    return s->path ? s->path : s->graph->path;
}

const char *fake_xir_subgraph_backend(void *subgraph) { return ((fake_subgraph *)subgraph)->path ? "dpu-sim" : NULL; }
