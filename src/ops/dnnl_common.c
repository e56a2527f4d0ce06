#include "ops/dnnl_common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl_debug.h>

#include "ops/op.h"

static dnnl_engine_t g_engine;
static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void) {
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) g_engine = NULL;
}

dnnl_engine_t df_dnnl_engine(void) {
    pthread_once(&g_engine_once, engine_init);
    return g_engine;
}

/* oneDNN statuses that mean "no kernel for this case" let callers fall back to plain loops;
 * anything else is reported as it is. */
static df_status dnnl_fail(dnnl_status_t s, const char *what, const df_node *n, df_error *err) {
    df_status st = s == dnnl_out_of_memory ? DF_ENOMEM : DF_EUNSUPPORTED;
    return df_node_error(err, st, n, "oneDNN %s: %s", what, dnnl_status2str(s));
}

static void dense_strides(int ndims, const dnnl_dims_t dims, dnnl_dims_t strides) {
    dnnl_dim_t s = 1;
    for (int i = ndims - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i] > 0 ? dims[i] : 1;
    }
}

static int64_t dims_numel(int ndims, const dnnl_dims_t dims) {
    int64_t n = 1;
    for (int i = 0; i < ndims; i++) n *= dims[i];
    return n;
}

/* Copies constant weights into the primitive's preferred layout once, scaled when asked. */
static df_status pack_weights(df_dnnl_mm *mm, const df_mm_spec *spec, const dnnl_memory_desc_t *user_md,
                              const dnnl_memory_desc_t *packed_md, dnnl_engine_t eng, const df_node *n,
                              df_error *err) {
    float *scaled = NULL;
    const float *src = spec->b_const;
    if (spec->b_scale != 1.0f) {
        /* The strided description covers exactly numel elements, whatever the stride order. */
        int64_t cnt = dims_numel(spec->ndims, spec->b_dims);
        scaled = malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof(float));
        if (!scaled) return df_node_error(err, DF_ENOMEM, n, "out of memory scaling weights");
        for (int64_t i = 0; i < cnt; i++) scaled[i] = spec->b_const[i] * spec->b_scale;
        src = scaled;
    }
    dnnl_memory_t user = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_status_t s;
    df_status st = DF_OK;
    if ((s = dnnl_memory_create(&mm->wei, packed_md, eng, DNNL_MEMORY_ALLOCATE)) != dnnl_success ||
        (s = dnnl_memory_create(&user, user_md, eng, (void *)src)) != dnnl_success) {
        st = dnnl_fail(s, "weights memory", n, err);
        goto done;
    }
    mm->b_packed = true;
    if ((s = dnnl_reorder_primitive_desc_create(&rpd, user_md, eng, packed_md, eng, NULL)) != dnnl_success ||
        (s = dnnl_primitive_create(&reorder, rpd)) != dnnl_success) {
        st = dnnl_fail(s, "weights reorder", n, err);
        goto done;
    }
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, mm->wei}};
    if ((s = dnnl_primitive_execute(reorder, mm->stream, 2, args)) != dnnl_success ||
        (s = dnnl_stream_wait(mm->stream)) != dnnl_success)
        st = dnnl_fail(s, "weights reorder", n, err);
done:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
    free(scaled);
    return st;
}

