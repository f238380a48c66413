// ScatterElements / Scatter: out = data (scatter_elements_copy), then every update combined into
// its destination (scatter_elements). One work-item per line of the indices along the axis
// applies the line's updates in order, so duplicate destinations (which only a line can have)
// see the updates in the reference's order: the last wins for REDUCTION none, the others combine
// in that order. Negative indices wrap; indices still out of range are skipped (the host checks
// constant indices at plan time and the reference rejects them).
// T: -DT=float or -DT=long. REDUCTION: 0 none, 1 add, 2 mul, 3 max, 4 min (ScatterElements.Reduction).

#ifndef T
#define T float
#endif
#ifndef REDUCTION
#define REDUCTION 0
#endif

__kernel void scatter_elements_copy(int n, __global const T* data, __global T* out) {
    int i = get_global_id(0);
    if (i < n) out[i] = data[i];
}

// NaN-propagating max/min (NumPy's maximum/minimum); plain for integers.
#define ISNAN_float(v) isnan(v)
#define ISNAN_long(v) 0
#define CAT(a, b) a##b
#define ISNAN(T, v) CAT(ISNAN_, T)(v)

inline T combine(T acc, T v) {
#if REDUCTION == 0
    return v;
#elif REDUCTION == 1
    return acc + v;
#elif REDUCTION == 2
    return acc * v;
#elif REDUCTION == 3
    return ISNAN(T, acc) ? acc : (ISNAN(T, v) ? v : (v > acc ? v : acc));
#else
    return ISNAN(T, acc) ? acc : (ISNAN(T, v) ? v : (v < acc ? v : acc));
#endif
}

// meta = indices dims, indices strides, data strides (rank ints each). Line l enumerates the
// indices' positions with the axis coordinate removed (C order).
__kernel void scatter_elements(int lines, int rank, int axis, int axis_dim, __constant const int* meta,
                               __global const long* indices, __global const T* updates, __global T* out) {
    int l = get_global_id(0);
    if (l >= lines) return;
    int ioff = 0, doff = 0, r = l;
    for (int k = rank - 1; k >= 0; --k) {
        if (k == axis) continue;
        int d = meta[k];
        int q = r / d;
        int c = r - q * d;
        ioff += c * meta[rank + k];
        doff += c * meta[2 * rank + k];
        r = q;
    }
    int n = meta[axis], istride = meta[rank + axis], dstride = meta[2 * rank + axis];
    for (int j = 0; j < n; ++j) {
        int p = ioff + j * istride;
        long ix = indices[p];
        if (ix < 0) ix += axis_dim;
        if (ix < 0 || ix >= axis_dim) continue;
        int o = doff + (int)ix * dstride;
        out[o] = combine(out[o], updates[p]);
    }
}
