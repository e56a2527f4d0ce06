#include "ops/fused_common.h"

#include <string.h>

#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>

int df_fused_max_threads(void) {
    int t = omp_get_max_threads();
    return t > 0 ? t : 1;
}

static df_status fail(dnnl_status_t s, const char *what, const df_node *n, df_error *err) {
    return df_node_error(err, s == dnnl_out_of_memory ? DF_ENOMEM : DF_EUNSUPPORTED, n, "oneDNN %s: %s", what,
                         dnnl_status2str(s));
}

df_status df_fused_gemm_create(df_dnnl_mm *mm, int64_t M, int64_t K, int64_t N, const float *W, const float *bias,
                               df_fused_act act, const df_node *n, df_error *err) {
    memset(mm, 0, sizeof *mm);
    dnnl_engine_t eng = df_dnnl_engine();
    if (!eng) return df_node_error(err, DF_EUNSUPPORTED, n, "oneDNN has no CPU engine");
    dnnl_dims_t a_dims = {M, K}, w_dims = {K, N}, c_dims = {M, N}, b_dims = {1, N};
    dnnl_memory_desc_t a_md, w_user_md, w_md, c_md, b_md;
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(&a_md, 2, a_dims, dnnl_f32, dnnl_ab)) ||
        (s = dnnl_memory_desc_init_by_tag(&w_user_md, 2, w_dims, dnnl_f32, dnnl_ab)) ||
        (s = dnnl_memory_desc_init_by_tag(&w_md, 2, w_dims, dnnl_f32, dnnl_format_tag_any)) ||
        (s = dnnl_memory_desc_init_by_tag(&c_md, 2, c_dims, dnnl_f32, dnnl_ab)) ||
        (s = dnnl_memory_desc_init_by_tag(&b_md, 2, b_dims, dnnl_f32, dnnl_ab)))
        return fail(s, "memory descriptor", n, err);
    dnnl_matmul_desc_t desc;
    if ((s = dnnl_matmul_desc_init(&desc, &a_md, &w_md, bias ? &b_md : NULL, &c_md)))
        return fail(s, "matmul descriptor", n, err);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t user = NULL;
    df_status st = DF_OK;
    if ((s = dnnl_primitive_attr_create(&attr)) ||
        /* The executor hands out scratch, so run never allocates. */
        (s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user))) {
        st = fail(s, "attributes", n, err);
        goto done;
    }
    if (act != DF_ACT_NONE) {
        dnnl_alg_kind_t alg = act == DF_ACT_GELU_ERF ? dnnl_eltwise_gelu_erf : dnnl_eltwise_gelu_tanh;
        if ((s = dnnl_post_ops_create(&po)) || (s = dnnl_post_ops_append_eltwise(po, 1.0f, alg, 0.0f, 0.0f)) ||
            (s = dnnl_primitive_attr_set_post_ops(attr, po))) {
            st = fail(s, "post-ops", n, err);
            goto done;
        }
    }
    if ((s = dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL)) ||
        (s = dnnl_stream_create(&mm->stream, eng, dnnl_stream_default_flags))) {
        st = fail(s, "matmul primitive", n, err);
        goto done;
    }
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if ((s = dnnl_memory_create(&mm->wei, wei_md, eng, DNNL_MEMORY_ALLOCATE)) ||
        (s = dnnl_memory_create(&user, &w_user_md, eng, (void *)W))) {
        st = fail(s, "weights memory", n, err);
        goto done;
    }
    mm->b_packed = true;
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, mm->wei}};
    if ((s = dnnl_reorder_primitive_desc_create(&rpd, &w_user_md, eng, wei_md, eng, NULL)) ||
        (s = dnnl_primitive_create(&reorder, rpd)) || (s = dnnl_primitive_execute(reorder, mm->stream, 2, rargs)) ||
        (s = dnnl_stream_wait(mm->stream))) {
        st = fail(s, "weights reorder", n, err);
        goto done;
    }
    if (bias) {
        void *h = NULL;
        if ((s = dnnl_memory_create(&mm->bias, &b_md, eng, DNNL_MEMORY_ALLOCATE)) ||
            (s = dnnl_memory_get_data_handle(mm->bias, &h))) {
            st = fail(s, "bias memory", n, err);
            goto done;
        }
        memcpy(h, bias, (size_t)N * sizeof(float));
    }
    const dnnl_memory_desc_t *sp_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    mm->scratch_bytes = sp_md ? dnnl_memory_desc_get_size(sp_md) : 0;
    if ((s = dnnl_memory_create(&mm->src, &a_md, eng, DNNL_MEMORY_NONE)) ||
        (s = dnnl_memory_create(&mm->dst, &c_md, eng, DNNL_MEMORY_NONE)) ||
        (mm->scratch_bytes && (s = dnnl_memory_create(&mm->scratch, sp_md, eng, DNNL_MEMORY_NONE))) ||
        (s = dnnl_primitive_create(&mm->prim, pd))) {
        st = fail(s, "matmul primitive", n, err);
        goto done;
    }
done:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st) df_dnnl_mm_destroy(mm);
    return st;
}
