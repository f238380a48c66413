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
// With -DPX_TAIL=T a row's last block, when partial, runs its remaining columns in runs of T
// (fewer idle columns: a 7×7 plane is one row of 49 columns, 4 blocks of 12 and one of 1).

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

// Adds the taps of input channel rows [ih0, ih0 + KH·DH) to the N accumulators ACC of the columns
// from input column IW0 on; CHECKED tests every column. Advances xc and wp.
#define CONV_TAPS_N(CHECKED, N, ACC, IW0)                                                  \
    for (int c = 0; c < Cg; ++c, xc += XNEXT(c)) {                                         \
        _Pragma("unroll")                                                                  \
        for (int kh = 0; kh < KH; ++kh, wp += KW * CO_BLOCK) {                             \
            const int ih = ih0 + kh * DH;                                                  \
            if (ih < 0 || ih >= H) continue;                                               \
            __global const float* xr = xc + (ih * W + (IW0)) * XPS;                        \
            _Pragma("unroll")                                                              \
            for (int kw = 0; kw < KW; ++kw) {                                              \
                const VEC wv = ((__global const VEC*)wp)[kw];                              \
                _Pragma("unroll")                                                          \
                for (int q = 0; q < (N); ++q) {                                            \
                    const int o = q * SW + kw * DW;                                        \
                    const float xv = (!(CHECKED) || ((IW0) + o >= 0 && (IW0) + o < W)) ? xr[o * XPS] : 0.0f; \
                    ACC[q] += xv * wv;                                                     \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }
#define CONV_TAPS(CHECKED) CONV_TAPS_N(CHECKED, PX_BLOCK, acc, iw0)

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

#ifdef IN_C16
    __global const float* xc = X + n * ((C + 15) / 16) * H * W * 16;
#else
    __global const float* xc = X + (n * C + g * Cg) * H * W;
#endif
    __global const float* wp = Wp + cb * Cg * KH * KW * CO_BLOCK;
#ifdef OUT_C16
    // One group, CO_BLOCK 16: block cb is channels [16·cb, 16·cb + 16) of Y's block layout.
    // STORE(N, ACC, OW0) stores the N columns of ACC from output column OW0 on (those before OW).
    const int co0 = cb * 16, valid = min(Cout - co0, 16);
    const VEC bv = hasBias ? load16_channels(Bias + co0, 1, valid) : (VEC)(0.0f);
    const int16 keep = lanes_below(valid);
#ifndef RESIDUAL
#define RES_ADD(v, q, yo, OW0)
#elif defined(RES_C16)
#define RES_ADD(v, q, yo, OW0) v += vload16(q, R + (yo));
#else
#define RES_ADD(v, q, yo, OW0) v += load16_channels(R + ((n * Cout + co0) * OH + oh) * OW + (OW0) + (q), OH * OW, valid);
#endif
#define STORE(N, ACC, OW0)                                                                 \
    {                                                                                      \
        const int yo = (((n * ((Cout + 15) / 16) + cb) * OH + oh) * OW + (OW0)) * 16;      \
        for (int q = 0; q < (N) && (OW0) + q < OW; ++q) {                                  \
            VEC v = ACC[q] + bv;                                                           \
            RES_ADD(v, q, yo, OW0)                                                         \
            vstore16(select((VEC)(0.0f), act16(v), keep), q, Y + yo);                      \
        }                                                                                  \
    }
#define STORE_TAIL STORE
#else
    const int co0 = g * Mg + local0;
    // The residual's channel j row from column OW0: NCHW, or lane (co0 + j) % 16 of the block
    // layout (16 floats per column).
#ifdef RESIDUAL
#ifdef RES_C16
#define RES_ROW(j, OW0) (R + ((((n * ((Cout + 15) / 16) + (co0 + (j)) / 16) * OH + oh) * OW + (OW0)) * 16 + (co0 + (j)) % 16))
#define RES_AT(rr, q) (rr)[(q) * 16]
#else
#define RES_ROW(j, OW0) (R + ((n * Cout + co0 + (j)) * OH + oh) * OW + (OW0))
#define RES_AT(rr, q) (rr)[q]
#endif
#define OUT(v, rr, q) act(((v) + b) + RES_AT(rr, q))
#else
#define RES_ROW(j, OW0) Y
#define OUT(v, rr, q) act((v) + b)
#endif
    // A whole channel block and a whole block of columns: both loops unroll, every component index
    // is a constant and the accumulators stay in registers (the transpose needs no stack copy).
    // Partial blocks and the tail's runs (STORE_TAIL): the tile through memory (tile[q·CO + j] is
    // channel j of column q), one copy of the activation's code.
#define STORE_TAIL(N, ACC, OW0)                                                            \
    {                                                                                      \
        float tile[(N) * CO_BLOCK];                                                        \
        _Pragma("unroll")                                                                  \
        for (int q = 0; q < (N); ++q) CAT(vstore, CO_BLOCK)(ACC[q], q, tile);              \
        for (int j = 0; j < CO_BLOCK && local0 + j < Mg; ++j) {                            \
            const float b = hasBias ? Bias[co0 + j] : 0.0f;                                \
            __global float* yr = Y + ((n * Cout + co0 + j) * OH + oh) * OW + (OW0);        \
            __global const float* rr = RES_ROW(j, OW0);                                    \
            (void)rr;                                                                      \
            for (int q = 0; q < (N) && (OW0) + q < OW; ++q) yr[q] = OUT(tile[q * CO_BLOCK + j], rr, q); \
        }                                                                                  \
    }
#define STORE(N, ACC, OW0)                                                                 \
    if (local0 + CO_BLOCK <= Mg && (OW0) + (N) <= OW) {                                    \
        _Pragma("unroll")                                                                  \
        for (int j = 0; j < CO_BLOCK; ++j) {                                               \
            const float b = hasBias ? Bias[co0 + j] : 0.0f;                                \
            __global float* yr = Y + ((n * Cout + co0 + j) * OH + oh) * OW + (OW0);        \
            __global const float* rr = RES_ROW(j, OW0);                                    \
            (void)rr;                                                                      \
            _Pragma("unroll")                                                              \
            for (int q = 0; q < (N); ++q) yr[q] = OUT(((const float*)&ACC[q])[j], rr, q);  \
        }                                                                                  \
    } else STORE_TAIL(N, ACC, OW0)
#endif

#ifdef PX_TAIL
    // A row's last, partial block: its OW − ow0 columns in runs of PX_TAIL, so a block of PX_BLOCK
    // columns with one valid column (a 7×7 plane in blocks of 12) computes PX_TAIL, not PX_BLOCK.
    if (ow0 + PX_BLOCK > OW) {
        __global const float* const xc0 = xc;
        __global const float* const wp0 = wp;
        for (int t0 = ow0; t0 < OW; t0 += PX_TAIL) {
            VEC tail[PX_TAIL];
            _Pragma("unroll")
            for (int q = 0; q < PX_TAIL; ++q) tail[q] = (VEC)(0.0f);
            xc = xc0;
            wp = wp0;
            const int tw0 = t0 * SW - pw;
            CONV_TAPS_N(1, PX_TAIL, tail, tw0)
            STORE_TAIL(PX_TAIL, tail, t0)
        }
        return;
    }
#endif
    VEC acc[PX_BLOCK];
    _Pragma("unroll")
    for (int q = 0; q < PX_BLOCK; ++q) acc[q] = (VEC)(0.0f);
    // Interior tiles (every column of every tap inside [0, W)) skip the column checks.
    if (iw0 >= 0 && iw0 + (PX_BLOCK - 1) * SW + (KW - 1) * DW < W) {
        CONV_TAPS(0)
    } else {
        CONV_TAPS(1)
    }
    STORE(PX_BLOCK, acc, ow0)
#undef STORE
#undef STORE_TAIL
#undef RES_ADD
#undef RES_ROW
#undef RES_AT
#undef OUT
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
