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

// Activation fused into a convolution's or GEMM's store (Passes/Optimize.swift fuseConvActivation,
// Ops/Conv/FusedActivation.swift): one definition for scalars (act), float8 (act8) and float16
// (act16), selected by one of -DACT_CLAMP (with ACT_LO, ACT_HI: Clip's comparisons, NaN stays NaN),
// -DACT_LEAKYRELU, -DACT_HARDSIGMOID, -DACT_HARDSWISH, -DACT_HARDSWISHDIV (with ACT_ALPHA, ACT_BETA), -DACT_SIGMOID,
// -DACT_SILU, -DACT_MISH, -DACT_TANH — each the fp32 operations of the unfused node(s) in
// elementwise.cl; without one the value is unchanged.
#if defined(ACT_CLAMP)
#define ACT_BODY(T) return v < (T)(ACT_LO) ? (T)(ACT_LO) : (v > (T)(ACT_HI) ? (T)(ACT_HI) : v);
#elif defined(ACT_LEAKYRELU)
#define ACT_BODY(T) return v < (T)(0.0f) ? (T)(ACT_ALPHA) * v : v;
#elif defined(ACT_HARDSIGMOID)
#define ACT_BODY(T) T t = (T)(ACT_ALPHA) * v + (T)(ACT_BETA); t = t < (T)(0.0f) ? (T)(0.0f) : t; return t > (T)(1.0f) ? (T)(1.0f) : t;
#elif defined(ACT_HARDSWISH)
#define ACT_BODY(T) T t = (T)(ACT_ALPHA) * v + (T)(ACT_BETA); t = t < (T)(0.0f) ? (T)(0.0f) : t; t = t > (T)(1.0f) ? (T)(1.0f) : t; return v * t;
#elif defined(ACT_HARDSWISHDIV)
#define ACT_BODY(T) T t = v + (T)(ACT_ALPHA); t = t < (T)(0.0f) ? (T)(0.0f) : t; t = t > (T)(ACT_BETA) ? (T)(ACT_BETA) : t; return (v * t) / (T)(ACT_BETA);
#elif defined(ACT_SIGMOID)
#define ACT_BODY(T) return (T)(1.0f) / ((T)(1.0f) + exp(-v));
#elif defined(ACT_SILU)
#define ACT_BODY(T) return v * ((T)(1.0f) / ((T)(1.0f) + exp(-v)));
#elif defined(ACT_MISH)
#define ACT_BODY(T) T sp = v > (T)(0.0f) ? v + log1p(exp(-v)) : log1p(exp(v)); return v * tanh(sp);
#elif defined(ACT_TANH)
#define ACT_BODY(T) return tanh(v);
#else
#define ACT_BODY(T) return v;
#endif
inline float act(float v) { ACT_BODY(float) }
inline float8 act8(float8 v) { ACT_BODY(float8) }
inline float16 act16(float16 v) { ACT_BODY(float16) }

// Channel-blocked values (16 channels per float16): 16 channels of an array whose channels lie
// `stride` floats apart (a bias: 1; an NCHW tensor: its plane), lane j = v[j·stride], 0 from lane
// `valid` on; and the mask of lanes below `valid` (stores select 0 in the others, so padding lanes
// stay 0 whatever act(0) is).
inline float16 load16_channels(__global const float* v, int stride, int valid) {
    float t[16];
    for (int j = 0; j < 16; ++j) t[j] = j < valid ? v[j * stride] : 0.0f;
    return vload16(0, t);
}
inline int16 lanes_below(int valid) { return (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) < (int16)(valid); }

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

// Softmax of the `len` values at x[base + i·stride] into y (y may be x): the maximum (fmax ignores
// NaN; a NaN element then turns the row into NaN), exp(v − max) summed in order, each divided by the sum.
inline void softmax_strided(__global const float* x, __global float* y, int base, int len, int stride) {
    float m = -INFINITY;
    for (int i = 0; i < len; ++i) m = fmax(m, x[base + i * stride]);
    float s = 0.0f;
    for (int i = 0; i < len; ++i) {
        const float e = exp(x[base + i * stride] - m);
        y[base + i * stride] = e;
        s += e;
    }
    for (int i = 0; i < len; ++i) y[base + i * stride] /= s;
}

// Reduced-precision weight storage with fp32 arithmetic (ExecutionOptions.weightPrecision, for the
// memory-bound weight streams: NetVLAD's WPCA, fully connected layers at small batches):
// -DW_BF16 or -DW_FP16 make WTYPE a 16-bit storage type, and WLOAD8 / WLOAD1 widen it to float
// exactly (bf16: the upper half of an fp32; fp16: vload_half, core OpenCL C, no cl_khr_fp16).
#if defined(W_BF16)
#define WTYPE ushort
#define WLOAD8(p) as_float8(convert_uint8(vload8(0, (p))) << 16)
#define WLOAD1(p) as_float((uint)(*(p)) << 16)
#elif defined(W_FP16)
#define WTYPE half
#define WLOAD8(p) vload_half8(0, (p))
#define WLOAD1(p) vload_half(0, (p))
#else
#define WTYPE float
#define WLOAD8(p) vload8(0, (p))
#define WLOAD1(p) (*(p))
#endif
