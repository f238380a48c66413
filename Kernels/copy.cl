// Generic strided copy (Transpose, Slice, Expand, Tile, Concat, Split, DepthToSpace, …).
// T is the element type (-DT=float or -DT=long). meta holds four int arrays of length rank:
// dims, source strides, source moduli (index wraps for Tile) and destination strides.
// dst[dst_base + Σ idx_k·dst_k] = src[src_base + Σ (idx_k mod mod_k)·src_k].

__kernel void strided_copy(int n, int rank, __constant const int* meta,
                           __global const T* src, int src_base, __global T* dst, int dst_base) {
    int i = get_global_id(0);
    if (i >= n) return;
    int s = src_base, d = dst_base, r = i;
    for (int k = rank - 1; k >= 0; --k) {
        int dim = meta[k];
        int q = r / dim;
        int idx = r - q * dim;
        r = q;
        int m = meta[2 * rank + k];
        s += (idx < m ? idx : idx % m) * meta[rank + k];
        d += idx * meta[3 * rank + k];
    }
    dst[d] = src[s];
}

// strided_copy when the innermost dim (length L) is contiguous in source and destination and does
// not wrap: each work-item copies up to RUN consecutive elements of one run with vector loads and
// stores (Concat and Split along an outer axis, Slice of inner rows, …). meta holds the four arrays
// of the rank-1 outer dims as in strided_copy. Global: [ceil(L/RUN), rows].
#ifndef RUN
#define RUN 512
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define T8 CAT(T, 8)

__kernel void strided_copy_runs(int L, int rows, int rank, __constant const int* meta,
                                __global const T* src, int src_base, __global T* dst, int dst_base) {
    const int start = get_global_id(0) * RUN, row = get_global_id(1);
    if (start >= L || row >= rows) return;
    int s = src_base, d = dst_base, r = row;
    for (int k = rank - 1; k >= 0; --k) {
        int dim = meta[k];
        int q = r / dim;
        int idx = r - q * dim;
        r = q;
        int m = meta[2 * rank + k];
        s += (idx < m ? idx : idx % m) * meta[rank + k];
        d += idx * meta[3 * rank + k];
    }
    const int n = min(RUN, L - start);
    __global const T* a = src + s + start;
    __global T* b = dst + d + start;
    int k = 0;
    for (; k + 8 <= n; k += 8) vstore8(vload8(0, a + k), 0, b + k);
    for (; k < n; ++k) b[k] = a[k];
}
