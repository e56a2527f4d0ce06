/* The dpu-sim backend: runs an fpga artifact (.dfm, see compile/fpga_compile.c) on the CPU
 * with the DPU's exact integer numerics on the DPU subgraphs and float everywhere else.
 *
 * The partition is on the nodes: a QMatMul with a dpu_subgraph attribute is a DPU conv, so it
 * runs in QMatMul's round_mode "dpu" (int8 pof2 operands, int32 accumulation, bias at the
 * accumulator's fix position, a rounding shift to the out_fix the compiler chose, saturation:
 * ops/int8_dpu.h); a QuantizeLinear with dpu_round = 1 quantizes the DPU's input, half toward
 * +inf instead of ONNX's half to even. Everything else is the cpu backend's kernels, which is
 * what the ARM side runs in float. Both switches happen once in prepare; a run is the cpu
 * backend's loop, with no allocation. */
#include <string.h>

#include "exec/exec.h"
#include "ops/int8_dpu.h"

/* QuantizeLinear as the DPU input does it: y = round_half_up(x * 2^fix), saturated. */
static df_status dpu_quantize_run(const df_kernel_args *a) {
    const df_tensor *x = a->in[0], *sc = a->in[1];
    df_tensor *y = a->out[0];
    int fix;
    if (!df_dpu_fix_of_scale(((const float *)sc->data)[0], &fix))
        return df_node_error(a->err, DF_EINVAL, a->node, "dpu-sim: scale %g is not a power of two",
                             (double)((const float *)sc->data)[0]);
    const float *xf = x->data;
    int8_t *yq = y->data;
    int64_t n = df_shape_numel(&x->shape);
    for (int64_t i = 0; i < n; i++) yq[i] = df_dpu_quantize(xf[i], fix);
    return DF_OK;
}

static const df_op_def dpu_quantize_op = {
    .op_type = "QuantizeLinear", .domain = "", .run = dpu_quantize_run,
};

static df_status dpusim_prepare(df_plan *p, df_error *err) {
    int convs = 0;
    for (int s = 0; s < p->n_steps; s++) {
        df_node *n = p->steps[s].node;
        if (!strcmp(n->op_type, "QMatMul") && df_node_attr(n, "dpu_subgraph")) {
            if (!df_node_attr(n, "round_mode")) {
                df_attr a = {.name = "round_mode", .type = DF_ATTR_STRING, .s = "dpu", .s_len = 3};
                df_status st = df_node_add_attr(n, &a, err);
                if (st) return st;
            }
            convs++;
        } else if (!strcmp(n->op_type, "QuantizeLinear") && df_attr_int(n, "dpu_round", 0) == 1) {
            const df_value *x = df_node_in(p->graph, n, 0), *y = df_node_out(p->graph, n, 0);
            const df_tensor *sc = df_node_in_const(p->graph, n, 1);
            int fix;
            if (!x || x->dtype != DF_F32 || !y || y->dtype != DF_I8 || !sc || sc->dtype != DF_F32 ||
                df_shape_numel(&sc->shape) != 1 || !df_dpu_fix_of_scale(((const float *)sc->data)[0], &fix))
                return df_node_error(err, DF_EINVAL, n,
                                     "dpu-sim: a dpu_round QuantizeLinear needs float32 -> int8 with one "
                                     "power-of-two scale");
            n->op = &dpu_quantize_op;
        }
    }
    if (convs == 0)
        return df_error_set(err, DF_EINVAL,
                            "dpu-sim: the model has no DPU subgraph (no QMatMul with a dpu_subgraph attribute); "
                            "open the .dfm that `dpuflow compile --platform fpga` writes");
    return df_backend_cpu.prepare(p, err);
}

static df_status dpusim_execute(df_plan *p, df_error *err) { return df_backend_cpu.execute(p, err); }

static void dpusim_release(df_plan *p) { df_backend_cpu.release(p); }

const df_backend df_backend_dpusim = {
    .name = "dpu-sim", .prepare = dpusim_prepare, .execute = dpusim_execute, .release = dpusim_release,
};
