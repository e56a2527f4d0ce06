/* Fake libxir.so (tests only): see fake_vitis.h. FAKE_XIR_CPU_SUBGRAPH=1 adds a CPU subgraph,
 * as a model with ops the DPU cannot run would have. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_vitis.h"

void *xir_graph_deserialize(const char *pb_fname) {
    FILE *f = fopen(pb_fname, "rb");
    if (!f) return NULL;
    fclose(f);
    fake_graph *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(pb_fname))) { free(g); return NULL; }
    g->root = (fake_subgraph){"root", NULL, g};
    g->kids[g->n_kids++] = (fake_subgraph){"subgraph_input_ids", "USER", g};
    g->kids[g->n_kids++] = (fake_subgraph){"subgraph_dpu_0", "DPU", g};
    const char *cpu = getenv("FAKE_XIR_CPU_SUBGRAPH");
    if (cpu && !strcmp(cpu, "1")) g->kids[g->n_kids++] = (fake_subgraph){"subgraph_softmax", "CPU", g};
    return g;
}

int xir_graph_destroy(void *graph) {
    fake_graph *g = graph;
    if (g) free(g->path);
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
    return ((fake_subgraph *)subgraph)->device && !strcmp(key, "device");
}

/* A copy the caller destroys, as the backend assumes of the real one. */
void *xir_subgraph_get_attrs(void *subgraph) {
    const char *d = ((fake_subgraph *)subgraph)->device;
    return strdup(d ? d : "");
}

const char *xir_attrs_get_string(void *attrs, const char *key) { return strcmp(key, "device") ? NULL : attrs; }
void xir_attrs_destroy(void *attrs) { free(attrs); }

xir_string_t xir_tensor_get_name(void *t) { return (xir_string_t){((fake_tensor *)t)->name, strlen(((fake_tensor *)t)->name)}; }
int32_t xir_tensor_get_dim_num(void *t) { return ((fake_tensor *)t)->rank; }
int32_t xir_tensor_get_dim_size(void *t, int32_t idx) { return idx >= 0 && idx < 8 ? ((fake_tensor *)t)->dims[idx] : -1; }
enum xir_tensor_data_type_t xir_tensor_get_data_type(void *t) { return ((fake_tensor *)t)->type; }
int32_t xir_tensor_get_bit_width(void *t) { return ((fake_tensor *)t)->bits; }

const char *fake_xir_subgraph_path(void *subgraph) { return ((fake_subgraph *)subgraph)->graph->path; }
