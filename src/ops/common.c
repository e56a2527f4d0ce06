#include <stdarg.h>
#include <stdio.h>

#include "ops/op.h"

df_status df_node_error(df_error *err, df_status st, const df_node *n, const char *fmt, ...) {
    if (!err) return st;
    char detail[DF_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return df_error_set(err, st, "node '%s' (%s): %s", n->name && *n->name ? n->name : "<unnamed>",
                        n->op_type, detail);
}

df_status df_broadcast_shape(const df_shape *a, const df_shape *b, df_shape *out, const df_node *n,
                             df_error *err) {
    int rank = a->rank > b->rank ? a->rank : b->rank;
    df_shape r = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1) r.dims[i] = da;
        else if (da == 1) r.dims[i] = db;
        else {
            char sa[128], sb[128];
            return df_node_error(err, DF_ESHAPE, n, "cannot broadcast %s with %s",
                                 df_shape_str(a, sa, sizeof sa), df_shape_str(b, sb, sizeof sb));
        }
    }
    *out = r;
    return DF_OK;
}

df_status df_norm_axis(int64_t axis, int rank, int64_t *out, const df_node *n, df_error *err) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= (rank > 0 ? rank : 1))
        return df_node_error(err, DF_ERANGE, n, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = a;
    return DF_OK;
}

void df_set_out(df_graph *g, df_node *n, int i, df_dtype dt, const df_shape *s) {
    df_value *v = df_node_out(g, n, i);
    if (!v) return;
    v->dtype = dt;
    v->shape = *s;
    v->shape_known = true;
}

int df_node_max_batch(const df_graph *g, const df_node *n, int i) {
    const df_value *v = df_node_in(g, n, i);
    return g->max_batch > 1 && v && v->batch_scaled ? g->max_batch : 1;
}

bool df_var_rows_always(const df_graph *g, const df_node *n) {
    (void)g;
    (void)n;
    return true;
}
