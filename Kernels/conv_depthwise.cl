// Depthwise 3×3 convolution (Conv with group = C = Cout, weight [C,1,3,3], no dilation), stride
// STRIDE (1 or 2) compiled in, asymmetric pads (TF SAME). Each work-item computes 4 consecutive
// output columns of one channel plane with the 9 weights in registers, summing kh-major then kw
// (the reference's order), then adds the bias and the fused activation (common.cl `act`).
// meta: C, H, W, OH, OW, ph, pw. Global: [OH · ceil(OW/4), C, N].
#ifndef STRIDE
#define STRIDE 1
#endif
#define PX 4
#define SPAN ((PX - 1) * STRIDE + 3)

__kernel void conv2d_dw3x3(__global const float* X, __global const float* Wt, __global const float* Bias, __global float* Y,
                           __constant const int* m, int hasBias, int batch) {
    const int C = m[0], H = m[1], W = m[2], OH = m[3], OW = m[4], ph = m[5], pw = m[6];
    const int owBlocks = (OW + PX - 1) / PX;
    const int p = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (p >= OH * owBlocks || c >= C || n >= batch) return;
    const int oh = p / owBlocks, ow0 = (p - oh * owBlocks) * PX;
    const int ih0 = oh * STRIDE - ph, iw0 = ow0 * STRIDE - pw;
    __global const float* x = X + (n * C + c) * H * W;
    __global const float* wc = Wt + c * 9;
    float w[9];
    for (int i = 0; i < 9; ++i) w[i] = wc[i];
    float acc[PX];
    for (int q = 0; q < PX; ++q) acc[q] = 0.0f;
    const bool interior = iw0 >= 0 && iw0 + SPAN <= W;
    for (int kh = 0; kh < 3; ++kh) {
        const int ih = ih0 + kh;
        if (ih < 0 || ih >= H) continue;
        __global const float* xr = x + ih * W + iw0;
        float xv[SPAN];
        if (interior) {
            for (int t = 0; t < SPAN; ++t) xv[t] = xr[t];
        } else {
            for (int t = 0; t < SPAN; ++t) xv[t] = (iw0 + t >= 0 && iw0 + t < W) ? xr[t] : 0.0f;
        }
        for (int kw = 0; kw < 3; ++kw) {
            const float wv = w[kh * 3 + kw];
            for (int q = 0; q < PX; ++q) acc[q] += wv * xv[q * STRIDE + kw];
        }
    }
    const float b = hasBias ? Bias[c] : 0.0f;
    __global float* yr = Y + ((n * C + c) * OH + oh) * OW + ow0;
    for (int q = 0; q < PX && ow0 + q < OW; ++q) yr[q] = act(acc[q] + b);
}

// CPU-style depthwise 3×3 (non-GPU devices, where PoCL turns work-groups into loops): each
// work-item computes a DW_ROWS × 8 output tile of one channel plane as float8 vectors along the
// output row, with the 9 weights in registers. Every input row of the tile is read once (three
// shifted float8 views: for stride 2 the even/odd lanes of a float16) and added to each output
// row it feeds, in kh-major then kw order per output (the reference's order). Bias and the fused
// activation at the store; a masked scalar path handles the padded borders and the column tail.
// meta: C, H, W, OH, OW, ph, pw. Global: [ceil(OH/DW_ROWS) · ceil(OW/8), C, N].
#ifndef DW_ROWS
#define DW_ROWS 4
#endif
#if STRIDE == 1
#define DW_SPAN 10
#else
#define DW_SPAN 17
#endif
#define DW_IROWS ((DW_ROWS - 1) * STRIDE + 3)


