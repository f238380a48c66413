// CPU-style direct 2-D convolution (NCHW, any group count) for PoCL-like devices: each work-item keeps a
// CO_BLOCK output channels × PX_BLOCK output columns tile in CO_BLOCK-wide vector registers and
// sums over (c, kh, kw) in order. Weights are repacked at plan time as [ceil(Cout/CO)][C·KH·KW][CO]
// (zero-padded channel tail; the buffer is aligned, so every block is VEC-aligned), so each tap is one contiguous vector load times PX broadcasts.
// Window geometry (KH, KW, SH, SW, DH, DW) is compile-time (-D) so the tap loops unroll; sizes
// come from meta: C, H, W, Cout, OH, OW, ph, pw. Global: [OH · ceil(OW/PX), ceil(Cout/CO), N].
// With -DRESIDUAL a fused residual Add (Passes/Optimize.swift fuseConvResidual) is added at the
// store: Y = act((Σ w·x + b) + R), R shaped like Y.
// Channel-blocked layouts (Passes/BlockedLayout.swift, one group only): -DIN_C16 reads X as
// [N][ceil(C/16)][H][W][16], -DOUT_C16 (with CO_BLOCK 16) writes Y as [N][ceil(Cout/16)][OH][OW][16]
// — one float16 store per output column, lanes past Cout stored as 0 — and -DRES_C16 reads R
// blocked like that (independently of Y's layout). The sums are the same in every layout.

#ifndef CO_BLOCK
#define CO_BLOCK 16
#endif
#ifndef PX_BLOCK
#define PX_BLOCK 6
#endif
#ifndef KH
#define KH 3
#endif
#ifndef KW
#define KW 3
#endif
#ifndef SH
#define SH 1
#endif
#ifndef SW
#define SW 1
#endif
#ifndef DH
#define DH 1
#endif
#ifndef DW
#define DW 1
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define VEC CAT(float, CO_BLOCK)

// XPS: the distance between neighbouring pixels of one input channel; XNEXT(c): the step from
// channel c − 1 to channel c (c already incremented).
#ifdef IN_C16
#define XPS 16
#define XNEXT(c) (((c) & 15) ? 1 : H * W * 16 - 15)
#else
#define XPS 1
#define XNEXT(c) (H * W)
#endif

