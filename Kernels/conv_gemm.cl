// GPU-style GEMM and convolution with work-group tiles in local memory (the GPU kernel family).
//
// A work-group of (TSN/WPTN) × (TSM/WPTM) work-items computes a TSM × TSN tile of the output.
// For every TSK-deep slice of the reduction it copies a TSM × TSK tile of A and a TSK × TSN tile
// of B from global into local memory (every work-item loads a few elements; neighbouring
// work-items load neighbouring addresses), then each work-item multiplies WPTM × WPTN outputs
// from local memory. Global memory is read (1/TSN + 1/TSM) times per multiply-add instead of
// twice. Work-item (tx, ty) owns rows ty + i·(TSM/WPTM) and columns tx + j·(TSN/WPTN), so the
// work-group's loads from local memory and its stores to global memory are contiguous in tx.
// Every output sums k in increasing order (the reference's order); elements outside the matrix
// load as 0 (0·0 added to a sum leaves it unchanged) and are not stored. All tile sizes are -D
// tunables (LocalGemmTile: defaults, the tuning database, GPUINFER_LOCAL_TILE). The staged tiles
// have one padding column: work-items that store a tile along k (a row of A, or of B^T) then hit
// TSK different local-memory banks instead of one.

#ifndef TSM
#define TSM 64
#endif
#ifndef TSN
#define TSN 64
#endif
#ifndef TSK
#define TSK 16
#endif
#ifndef WPTM
#define WPTM 4
#endif
#ifndef WPTN
#define WPTN 4
#endif
#define RTSM (TSM / WPTM)
#define RTSN (TSN / WPTN)
#define WGS (RTSM * RTSN)

// The staged tiles (one padding column each) and the WPTM × WPTN accumulators, zeroed.
#define TILE_STATE(As, Bs, acc)                                             \
    __local float As[TSK][TSM + 1];                                         \
    __local float Bs[TSK][TSN + 1];                                         \
    float acc[WPTM][WPTN];                                                  \
    _Pragma("unroll")                                                       \
    for (int i = 0; i < WPTM; ++i)                                          \
        _Pragma("unroll")                                                   \
        for (int j = 0; j < WPTN; ++j) acc[i][j] = 0.0f;

// The multiply of one staged slice: acc[i][j] += As[k][row i] · Bs[k][column j] for k in order.
#define TILE_MULTIPLY(As, Bs, acc, tx, ty)                                  \
    for (int k = 0; k < TSK; ++k) {                                         \
        float av[WPTM], bv[WPTN];                                           \
        _Pragma("unroll")                                                   \
        for (int i = 0; i < WPTM; ++i) av[i] = As[k][ty + i * RTSM];        \
        _Pragma("unroll")                                                   \
        for (int j = 0; j < WPTN; ++j) bv[j] = Bs[k][tx + j * RTSN];        \
        _Pragma("unroll")                                                   \
        for (int i = 0; i < WPTM; ++i)                                      \
            _Pragma("unroll")                                               \
            for (int j = 0; j < WPTN; ++j) acc[i][j] += av[i] * bv[j];      \
    }

