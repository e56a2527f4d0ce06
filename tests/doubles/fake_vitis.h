/* Test doubles for the Vitis AI runtime (tests only). Test convention: a fake ".xmodel" is either
 *  - an ONNX file: one DPU subgraph, which the fake libvart-runner runs on dpuflow's cpu
 *    backend; or
 *  - a text manifest, as tests/doubles/bin/vai_c_xir writes for an fpga build:
 *        FAKE-XMODEL 1
 *        <subgraph name> <USER|CPU|DPU> [<ONNX file, relative to the manifest>]
 *    one line per child of the root subgraph, in topological order. A DPU subgraph's ONNX file
 *    holds its nodes of the .dfm plus a QuantizeLinear on each output (the DPU writes int8),
 *    and the fake runner runs it on the dpu-sim backend: the DPU's integer numerics.
 * The C functions and their signatures are those of xir/cxir.h and vart/vart.h that
 * src/exec/backend_vart.c declares. */
#ifndef DF_FAKE_VITIS_H
#define DF_FAKE_VITIS_H

#include <stddef.h>
#include <stdint.h>

typedef struct { const char *data; size_t size; } xir_string_t;
enum xir_tensor_data_type_t { XIR_INT, XIR_UINT, XIR_XINT, XIR_XUINT, XIR_FLOAT, XIR_UNKNOWN };

typedef struct fake_subgraph {
    char name[128];
    char device[8];      /* "USER", "DPU", "CPU"; "" for the root */
    char *path;          /* a manifest's DPU subgraph: its ONNX file; NULL: the graph's */
    struct fake_graph *graph;
} fake_subgraph;

typedef struct fake_graph {
    char *path;
    fake_subgraph root;
    fake_subgraph *kids;
    int n_kids;
} fake_graph;

typedef struct fake_tensor {
    char name[256];
    int rank;
    int32_t dims[8];
    enum xir_tensor_data_type_t type;
    int bits;
} fake_tensor;

/* libxir.so's private helpers for libvart-runner.so: the ONNX file a subgraph runs, and the
 * dpuflow backend to run it on ("dpu-sim" for a manifest's DPU subgraphs, NULL = cpu). */
const char *fake_xir_subgraph_path(void *subgraph);
const char *fake_xir_subgraph_backend(void *subgraph);

#endif
