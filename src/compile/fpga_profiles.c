/* FPGA target profiles: data, not code paths. A new board is one row in BOARDS; a new DPU
 * size is a fingerprint whose ARCH nibble indexes the PP/ICP tables.
 *
 * Where each number comes from (also in docs/fpga.md, "Profiles" and "Cost model"):
 *  - cores, clocks and the ZCU104 fingerprint: issue 6's profile table (the Vitis AI DPU
 *    TRD defaults for those boards);
 *  - the ZCU102 and KV260 fingerprints, from public user reports, not the vendor's own files:
 *    a fingerprint encodes the DPU configuration, not the board, and both boards carry
 *    DPUCZDX8G_ISA1_B4096. Vitis AI 3.x's arch.json for that configuration is
 *    0x101000056010407 (what ZCU102 builds use); the KV260 starter-kit images carry the
 *    Vitis AI 2.5 generation of the IP, which `xdputil query` reports as 0x101000016010407,
 *    and xmodels for it must be compiled against that value (a 3.x fingerprint is rejected
 *    there). Both decode to ARCH 7 = B4096;
 *  - ARCH = fp & 0xF and the PP / ICP = OCP tables: issue 6 (the DPUCZDX8G fingerprint
 *    layout); peak ops/cycle = PP * ICP * OCP * 2, the "B<n>" in the DPU's name (PG338);
 *  - conv engine limits (kernel 1-16, stride 1-8, channel parallel 16, bank depth 2048,
 *    leaky-relu 26/256): issue 6, from PG338's operator support table;
 *  - DDR: both boards' PS DDR4 is 64 bits wide at 2666 MT/s (ZCU102 UG1182, ZCU104
 *    UG1267), 2666e6 * 8 B = 21.3 GB/s peak; the K26 SOM's is 64 bits at 2400 MT/s (DS987),
 *    19.2 GB/s. The fraction a DPU core streams at (0.6) is ASSUMED, not measured;
 *  - ARM side: Cortex-A53 x4 at 1.2 GHz (issue 6). 1.2 GFLOP/s per thread for CPU subgraphs
 *    (softmax, layer norm, GELU, small float GEMMs: about 1 FLOP/cycle once exp/erf and
 *    memory traffic are counted) is ASSUMED;
 *  - 30 us per DPU subgraph invocation (runner submit, cache flush/invalidate, interrupt)
 *    and 1 GB/s for the CPU's float<->int8 conversion of boundary tensors are ASSUMED. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/base.h"
#include "dpuflow/compile.h"

/* Indexed by ARCH = fingerprint & 0xF (issue 6). */
static const int ARCH_PP[12] = {4, 4, 8, 4, 8, 8, 8, 8, 4, 2, 2, 2};
static const int ARCH_CP[12] = {8, 10, 8, 12, 10, 12, 14, 16, 4, 6, 8, 4};

typedef struct board {
    const char *name;
    uint64_t fingerprint;
    int arch;
    int cores;
    double clock_mhz;
    double ddr_gbs;
} board;

static const board BOARDS[] = {
    {"DPUCZDX8G/ZCU104", 0x101000056010407ull, 7, 2, 300.0, 21.3},
    {"DPUCZDX8G/ZCU102", 0x101000056010407ull, 7, 3, 281.0, 21.3},
    {"DPUCZDX8G/KV260", 0x101000016010407ull, 7, 1, 300.0, 19.2},
};
#define N_BOARDS (sizeof BOARDS / sizeof BOARDS[0])

static const char *const NAMES[] = {"DPUCZDX8G/ZCU104", "DPUCZDX8G/ZCU102", "DPUCZDX8G/KV260", NULL};

const char *const *df_fpga_profile_names(void) { return NAMES; }

int df_fpga_peak_ops_per_cycle(const df_fpga_profile *p) { return p->pp * p->icp * p->ocp * 2; }

