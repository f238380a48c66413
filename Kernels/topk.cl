// TopK on long rows with work-groups (the short-row kernel is topk_* in argmax.cl). Row r (of
// rows = outer·inner) has `len` elements at base + i·inner, base = (r / inner)·len·inner + r % inner.
// 1. topk_chunks: one work-group of CHUNK/2 work-items per CHUNK elements of a row bitonic-sorts
//    them in local memory and keeps the best s0 = min(k, CHUNK).
// 2. topk_merge, once per level: sorted lists are merged pairwise, keeping the best k; each
//    element finds its place as its rank in its own list plus the number of elements of the
//    partner list that beat it (a binary search), so every work-item handles one element.
// The order is ONNX's: `better` is the value order (NaN above every number when largest, last
// otherwise) with ties broken by the lower index, a strict total order over a row's elements, so
// the ranks of two merged lists interleave without collisions and the result is the reference's.
// List j of level l holds the best of level-0 lists j·2^l ..< (j+1)·2^l and sits at slot offset
// j·s0·2^l of its row's chunks·s0 slots. The last level (or the chunk pass of a one-chunk row)
// writes the values and int64 indices to the outputs at ob + p·inner, ob = (r / inner)·k·inner + r % inner.
// T: -DT=float or -DT=long. CHUNK: elements per work-group (a power of two, 2 × the work-group size).

#ifndef T
#define T float
#endif
#ifndef CHUNK
#define CHUNK 512
#endif

#define PAD 0x7fffffff
#define ISNAN_float(v) isnan(v)
#define ISNAN_long(v) 0
#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
#define ISNAN(v) XCAT(ISNAN_, T)(v)

// Whether value v comes strictly before value w.
inline int before(T v, T w, int largest) {
    if (largest) return ISNAN(v) ? !ISNAN(w) : (!ISNAN(w) && v > w);
    return !ISNAN(v) && (ISNAN(w) || v < w);
}

// Whether (v, i) comes before (w, j): value order, then the lower index; PAD entries come last.
inline int better(T v, int i, T w, int j, int largest) {
    if (i == PAD) return 0;
    if (j == PAD) return 1;
    return before(v, w, largest) || (!before(w, v, largest) && i < j);
}

__kernel void topk_chunks(__global const T* x, __global T* sv, __global int* si, __global T* ov, __global long* oi,
                          int rows, int len, int inner, int k, int largest, int chunks) {
    __local T lv[CHUNK];
    __local int li[CHUNK];
    const int lid = get_local_id(0), lanes = CHUNK / 2;
    const int g = get_group_id(0), r = g / chunks, c = g - r * chunks;
    const int base = (r / inner) * len * inner + r % inner;
    for (int t = lid; t < CHUNK; t += lanes) {
        int pos = c * CHUNK + t;
        if (pos < len) { lv[t] = x[base + pos * inner]; li[t] = pos; } else { lv[t] = 0; li[t] = PAD; }
    }
    // Bitonic sort, best first.
    for (int size = 2; size <= CHUNK; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            barrier(CLK_LOCAL_MEM_FENCE);
            int a = (lid / stride) * 2 * stride + lid % stride, b = a + stride;
            T va = lv[a], vb = lv[b];
            int ia = li[a], ib = li[b];
            int bestFirst = (a & size) == 0;
            if (bestFirst ? better(vb, ib, va, ia, largest) : better(va, ia, vb, ib, largest)) {
                lv[a] = vb; li[a] = ib; lv[b] = va; li[b] = ia;
            }
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int s0 = min(k, CHUNK), keep = min(s0, len - c * CHUNK);
    const int ob = (r / inner) * k * inner + r % inner;
    for (int t = lid; t < keep; t += lanes) {
        if (chunks == 1) {
            ov[ob + t * inner] = lv[t];
            oi[ob + t * inner] = li[t];
        } else {
            sv[(r * chunks + c) * s0 + t] = lv[t];
            si[(r * chunks + c) * s0 + t] = li[t];
        }
    }
}

// Length of list j at `level`: the best k of the row elements it covers.
inline int list_len(int j, int level, int len, int k) {
    int span = CHUNK << level, first = j * span;
    return first >= len ? 0 : min(k, min(len - first, span));
}

__kernel void topk_merge(__global const T* sv, __global const int* si, __global T* dv, __global int* di,
                         __global T* ov, __global long* oi, int rows, int len, int inner, int k, int largest,
                         int chunks, int level, int last) {
    const int s0 = min(k, CHUNK), slots = chunks * s0;
    const int e = get_global_id(0);
    if (e >= rows * slots) return;
    const int r = e / slots, p = e - r * slots;
    const int span = s0 << level, j = p / span, q = p - j * span;
    if (q >= list_len(j, level, len, k)) return;
    const int rb = r * slots;
    const T v = sv[rb + p];
    const int i = si[rb + p];
    const int partner = j ^ 1, pb = rb + partner * span;
    int lo = 0, hi = list_len(partner, level, len, k);
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (better(sv[pb + mid], si[pb + mid], v, i, largest)) lo = mid + 1; else hi = mid;
    }
    const int pos = q + lo;
    if (pos >= k) return;
    if (last) {
        const int ob = (r / inner) * k * inner + r % inner;
        ov[ob + pos * inner] = v;
        oi[ob + pos * inner] = i;
    } else {
        dv[rb + (j >> 1) * 2 * span + pos] = v;
        di[rb + (j >> 1) * 2 * span + pos] = i;
    }
}