df_status df_dnnl_mm_create(df_dnnl_mm *mm, const df_mm_spec *spec, const df_node *n, df_error *err) {
    memset(mm, 0, sizeof *mm);
    dnnl_engine_t eng = df_dnnl_engine();
    if (!eng) return df_node_error(err, DF_EUNSUPPORTED, n, "oneDNN has no CPU engine");
    const int nd = spec->ndims;
    dnnl_dims_t c_strides, bias_dims, bias_strides;
    dense_strides(nd, spec->c_dims, c_strides);
    for (int i = 0; i < nd; i++) bias_dims[i] = 1;
    bias_dims[nd - 1] = spec->c_dims[nd - 1];
    dense_strides(nd, bias_dims, bias_strides);

    dnnl_memory_desc_t a_md, b_user_md, b_md, bias_md, c_md;
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(&a_md, nd, spec->a_dims, dnnl_f32, spec->a_strides)) ||
        (s = dnnl_memory_desc_init_by_strides(&b_user_md, nd, spec->b_dims, dnnl_f32, spec->b_strides)) ||
        (s = dnnl_memory_desc_init_by_strides(&c_md, nd, spec->c_dims, dnnl_f32, c_strides)) ||
        (s = dnnl_memory_desc_init_by_strides(&bias_md, nd, bias_dims, dnnl_f32, bias_strides)))
        return dnnl_fail(s, "memory descriptor", n, err);
    b_md = b_user_md;
    if (spec->b_const && (s = dnnl_memory_desc_init_by_tag(&b_md, nd, spec->b_dims, dnnl_f32, dnnl_format_tag_any)))
        return dnnl_fail(s, "memory descriptor", n, err);

    dnnl_matmul_desc_t desc;
    if ((s = dnnl_matmul_desc_init(&desc, &a_md, &b_md, spec->bias ? &bias_md : NULL, &c_md)))
        return dnnl_fail(s, "matmul descriptor", n, err);

    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    df_status st = DF_OK;
    if ((s = dnnl_primitive_attr_create(&attr)) ||
        /* User scratchpad: the executor hands us preallocated scratch, so run never allocates. */
        (s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) ||
        (spec->alpha != 1.0f && (s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &spec->alpha)))) {
        st = dnnl_fail(s, "attributes", n, err);
        goto done;
    }
    if (spec->beta != 0.0f || spec->eltwise) {
        if ((s = dnnl_post_ops_create(&po)) ||
            (spec->beta != 0.0f && (s = dnnl_post_ops_append_sum(po, spec->beta))) ||
            (spec->eltwise && (s = dnnl_post_ops_append_eltwise(po, 1.0f, spec->eltwise, 0.0f, 0.0f))) ||
            (s = dnnl_primitive_attr_set_post_ops(attr, po))) {
            st = dnnl_fail(s, "post-ops", n, err);
            goto done;
        }
    }
    if ((s = dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL))) {
        st = dnnl_fail(s, "matmul primitive", n, err);
        goto done;
    }
    if ((s = dnnl_stream_create(&mm->stream, eng, dnnl_stream_default_flags))) {
        st = dnnl_fail(s, "stream", n, err);
        goto done;
    }
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *shared_md = NULL;
    if (spec->b_const && spec->share_weights && spec->share_weights->b_packed &&
        dnnl_memory_get_memory_desc(spec->share_weights->wei, &shared_md) == dnnl_success &&
        dnnl_memory_desc_equal(shared_md, wei_md)) {
        void *h = NULL;
        if ((s = dnnl_memory_get_data_handle(spec->share_weights->wei, &h)) ||
            (s = dnnl_memory_create(&mm->wei, wei_md, eng, h))) {
            st = dnnl_fail(s, "memory", n, err);
            goto done;
        }
        mm->b_packed = true;
    } else if (spec->b_const) {
        if ((st = pack_weights(mm, spec, &b_user_md, wei_md, eng, n, err))) goto done;
    } else if ((s = dnnl_memory_create(&mm->wei, wei_md, eng, DNNL_MEMORY_NONE))) {
        st = dnnl_fail(s, "memory", n, err);
        goto done;
    }
    if (spec->bias) {
        void *h = NULL;
        if ((s = dnnl_memory_create(&mm->bias, &bias_md, eng, DNNL_MEMORY_ALLOCATE)) ||
            (s = dnnl_memory_get_data_handle(mm->bias, &h))) {
            st = dnnl_fail(s, "bias memory", n, err);
            goto done;
        }
        memcpy(h, spec->bias, (size_t)bias_dims[nd - 1] * sizeof(float));
    }
    const dnnl_memory_desc_t *sp_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    mm->scratch_bytes = sp_md ? dnnl_memory_desc_get_size(sp_md) : 0;
    if ((s = dnnl_memory_create(&mm->src, &a_md, eng, DNNL_MEMORY_NONE)) ||
        (s = dnnl_memory_create(&mm->dst, &c_md, eng, DNNL_MEMORY_NONE)) ||
        (mm->scratch_bytes && (s = dnnl_memory_create(&mm->scratch, sp_md, eng, DNNL_MEMORY_NONE))) ||
        (s = dnnl_primitive_create(&mm->prim, pd))) {
        st = dnnl_fail(s, "matmul primitive", n, err);
        goto done;
    }
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st) df_dnnl_mm_destroy(mm);
    return st;
}

