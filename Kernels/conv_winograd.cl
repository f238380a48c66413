// Winograd convolution F(WINO_M×WINO_M, 3×3) for 2-D 3×3 stride-1 convolutions (group 1) on
// CPU-style devices (Lavin & Gray 2016): Y = Aᵀ [Σ_c (G g G ᵀ) ⊙ (Bᵀ d B)] A per output tile of
// WINO_M×WINO_M pixels, from the (WINO_M+2)² input tile d at the tile's top-left corner (so it is
// ONNX's cross-correlation; pads and tails read zeros). Three kernels per chunk of tiles:
//   winograd_input:  d → V = Bᵀ d B, stored as [XI][tiles/TB][C][TB] (TB-wide tile panels)
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

// 1-D input transform o = Bᵀ d (stride s in d, os in o).
inline void wino_bt(const float* d, int s, float* o, int os) {
#if WINO_M == 4
    o[0] = 4.0f * d[0] - 5.0f * d[2 * s] + d[4 * s];
    o[os] = -4.0f * (d[s] + d[2 * s]) + (d[3 * s] + d[4 * s]);
    o[2 * os] = 4.0f * (d[s] - d[2 * s]) + (d[4 * s] - d[3 * s]);
    o[3 * os] = 2.0f * (d[3 * s] - d[s]) + (d[4 * s] - d[2 * s]);
    o[4 * os] = 2.0f * (d[s] - d[3 * s]) + (d[4 * s] - d[2 * s]);
    o[5 * os] = 4.0f * d[s] - 5.0f * d[3 * s] + d[5 * s];
#else
    o[0] = d[0] - d[2 * s];
    o[os] = d[s] + d[2 * s];
    o[2 * os] = d[2 * s] - d[s];
    o[3 * os] = d[s] - d[3 * s];
#endif
}

// 1-D output transform o = Aᵀ m (stride s in m, os in o).
inline void wino_at(const float* m, int s, float* o, int os) {
#if WINO_M == 4
    const float a = m[s] + m[2 * s], b = m[s] - m[2 * s], c = m[3 * s] + m[4 * s], e = m[3 * s] - m[4 * s];
    o[0] = m[0] + a + c;
    o[os] = b + 2.0f * e;
    o[2 * os] = a + 4.0f * c;
    o[3 * os] = b + 8.0f * e + m[5 * s];
#else
    o[0] = m[0] + m[s] + m[2 * s];
    o[os] = m[s] - m[2 * s] - m[3 * s];
#endif
}

// meta: C, H, W, Cout, OH, OW, ph, pw, tilesW, tilesPerImage.
// Global: [chunk (a multiple of TB), C]; tiles past `total` get zeros.
__kernel void winograd_input(__global const float* X, __global float* V, __constant const int* m, int t0, int chunk, int total) {
    const int C = m[0], H = m[1], W = m[2], ph = m[6], pw = m[7], tilesW = m[8], perImage = m[9];
    const int t = get_global_id(0), c = get_global_id(1);
    if (t >= chunk || c >= C) return;
    float d[XI], o[XI], tmp[XI];
    const int tg = t0 + t;
    if (tg < total) {
        const int n = tg / perImage, r = tg - n * perImage, th = r / tilesW, tw = r - th * tilesW;
        const int ih0 = th * WINO_M - ph, iw0 = tw * WINO_M - pw;
        __global const float* xc = X + (n * C + c) * H * W;
        if (ih0 >= 0 && iw0 >= 0 && ih0 + WINO_A <= H && iw0 + WINO_A <= W) {
            for (int i = 0; i < WINO_A; ++i)
                for (int j = 0; j < WINO_A; ++j) d[i * WINO_A + j] = xc[(ih0 + i) * W + iw0 + j];
        } else {
            for (int i = 0; i < WINO_A; ++i) {
                const int ih = ih0 + i;
                for (int j = 0; j < WINO_A; ++j) {
                    const int iw = iw0 + j;
                    d[i * WINO_A + j] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xc[ih * W + iw] : 0.0f;
                }
            }
        }
        // Columns then rows: tmp = Bᵀ d, o = tmp B.
        for (int j = 0; j < WINO_A; ++j) wino_bt(d + j, WINO_A, tmp + j, WINO_A);
        for (int i = 0; i < WINO_A; ++i) wino_bt(tmp + i * WINO_A, 1, o + i * WINO_A, 1);
    } else {
        for (int x = 0; x < XI; ++x) o[x] = 0.0f;
    }
    const int panels = chunk / TB;
    __global float* v = V + ((t / TB) * C + c) * TB + t % TB;
    for (int x = 0; x < XI; ++x) v[x * panels * C * TB] = o[x];
}

// M[ξ][k][t] = Σ_c U[ξ][k][c] · V[ξ][c][t] over c in order: each work-item a GEMM_R channels ×
// TB tiles block in GEMM_R float16 accumulators (per c: one float16 load of V, GEMM_R broadcasts
// of U). Global: [ceil(Cout/GEMM_R), chunk/TB, XI].
__kernel void winograd_gemm(__global const float* U, __global const float* V, __global float* M, int C, int Cout, int chunk) {
    const int kb = get_global_id(0), tb = get_global_id(1), x = get_global_id(2);
    const int kBlocks = (Cout + GEMM_R - 1) / GEMM_R, panels = chunk / TB;
    if (kb >= kBlocks || tb >= panels || x >= XI) return;
    __global const float* u = U + (x * kBlocks + kb) * C * GEMM_R;
    __global const float16* v = (__global const float16*)(V + (x * panels + tb) * C * TB);
    float16 acc[GEMM_R];
    _Pragma("unroll")
    for (int r = 0; r < GEMM_R; ++r) acc[r] = (float16)(0.0f);
    for (int c = 0; c < C; ++c, u += GEMM_R) {
        const float16 vv = v[c];
        _Pragma("unroll")
        for (int r = 0; r < GEMM_R; ++r) acc[r] += u[r] * vv;
    }
    const int k0 = kb * GEMM_R;
    __global float16* out = (__global float16*)(M + (x * Cout + k0) * chunk + tb * TB);
    _Pragma("unroll")
    for (int r = 0; r < GEMM_R; ++r)
        if (k0 + r < Cout) out[r * (chunk / TB)] = acc[r];
}

// Y tile = act(Aᵀ M A + bias) for tiles [t0, t0 + chunk) of output channel k, clipped to OH × OW.
// Global: [chunk, Cout].
__kernel void winograd_output(__global const float* M, __global const float* Bias, __global float* Y, __constant const int* m,
                              int t0, int chunk, int total, int hasBias) {
    const int Cout = m[3], OH = m[4], OW = m[5], tilesW = m[8], perImage = m[9];
    const int t = get_global_id(0), k = get_global_id(1);
    const int tg = t0 + t;
    if (t >= chunk || tg >= total || k >= Cout) return;
    float mv[XI], tmp[WINO_M * WINO_A], o[WINO_M * WINO_M];
    __global const float* mp = M + k * chunk + t;
    for (int x = 0; x < XI; ++x) mv[x] = mp[x * Cout * chunk];
    // tmp = Aᵀ mv (WINO_M × WINO_A), o = tmp A (WINO_M × WINO_M).
    for (int j = 0; j < WINO_A; ++j) wino_at(mv + j, WINO_A, tmp + j, WINO_A);
    for (int i = 0; i < WINO_M; ++i) wino_at(tmp + i * WINO_A, 1, o + i * WINO_M, 1);
    const float b = hasBias ? Bias[k] : 0.0f;
    const int n = tg / perImage, r = tg - n * perImage, th = r / tilesW, tw = r - th * tilesW;
    const int oh0 = th * WINO_M, ow0 = tw * WINO_M;
    __global float* y = Y + ((n * Cout + k) * OH + oh0) * OW + ow0;
    for (int i = 0; i < WINO_M && oh0 + i < OH; ++i)
        for (int j = 0; j < WINO_M && ow0 + j < OW; ++j) y[i * OW + j] = act(o[i * WINO_M + j] + b);
}
