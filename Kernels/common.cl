// Prepended to every program: shared helpers and limits.
// Kernels index with int (32-bit): the host refuses tensors with more than 2^31-1 elements.

#define MAX_RANK 8

// Decomposes flat index `i` over `rank` dims (`dims`) and returns Σ index_k · strides[k].
inline int strided_offset(int i, int rank, __constant const int* dims, __constant const int* strides) {
    int off = 0;
    for (int k = rank - 1; k >= 0; --k) {
        int d = dims[k];
        int q = i / d;
        off += (i - q * d) * strides[k];
        i = q;
    }
    return off;
}

// Activation fused into a convolution's store (Conv with a following Relu/Clip, see
// Passes/Optimize.swift fuseConvActivation): with -DACT_CLAMP -DACT_LO=… -DACT_HI=… the value is
// clamped to [ACT_LO, ACT_HI] with Clip's comparisons (NaN stays NaN); otherwise unchanged.
inline float act(float v) {
#ifdef ACT_CLAMP
    return v < ACT_LO ? ACT_LO : (v > ACT_HI ? ACT_HI : v);
#else
    return v;
#endif
}
