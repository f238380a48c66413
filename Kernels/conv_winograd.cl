// Winograd convolution F(WINO_M×WINO_M, 3×3) for 2-D 3×3 stride-1 convolutions (group 1) on
// CPU-style devices (Lavin & Gray 2016): Y = Aᵀ [Σ_c (G g G ᵀ) ⊙ (Bᵀ d B)] A per output tile of
// WINO_M×WINO_M pixels, from the (WINO_M+2)² input tile d at the tile's top-left corner (so it is
// ONNX's cross-correlation; pads and tails read zeros). Three kernels per chunk of tiles:
//   winograd_input:  d → V = Bᵀ d B, stored as [XI][chunk/TB][C][TB] (panels of TB tiles)
//   winograd_gemm:   M[ξ] = U[ξ] · V[ξ] for every transform point ξ (XI = (WINO_M+2)² of them),
//                    U = G g Gᵀ packed at plan time as [XI][ceil(Cout/GEMM_R)][C][GEMM_R]
//   winograd_output: Y = Aᵀ M A + bias, act(), clipped to the output plane
// Tiles are numbered over (n, tile row, tile column); a launch covers tiles [t0, t0 + chunk).
// WINO_M (2 or 4) and GEMM_R are compile-time (-D). Scratch V and M hold one chunk.

#ifndef WINO_M
#define WINO_M 4
#endif
#ifndef GEMM_R
#define GEMM_R 6
#endif
#define WINO_A (WINO_M + 2)
#define XI (WINO_A * WINO_A)
// Tile panel width of V and M: one float16 vector.
#define TB 16

// 1-D input transform o = Bᵀ d over float16 arrays (lanes are TB tiles): o[oi + k·os] from
// d[di + k·ds].
#if WINO_M == 4
#define WINO_BT(o, oi, os, d, di, ds) do {                                                        \
        const float16 d0 = d[di], d1 = d[di + ds], d2 = d[di + 2 * ds], d3 = d[di + 3 * ds],       \
                      d4 = d[di + 4 * ds], d5 = d[di + 5 * ds];                                    \
        o[oi] = 4.0f * d0 - 5.0f * d2 + d4;                                                        \
        o[oi + os] = -4.0f * (d1 + d2) + (d3 + d4);                                                \
        o[oi + 2 * os] = 4.0f * (d1 - d2) + (d4 - d3);                                             \
        o[oi + 3 * os] = 2.0f * (d3 - d1) + (d4 - d2);                                             \
        o[oi + 4 * os] = 2.0f * (d1 - d3) + (d4 - d2);                                             \
        o[oi + 5 * os] = 4.0f * d1 - 5.0f * d3 + d5;                                               \
    } while (0)
// 1-D output transform o = Aᵀ m.
#define WINO_AT(o, oi, os, m, mi, ms) do {                                                        \
        const float16 a = m[mi + ms] + m[mi + 2 * ms], b = m[mi + ms] - m[mi + 2 * ms];            \
        const float16 c = m[mi + 3 * ms] + m[mi + 4 * ms], e = m[mi + 3 * ms] - m[mi + 4 * ms];    \
        o[oi] = m[mi] + a + c;                                                                     \
        o[oi + os] = b + 2.0f * e;                                                                 \
        o[oi + 2 * os] = a + 4.0f * c;                                                             \
        o[oi + 3 * os] = b + 8.0f * e + m[mi + 5 * ms];                                            \
    } while (0)
#else
#define WINO_BT(o, oi, os, d, di, ds) do {                                                        \
        const float16 d0 = d[di], d1 = d[di + ds], d2 = d[di + 2 * ds], d3 = d[di + 3 * ds];       \
        o[oi] = d0 - d2;                                                                           \
        o[oi + os] = d1 + d2;                                                                      \
        o[oi + 2 * os] = d2 - d1;                                                                  \
        o[oi + 3 * os] = d1 - d3;                                                                  \
    } while (0)
#define WINO_AT(o, oi, os, m, mi, ms) do {                                                        \
        o[oi] = m[mi] + m[mi + ms] + m[mi + 2 * ms];                                               \
        o[oi + os] = m[mi + ms] - m[mi + 2 * ms] - m[mi + 3 * ms];                                 \
    } while (0)
#endif

