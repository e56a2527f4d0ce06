/* The cost model: a roofline per DPU subgraph plus CPU time and boundary conversions.
 *
 *   DPU subgraph cycles = max(compute cycles, DDR bytes / bytes-per-cycle) + invocation
 *   compute cycles      = sum over its convs of ceil(pixels/PP) * ceil(in/ICP) * ceil(out/OCP)
 *                         (the engine does PP x ICP x OCP MACs per cycle on whole tiles, so a
 *                         channel count that is not a multiple of 16 pays for the padding:
 *                         that is the utilization factor for the layer's shape)
 *   DDR bytes           = int8 weights (K*N) + int8 bias (N) + every int8 feature map each
 *                         node reads and writes (the DPU keeps feature maps in DDR between
 *                         layers; its on-chip banks hold tiles only)
 *   CPU subgraph time   = FLOPs / cpu_gflops (one A53 thread per inference)
 *   boundary time       = bytes crossing each DPU subgraph's edge / boundary_gbs (the CPU
 *                         converts float <-> int8 and flushes/invalidates caches)
 * Latency = everything in sequence (batch 1, one DPU core). Throughput with N cores: every
 * inference needs its DPU time on one core, its CPU time on one A53 core, and its DDR bytes
 * from the shared DDR; the tightest of the three bounds it.
 * Every constant's source is in fpga_profiles.c and docs/fpga.md. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "compile/fpga.h"

double df_fpga_conv_cycles(const df_fpga_profile *p, int64_t pixels, int64_t in_ch, int64_t out_ch, double *util) {
    double tiles_px = (double)((pixels + p->pp - 1) / p->pp);
    double tiles_in = (double)((in_ch + p->icp - 1) / p->icp);
    double tiles_out = (double)((out_ch + p->ocp - 1) / p->ocp);
    double cycles = tiles_px * tiles_in * tiles_out;
    if (util) {
        double paid = cycles * p->pp * p->icp * p->ocp;
        *util = paid > 0 ? (double)pixels * (double)in_ch * (double)out_ch / paid : 0;
    }
    return cycles;
}

static double feature_bytes(const df_graph *g, const df_node *n) {
    double b = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const df_value *v = df_node_in(g, n, k);
        if (v && !v->has_const) b += (double)df_shape_numel(&v->shape);
    }
    for (int k = 0; k < n->n_outputs; k++) {
        const df_value *v = df_node_out(g, n, k);
        if (v) b += (double)df_shape_numel(&v->shape);
    }
    return b;
}

void df_fpga_cost_eval(df_fpga_partition *pt, const df_fpga_profile *p, df_fpga_cost *c) {
    memset(c, 0, sizeof *c);
    const df_graph *g = pt->g;
    const double hz = p->clock_mhz * 1e6;
    const double ddr_bytes_per_cycle = p->ddr_gbs * 1e9 * p->ddr_efficiency / hz;
    double ddr_total = 0;
    for (int s = 0; s < pt->n_subgraphs; s++) {
        df_fpga_subgraph *S = &pt->subgraphs[s];
        S->compute_cycles = S->ddr_bytes = S->ddr_cycles = S->time_us = S->boundary_us = S->util = 0;
        if (S->side == DF_SIDE_DPU) {
            double useful = 0, paid = 0;
            for (int k = 0; k < S->n_nodes; k++) {
                const df_fpga_place *pl = &pt->place[S->nodes[k]];
                const df_node *n = &g->nodes[S->nodes[k]];
                if (pl->conv_in > 0) {
                    double u = 0, cyc = df_fpga_conv_cycles(p, pl->conv_pixels, pl->conv_in, pl->conv_out, &u);
                    S->compute_cycles += cyc;
                    useful += pl->macs;
                    paid += cyc * p->pp * p->icp * p->ocp;
                    S->ddr_bytes += (double)pl->conv_in * (double)pl->conv_out + (double)pl->conv_out;
                }
                S->ddr_bytes += feature_bytes(g, n);
            }
            S->util = paid > 0 ? useful / paid : 0;
            S->ddr_cycles = S->ddr_bytes / ddr_bytes_per_cycle;
            double cycles = fmax(S->compute_cycles, S->ddr_cycles);
            S->time_us = cycles / p->clock_mhz + p->invoke_us;
            double crossing = 0;
            for (int k = 0; k < S->n_ins; k++) crossing += (double)S->ins[k].bytes;
            for (int k = 0; k < S->n_outs; k++) crossing += (double)S->outs[k].bytes;
            S->boundary_us = crossing / (p->boundary_gbs * 1e3);
            c->dpu_us += S->time_us;
            c->boundary_us += S->boundary_us;
            ddr_total += S->ddr_bytes;
        } else {
            S->time_us = S->flops / (p->cpu_gflops * 1e3);
            c->cpu_us += S->time_us;
        }
        double task = S->time_us + S->boundary_us;
        if (task > c->max_task_us) {
            c->max_task_us = task;
            snprintf(c->max_task, sizeof c->max_task, "%s", S->name);
        }
    }
    c->latency_us = c->dpu_us + c->cpu_us + c->boundary_us;
    const double cores = p->cores > 0 ? p->cores : 1;
    double fps_dpu = c->dpu_us > 0 ? cores * 1e6 / c->dpu_us : INFINITY;
    double cpu_per_inf = c->cpu_us + c->boundary_us;
    double fps_cpu = cpu_per_inf > 0 ? (double)p->cpu_cores * 1e6 / cpu_per_inf : INFINITY;
    double fps_ddr = ddr_total > 0 ? p->ddr_gbs * 1e9 * p->ddr_efficiency / ddr_total : INFINITY;
    c->fps_total = fps_dpu;
    c->bound = "dpu";
    if (fps_cpu < c->fps_total) { c->fps_total = fps_cpu; c->bound = "cpu"; }
    if (fps_ddr < c->fps_total) { c->fps_total = fps_ddr; c->bound = "ddr"; }
    if (!isfinite(c->fps_total)) c->fps_total = 0;
    c->fps_per_core = c->fps_total / cores;
}
