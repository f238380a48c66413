// Resize: every output element combines taps^(active axes) source elements. Per axis and output
// coordinate the host gives `taps` (index, weight) pairs; axes whose taps are a pure selection
// ("inactive") read only their first tap. T: -DT=float or -DT=long (long: no active axis).
// meta = output dims, input strides, table offsets, active flags (rank ints each).

__kernel void resize(int n, int rank, int taps, __constant const int* meta,
                     __global const int* tap_index, __global const float* tap_weight,
                     __global const T* src, __global T* dst) {
    int i = get_global_id(0);
    if (i >= n) return;
    int at[MAX_RANK], as[MAX_RANK];
    int na = 0, base = 0, r = i;
    for (int k = rank - 1; k >= 0; --k) {
        int d = meta[k];
        int q = r / d;
        int t = meta[2 * rank + k] + (r - q * d) * taps;
        r = q;
        if (meta[3 * rank + k]) {
            at[na] = t;
            as[na] = meta[rank + k];
            ++na;
        } else {
            base += tap_index[t] * meta[rank + k];
        }
    }
    if (na == 0) {
        dst[i] = src[base];
        return;
    }
    int corners = 1;
    for (int a = 0; a < na; ++a) corners *= taps;
    float acc = 0.0f;
    for (int c = 0; c < corners; ++c) {
        int cc = c, off = base;
        float w = 1.0f;
        for (int a = 0; a < na; ++a) {
            int t = at[a] + cc % taps;
            cc /= taps;
            w *= tap_weight[t];
            off += tap_index[t] * as[a];
        }
        acc += w * src[off];
    }
    dst[i] = acc;
}

// Resize where every axis is a selection (nearest, or any mode at scale 1): one work-item per
// RESIZE_COLS output columns of one output row. The source row comes from the leading axes'
// first taps, each column from the last axis's table; stores are one contiguous run (the
// per-element kernel above recomputes rank divisions per element: on PoCL 10–25× slower on
// YOLO's ×2 nearest upsampling). Same meta and tables as `resize`; rows = Π out[0..rank-2].
// Global: [ceil(ow / RESIZE_COLS), rows].
#define RESIZE_COLS 16
__kernel void resize_select_rows(int rows, int ow, int rank, int taps, __constant const int* meta,
                                 __global const int* tap_index, __global const T* src, __global T* dst) {
    const int col0 = (int)get_global_id(0) * RESIZE_COLS, row = (int)get_global_id(1);
    if (row >= rows || col0 >= ow) return;
    int r = row, base = 0;
    for (int k = rank - 2; k >= 0; --k) {
        const int d = meta[k], q = r / d;
        base += tap_index[meta[2 * rank + k] + (r - q * d) * taps] * meta[rank + k];
        r = q;
    }
    __global const int* cols = tap_index + meta[3 * rank - 1];
    const int last = meta[2 * rank - 1];
    __global const T* s = src + base;
    __global T* o = dst + (long)row * ow + col0;
    const int n = min(RESIZE_COLS, ow - col0);
    for (int j = 0; j < n; ++j) o[j] = s[cols[(col0 + j) * taps] * last];
}