// The 2-D transforms of one tile, every lane independent (float16 arrays): o[XI] = Bᵀ d B from
// d[XI] and o[WINO_M²] = Aᵀ m A from m[XI], columns then rows.
#define WINO_INPUT_TRANSFORM(o, d) do {                                                           \
        float16 t_[XI];                                                                            \
        _Pragma("unroll")                                                                          \
        for (int j_ = 0; j_ < WINO_A; ++j_) WINO_BT(t_, j_, WINO_A, d, j_, WINO_A);                \
        _Pragma("unroll")                                                                          \
        for (int i_ = 0; i_ < WINO_A; ++i_) WINO_BT(o, i_ * WINO_A, 1, t_, i_ * WINO_A, 1);        \
    } while (0)
#define WINO_OUTPUT_TRANSFORM(o, m) do {                                                          \
        float16 t_[WINO_M * WINO_A];                                                               \
        _Pragma("unroll")                                                                          \
        for (int j_ = 0; j_ < WINO_A; ++j_) WINO_AT(t_, j_, WINO_A, m, j_, WINO_A);                \
        _Pragma("unroll")                                                                          \
        for (int i_ = 0; i_ < WINO_M; ++i_) WINO_AT(o, i_ * WINO_M, 1, t_, i_ * WINO_A, 1);        \
    } while (0)

// act16 (common.cl): act() for TB tiles at once.
// meta: C, H, W, Cout, OH, OW, ph, pw, tilesW, tilesPerImage.
// Each work-item transforms one panel of TB tiles of one channel, the tiles in the lanes of
// float16 vectors (gathered per tile, transformed and stored as vectors); tiles past `total` get
// zeros. Global: [chunk/TB, C].
__kernel void winograd_input(__global const float* X, __global float* V, __constant const int* m, int t0, int chunk, int total) {
    const int C = m[0], H = m[1], W = m[2], ph = m[6], pw = m[7], tilesW = m[8], perImage = m[9];
    const int p = get_global_id(0), c = get_global_id(1), panels = chunk / TB;
    if (p >= panels || c >= C) return;
    float16 d[XI];
    float* ds = (float*)d;
    for (int q = 0; q < TB; ++q) {
        const int tg = t0 + p * TB + q;
        if (tg >= total) {
            for (int x = 0; x < XI; ++x) ds[x * TB + q] = 0.0f;
            continue;
        }
        const int n = tg / perImage, r = tg - n * perImage, th = r / tilesW, tw = r - th * tilesW;
        const int ih0 = th * WINO_M - ph, iw0 = tw * WINO_M - pw;
        __global const float* xc = X + (n * C + c) * H * W;
        if (ih0 >= 0 && iw0 >= 0 && ih0 + WINO_A <= H && iw0 + WINO_A <= W) {
            __global const float* xr = xc + ih0 * W + iw0;
            _Pragma("unroll")
            for (int i = 0; i < WINO_A; ++i, xr += W) {
                _Pragma("unroll")
                for (int j = 0; j < WINO_A; ++j) ds[(i * WINO_A + j) * TB + q] = xr[j];
            }
        } else {
            for (int i = 0; i < WINO_A; ++i) {
                const int ih = ih0 + i;
                for (int j = 0; j < WINO_A; ++j) {
                    const int iw = iw0 + j;
                    ds[(i * WINO_A + j) * TB + q] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xc[ih * W + iw] : 0.0f;
                }
            }
        }
    }
    float16 o[XI];
    WINO_INPUT_TRANSFORM(o, d);
    __global float16* v = (__global float16*)(V + (p * C + c) * TB);
    _Pragma("unroll")
    for (int x = 0; x < XI; ++x) v[x * panels * C] = o[x];
}

// M[ξ][k][t] = Σ_c U[ξ][k][c] · V[ξ][c][t] over c in order: each work-item a GEMM_R channels ×
// GEMM_V·TB tiles block (GEMM_V consecutive panels) in GEMM_R·GEMM_V float16 accumulators (per c:
// GEMM_V float16 loads of V, GEMM_R broadcasts of U). The chunk holds a multiple of GEMM_V panels.
// Global: [ceil(Cout/GEMM_R), chunk/(TB·GEMM_V), XI].
#ifndef GEMM_V
#define GEMM_V 1
#endif
__kernel void winograd_gemm(__global const float* U, __global const float* V, __global float* M, int C, int Cout, int chunk) {
    const int kb = get_global_id(0), tb = get_global_id(1), x = get_global_id(2);
    const int kBlocks = (Cout + GEMM_R - 1) / GEMM_R, panels = chunk / TB;
    if (kb >= kBlocks || tb * GEMM_V >= panels || x >= XI) return;
    __global const float* u = U + (x * kBlocks + kb) * C * GEMM_R;
    __global const float16* v = (__global const float16*)(V + (x * panels + tb * GEMM_V) * C * TB);
    float16 acc[GEMM_R][GEMM_V];
    _Pragma("unroll")
    for (int r = 0; r < GEMM_R; ++r) {
        _Pragma("unroll")
        for (int j = 0; j < GEMM_V; ++j) acc[r][j] = (float16)(0.0f);
    }
    for (int c = 0; c < C; ++c, u += GEMM_R) {
        float16 vv[GEMM_V];
        _Pragma("unroll")
        for (int j = 0; j < GEMM_V; ++j) vv[j] = v[j * C + c];
        _Pragma("unroll")
        for (int r = 0; r < GEMM_R; ++r) {
            const float ur = u[r];
            _Pragma("unroll")
            for (int j = 0; j < GEMM_V; ++j) acc[r][j] += ur * vv[j];
        }
    }
    const int k0 = kb * GEMM_R;
    __global float16* out = (__global float16*)(M + (x * Cout + k0) * chunk + tb * GEMM_V * TB);
    _Pragma("unroll")
    for (int r = 0; r < GEMM_R; ++r)
        if (k0 + r < Cout) {
            _Pragma("unroll")
            for (int j = 0; j < GEMM_V; ++j) out[r * panels + j] = acc[r][j];
        }
}