/* Fields every DPUCZDX8G shares (engine limits and the cost parameters' defaults). */
static void defaults(df_fpga_profile *p) {
    memset(p, 0, sizeof *p);
    p->kernel_min = 1;
    p->kernel_max = 16;
    p->stride_min = 1;
    p->stride_max = 8;
    p->channel_parallel = 16;
    p->bank_depth = 2048;
    p->leaky_alpha = 26.0 / 256.0;
    p->cores = 1;
    p->clock_mhz = 300.0;
    p->ddr_gbs = 21.3;
    p->ddr_efficiency = 0.6;   /* ASSUMED */
    p->invoke_us = 30.0;       /* ASSUMED */
    p->cpu_gflops = 1.2;       /* ASSUMED */
    p->cpu_cores = 4;
    p->cpu_ghz = 1.2;
    p->boundary_gbs = 1.0;     /* ASSUMED */
}

static void set_arch(df_fpga_profile *p, int arch) {
    p->arch = arch;
    p->pp = ARCH_PP[arch];
    p->icp = p->ocp = ARCH_CP[arch];
    snprintf(p->dpu, sizeof p->dpu, "B%d", df_fpga_peak_ops_per_cycle(p));
}

df_status df_fpga_decode_fingerprint(uint64_t fp, df_fpga_profile *p, df_error *err) {
    int arch = (int)(fp & 0xF);
    if (fp == 0 || arch >= 12)
        return df_error_set(err, DF_EINVAL, "fingerprint 0x%llx: ARCH %d (fp & 0xF) is not a DPUCZDX8G size (0..11)",
                            (unsigned long long)fp, arch);
    p->fingerprint = fp;
    set_arch(p, arch);
    return DF_OK;
}

static df_status from_arch_json(const char *path, df_fpga_profile *p, df_error *err) {
    void *buf = NULL;
    size_t size = 0;
    df_status st = df_file_read_all(path, &buf, &size, 1 << 20, err);
    if (st) return st;
    json_error_t je;
    json_t *root = json_loadb(buf, size, 0, &je);
    free(buf);
    if (!root) return df_error_set(err, DF_EFORMAT, "%s:%d: not JSON: %s", path, je.line, je.text);
    json_t *f = json_object_get(root, "fingerprint");
    const char *s = json_is_string(f) ? json_string_value(f) : NULL;
    if (!s) {
        json_decref(root);
        return df_error_set(err, DF_EINVAL, "%s: \"fingerprint\" must be a string like \"0x101000056010407\"", path);
    }
    char *end = NULL;
    errno = 0;
    unsigned long long fp = strtoull(s, &end, 16);
    bool bad = errno || end == s || *end || strncmp(s, "0x", 2);
    char copy[64];
    snprintf(copy, sizeof copy, "%s", s);
    json_decref(root);
    if (bad) return df_error_set(err, DF_EINVAL, "%s: \"fingerprint\" \"%s\" is not a hex number (0x...)", path, copy);
    defaults(p);
    if ((st = df_fpga_decode_fingerprint(fp, p, err))) return df_error_prefix(err, "%s: ", path);
    snprintf(p->name, sizeof p->name, "%s", path);
    return DF_OK;
}

df_status df_fpga_profile_get(const char *name, df_fpga_profile *p, df_error *err) {
    if (!name || !*name) name = BOARDS[0].name;
    for (size_t i = 0; i < N_BOARDS; i++) {
        if (strcmp(name, BOARDS[i].name)) continue;
        const board *b = &BOARDS[i];
        defaults(p);
        snprintf(p->name, sizeof p->name, "%s", b->name);
        set_arch(p, b->arch);
        p->fingerprint = b->fingerprint;
        p->cores = b->cores;
        p->clock_mhz = b->clock_mhz;
        p->ddr_gbs = b->ddr_gbs;
        return DF_OK;
    }
    if (strstr(name, ".json")) return from_arch_json(name, p, err);
    return df_error_set(err, DF_ENOTFOUND,
                        "target.arch \"%s\": not a built-in profile (DPUCZDX8G/ZCU104, DPUCZDX8G/ZCU102, "
                        "DPUCZDX8G/KV260) nor an arch.json path",
                        name);
}
