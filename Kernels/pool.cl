// Pooling over NCHW planes (1-D runs as H = 1): MaxPool (+ Indices), AveragePool, global pools.
// One work-item per output element. meta: H, W, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, phEnd, pwEnd.

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
    for (int kh = 0; kh < KH; ++kh) {                                                               \
        const int ih = hs + kh * m[8];                                                              \
        if (ih < 0 || ih >= H) continue;                                                            \
        for (int kw = 0; kw < KW; ++kw) {                                                           \
            const int iw = ws + kw * m[9];                                                          \
            if (iw < 0 || iw >= W) continue;                                                        \
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
    int rows = 0, cols = 0, prows = 0, pcols = 0;
    for (int kw = 0; kw < KW; ++kw) {
        const int iw = ws + kw * m[9];
        cols += (iw >= 0 && iw < W);
        pcols += (iw >= -m[11] && iw < W + m[13]);
    }
    for (int kh = 0; kh < KH; ++kh) {
        const int ih = hs + kh * m[8];
        prows += (ih >= -m[10] && ih < H + m[12]);
        if (ih < 0 || ih >= H) continue;
        ++rows;
        for (int kw = 0; kw < KW; ++kw) {
            const int iw = ws + kw * m[9];
            if (iw >= 0 && iw < W) sum += x[ih * W + iw];
        }
    }
    Y[i] = sum / (float)(includePad ? prows * pcols : rows * cols);
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
