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
