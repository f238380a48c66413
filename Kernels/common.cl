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

// ONNX NonMaxSuppression's suppression test (onnxruntime's SuppressByIOU) for corner boxes
// (x_min, y_min, x_max, y_max): IoU > threshold, never for an empty intersection or a box of zero
// area. Shared by nms.cl and ssd_detection.cl, as NonMaxSuppression.suppresses is on the host.
inline bool box_suppresses(float4 a, float4 b, float threshold) {
    const float ix0 = fmax(a.x, b.x), ix1 = fmin(a.z, b.z);
    if (ix1 <= ix0) return false;
    const float iy0 = fmax(a.y, b.y), iy1 = fmin(a.w, b.w);
    if (iy1 <= iy0) return false;
    const float inter = (ix1 - ix0) * (iy1 - iy0);
    if (inter <= 0.0f) return false;
    const float area1 = (a.z - a.x) * (a.w - a.y);
    const float area2 = (b.z - b.x) * (b.w - b.y);
    const float uni = area1 + area2 - inter;
    if (area1 <= 0.0f || area2 <= 0.0f || uni <= 0.0f) return false;
    return inter / uni > threshold;
}
