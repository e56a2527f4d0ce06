#include "ops/broadcast.h"

#include <omp.h>
#include <string.h>

bool df_bcast_plan(df_bcast *p, const df_shape *out, const df_shape *const *in, int n_in) {
    memset(p, 0, sizeof *p);
    p->n_in = n_in;
    p->numel = df_shape_numel(out);
    if (n_in > DF_BCAST_MAX_IN || out->rank > DF_MAX_RANK) return false;

    /* Element strides of each input aligned to the output's rank, before collapsing. */
    int r = out->rank;
    int64_t st[DF_BCAST_MAX_IN][DF_MAX_RANK];
    for (int i = 0; i < n_in; i++) {
        const df_shape *s = in[i];
        if (s->rank > r) return false;
        int64_t acc = 1;
        for (int d = r - 1; d >= 0; d--) {
            int sd = d - (r - s->rank);
            int64_t dim = sd >= 0 ? s->dims[sd] : 1;
            if (dim != out->dims[d] && dim != 1) return false;
            st[i][d] = dim == 1 ? 0 : acc;
            acc *= dim;
        }
    }
    if (p->numel == 0) {
        p->rank = 1;
        return true;
    }

    /* Size-1 output dims carry nothing; dims d and d+1 merge when every operand walks them as
     * one (stride[d] == stride[d+1] * dim[d+1], which also holds when both are broadcast). */
    int k = 0;
    for (int d = 0; d < r; d++) {
        if (out->dims[d] == 1) continue;
        bool merge = k > 0;
        for (int i = 0; i < n_in && merge; i++)
            merge = p->strides[i][k - 1] == st[i][d] * out->dims[d];
        if (merge) {
            p->dims[k - 1] *= out->dims[d];
            for (int i = 0; i < n_in; i++) p->strides[i][k - 1] = st[i][d];
        } else {
            p->dims[k] = out->dims[d];
            for (int i = 0; i < n_in; i++) p->strides[i][k] = st[i][d];
            k++;
        }
    }
    if (k == 0) { /* every dim is 1: a single element */
        p->dims[0] = 1;
        for (int i = 0; i < n_in; i++) p->strides[i][0] = 0;
        k = 1;
    }
    p->rank = k;
    return true;
}

/* Runs work units [u0, u1): unit u is chunk (u % per_row) of row (u / per_row), a row being
 * one position of the outer dims. Offsets advance like an odometer so a thread pays for one
 * division per range, not per row. */
static void exec_range(const df_bcast *p, df_row_fn fn, const void *ctx, char *out, size_t osz,
                       const char *const *in, const size_t *isz, int64_t chunk, int64_t per_row,
                       int64_t u0, int64_t u1) {
    const int r = p->rank, ni = p->n_in;
    const int64_t len = p->dims[r - 1];
    int64_t row = u0 / per_row, c = u0 % per_row;
    int64_t idx[DF_MAX_RANK] = {0}, off[DF_BCAST_MAX_IN] = {0}, step[DF_BCAST_MAX_IN];
    const void *ptr[DF_BCAST_MAX_IN];

    int64_t rem = row;
    for (int d = r - 2; d >= 0; d--) {
        idx[d] = rem % p->dims[d];
        rem /= p->dims[d];
        for (int i = 0; i < ni; i++) off[i] += idx[d] * p->strides[i][d];
    }
    for (int i = 0; i < ni; i++) step[i] = p->strides[i][r - 1];

    for (int64_t u = u0; u < u1; u++) {
        int64_t start = c * chunk, n = len - start < chunk ? len - start : chunk;
        for (int i = 0; i < ni; i++) ptr[i] = in[i] + (size_t)(off[i] + start * step[i]) * isz[i];
        fn(n, out + (size_t)(row * len + start) * osz, ptr, step, ctx);
        if (++c < per_row) continue;
        c = 0;
        row++;
        for (int d = r - 2; d >= 0; d--) {
            for (int i = 0; i < ni; i++) off[i] += p->strides[i][d];
            if (++idx[d] < p->dims[d]) break;
            for (int i = 0; i < ni; i++) off[i] -= p->strides[i][d] * p->dims[d];
            idx[d] = 0;
        }
    }
}

