/* dpuflow — the vart backend: runs Vitis AI .xmodel files on a DPU through VART.
 *
 * The backend loads libxir.so and libvart-runner.so at run time (dlopen), from
 * $DF_VART_LIB_DIR when set, else the dynamic linker's search path. A build without the
 * Vitis AI runtime is still a whole dpuflow: sessions with backend "vart" then fail with
 * DF_EUNSUPPORTED and a message naming the missing library, and the server falls back.
 *
 * Two ways to open a session with (df_session_opts){.backend = "vart"}:
 *  - an .xmodel whose whole work is one DPU subgraph: one runner, batch 1;
 *  - the fpga artifact (.dfm) of a build with target.toolchain "vitis": hybrid execution,
 *    one runner (batch 1) per DPU subgraph of the xmodel beside it (df_vart_xmodel_for), the
 *    rest of the graph on dpuflow's cpu kernels as dpu-sim runs it.
 * Runners belong to one session; a server opens one session per worker, so "one runner per
 * DPU core" means as many workers as the board has DPU cores (ZCU104: 2).
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

/* The vendor xmodel beside a dpuflow fpga artifact: "vitis"."xmodel" of the meta.json in the
 * artifact's folder (relative to that folder). True, with its path in out, when that names a
 * readable file. Needs no Vitis AI library. */
bool df_vart_xmodel_for(const char *artifact, char *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif
