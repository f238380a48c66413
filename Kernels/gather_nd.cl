// GatherND and ScatterND (Sources/GPUInfer/Ops/Layout/GatherScatterND.swift): index tuples of k
// int64 values address the first k dims `dims` (after the batch dims); negative indices wrap,
// out-of-range ones are clamped so a bad index cannot leave the buffer. T: -DT=float or -DT=long.

// Slice offset (in slices) of the tuple at ix[0..k).
inline int nd_offset(__global const long* ix, int k, __constant const int* dims) {
    int off = 0;
    for (int j = 0; j < k; ++j) {
        long v = ix[j];
        if (v < 0) v += dims[j];
        v = clamp(v, (long)0, (long)(dims[j] - 1));
        off = off * dims[j] + (int)v;
    }
    return off;
}

// out[b, m, r] = data[b·slab + offset(indices[b, m, :])·inner + r] over n elements.
__kernel void gather_nd(int n, __global const T* data, __global const long* indices, __global T* out, int k, int tuples,
                        int inner, int slab, __constant const int* dims) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int t = i / inner, r = i - t * inner;
    const int b = t / tuples;
    out[i] = data[b * slab + nd_offset(indices + (long)t * k, k, dims) * inner + r];
}

__kernel void scatter_nd_copy(int n, __global const T* data, __global T* out) {
    const int i = get_global_id(0);
    if (i < n) out[i] = data[i];
}

// out[offset(indices[m, :])·inner + r] = updates[m·inner + r] over n = tuples·inner elements.
__kernel void scatter_nd(int n, __global const long* indices, __global const T* updates, __global T* out, int k, int inner,
                         __constant const int* dims) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int m = i / inner, r = i - m * inner;
    out[nd_offset(indices + (long)m * k, k, dims) * inner + r] = updates[i];
}