void df_bcast_exec(const df_bcast *p, df_row_fn fn, const void *ctx, void *out, size_t out_esize,
                   const void *const *in, const size_t *in_esize, int threads) {
    if (p->numel == 0) return;
    const char *const *cin = (const char *const *)in;
    const int64_t len = p->dims[p->rank - 1], rows = p->numel / len;
    if (threads <= 1 || p->numel < DF_ELTWISE_PAR_MIN) {
        exec_range(p, fn, ctx, out, out_esize, cin, in_esize, len, 1, 0, rows);
        return;
    }
    /* Long rows are cut into chunks (multiples of 64 elements, so every chunk but the last
     * starts vector-aligned) to give each thread a few units of work. */
    int64_t chunk = p->numel / ((int64_t)threads * 4);
    chunk = chunk < 4096 ? 4096 : (chunk + 63) & ~(int64_t)63;
    if (chunk > len) chunk = len;
    const int64_t per_row = (len + chunk - 1) / chunk, units = rows * per_row;
#pragma omp parallel num_threads(threads)
    {
        int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t u0 = units * t / nt, u1 = units * (t + 1) / nt;
        if (u0 < u1) exec_range(p, fn, ctx, out, out_esize, cin, in_esize, chunk, per_row, u0, u1);
    }
}

df_status df_eltwise(const df_kernel_args *a, df_tensor *out, const df_tensor *const *in, int n_in,
                     df_row_fn fn, const void *ctx) {
    const df_shape *shapes[DF_BCAST_MAX_IN];
    const void *data[DF_BCAST_MAX_IN];
    size_t esize[DF_BCAST_MAX_IN];
    if (n_in > DF_BCAST_MAX_IN)
        return df_node_error(a->err, DF_EINTERNAL, a->node, "%d inputs exceed the broadcast limit", n_in);
    for (int i = 0; i < n_in; i++) {
        shapes[i] = &in[i]->shape;
        data[i] = in[i]->data;
        esize[i] = df_dtype_size(in[i]->dtype);
    }
    df_bcast p;
    if (!df_bcast_plan(&p, &out->shape, shapes, n_in)) {
        char so[128], si[128];
        return df_node_error(a->err, DF_ESHAPE, a->node, "run-time input shape %s does not broadcast to %s",
                             df_shape_str(shapes[n_in > 1 ? 1 : 0], si, sizeof si),
                             df_shape_str(&out->shape, so, sizeof so));
    }
    df_bcast_exec(&p, fn, ctx, out->data, df_dtype_size(out->dtype), data, esize, a->threads);
    return DF_OK;
}

df_status df_broadcast_shapes(const df_graph *g, const df_node *n, int first, int count, df_shape *out,
                              df_error *err) {
    df_shape r = {.rank = 0};
    const char *first_name = NULL;
    for (int i = first; i < first + count; i++) {
        const df_value *v = df_node_in(g, n, i);
        if (!v) continue;
        if (!v->shape_known) return df_node_error(err, DF_ESHAPE, n, "shape of input '%s' is unknown", v->name);
        const df_shape *s = &v->shape;
        int rank = r.rank > s->rank ? r.rank : s->rank;
        df_shape t = {.rank = rank};
        for (int d = 0; d < rank; d++) {
            int ir = d - (rank - r.rank), is = d - (rank - s->rank);
            int64_t dr = ir >= 0 ? r.dims[ir] : 1, ds = is >= 0 ? s->dims[is] : 1;
            if (dr == ds || ds == 1) t.dims[d] = dr;
            else if (dr == 1) t.dims[d] = ds;
            else {
                char sa[128], sb[128];
                return df_node_error(err, DF_ESHAPE, n, "cannot broadcast input '%s' of shape %s with shape %s of '%s'",
                                     v->name, df_shape_str(s, sa, sizeof sa), df_shape_str(&r, sb, sizeof sb),
                                     first_name ? first_name : "?");
            }
        }
        r = t;
        if (!first_name) first_name = v->name;
    }
    *out = r;
    return DF_OK;
}
