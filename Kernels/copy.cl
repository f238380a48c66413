// Generic strided copy (Transpose, Slice, Expand, Tile, Concat, Split, DepthToSpace, …).
// T is the element type (-DT=float or -DT=long). meta holds four int arrays of length rank:
// dims, source strides, source moduli (index wraps for Tile) and destination strides.
// dst[dst_base + Σ idx_k·dst_k] = src[src_base + Σ (idx_k mod mod_k)·src_k].

// Adds to *s and *d the source and destination offsets of flat index r over meta's rank dims.
inline void copy_offsets(int r, int rank, __constant const int* meta, int* s, int* d) {
    for (int k = rank - 1; k >= 0; --k) {
        int dim = meta[k];
        int q = r / dim;
        int idx = r - q * dim;
        r = q;
        int m = meta[2 * rank + k];
        *s += (idx < m ? idx : idx % m) * meta[rank + k];
        *d += idx * meta[3 * rank + k];
    }
}

__kernel void strided_copy(int n, int rank, __constant const int* meta,
                           __global const T* src, int src_base, __global T* dst, int dst_base) {
    int i = get_global_id(0);
    if (i >= n) return;
    int s = src_base, d = dst_base;
    copy_offsets(i, rank, meta, &s, &d);
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
    int s = src_base, d = dst_base;
    copy_offsets(row, rank, meta, &s, &d);
    const int n = min(RUN, L - start);
    __global const T* a = src + s + start;
    __global T* b = dst + d + start;
    int k = 0;
    for (; k + 8 <= n; k += 8) vstore8(vload8(0, a + k), 0, b + k);
    for (; k < n; ++k) b[k] = a[k];
}

// Batched 2-D transpose on CPU devices: dst[b][p][q] = src[b][q][p] with src [B][Q][P] and dst
// [B][P][Q] (Transpose NCHW → NHWC is P = H·W, Q = C). Each work-item moves an 8×8 tile: 8 T8
// loads along p, 8 T8 stores along q (strided_copy would decompose every element's index, and
// its stores or loads are P or Q elements apart). Tiles at the P or Q edge copy element by element.
// Global: [ceil(P/8), ceil(Q/8), B].
#define TR_COL(k) (T8)(r0.s##k, r1.s##k, r2.s##k, r3.s##k, r4.s##k, r5.s##k, r6.s##k, r7.s##k)
__kernel void transpose_tiles(int P, int Q, int B, __global const T* src, int src_base, __global T* dst, int dst_base) {
    const int p0 = get_global_id(0) * 8, q0 = get_global_id(1) * 8, b = get_global_id(2);
    if (p0 >= P || q0 >= Q || b >= B) return;
    __global const T* s = src + src_base + b * P * Q;
    __global T* d = dst + dst_base + b * P * Q;
    if (p0 + 8 <= P && q0 + 8 <= Q) {
        __global const T* a = s + q0 * P + p0;
        const T8 r0 = vload8(0, a), r1 = vload8(0, a + P), r2 = vload8(0, a + 2 * P), r3 = vload8(0, a + 3 * P);
        const T8 r4 = vload8(0, a + 4 * P), r5 = vload8(0, a + 5 * P), r6 = vload8(0, a + 6 * P), r7 = vload8(0, a + 7 * P);
        __global T* o = d + p0 * Q + q0;
        vstore8(TR_COL(0), 0, o);
        vstore8(TR_COL(1), 0, o + Q);
        vstore8(TR_COL(2), 0, o + 2 * Q);
        vstore8(TR_COL(3), 0, o + 3 * Q);
        vstore8(TR_COL(4), 0, o + 4 * Q);
        vstore8(TR_COL(5), 0, o + 5 * Q);
        vstore8(TR_COL(6), 0, o + 6 * Q);
        vstore8(TR_COL(7), 0, o + 7 * Q);
    } else {
        for (int i = 0; i < 8 && p0 + i < P; ++i) {
            for (int j = 0; j < 8 && q0 + j < Q; ++j) d[(p0 + i) * Q + q0 + j] = s[(q0 + j) * P + p0 + i];
        }
    }
}
