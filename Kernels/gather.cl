// Gather and GatherElements with int64 indices (negative ones wrap; out-of-range ones are
// clamped so a bad index cannot read outside the buffer). T: -DT=float or -DT=long.

// out[outer, j, r] = data[outer, indices[j], r] over n = outer·n_idx·inner elements.
__kernel void gather(int n, __global const T* data, __global const long* indices, __global T* out,
                     int axis_dim, int n_idx, int inner) {
    int i = get_global_id(0);
    if (i >= n) return;
    int t = i / inner;
    int r = i - t * inner;
    int outer = t / n_idx;
    int j = t - outer * n_idx;
    long ix = indices[j];
    if (ix < 0) ix += axis_dim;
    ix = clamp(ix, (long)0, (long)(axis_dim - 1));
    out[i] = data[(outer * axis_dim + (int)ix) * inner + r];
}

// out[idx] = data[idx with idx[axis] = indices[idx]]; meta = indices dims, data strides,
// data dims (rank ints each).
__kernel void gather_elements(int n, int rank, int axis, __constant const int* meta,
                              __global const T* data, __global const long* indices, __global T* out) {
    int i = get_global_id(0);
    if (i >= n) return;
    int off = 0, r = i;
    for (int k = rank - 1; k >= 0; --k) {
        int d = meta[k];
        int q = r / d;
        if (k != axis) off += (r - q * d) * meta[rank + k];
        r = q;
    }
    int axis_dim = meta[2 * rank + axis];
    long ix = indices[i];
    if (ix < 0) ix += axis_dim;
    ix = clamp(ix, (long)0, (long)(axis_dim - 1));
    out[i] = data[off + (int)ix * meta[rank + axis]];
}
