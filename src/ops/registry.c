/* The operator table. Each family file (elementwise.c, shape.c, nn.c, quant.c, ...) exports a
 * NULL-terminated list; adding an operator is its definition plus one line in its family. */
#include <string.h>

#include "ops/op.h"

extern const df_op_def *const df_ops_elementwise[];
extern const df_op_def *const df_ops_shape[];
extern const df_op_def *const df_ops_nn[];
extern const df_op_def *const df_ops_quant[];
extern const df_op_def *const df_ops_fused[];
extern const df_op_def *const df_ops_int8[];

static const df_op_def *const *const families[] = {
    df_ops_elementwise, df_ops_shape, df_ops_nn, df_ops_quant, df_ops_fused, df_ops_int8,
};

#define DF_OP_TABLE_MAX 256
static const df_op_def *table[DF_OP_TABLE_MAX];
static size_t table_count;
static int table_built;

static void build_table(void) {
    if (table_built) return;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (size_t i = 0; families[f][i] && table_count < DF_OP_TABLE_MAX; i++)
            table[table_count++] = families[f][i];
    table_built = 1;
}

static int same_domain(const char *a, const char *b) {
    if (!a || !*a || !strcmp(a, "ai.onnx")) a = "";
    if (!b || !*b || !strcmp(b, "ai.onnx")) b = "";
    return strcmp(a, b) == 0;
}

const df_op_def *df_op_find(const char *op_type, const char *domain) {
    build_table();
    for (size_t i = 0; i < table_count; i++)
        if (!strcmp(table[i]->op_type, op_type) && same_domain(table[i]->domain, domain)) return table[i];
    return NULL;
}

const df_op_def *const *df_op_table(size_t *count) {
    build_table();
    *count = table_count;
    return table;
}