// Batched strided GEMM, the arguments of gemm_tile (gemm.cl) with the sizes and strides of its meta
// by value (sizes: M, N, K, as_m, as_k, bs_k, bs_n, cs_m, cs_n, rank; meta keeps the batch dims and
// strides at its offset 10): Y[b] = alpha·A[b]·B[b] + beta·C[b], act() at the store. A_KMAJOR: A is contiguous along K (as_k = 1), so a tile row is
// loaded along k; else along m. B_NMAJOR: B contiguous along N (bs_n = 1); else along k.
// Global: [ceil(N/TSN)·RTSN, ceil(M/TSM)·RTSM, batches], local [RTSN, RTSM, 1].
__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))
void gemm_local(__global const float* A, __global const float* B, __global const float* C,
                __global float* Y, __constant const int* meta, float alpha, float beta,
                int hasC, int batches, int16 sizes) {
    const int M = sizes.s0, N = sizes.s1, K = sizes.s2;
    const int asm_ = sizes.s3, ask = sizes.s4, bsk = sizes.s5, bsn = sizes.s6, csm = sizes.s7, csn = sizes.s8;
    const int rank = sizes.s9;
    __constant const int* dims = meta + 10;
    const int tx = get_local_id(0), ty = get_local_id(1), tid = ty * RTSN + tx;
    const int n0 = get_group_id(0) * TSN, m0 = get_group_id(1) * TSM, b = get_global_id(2);
    // (b < batches always: dimension 2 is launched exactly.)
    __global const float* a = A + (rank ? strided_offset(b, rank, dims, dims + rank) : 0);
    __global const float* bp = B + (rank ? strided_offset(b, rank, dims, dims + 2 * rank) : 0);

    TILE_STATE(As, Bs, acc)

    for (int k0 = 0; k0 < K; k0 += TSK) {
        for (int e = tid; e < TSM * TSK; e += WGS) {
#ifdef A_KMAJOR
            const int mm = e / TSK, kk = e - mm * TSK;
#else
            const int kk = e / TSM, mm = e - kk * TSM;
#endif
            const int m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < M && k < K) ? a[m * asm_ + k * ask] : 0.0f;
        }
        for (int e = tid; e < TSK * TSN; e += WGS) {
#ifdef B_NMAJOR
            const int kk = e / TSN, nn = e - kk * TSN;
#else
            const int nn = e / TSK, kk = e - nn * TSK;
#endif
            const int n = n0 + nn, k = k0 + kk;
            Bs[kk][nn] = (n < N && k < K) ? bp[k * bsk + n * bsn] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_MULTIPLY(As, Bs, acc, tx, ty)
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    __global const float* c = hasC && rank ? C + strided_offset(b, rank, dims, dims + 3 * rank) : C;
    __global float* y = Y + (long)b * M * N;
    _Pragma("unroll")
    for (int i = 0; i < WPTM; ++i) {
        const int m = m0 + ty + i * RTSM;
        if (m >= M) break;
        _Pragma("unroll")
        for (int j = 0; j < WPTN; ++j) {
            const int n = n0 + tx + j * RTSN;
            if (n >= N) break;
            float v = alpha * acc[i][j];
            if (hasC) v += beta * c[m * csm + n * csn];
            y[m * N + n] = act(v);
        }
    }
}

// Convolution as an implicit GEMM per (batch n, group g): Y[m, p] = Σ_k W[m, k] · X̂[k, p] with
// m an output channel of the group, p = oh·OW + ow an output pixel and k = (c·KH + kh)·KW + kw,
// X̂[k, p] = X[c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] (0 in the padding), gathered into local
// memory as it is needed — no im2col buffer. POINTWISE (1×1, stride 1, no pads) reads X̂ = X
// directly. At the store: + bias, + the fused residual R (shaped like Y, hasR), then act().
// geo (by value, no memory read): C, H, W, Cout, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, Cg, Mg.
// Global: [ceil(OH·OW/TSN)·RTSN, G·ceil(Mg/TSM)·RTSM, N], local [RTSN, RTSM, 1].
__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))
void conv2d_gemm(__global const float* X, __global const float* Wt, __global const float* Bias,
                 __global const float* R, __global float* Y, int16 geo,
                 int hasBias, int hasR, int batch) {
    const int C = geo.s0, H = geo.s1, W = geo.s2, Cout = geo.s3, OH = geo.s4, OW = geo.s5;
    const int KH = geo.s6, KW = geo.s7, sh = geo.s8, sw = geo.s9, dh = geo.sa, dw = geo.sb;
    const int ph = geo.sc, pw = geo.sd, Cg = geo.se, Mg = geo.sf;
    const int P = OH * OW, KHW = KH * KW, K = Cg * KHW;
    const int mBlocks = (Mg + TSM - 1) / TSM;
    const int tx = get_local_id(0), ty = get_local_id(1), tid = ty * RTSN + tx;
    const int p0 = get_group_id(0) * TSN, gb = get_group_id(1), n = get_global_id(2);
    const int g = gb / mBlocks, m0 = (gb - g * mBlocks) * TSM;
    // (n < batch always: dimension 2 is launched exactly.)
    __global const float* x = X + (n * C + g * Cg) * H * W;
    __global const float* w = Wt + g * Mg * K;

    TILE_STATE(As, Bs, acc)

    for (int k0 = 0; k0 < K; k0 += TSK) {
        for (int e = tid; e < TSM * TSK; e += WGS) {
            const int mm = e / TSK, kk = e - mm * TSK;
            const int m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < Mg && k < K) ? w[m * K + k] : 0.0f;
        }
        for (int e = tid; e < TSK * TSN; e += WGS) {
            const int kk = e / TSN, pp = e - kk * TSN;
            const int p = p0 + pp, k = k0 + kk;
            float v = 0.0f;
            if (p < P && k < K) {
#ifdef POINTWISE
                v = x[k * P + p];
#else
                const int c = k / KHW, r = k - c * KHW, kh = r / KW, kw = r - kh * KW;
                const int oh = p / OW, ow = p - oh * OW;
                const int ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = x[(c * H + ih) * W + iw];
#endif
            }
            Bs[kk][pp] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        TILE_MULTIPLY(As, Bs, acc, tx, ty)
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    _Pragma("unroll")
    for (int i = 0; i < WPTM; ++i) {
        const int m = m0 + ty + i * RTSM;
        if (m >= Mg) break;
        const int oc = g * Mg + m;
        const float bias = hasBias ? Bias[oc] : 0.0f;
        const int row = (n * Cout + oc) * P;
        _Pragma("unroll")
        for (int j = 0; j < WPTN; ++j) {
            const int p = p0 + tx + j * RTSN;
            if (p >= P) break;
            float v = acc[i][j] + bias;
            if (hasR) v += R[row + p];
            Y[row + p] = act(v);
        }
    }
}