__kernel void conv2d_dw3x3_cpu(__global const float* X, __global const float* Wt, __global const float* Bias, __global float* Y,
                               __constant const int* m, int hasBias, int batch) {
    const int C = m[0], H = m[1], W = m[2], OH = m[3], OW = m[4], ph = m[5], pw = m[6];
    const int owBlocks = (OW + 7) / 8, ohBlocks = (OH + DW_ROWS - 1) / DW_ROWS;
    const int p = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (p >= ohBlocks * owBlocks || c >= C || n >= batch) return;
    const int ob = p / owBlocks, oh0 = ob * DW_ROWS, ow0 = (p - ob * owBlocks) * 8;
    const int ih0 = oh0 * STRIDE - ph, iw0 = ow0 * STRIDE - pw;
    __global const float* x = X + (n * C + c) * H * W;
    __global const float* wc = Wt + c * 9;
    const float w0 = wc[0], w1 = wc[1], w2 = wc[2], w3 = wc[3], w4 = wc[4], w5 = wc[5], w6 = wc[6], w7 = wc[7], w8 = wc[8];
    float8 acc[DW_ROWS];
#pragma unroll
    for (int j = 0; j < DW_ROWS; ++j) acc[j] = (float8)(0.0f);
    const bool interior = iw0 >= 0 && iw0 + DW_SPAN <= W;
#pragma unroll
    for (int r = 0; r < DW_IROWS; ++r) {
        const int ih = ih0 + r;
        if (ih >= 0 && ih < H) {
            __global const float* xr = x + ih * W + iw0;
            float8 v0, v1, v2;
            if (interior) {
#if STRIDE == 1
                v0 = vload8(0, xr);
                v1 = vload8(0, xr + 1);
                v2 = vload8(0, xr + 2);
#else
                const float16 a = vload16(0, xr);
                v0 = a.even;
                v1 = a.odd;
                v2 = (float8)(a.s2468, a.sACE, xr[16]);
#endif
            } else {
                float t[DW_SPAN];
#pragma unroll
                for (int k = 0; k < DW_SPAN; ++k) t[k] = (iw0 + k >= 0 && iw0 + k < W) ? xr[k] : 0.0f;
#if STRIDE == 1
                v0 = vload8(0, t);
                v1 = vload8(0, t + 1);
                v2 = vload8(0, t + 2);
#else
                const float16 a = vload16(0, t);
                v0 = a.even;
                v1 = a.odd;
                v2 = (float8)(a.s2468, a.sACE, t[16]);
#endif
            }
#pragma unroll
            for (int kh = 0; kh < 3; ++kh) {
                const int d = r - kh;
                if (d >= 0 && d % STRIDE == 0 && d / STRIDE < DW_ROWS) {
                    const float k0 = kh == 0 ? w0 : (kh == 1 ? w3 : w6);
                    const float k1 = kh == 0 ? w1 : (kh == 1 ? w4 : w7);
                    const float k2 = kh == 0 ? w2 : (kh == 1 ? w5 : w8);
                    float8 s = acc[d / STRIDE];
                    s += k0 * v0;
                    s += k1 * v1;
                    s += k2 * v2;
                    acc[d / STRIDE] = s;
                }
            }
        }
    }
    const float8 b = (float8)(hasBias ? Bias[c] : 0.0f);
    __global float* y = Y + ((n * C + c) * OH + oh0) * OW + ow0;
#pragma unroll
    for (int j = 0; j < DW_ROWS; ++j) {
        if (oh0 + j < OH) {
            const float8 v = act8(acc[j] + b);
            if (ow0 + 8 <= OW) {
                vstore8(v, 0, y + j * OW);
            } else {
                float o[8];
                vstore8(v, 0, o);
                for (int q = 0; q < 8 && ow0 + q < OW; ++q) y[j * OW + q] = o[q];
            }
        }
    }
}

