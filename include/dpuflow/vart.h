/* dpuflow — the vart backend: runs Vitis AI .xmodel files on a DPU through VART.
 *
 * The backend loads libxir.so and libvart-runner.so at run time (dlopen), from
 * $DF_VART_LIB_DIR when set, else the dynamic linker's search path. A build without the
 * Vitis AI runtime is still a whole dpuflow: sessions with backend "vart" then fail with
 * DF_EUNSUPPORTED and a message naming the missing library, and the server falls back.
 *
 * Open a model with df_session_open(path_to.xmodel, &(df_session_opts){.backend = "vart"}, ...).
 * One session owns one runner on the model's single DPU subgraph, batch 1; a server opens one
 * session per worker, so run as many workers as the board has DPU cores (ZCU104: 2).
 * See docs/fpga.md, "Vitis AI adapters", for the exact C functions used and what has (not)
 * been verified. */
#ifndef DPUFLOW_VART_H
#define DPUFLOW_VART_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True when both libraries load and export every function the backend uses. Otherwise
 * false, with reason (may be NULL) saying which library or symbol is missing. The result
 * is computed once per process. */
bool df_vart_available(char *reason, size_t size);

#ifdef __cplusplus
}
#endif
#endif
