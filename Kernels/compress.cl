// Compress: the output position of every kept slice (−1 when dropped) and the kept count, then
// a copy of the kept slices packed as [outer, kept, inner]. T is the element type.

// One work-item: condition lengths are axis lengths. Writes the output's real shape (dims with
// the kept count at `axis`) to its shape slot.
__kernel void compress_scan(__global const long* condition, int length, __global int* positions,
                            __global long* shape, int shape_offset, __constant const int* dims, int rank, int axis) {
    if (get_global_id(0) != 0) return;
    int kept = 0;
    for (int j = 0; j < length; ++j) positions[j] = condition[j] != 0 ? kept++ : -1;
    positions[length] = kept;
    for (int d = 0; d < rank; ++d) shape[shape_offset + d] = d == axis ? kept : dims[d];
}

// One work-item per element of the conditioned part [outer, length, inner] of the input.
__kernel void compress_copy(__global const T* x, int n, int length, int dim, int inner,
                            __global const int* positions, __global T* out) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const int in = i % inner, j = (i / inner) % length, o = i / (inner * length);
    const int p = positions[j];
    if (p < 0) return;
    out[(o * positions[length] + p) * inner + in] = x[(o * dim + j) * inner + in];
}