// Adds the taps of input channel rows [ih0, ih0 + KH·DH) to acc; CHECKED tests every column.
#define CONV_TAPS(CHECKED)                                                                 \
    for (int c = 0; c < Cg; ++c, xc += XNEXT(c)) {                                         \
        _Pragma("unroll")                                                                  \
        for (int kh = 0; kh < KH; ++kh, wp += KW * CO_BLOCK) {                             \
            const int ih = ih0 + kh * DH;                                                  \
            if (ih < 0 || ih >= H) continue;                                               \
            __global const float* xr = xc + (ih * W + iw0) * XPS;                          \
            _Pragma("unroll")                                                              \
            for (int kw = 0; kw < KW; ++kw) {                                              \
                const VEC wv = ((__global const VEC*)wp)[kw];                              \
                _Pragma("unroll")                                                          \
                for (int q = 0; q < PX_BLOCK; ++q) {                                       \
                    const int o = q * SW + kw * DW;                                        \
                    const float xv = (!(CHECKED) || (iw0 + o >= 0 && iw0 + o < W)) ? xr[o * XPS] : 0.0f; \
                    acc[q] += xv * wv;                                                     \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

__kernel void conv2d_blocked(__global const float* X, __global const float* Wp, __global const float* Bias,
                             __global const float* R, __global float* Y, __constant const int* m, int hasBias, int batch) {
    const int C = m[0], H = m[1], W = m[2], Cout = m[3], OH = m[4], OW = m[5], ph = m[6], pw = m[7];
    const int Cg = m[8], Mg = m[9];
    const int owBlocks = (OW + PX_BLOCK - 1) / PX_BLOCK, groupBlocks = (Mg + CO_BLOCK - 1) / CO_BLOCK;
    const int p = get_global_id(0), cb = get_global_id(1), n = get_global_id(2);
    if (p >= OH * owBlocks || cb >= (Cout / Mg) * groupBlocks || n >= batch) return;
    const int g = cb / groupBlocks, local0 = (cb - g * groupBlocks) * CO_BLOCK;
    const int oh = p / owBlocks, ow0 = (p - oh * owBlocks) * PX_BLOCK;
    const int ih0 = oh * SH - ph, iw0 = ow0 * SW - pw;

    VEC acc[PX_BLOCK];
    _Pragma("unroll")
    for (int q = 0; q < PX_BLOCK; ++q) acc[q] = (VEC)(0.0f);
#ifdef IN_C16
    __global const float* xc = X + n * ((C + 15) / 16) * H * W * 16;
#else
    __global const float* xc = X + (n * C + g * Cg) * H * W;
#endif
    __global const float* wp = Wp + cb * Cg * KH * KW * CO_BLOCK;
    // Interior tiles (every column of every tap inside [0, W)) skip the column checks.
    if (iw0 >= 0 && iw0 + (PX_BLOCK - 1) * SW + (KW - 1) * DW < W) {
        CONV_TAPS(0)
    } else {
        CONV_TAPS(1)
    }

#ifdef OUT_C16
    // One group, CO_BLOCK 16: block cb is channels [16·cb, 16·cb + 16) of Y's block layout.
    const int co0 = cb * 16, valid = min(Cout - co0, 16);
    const VEC bv = hasBias ? load16_channels(Bias + co0, 1, valid) : (VEC)(0.0f);
    const int16 keep = lanes_below(valid);
    const int yo = (((n * ((Cout + 15) / 16) + cb) * OH + oh) * OW + ow0) * 16;
    for (int q = 0; q < PX_BLOCK && ow0 + q < OW; ++q) {
        VEC v = acc[q] + bv;
#ifdef RESIDUAL
#ifdef RES_C16
        v += vload16(q, R + yo);
#else
        v += load16_channels(R + ((n * Cout + co0) * OH + oh) * OW + ow0 + q, OH * OW, valid);
#endif
#endif
        vstore16(select((VEC)(0.0f), act16(v), keep), q, Y + yo);
    }
#else
    const int co0 = g * Mg + local0;
    // The residual's channel j row: NCHW, or lane (co0 + j) % 16 of the block layout (16 floats per column).
#ifdef RESIDUAL
#ifdef RES_C16
#define RES_ROW(j) (R + ((((n * ((Cout + 15) / 16) + (co0 + (j)) / 16) * OH + oh) * OW + ow0) * 16 + (co0 + (j)) % 16))
#define RES_AT(rr, q) (rr)[(q) * 16]
#else
#define RES_ROW(j) (R + ((n * Cout + co0 + (j)) * OH + oh) * OW + ow0)
#define RES_AT(rr, q) (rr)[q]
#endif
#define OUT(v, rr, q) act(((v) + b) + RES_AT(rr, q))
#else
#define RES_ROW(j) Y
#define OUT(v, rr, q) act((v) + b)
#endif
    // A whole channel block and a whole row of columns: both loops unroll, every component index
    // is a constant and the accumulators stay in registers (the transpose needs no stack copy).
    if (local0 + CO_BLOCK <= Mg && ow0 + PX_BLOCK <= OW) {
        _Pragma("unroll")
        for (int j = 0; j < CO_BLOCK; ++j) {
            const float b = hasBias ? Bias[co0 + j] : 0.0f;
            __global float* yr = Y + ((n * Cout + co0 + j) * OH + oh) * OW + ow0;
            __global const float* rr = RES_ROW(j);
            (void)rr;
            _Pragma("unroll")
            for (int q = 0; q < PX_BLOCK; ++q) yr[q] = OUT(((const float*)&acc[q])[j], rr, q);
        }
        return;
    }
    // Partial blocks or rows: the tile through memory (tile[q·CO + j] is channel j of column q).
    float tile[PX_BLOCK * CO_BLOCK];
    _Pragma("unroll")
    for (int q = 0; q < PX_BLOCK; ++q) CAT(vstore, CO_BLOCK)(acc[q], q, tile);
    for (int j = 0; j < CO_BLOCK && local0 + j < Mg; ++j) {
        const float b = hasBias ? Bias[co0 + j] : 0.0f;
        __global float* yr = Y + ((n * Cout + co0 + j) * OH + oh) * OW + ow0;
        __global const float* rr = RES_ROW(j);
        (void)rr;
        for (int q = 0; q < PX_BLOCK && ow0 + q < OW; ++q) yr[q] = OUT(tile[q * CO_BLOCK + j], rr, q);
    }
#undef RES_ROW
#undef RES_AT
#undef OUT
#endif
}

// CPU-style pointwise convolution (1×1, stride 1, no pads, one group) vectorized over pixels, for
// large planes: a work-item computes PW_CO output channels × PW_PX·8 consecutive pixels of the
// H·W plane in PW_CO·PW_PX float8 accumulators; per input channel it loads PW_PX float8 of X and
// broadcasts PW_CO weights (repacked as [ceil(Cout/PW_CO)][C][PW_CO], zero channel tail). Stores are
// whole float8 runs of one output row, where conv2d_blocked (vectorized over channels) stores
// PX scalars per channel — on planes of thousands of pixels with few channels (SSDLite's 150×150
// and 75×75 layers) this kernel is 1.5–2.5× faster on PoCL; with many input channels and small
// planes conv2d_blocked wins (more weight reuse). Sum order: c ascending, then bias, activation.
// meta: C, H·W, Cout. Global: [ceil(H·W / (8·PW_PX)), ceil(Cout/PW_CO), N].
#ifndef PW_CO
#define PW_CO 6
#endif
#ifndef PW_PX
#define PW_PX 2
#endif

#define PW_FMA(xv)                                                                         \
    _Pragma("unroll")                                                                      \
    for (int j = 0; j < PW_CO; ++j) {                                                      \
        const float wj = w[j];                                                             \
        _Pragma("unroll")                                                                  \
        for (int q = 0; q < PW_PX; ++q) acc[j][q] += wj * xv[q];                           \
    }

__kernel void conv1x1_px(__global const float* X, __global const float* Wp, __global const float* Bias, __global float* Y,
                         __constant const int* m, int hasBias, int batch) {
    const int C = m[0], HW = m[1], Cout = m[2];
    const int blocks = (HW + 8 * PW_PX - 1) / (8 * PW_PX);
    const int p = get_global_id(0), cb = get_global_id(1), n = get_global_id(2);
    if (p >= blocks || cb * PW_CO >= Cout || n >= batch) return;
    const int i0 = p * 8 * PW_PX;
    const bool full = i0 + 8 * PW_PX <= HW;
    __global const float* x = X + n * C * HW + i0;
    __global const float* w = Wp + cb * C * PW_CO;
    float8 acc[PW_CO][PW_PX];
    _Pragma("unroll")
    for (int j = 0; j < PW_CO; ++j) {
        _Pragma("unroll")
        for (int q = 0; q < PW_PX; ++q) acc[j][q] = (float8)(0.0f);
    }
    if (full) {
        for (int c = 0; c < C; ++c, x += HW, w += PW_CO) {
            float8 xv[PW_PX];
            _Pragma("unroll")
            for (int q = 0; q < PW_PX; ++q) xv[q] = vload8(q, x);
            PW_FMA(xv)
        }
    } else {
        // The plane's last block: pixels past H·W read as zero (and are not stored).
        for (int c = 0; c < C; ++c, x += HW, w += PW_CO) {
            float t[8 * PW_PX];
            for (int k = 0; k < 8 * PW_PX; ++k) t[k] = i0 + k < HW ? x[k] : 0.0f;
            float8 xv[PW_PX];
            _Pragma("unroll")
            for (int q = 0; q < PW_PX; ++q) xv[q] = vload8(q, t);
            PW_FMA(xv)
        }
    }
    const int co0 = cb * PW_CO;
    _Pragma("unroll")
    for (int j = 0; j < PW_CO; ++j) {
        if (co0 + j < Cout) {
            const float8 b = (float8)(hasBias ? Bias[co0 + j] : 0.0f);
            __global float* y = Y + (n * Cout + co0 + j) * HW + i0;
            if (full) {
                _Pragma("unroll")
                for (int q = 0; q < PW_PX; ++q) vstore8(act8(acc[j][q] + b), q, y);
            } else {
                float o[8 * PW_PX];
                _Pragma("unroll")
                for (int q = 0; q < PW_PX; ++q) vstore8(act8(acc[j][q] + b), q, o);
                for (int k = 0; i0 + k < HW; ++k) y[k] = o[k];
            }
        }
    }
}