// CPU-style depthwise 3×3, stride 1, for planes whose output is the input's size (pads summing to
// 2 on each axis, e.g. SAME): the plane is treated as one row of H·W values, so output i reads
// input i + (kh - ph)·W + (kw - PW) and runs of 8 outputs never stop at a row end — small planes
// (19×19, 10×10, 5×5) have no per-row tails. Each work-item computes DWF_CHUNKS runs of 8
// consecutive outputs of one plane as float8 vectors. A tap whose column leaves the row
// (ow + kw - PW outside [0, W)) is masked per kw column sum; a run whose 9 shifted loads all lie
// inside the plane needs no row checks (for lanes with a valid column, a tap's row is inside the
// plane exactly when its index is), the others load zero-filled checked spans. Sum order per
// output: the kw columns (kh-major inside), then the bias and the fused activation.
// meta: C, H, W, ph. PW (the left pad, 0–2) is compiled in. Global: [ceil(H·W / (8·DWF_CHUNKS)), C, N].
#ifndef DWF_CHUNKS
#define DWF_CHUNKS 8
#endif
#ifndef PW
#define PW 1
#endif

// x[b .. b+9] (zero outside [0, n)) in lanes 0-9 of a float16.
inline float16 dw_span_checked(__global const float* x, int b, int n) {
    float t[10];
#pragma unroll
    for (int k = 0; k < 10; ++k) t[k] = (b + k >= 0 && b + k < n) ? x[b + k] : 0.0f;
    return (float16)(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f);
}

