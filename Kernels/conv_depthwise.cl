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

#ifdef ACT_CLAMP
#define ACT8(v) select(select((v), (float8)(ACT_HI), (v) > (float8)(ACT_HI)), (float8)(ACT_LO), (v) < (float8)(ACT_LO))
#else
#define ACT8(v) (v)
#endif

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
            const float8 v = ACT8(acc[j] + b);
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
