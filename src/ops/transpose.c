/* Transpose, and the strided copy behind it that Slice, Expand and Tile reuse.
 *
 * Every one of those ops writes a contiguous output whose elements come from the input at
 * linear combinations of the output index, so one routine does them all: it drops unit dims,
 * merges dims that are contiguous in the source, and copies the innermost run with memcpy when
 * it is contiguous there. The BERT head split ([B,S,H,D] -> [B,H,S,D] and back) keeps D as the
 * innermost contiguous run, so it becomes B*H*S memcpys of D elements. */
#include "ops/shape_common.h"

static void copy_run(char *dst, const char *src, int64_t n, int64_t stride, size_t es) {
    if (stride == 1) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    switch (es) {
    case 1: for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = ((const uint8_t *)src)[i * stride]; break;
    case 2: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = ((const uint16_t *)src)[i * stride]; break;
    case 4: for (int64_t i = 0; i < n; i++) ((uint32_t *)dst)[i] = ((const uint32_t *)src)[i * stride]; break;
    case 8: for (int64_t i = 0; i < n; i++) ((uint64_t *)dst)[i] = ((const uint64_t *)src)[i * stride]; break;
    default:
        for (int64_t i = 0; i < n; i++) memcpy(dst + (size_t)i * es, src + i * stride * (int64_t)es, es);
    }
}

/* Copies rows [r0, r1) of the (rank-1)-dim outer index space. */
static void copy_rows(char *dst, const char *src, int rank, const int64_t *dims, const int64_t *strides,
                      size_t es, int64_t r0, int64_t r1) {
    int64_t inner = dims[rank - 1], istride = strides[rank - 1];
    int64_t idx[SH_MAX_COPY_RANK] = {0};
    int64_t off = 0, rem = r0;
    for (int k = rank - 2; k >= 0; k--) {
        idx[k] = rem % dims[k];
        rem /= dims[k];
        off += idx[k] * strides[k];
    }
    char *d = dst + (size_t)(r0 * inner) * es;
    for (int64_t r = r0; r < r1; r++) {
        copy_run(d, src + off * (int64_t)es, inner, istride, es);
        d += (size_t)inner * es;
        for (int k = rank - 2; k >= 0; k--) {
            off += strides[k];
            if (++idx[k] < dims[k]) break;
            off -= idx[k] * strides[k];
            idx[k] = 0;
        }
    }
}

/* dst[a*B + b] = src[a + b*S] over an A x B block, in tiles so both sides stay in cache: the
 * transposes that move the contiguous dim away from the innermost position (K^T in attention). */
#define TILE 32
#define TILE_LOOP(T)                                                                             \
    for (int64_t a0 = a_lo; a0 < a_hi; a0 += TILE)                                               \
        for (int64_t b0 = 0; b0 < B; b0 += TILE) {                                                \
            int64_t a1 = a0 + TILE < a_hi ? a0 + TILE : a_hi, b1 = b0 + TILE < B ? b0 + TILE : B; \
            for (int64_t a = a0; a < a1; a++)                                                    \
                for (int64_t b = b0; b < b1; b++) ((T *)dst)[a * B + b] = ((const T *)src)[a + b * S]; \
        }

static void tile_2d(char *dst, const char *src, int64_t a_lo, int64_t a_hi, int64_t B, int64_t S, size_t es) {
    switch (es) {
    case 1: TILE_LOOP(uint8_t) break;
    case 2: TILE_LOOP(uint16_t) break;
    case 4: TILE_LOOP(uint32_t) break;
    case 8: TILE_LOOP(uint64_t) break;
    default:
        for (int64_t a = a_lo; a < a_hi; a++)
            for (int64_t b = 0; b < B; b++) memcpy(dst + (size_t)(a * B + b) * es, src + (size_t)(a + b * S) * es, es);
    }
}

/* Work item w of the tiled path: block (outer index, slab of A). */
static void tile_item(char *dst, const char *src, int r, const int64_t *d, const int64_t *s, size_t es, int64_t w,
                      int64_t slabs) {
    int64_t A = d[r - 2], B = d[r - 1], o = w / slabs, slab = w % slabs;
    int64_t off = 0, rem = o;
    for (int k = r - 3; k >= 0; k--) {
        off += (rem % d[k]) * s[k];
        rem /= d[k];
    }
    int64_t a_lo = slab * TILE, a_hi = a_lo + TILE < A ? a_lo + TILE : A;
    tile_2d(dst + (size_t)(o * A * B) * es, src + (size_t)off * es, a_lo, a_hi, B, s[r - 1], es);
}