__kernel void conv2d_dw3x3_flat(__global const float* X, __global const float* Wt, __global const float* Bias, __global float* Y,
                                __constant const int* m, int hasBias, int batch) {
    const int C = m[0], H = m[1], W = m[2], ph = m[3];
    const int HW = H * W;
    const int blocks = (HW + 8 * DWF_CHUNKS - 1) / (8 * DWF_CHUNKS);
    const int p = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (p >= blocks || c >= C || n >= batch) return;
    __global const float* x = X + (n * C + c) * HW;
    __global float* y = Y + (n * C + c) * HW;
    __global const float* wc = Wt + c * 9;
    const float w0 = wc[0], w1 = wc[1], w2 = wc[2], w3 = wc[3], w4 = wc[4], w5 = wc[5], w6 = wc[6], w7 = wc[7], w8 = wc[8];
    const float8 b = (float8)(hasBias ? Bias[c] : 0.0f);
    int i = p * 8 * DWF_CHUNKS;
    // ow: the output column of each lane.
    int8 ow = (int8)(i % W) + (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    while (any(ow >= W)) ow = select(ow, ow - W, ow >= W);
    for (int k = 0; k < DWF_CHUNKS && i < HW; ++k, i += 8) {
#if PW == 1
        const int8 m0 = ow != 0, m1 = (int8)(-1), m2 = ow != W - 1;
#elif PW == 0
        const int8 m0 = (int8)(-1), m1 = ow + 1 < W, m2 = ow + 2 < W;
#else
        const int8 m0 = ow >= 2, m1 = ow >= 1, m2 = (int8)(-1);
#endif
        float8 s0, s1, s2;
        const int base = i - ph * W - PW;   // the input index of tap (0, 0) for lane 0
        if (base >= 0 && base + 2 * W + 10 <= HW) {
            __global const float* r0 = x + base;
            __global const float* r1 = r0 + W;
            __global const float* r2 = r1 + W;
            s0 = w0 * vload8(0, r0) + w3 * vload8(0, r1) + w6 * vload8(0, r2);
            s1 = w1 * vload8(0, r0 + 1) + w4 * vload8(0, r1 + 1) + w7 * vload8(0, r2 + 1);
            s2 = w2 * vload8(0, r0 + 2) + w5 * vload8(0, r1 + 2) + w8 * vload8(0, r2 + 2);
        } else {
            const float16 a = dw_span_checked(x, base, HW), d = dw_span_checked(x, base + W, HW), e = dw_span_checked(x, base + 2 * W, HW);
            s0 = w0 * a.s01234567 + w3 * d.s01234567 + w6 * e.s01234567;
            s1 = w1 * a.s12345678 + w4 * d.s12345678 + w7 * e.s12345678;
            s2 = w2 * a.s23456789 + w5 * d.s23456789 + w8 * e.s23456789;
        }
        const float8 acc = select((float8)(0.0f), s0, m0) + select((float8)(0.0f), s1, m1) + select((float8)(0.0f), s2, m2);
        const float8 v = act8(acc + b);
        if (i + 8 <= HW) {
            vstore8(v, 0, y + i);
        } else {
            float o[8];
            vstore8(v, 0, o);
            for (int l = 0; l < 8 && i + l < HW; ++l) y[i + l] = o[l];
        }
        ow += 8;
        ow = select(ow, ow - W, ow >= W);
        if (W < 8) {
            while (any(ow >= W)) ow = select(ow, ow - W, ow >= W);
        }
    }
}

// GPU-style depthwise DW_KH × DW_KW (any kernel up to 7×7, strides DW_SH, DW_SW, no dilation) with the input
// tile in local memory: a work-group of DW_TW × DW_TH work-items computes a DW_TW × DW_TH block
// of one channel plane, one output each. It first copies the block's input window
// ((DW_TH−1)·DW_SH+DW_KH rows × (DW_TW−1)·DW_SW+DW_KW columns, 0 in the padding; neighbouring
// work-items load neighbouring addresses), the weights and the bias into local memory, so each
// input is read from global memory about once (DW_SH·DW_SW times per output) instead of KH·KW times.
// Sums kh-major then kw (the reference's order), bias and act() at the store.
// geo (by value, no memory read): C, H, W, OH, OW, ph, pw.
// Global: [ceil(OW/DW_TW)·DW_TW, ceil(OH/DW_TH)·DW_TH, N·C], local [DW_TW, DW_TH, 1].
#ifndef DW_TW
#define DW_TW 16
#endif
#ifndef DW_TH
#define DW_TH 16
#endif
#ifndef DW_KH
#define DW_KH 3
#endif
#ifndef DW_KW
#define DW_KW 3
#endif
#ifndef DW_SH
#define DW_SH 1
#endif
#ifndef DW_SW
#define DW_SW 1
#endif
#define DW_LW ((DW_TW - 1) * DW_SW + DW_KW)
#define DW_LH ((DW_TH - 1) * DW_SH + DW_KH)

__kernel __attribute__((reqd_work_group_size(DW_TW, DW_TH, 1)))
void conv2d_dw_local(__global const float* X, __global const float* Wt, __global const float* Bias, __global float* Y,
                     int8 geo, int hasBias, int batch) {
    const int C = geo.s0, H = geo.s1, W = geo.s2, OH = geo.s3, OW = geo.s4, ph = geo.s5, pw = geo.s6;
    const int tx = get_local_id(0), ty = get_local_id(1), tid = ty * DW_TW + tx;
    const int plane = get_group_id(2), c = plane % C;
    // (plane < batch·C always: dimension 2 is launched exactly.)
    const int ow0 = get_group_id(0) * DW_TW, oh0 = get_group_id(1) * DW_TH;
    const int ih0 = oh0 * DW_SH - ph, iw0 = ow0 * DW_SW - pw;
    __global const float* x = X + plane * H * W;
    __local float tile[DW_LH][DW_LW];
    __local float wb[DW_KH * DW_KW + 1];
    for (int e = tid; e < DW_LH * DW_LW; e += DW_TW * DW_TH) {
        const int r = e / DW_LW, q = e - r * DW_LW;
        const int ih = ih0 + r, iw = iw0 + q;
        tile[r][q] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[ih * W + iw] : 0.0f;
    }
    for (int e = tid; e < DW_KH * DW_KW; e += DW_TW * DW_TH) wb[e] = Wt[c * DW_KH * DW_KW + e];
    if (tid == 0) wb[DW_KH * DW_KW] = hasBias ? Bias[c] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int ow = ow0 + tx, oh = oh0 + ty;
    if (ow >= OW || oh >= OH) return;
    float acc = 0.0f;
    _Pragma("unroll")
    for (int kh = 0; kh < DW_KH; ++kh)
        _Pragma("unroll")
        for (int kw = 0; kw < DW_KW; ++kw) acc += wb[kh * DW_KW + kw] * tile[ty * DW_SH + kh][tx * DW_SW + kw];
    Y[(plane * OH + oh) * OW + ow] = act(acc + wb[DW_KH * DW_KW]);
}

// CPU-style depthwise DWC_KH × DWC_KW convolution (strides DWC_SH, DWC_SW, no dilation) in the
// channel-blocked layout of Passes/BlockedLayout.swift: X [N][CB][H][W][16], Y [N][CB][OH][OW][16],
// weights packed [CB][KH·KW][16] and bias [CB·16] (zero past C). Sixteen channels are the 16 lanes of
// a float16, so every tap is one vector multiply-add whatever the plane size (in NCHW the 7×7 and
// 14×14 planes leave most lanes of a row vector idle). A work-item computes DWC_PX consecutive output
// columns of one row and channel block; sums kh-major then kw (the reference's order), then the bias
// and the fused activation; lanes past C are stored as 0. meta: C, H, W, OH, OW, ph, pw.
// Global: [OH · ceil(OW/DWC_PX), CB, N].
#ifndef DWC_PX
#define DWC_PX 8
#endif
#ifndef DWC_KH
#define DWC_KH 3
#endif
#ifndef DWC_KW
#define DWC_KW 3
#endif
#ifndef DWC_SH
#define DWC_SH 1
#endif
#ifndef DWC_SW
#define DWC_SW 1
#endif

__kernel void conv2d_dw_c16(__global const float* X, __global const float* Wp, __global const float* Bp, __global float* Y,
                            __constant const int* m, int batch) {
    const int C = m[0], H = m[1], W = m[2], OH = m[3], OW = m[4], ph = m[5], pw = m[6];
    const int CB = (C + 15) / 16, owBlocks = (OW + DWC_PX - 1) / DWC_PX;
    const int p = get_global_id(0), cb = get_global_id(1), n = get_global_id(2);
    if (p >= OH * owBlocks || cb >= CB || n >= batch) return;
    const int oh = p / owBlocks, ow0 = (p - oh * owBlocks) * DWC_PX;
    const int iw0 = ow0 * DWC_SW - pw;
    __global const float* wc = Wp + cb * DWC_KH * DWC_KW * 16;
    float16 acc[DWC_PX];
#pragma unroll
    for (int q = 0; q < DWC_PX; ++q) acc[q] = (float16)(0.0f);
    const bool interior = iw0 >= 0 && iw0 + (DWC_PX - 1) * DWC_SW + DWC_KW <= W;
#pragma unroll
    for (int kh = 0; kh < DWC_KH; ++kh) {
        const int ih = oh * DWC_SH - ph + kh;
        if (ih < 0 || ih >= H) continue;
        __global const float* xr = X + (((n * CB + cb) * H + ih) * W) * 16;
#pragma unroll
        for (int kw = 0; kw < DWC_KW; ++kw) {
            const float16 wv = vload16(kh * DWC_KW + kw, wc);
#pragma unroll
            for (int q = 0; q < DWC_PX; ++q) {
                const int iw = iw0 + q * DWC_SW + kw;
                if (interior || (iw >= 0 && iw < W)) acc[q] += wv * vload16(iw, xr);
            }
        }
    }
    const float16 b = vload16(cb, Bp);
    const int16 keep = lanes_below(C - cb * 16);
    __global float* y = Y + (((n * CB + cb) * OH + oh) * OW + ow0) * 16;
#pragma unroll
    for (int q = 0; q < DWC_PX; ++q) {
        if (ow0 + q < OW) vstore16(select((float16)(0.0f), act16(acc[q] + b), keep), q, y);
    }
}
