// Pooling over NCHW planes (1-D runs as H = 1): MaxPool (+ Indices), AveragePool, global pools.
// One work-item per output element. meta: H, W, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, phEnd, pwEnd.

// The taps k in [0, K) of a window starting at s with dilation d (≥ 1) that land in [lo, hi): a
// range computed once (in long: pads near 2^31 stay exact), so a window far wider than the input
// (a kernel of 2^31 - 1 under SAME padding) costs what its taps inside cost, not K iterations.
inline int2 pool_taps(int s, int d, int K, int lo, int hi) {
    const long a = (long)lo - s, b = (long)hi - s;
    long k0 = a <= 0 ? 0 : (a + d - 1) / d;
    long k1 = b <= 0 ? 0 : (b + d - 1) / d;
    k0 = min(k0, (long)K);
    k1 = min(max(k1, k0), (long)K);
    return (int2)((int)k0, (int)k1);
}

// Max over the window, skipping padding; NaN propagates (the first NaN wins). Indices are flat
// over the input, in row-major (storageOrder 0) or column-major (1) order within each plane.
// Stamped for float and for long (integer and bool tensors).
#define NEVER_NAN(v) 0
#define MAX_POOL2D(NAME, T, LOWEST, ISNAN)                                                          \
__kernel void NAME(__global const T* X, __global T* Y, __global long* I, __constant const int* m,   \
                   int count, int wantIndices, int storageOrder) {                                  \
    const int i = get_global_id(0);                                                                 \
    if (i >= count) return;                                                                         \
    const int H = m[0], W = m[1], OH = m[2], OW = m[3], KH = m[4], KW = m[5];                       \
    const int ow = i % OW, t = i / OW, oh = t % OH, nc = t / OH;                                    \
    const int hs = oh * m[6] - m[10], ws = ow * m[7] - m[11];                                       \
    __global const T* x = X + nc * H * W;                                                           \
    T best = LOWEST;                                                                                \
    int at = -1;                                                                                    \
    const int2 rh = pool_taps(hs, m[8], KH, 0, H), rw = pool_taps(ws, m[9], KW, 0, W);             \
    for (int kh = rh.x; kh < rh.y; ++kh) {                                                          \
        const int ih = hs + kh * m[8];                                                              \
        for (int kw = rw.x; kw < rw.y; ++kw) {                                                      \
            const int iw = ws + kw * m[9];                                                          \
            const T v = x[ih * W + iw];                                                             \
            if (v > best || (ISNAN(v) && !ISNAN(best)) || at < 0) {                                 \
                best = v;                                                                           \
                at = ih * W + iw;                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    Y[i] = best;                                                                                    \
    if (wantIndices) {                                                                              \
        const int local_ = at < 0 ? 0 : (storageOrder ? (at % W) * H + at / W : at);               \
        I[i] = (long)nc * H * W + local_;                                                           \
    }                                                                                               \
}
MAX_POOL2D(max_pool2d, float, -INFINITY, isnan)
MAX_POOL2D(max_pool2d_long, long, LONG_MIN, NEVER_NAN)

// Mean over the window. includePad: the divisor counts window positions inside the padded input
// [-pad, size + padEnd) (the ceil_mode overhang is never counted); otherwise only input positions.
__kernel void avg_pool2d(__global const float* X, __global float* Y, __constant const int* m, int count, int includePad) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const int H = m[0], W = m[1], OH = m[2], OW = m[3], KH = m[4], KW = m[5];
    const int ow = i % OW, t = i / OW, oh = t % OH, nc = t / OH;
    const int hs = oh * m[6] - m[10], ws = ow * m[7] - m[11];
    __global const float* x = X + nc * H * W;
    float sum = 0.0f;
    const int2 rh = pool_taps(hs, m[8], KH, 0, H), rw = pool_taps(ws, m[9], KW, 0, W);
    const int2 ph = pool_taps(hs, m[8], KH, -m[10], H + m[12]), pw = pool_taps(ws, m[9], KW, -m[11], W + m[13]);
    for (int kh = rh.x; kh < rh.y; ++kh) {
        const int ih = hs + kh * m[8];
        for (int kw = rw.x; kw < rw.y; ++kw) sum += x[ih * W + ws + kw * m[9]];
    }
    const long taps = includePad ? (long)(ph.y - ph.x) * (pw.y - pw.x) : (long)(rh.y - rh.x) * (rw.y - rw.x);
    Y[i] = sum / (float)taps;
}

// Max or mean over each of `count` planes of `size` elements.
__kernel void global_pool(__global const float* X, __global float* Y, int count, int size, int isMax) {
    const int i = get_global_id(0);
    if (i >= count) return;
    __global const float* x = X + (long)i * size;
    float acc = isMax ? -INFINITY : 0.0f;
    for (int k = 0; k < size; ++k) {
        const float v = x[k];
        if (!isMax) acc += v;
        else if (!isnan(acc) && (v > acc || isnan(v))) acc = v;
    }
    Y[i] = isMax ? acc : acc / (float)size;
}

// CPU-style MaxPool (float, no Indices) / AveragePool for non-GPU devices, dilation 1: each
// work-item computes 8 consecutive output columns of one output row as a float8, with the window
// (PKH × PKW) and the column stride PSW compiled in so the taps unroll into vector loads (stride 1:
// vload8, stride 2: the even lanes of a vload16). Border tiles load lane by lane, with the
// padding as -INFINITY (max) or 0 (mean), which leaves the result unchanged. Same tap order,
// NaN rule and divisors as max_pool2d / avg_pool2d. meta as above. Global: [OH · ceil(OW/8), N·C].
#ifdef PSW
#if PSW == 1
#define POOL_LOAD8(p) vload8(0, p)
#define POOL_REACH 8
#elif PSW == 2
#define POOL_LOAD8(p) vload16(0, p).even
#define POOL_REACH 16
#else
#define POOL_LOAD8(p) (float8)((p)[0], (p)[PSW], (p)[2 * PSW], (p)[3 * PSW], (p)[4 * PSW], (p)[5 * PSW], (p)[6 * PSW], (p)[7 * PSW])
#define POOL_REACH (7 * PSW + 1)
#endif
#if IS_MAX
#define POOL_FILL (-INFINITY)
#define POOL_ADD(acc, v) select((acc), (v), ((v) > (acc)) | (isnan(v) & ~isnan(acc)))
#else
#define POOL_FILL 0.0f
#define POOL_ADD(acc, v) ((acc) + (v))
#endif

__kernel void pool2d_cpu(__global const float* X, __global float* Y, __constant const int* m, int planes, int includePad) {
    const int H = m[0], W = m[1], OH = m[2], OW = m[3], ph = m[10], pw = m[11], phEnd = m[12], pwEnd = m[13];
    const int owBlocks = (OW + 7) / 8;
    const int p = get_global_id(0), nc = get_global_id(1);
    if (p >= OH * owBlocks || nc >= planes) return;
    const int oh = p / owBlocks, ow0 = (p - oh * owBlocks) * 8;
    const int hs = oh * PSH - ph, ws = ow0 * PSW - pw;
    __global const float* x = X + nc * H * W;
    float8 acc = (float8)(POOL_FILL);
    const bool interior = ws >= 0 && ws + POOL_REACH + PKW - 1 <= W;
    int rows = 0, prows = 0;
#pragma unroll
    for (int kh = 0; kh < PKH; ++kh) {
        const int ih = hs + kh;
        prows += (ih >= -ph && ih < H + phEnd);
        if (ih < 0 || ih >= H) continue;
        ++rows;
        __global const float* xr = x + ih * W + ws;
        if (interior) {
#pragma unroll
            for (int kw = 0; kw < PKW; ++kw) acc = POOL_ADD(acc, POOL_LOAD8(xr + kw));
        } else {
#pragma unroll
            for (int kw = 0; kw < PKW; ++kw) {
                float t[8];
#pragma unroll
                for (int q = 0; q < 8; ++q) {
                    const int iw = ws + q * PSW + kw;
                    t[q] = (iw >= 0 && iw < W) ? xr[q * PSW + kw] : POOL_FILL;
                }
                acc = POOL_ADD(acc, vload8(0, t));
            }
        }
    }
#if !IS_MAX
    const int8 col = (int8)(ws) + (int8)(0, 1, 2, 3, 4, 5, 6, 7) * PSW;
    int8 cols = (int8)(0), pcols = (int8)(0);
#pragma unroll
    for (int kw = 0; kw < PKW; ++kw) {
        cols -= (col + kw >= 0) & (col + kw < W);
        pcols -= (col + kw >= -pw) & (col + kw < W + pwEnd);
    }
    acc = acc / convert_float8(includePad ? prows * pcols : rows * cols);
#endif
    __global float* y = Y + (nc * OH + oh) * OW + ow0;
    if (ow0 + 8 <= OW) {
        vstore8(acc, 0, y);
    } else {
        float o[8];
        vstore8(acc, 0, o);
        for (int q = 0; q < 8 && ow0 + q < OW; ++q) y[q] = o[q];
    }
}

// Channel-blocked pooling (BlockedPool, Passes/BlockedLayout.swift): X is [N][CB][H][W][16],
// Y [N][CB][OH][OW][16]; one float16 (16 channels) per output pixel, the taps, their order and the
// average's count as pool2d_cpu and the reference (max: first maximum, NaN propagates; average:
// taps inside the input, or with includePad inside the padded input). Window compiled in (PKH,
// PKW, PSH, PSW, PDH, PDW). Lanes of channels ≥ C (meta C) are stored as 0.
// meta: the window's (H, W, OH, OW, kernel, strides, dilations, pads begin, pads end), then C.
// Global: [OH·OW, CB, N].
#ifndef PDH
#define PDH 1
#endif
#ifndef PDW
#define PDW 1
#endif
__kernel void pool2d_c16(__global const float* X, __global float* Y, __constant const int* m, int includePad, int batch) {
    const int H = m[0], W = m[1], OH = m[2], OW = m[3], ph = m[10], pw = m[11], phEnd = m[12], pwEnd = m[13], C = m[14];
    const int CB = (C + 15) / 16;
    const int p = get_global_id(0), cb = get_global_id(1), n = get_global_id(2);
    if (p >= OH * OW || cb >= CB || n >= batch) return;
    const int oh = p / OW, ow = p - oh * OW;
    const int hs = oh * PSH - ph, ws = ow * PSW - pw;
    __global const float* x = X + (n * CB + cb) * H * W * 16;
    float16 acc = (float16)(POOL_FILL);
    int rows = 0, prows = 0, cols = 0, pcols = 0;
#pragma unroll
    for (int kw = 0; kw < PKW; ++kw) {
        const int iw = ws + kw * PDW;
        cols += iw >= 0 && iw < W;
        pcols += iw >= -pw && iw < W + pwEnd;
    }
#pragma unroll
    for (int kh = 0; kh < PKH; ++kh) {
        const int ih = hs + kh * PDH;
        prows += ih >= -ph && ih < H + phEnd;
        if (ih < 0 || ih >= H) continue;
        ++rows;
#pragma unroll
        for (int kw = 0; kw < PKW; ++kw) {
            const int iw = ws + kw * PDW;
            if (iw >= 0 && iw < W) acc = POOL_ADD(acc, vload16(ih * W + iw, x));
        }
    }
#if !IS_MAX
    acc = acc / (float)(includePad ? prows * pcols : rows * cols);
#endif
    const int16 keep = lanes_below(C - cb * 16);
    vstore16(select((float16)(0.0f), acc, keep), ((n * CB + cb) * OH + oh) * OW + ow, Y);
}
#endif  // PSW