void sh_strided_copy(void *dst, const void *src, int rank, const int64_t *dims, const int64_t *strides,
                     size_t esize, int threads) {
    int64_t d[SH_MAX_COPY_RANK], s[SH_MAX_COPY_RANK];
    int r = 0;
    for (int k = 0; k < rank; k++) {
        if (dims[k] == 0) return;
        if (dims[k] == 1) continue;
        /* Merge with the previous (outer) dim when stepping it equals a full inner sweep. */
        if (r > 0 && s[r - 1] == strides[k] * dims[k]) {
            d[r - 1] *= dims[k];
            s[r - 1] = strides[k];
            continue;
        }
        d[r] = dims[k];
        s[r] = strides[k];
        r++;
    }
    if (r == 0) {
        memcpy(dst, src, esize);
        return;
    }
    int64_t rows = 1;
    for (int k = 0; k < r - 1; k++) rows *= d[k];
    size_t bytes = (size_t)(rows * d[r - 1]) * esize;
    if (r >= 2 && s[r - 2] == 1 && s[r - 1] != 1 && d[r - 2] >= 8 && d[r - 1] >= 8) {
        int64_t slabs = (d[r - 2] + TILE - 1) / TILE, items = rows / d[r - 2] * slabs;
        int nt = (bytes >= SH_PARALLEL_BYTES && threads > 1 && items > 1) ? threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int64_t w = 0; w < items; w++) tile_item(dst, src, r, d, s, esize, w, slabs);
        return;
    }
    int nt = (bytes >= SH_PARALLEL_BYTES && threads > 1 && rows > 1) ? threads : 1;
    if (nt > rows) nt = (int)rows;
    if (nt == 1) {
        copy_rows(dst, src, r, d, s, esize, 0, rows);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++)
        copy_rows(dst, src, r, d, s, esize, rows * t / nt, rows * (t + 1) / nt);
}

static df_status read_perm(const df_node *n, int rank, int64_t *perm, df_error *err) {
    size_t cnt;
    const int64_t *p = df_attr_ints(n, "perm", &cnt);
    if (!p) {
        for (int i = 0; i < rank; i++) perm[i] = rank - 1 - i;
        return DF_OK;
    }
    if ((int)cnt != rank)
        return df_node_error(err, DF_EINVAL, n, "perm has %zu entries for an input of rank %d", cnt, rank);
    int seen[DF_MAX_RANK] = {0};
    for (int i = 0; i < rank; i++) {
        int64_t a = p[i] < 0 ? p[i] + rank : p[i];
        if (a < 0 || a >= rank || seen[a])
            return df_node_error(err, DF_EINVAL, n, "perm is not a permutation of 0..%d", rank - 1);
        seen[a] = 1;
        perm[i] = a;
    }
    return DF_OK;
}

static df_status transpose_infer(df_graph *g, df_node *n, df_error *err) {
    df_value *x;
    df_status st = sh_input_bytes(g, n, 0, &x, err);
    if (st) return st;
    int64_t perm[DF_MAX_RANK];
    if ((st = read_perm(n, x->shape.rank, perm, err))) return st;
    df_shape s = {.rank = x->shape.rank};
    for (int i = 0; i < s.rank; i++) s.dims[i] = x->shape.dims[perm[i]];
    df_set_out(g, n, 0, x->dtype, &s);
    return DF_OK;
}

static df_status transpose_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0];
    int rank = x->shape.rank;
    int64_t perm[DF_MAX_RANK], in_strides[DF_MAX_RANK], dims[DF_MAX_RANK], strides[DF_MAX_RANK];
    df_status st = read_perm(a->node, rank, perm, a->err);
    if (st) return st;
    sh_strides(&x->shape, in_strides);
    for (int i = 0; i < rank; i++) {
        dims[i] = x->shape.dims[perm[i]];
        strides[i] = in_strides[perm[i]];
    }
    sh_strided_copy(a->out[0]->data, x->data, rank, dims, strides, df_dtype_size(x->dtype), sh_threads(a));
    return DF_OK;
}

const df_op_def df_op_Transpose = {.op_type = "Transpose", .infer = transpose_infer, .run = transpose_run};
