/* Test doubles for the Vitis AI runtime (tests only). Test convention: the fake ".xmodel" is an
 * ONNX file; the fake libxir "deserializes" it by remembering its path, and the fake
 * libvart-runner runs it with dpuflow's cpu backend. The C functions and their signatures are
 * those of xir/cxir.h and vart/vart.h that src/exec/backend_vart.c declares. */
#ifndef DF_FAKE_VITIS_H
#define DF_FAKE_VITIS_H

#include <stddef.h>
#include <stdint.h>

typedef struct { const char *data; size_t size; } xir_string_t;
enum xir_tensor_data_type_t { XIR_INT, XIR_UINT, XIR_XINT, XIR_XUINT, XIR_FLOAT, XIR_UNKNOWN };

typedef struct fake_subgraph {
    const char *name;
    const char *device;  /* "USER", "DPU", "CPU" */
    struct fake_graph *graph;
} fake_subgraph;

typedef struct fake_graph {
    char *path;
    fake_subgraph root;
    fake_subgraph kids[3];
    int n_kids;
} fake_graph;

typedef struct fake_tensor {
    char name[256];
    int rank;
    int32_t dims[8];
    enum xir_tensor_data_type_t type;
    int bits;
} fake_tensor;

/* libxir.so's private helper for libvart-runner.so: the ONNX path of a fake graph. */
const char *fake_xir_subgraph_path(void *subgraph);

#endif
