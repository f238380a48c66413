// NonZero: count the non-zero elements per chunk of CHUNK, scan the counts (one work-item: there
// are n/CHUNK of them), then write each chunk's indices at its offset, packed as [rank, total].
// T is the element type (float or long); NaN is non-zero, −0 is zero.

#ifndef CHUNK
#define CHUNK 256
#endif

__kernel void nonzero_count(__global const T* x, int n, __global int* counts, int chunks) {
    const int c = get_global_id(0);
    if (c >= chunks) return;
    const int end = min(n, (c + 1) * CHUNK);
    int k = 0;
    for (int i = c * CHUNK; i < end; ++i) k += x[i] != 0;
    counts[c] = k;
}

// Exclusive offsets in place, the total in counts[chunks] and in the output's shape slot.
__kernel void nonzero_scan(__global int* counts, int chunks, __global long* shape, int shape_offset, int rank) {
    if (get_global_id(0) != 0) return;
    int total = 0;
    for (int c = 0; c < chunks; ++c) {
        const int k = counts[c];
        counts[c] = total;
        total += k;
    }
    counts[chunks] = total;
    shape[shape_offset] = rank;
    shape[shape_offset + 1] = total;
}

__kernel void nonzero_write(__global const T* x, int n, __global const int* counts, int chunks,
                            __constant const int* dims, int rank, __global long* out) {
    const int c = get_global_id(0);
    if (c >= chunks) return;
    const int total = counts[chunks];
    const int end = min(n, (c + 1) * CHUNK);
    int k = counts[c];
    for (int i = c * CHUNK; i < end; ++i) {
        if (x[i] == 0) continue;
        int r = i;
        for (int d = rank - 1; d >= 0; --d) {
            const int q = r / dims[d];
            out[d * total + k] = r - q * dims[d];
            r = q;
        }
        ++k;
    }
}