df_status df_dnnl_mm_exec(df_dnnl_mm *mm, const float *a, const float *b, float *dst, void *scratch,
                          const df_node *n, df_error *err) {
    dnnl_exec_arg_t args[5];
    int na = 0;
    dnnl_memory_set_data_handle(mm->src, (void *)a);
    dnnl_memory_set_data_handle(mm->dst, dst);
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, mm->src};
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, mm->dst};
    if (!mm->b_packed) dnnl_memory_set_data_handle(mm->wei, (void *)b);
    args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, mm->wei};
    if (mm->bias) args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mm->bias};
    if (mm->scratch) {
        dnnl_memory_set_data_handle(mm->scratch, scratch);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mm->scratch};
    }
    dnnl_status_t s = dnnl_primitive_execute(mm->prim, mm->stream, na, args);
    if (s == dnnl_success) s = dnnl_stream_wait(mm->stream);
    if (s != dnnl_success) return df_node_error(err, DF_EINTERNAL, n, "oneDNN matmul: %s", dnnl_status2str(s));
    return DF_OK;
}

void df_dnnl_mm_destroy(df_dnnl_mm *mm) {
    if (mm->prim) dnnl_primitive_destroy(mm->prim);
    if (mm->src) dnnl_memory_destroy(mm->src);
    if (mm->wei) dnnl_memory_destroy(mm->wei);
    if (mm->bias) dnnl_memory_destroy(mm->bias);
    if (mm->dst) dnnl_memory_destroy(mm->dst);
    if (mm->scratch) dnnl_memory_destroy(mm->scratch);
    if (mm->stream) dnnl_stream_destroy(mm->stream);
    memset(mm, 0, sizeof *mm);
}

int df_row_buckets(int max_mult) {
    int k = 0;
    while (max_mult > 1 && k < DF_MM_ROW_BUCKETS - 1) {
        max_mult >>= 1;
        k++;
    }
    return k + 1;
}

df_status df_dnnl_mm_rows_create(df_dnnl_mm_rows *r, const df_mm_spec *spec, int max_mult, const df_node *n,
                                 df_error *err) {
    memset(r, 0, sizeof *r);
    if (max_mult > 1 && (spec->ndims != 2 || spec->a_strides[1] != 1))
        return df_node_error(err, DF_EUNSUPPORTED, n, "variable rows need a row-major 2-D A");
    r->n = df_row_buckets(max_mult);
    r->unit_rows = spec->a_dims[0];
    r->a_ld = spec->a_strides[0];
    r->c_ld = spec->c_dims[1];
    /* Largest first: it packs the weights, the smaller buckets borrow them. */
    for (int i = r->n - 1; i >= 0; i--) {
        df_mm_spec sp = *spec;
        if (r->n > 1) sp.a_dims[0] = sp.c_dims[0] = r->unit_rows << i;
        if (i < r->n - 1) sp.share_weights = &r->b[r->n - 1];
        df_status st = df_dnnl_mm_create(&r->b[i], &sp, n, err);
        if (st) {
            df_dnnl_mm_rows_destroy(r);
            return st;
        }
        if (r->b[i].scratch_bytes > r->scratch_bytes) r->scratch_bytes = r->b[i].scratch_bytes;
    }
    return DF_OK;
}

df_status df_dnnl_mm_rows_exec(df_dnnl_mm_rows *r, int64_t rows, const float *a, const float *b, float *dst,
                               void *scratch, const df_node *n, df_error *err) {
    if (r->n == 1) return df_dnnl_mm_exec(&r->b[0], a, b, dst, scratch, n, err);
    int64_t m = r->unit_rows ? rows / r->unit_rows : 0, done = 0;
    if (m * r->unit_rows != rows || m >= ((int64_t)1 << r->n))
        return df_node_error(err, DF_ESHAPE, n, "%lld rows is not a multiple of %lld up to %lld", (long long)rows,
                             (long long)r->unit_rows, (long long)(r->unit_rows << (r->n - 1)));
    for (int i = r->n - 1; i >= 0; i--) {
        if (!(m & ((int64_t)1 << i))) continue;
        df_status st = df_dnnl_mm_exec(&r->b[i], a + done * r->a_ld, b, dst + done * r->c_ld, scratch, n, err);
        if (st) return st;
        done += r->unit_rows << i;
    }
    return DF_OK;
}

void df_dnnl_mm_rows_destroy(df_dnnl_mm_rows *r) {
    /* Borrowers first: their memory objects point into the largest bucket's weights. */
    for (int i = 0; i < r->n; i++) df_dnnl_mm_destroy(&r->b[i]);
    memset(r, 0, sizeof *r);
}
