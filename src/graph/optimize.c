/* The pass pipeline, read top to bottom. The order matters:
 *  - LayerNorm and GELU patterns first: later passes match the ops they produce;
 *  - attention before MatMul+bias: it takes the Q/K/V MatMul+Add itself to pack them;
 *  - embeddings before residual+LayerNorm: both start from a LayerNormalization fed by Add.
 * A new pass is one line here (fusion passes check o->no_fusion through the table's flag). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "graph/fuse_util.h"
#include "graph/passes.h"

/* ops/qmatmul.c: whether int8 GEMMs beat FP32 ones on this CPU. */
bool df_int8_gemm_pays_off(void);

/* Without VNNI the AVX2 int8 kernel (ops/qgemm.h) still pays for 7-bit weights; DF_INT8=0 or
 * DF_QGEMM=0 turn it off. */
static bool qgemm_path(void) {
#if defined(__AVX2__)
    const char *i8 = getenv("DF_INT8"), *qg = getenv("DF_QGEMM");
    return !(i8 && !strcmp(i8, "0")) && !(qg && !strcmp(qg, "0"));
#else
    return false;
#endif
}

typedef struct pass_entry {
    df_pass pass;
    bool fusion;        /* skipped with o->no_fusion */
} pass_entry;

static const pass_entry passes[] = {
    {{"fuse_qdq", df_pass_fuse_qdq}, false}, /* first: QDQ MatMuls before any FP32 MatMul fusion */
    {{"layernorm", df_pass_layernorm}, true},
    {{"gelu", df_pass_gelu}, true},
    {{"qmatmul_gelu", df_pass_qmatmul_gelu}, true},
    {{"attention", df_pass_attention}, true},
    /* after attention, which merges Q/K/V QMatMuls: the merged one reads the QuantizeLinear */
    {{"qmatmul_quantize", df_pass_qmatmul_quantize}, true},
    {{"matmul_bias", df_pass_matmul_bias}, true},
    {{"embed_layernorm", df_pass_embed_layernorm}, true},
    {{"skip_layernorm", df_pass_skip_layernorm}, true},
    {{NULL, NULL}, false},
};

#define N_PASSES (sizeof passes / sizeof passes[0] - 1)

/* Per-thread: sessions open on many threads at once (the server), each reports its own. */
static _Thread_local int last_counts[N_PASSES + 1];
static _Thread_local const char *last_names[N_PASSES + 1];

int df_graph_optimize_report(const char *const **names, const int **counts) {
    for (size_t i = 0; i < N_PASSES; i++) last_names[i] = passes[i].pass.name;
    if (names) *names = last_names;
    if (counts) *counts = last_counts;
    return (int)N_PASSES;
}

/* DF_PASSES=name,name,...: run only these fusion passes (debugging a fusion, and the unit
 * tests that check each pass alone). Unset: all of them. */
static bool pass_enabled(const char *list, const char *name) {
    if (!list) return true;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return true;
    return false;
}

df_status df_graph_optimize(df_graph *g, const df_optimize_opts *o, df_error *err) {
    df_optimize_opts defaults = {0};
    if (!o) o = &defaults;
    df_optimize_opts effective = *o;
    if (!df_int8_gemm_pays_off()) {
        if (qgemm_path()) effective.int8_qgemm_only = true;
        else effective.no_int8 = true;
    }
    o = &effective;
    int total = 0;
    const char *only = getenv("DF_PASSES");
    for (size_t i = 0; passes[i].pass.run; i++) {
        last_counts[i] = 0;
        if (passes[i].fusion && (o->no_fusion || !pass_enabled(only, passes[i].pass.name))) continue;
        int count = 0;
        df_status st = passes[i].pass.run(g, o, &count, err);
        if (st) return df_error_prefix(err, "pass %s: ", passes[i].pass.name);
        last_counts[i] = count;
        total += count;
    }
    if (!total) return DF_OK;
    df_graph_compact(g);
    return df_graph_infer(g, err);
}