// Y tiles = act(Aᵀ M A + bias) for one panel of TB tiles of output channel k (tiles in the
// lanes of float16 vectors), clipped to OH × OW. Global: [chunk/TB, Cout].
__kernel void winograd_output(__global const float* M, __global const float* Bias, __global float* Y, __constant const int* m,
                              int t0, int chunk, int total, int hasBias) {
    const int Cout = m[3], OH = m[4], OW = m[5], tilesW = m[8], perImage = m[9];
    const int p = get_global_id(0), k = get_global_id(1), panels = chunk / TB;
    if (p >= panels || k >= Cout) return;
    __global const float16* mp = (__global const float16*)(M + k * chunk + p * TB);
    float16 mv[XI], o[WINO_M * WINO_M];
    _Pragma("unroll")
    for (int x = 0; x < XI; ++x) mv[x] = mp[x * Cout * panels];
    WINO_OUTPUT_TRANSFORM(o, mv);
    const float b = hasBias ? Bias[k] : 0.0f;
    _Pragma("unroll")
    for (int x = 0; x < WINO_M * WINO_M; ++x) o[x] = act16(o[x] + b);
    const float* os = (const float*)o;
    for (int q = 0; q < TB; ++q) {
        const int tg = t0 + p * TB + q;
        if (tg >= total) break;
        const int n = tg / perImage, r = tg - n * perImage, th = r / tilesW, tw = r - th * tilesW;
        const int oh0 = th * WINO_M, ow0 = tw * WINO_M;
        __global float* y = Y + ((n * Cout + k) * OH + oh0) * OW + ow0;
        if (oh0 + WINO_M <= OH && ow0 + WINO_M <= OW) {
            _Pragma("unroll")
            for (int i = 0; i < WINO_M; ++i) {
                _Pragma("unroll")
                for (int j = 0; j < WINO_M; ++j) y[i * OW + j] = os[(i * WINO_M + j) * TB + q];
            }
        } else {
            for (int i = 0; i < WINO_M && oh0 + i < OH; ++i)
                for (int j = 0; j < WINO_M && ow0 + j < OW; ++j) y[i * OW + j] = os[(i * WINO_M + j) * TB + q];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Channel-blocked Winograd (BlockedConv, Passes/BlockedLayout.swift): the same F(WINO_M×WINO_M,
// 3×3) with channels in the float16 lanes instead of tiles, so the transforms load and store one
// float16 per pixel and transform point (no gathers) and the GEMM is vectorized over 16 output
// channels like conv2d_blocked. CP = 16·ceil(C/16), KP = 16·ceil(Cout/16):
//   winograd_input_c16:  V[ξ][t][CP] = Bᵀ d B for tile t of the chunk and 16 input channels
//   winograd_gemm_c16:   M[ξ][t][KP] = Σ_c V[ξ][t][c] · U[ξ][c][k], c < C in order, WINO_PX
//                        tiles × WINO_KB·16 output channels per register block (U packed
//                        [ξ][KP/16][C][16])
//   winograd_output_c16: Y = act(Aᵀ M A + bias (+ residual)), lanes past Cout stored as 0
// -DIN_C16: X is [N][CP/16][H][W][16] (else NCHW); -DOUT_C16: Y is [N][KP/16][OH][OW][16] (else
// NCHW); -DRESIDUAL adds R shaped like Y's NCHW form, blocked with -DRES_C16. meta as above.
// The sums are those of the NCHW Winograd kernels in the same order.
#ifndef WINO_PX
#define WINO_PX 12
#endif

// Global: [chunk, CP/16]. Tiles past `total` (the last chunk's tail) get zeros.
__kernel void winograd_input_c16(__global const float* X, __global float* V, __constant const int* m, int t0, int chunk, int total) {
    const int C = m[0], H = m[1], W = m[2], ph = m[6], pw = m[7], tilesW = m[8], perImage = m[9];
    const int CB = (C + 15) / 16;
    const int t = get_global_id(0), cb = get_global_id(1);
    if (t >= chunk || cb >= CB) return;
    __global float16* v = (__global float16*)(V + (t * CB + cb) * 16);
    const int stride = chunk * CB;  // float16s from one transform point to the next
    const int tg = t0 + t;
    if (tg >= total) {
        _Pragma("unroll")
        for (int x = 0; x < XI; ++x) v[x * stride] = (float16)(0.0f);
        return;
    }
    const int n = tg / perImage, r = tg - n * perImage, th = r / tilesW, tw = r - th * tilesW;
    const int ih0 = th * WINO_M - ph, iw0 = tw * WINO_M - pw;
    const bool inside = ih0 >= 0 && iw0 >= 0 && ih0 + WINO_A <= H && iw0 + WINO_A <= W;
    float16 d[XI];
#ifdef IN_C16
    __global const float16* xc = (__global const float16*)(X + (n * CB + cb) * H * W * 16);
    if (inside) {
        _Pragma("unroll")
        for (int i = 0; i < WINO_A; ++i) {
            _Pragma("unroll")
            for (int j = 0; j < WINO_A; ++j) d[i * WINO_A + j] = xc[(ih0 + i) * W + iw0 + j];
        }
    } else {
        for (int i = 0; i < WINO_A; ++i) {
            const int ih = ih0 + i;
            for (int j = 0; j < WINO_A; ++j) {
                const int iw = iw0 + j;
                d[i * WINO_A + j] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xc[ih * W + iw] : (float16)(0.0f);
            }
        }
    }
#else
    // NCHW: channel cb·16 + l of the tile in lane l; lanes past C read 0.
    const int lanes = min(16, C - cb * 16);
    __global const float* xc = X + (n * C + cb * 16) * H * W;
    float* ds = (float*)d;
    for (int l = 0; l < 16; ++l, xc += H * W) {
        for (int i = 0; i < WINO_A; ++i) {
            const int ih = ih0 + i;
            for (int j = 0; j < WINO_A; ++j) {
                const int iw = iw0 + j;
                ds[(i * WINO_A + j) * 16 + l] = (l < lanes && ih >= 0 && ih < H && iw >= 0 && iw < W) ? xc[ih * W + iw] : 0.0f;
            }
        }
    }
#endif
    float16 o[XI];
    WINO_INPUT_TRANSFORM(o, d);
    _Pragma("unroll")
    for (int x = 0; x < XI; ++x) v[x * stride] = o[x];
}

// Global: [groups, ceil(KB / WINO_KB), XI] (KB = KP/16); the chunk is a multiple of WINO_PX. A
// work-item computes WINO_KB blocks of 16 output channels of one transform point for the tile
// blocks g, g + groups, … of WINO_PX tiles each, so its U panel (WINO_KB·16·C floats) is read from
// memory once and then from cache for every tile block, while consecutive work-items share the
// chunk's V[ξ]. Per input channel: WINO_KB float16 loads of U and WINO_PX broadcasts of V into
// WINO_KB·WINO_PX float16 accumulators. Blocks past KB (when WINO_KB does not divide it) reread
// the last block and are not stored.
#ifndef WINO_KB
#define WINO_KB 1
#endif
__kernel void winograd_gemm_c16(__global const float* U, __global const float* V, __global float* M, int C, int Cout, int chunk, int groups) {
    const int g = get_global_id(0), kg = get_global_id(1), x = get_global_id(2);
    const int KB = (Cout + 15) / 16, CP = (C + 15) / 16 * 16, kb0 = kg * WINO_KB, blocks = chunk / WINO_PX;
    if (g >= groups || kb0 >= KB || x >= XI) return;
    __global const float16* u[WINO_KB];
    _Pragma("unroll")
    for (int k = 0; k < WINO_KB; ++k) u[k] = (__global const float16*)(U + (x * KB + min(kb0 + k, KB - 1)) * C * 16);
    for (int tb = g; tb < blocks; tb += groups) {
        __global const float* v = V + (x * chunk + tb * WINO_PX) * CP;
        float16 acc[WINO_KB][WINO_PX];
        _Pragma("unroll")
        for (int k = 0; k < WINO_KB; ++k) {
            _Pragma("unroll")
            for (int q = 0; q < WINO_PX; ++q) acc[k][q] = (float16)(0.0f);
        }
        for (int c = 0; c < C; ++c) {
            float16 uc[WINO_KB];
            _Pragma("unroll")
            for (int k = 0; k < WINO_KB; ++k) uc[k] = u[k][c];
            _Pragma("unroll")
            for (int q = 0; q < WINO_PX; ++q) {
                const float vq = v[q * CP + c];
                _Pragma("unroll")
                for (int k = 0; k < WINO_KB; ++k) acc[k][q] += vq * uc[k];
            }
        }
        __global float16* out = (__global float16*)(M + (x * chunk + tb * WINO_PX) * KB * 16) + kb0;
        _Pragma("unroll")
        for (int k = 0; k < WINO_KB; ++k) {
            if (kb0 + k < KB) {
                _Pragma("unroll")
                for (int q = 0; q < WINO_PX; ++q) out[q * KB + k] = acc[k][q];
            }
        }
    }
}

// Global: [chunk, KP/16]: output tile t of the chunk for 16 output channels, clipped to OH × OW.
__kernel void winograd_output_c16(__global const float* M, __global const float* Bias, __global const float* R, __global float* Y,
                                  __constant const int* m, int t0, int chunk, int total, int hasBias) {
    const int Cout = m[3], OH = m[4], OW = m[5], tilesW = m[8], perImage = m[9];
    const int KB = (Cout + 15) / 16;
    const int t = get_global_id(0), kb = get_global_id(1), tg = t0 + t;
    if (t >= chunk || kb >= KB || tg >= total) return;
    __global const float16* mp = (__global const float16*)(M + (t * KB + kb) * 16);
    const int stride = chunk * KB;
    float16 mv[XI], o[WINO_M * WINO_M];
    _Pragma("unroll")
    for (int x = 0; x < XI; ++x) mv[x] = mp[x * stride];
    WINO_OUTPUT_TRANSFORM(o, mv);
    const int co0 = kb * 16, valid = min(Cout - co0, 16);
    const float16 bv = hasBias ? load16_channels(Bias + co0, 1, valid) : (float16)(0.0f);
    const int16 keep = lanes_below(valid);
    const int n = tg / perImage, r = tg - n * perImage, th = r / tilesW, tw = r - th * tilesW;
    const int oh0 = th * WINO_M, ow0 = tw * WINO_M;
    for (int i = 0; i < WINO_M && oh0 + i < OH; ++i) {
        for (int j = 0; j < WINO_M && ow0 + j < OW; ++j) {
            const int oh = oh0 + i, ow = ow0 + j;
            float16 val = o[i * WINO_M + j] + bv;
#ifdef RESIDUAL
#ifdef RES_C16
            val += vload16(((n * KB + kb) * OH + oh) * OW + ow, R);
#else
            val += load16_channels(R + ((n * Cout + co0) * OH + oh) * OW + ow, OH * OW, valid);
#endif
#endif
            val = select((float16)(0.0f), act16(val), keep);
#ifdef OUT_C16
            vstore16(val, ((n * KB + kb) * OH + oh) * OW + ow, Y);
#else
            const float* vs = (const float*)&val;
            for (int l = 0; l < valid; ++l) Y[((n * Cout + co0 + l) * OH + oh) * OW + ow] = vs[l];
#endif
        }
    }
}
