// Elementwise kernels, stamped out by macros: unary maps, broadcasting binary and ternary maps,
// casts and inference BatchNormalization. Float tensors are float buffers, integer/bool ones long.

// a*b+c must round like the Swift reference (no silent fma contraction).
#pragma OPENCL FP_CONTRACT OFF

// Narrows a long result to the output's integer type, as a C cast would:
// w = 0 int64, 1 bool, 8/16/32 signed bits, -8/-16/-32 unsigned bits.
inline long wrap_long(long v, int w) {
    if (w == 0) return v;
    if (w == 1) return v != 0;
    if (w > 0) return ((long)((ulong)v << (64 - w))) >> (64 - w);
    return v & ((1L << -w) - 1);
}
#define STORE_float(v, w) (v)
#define STORE_long(v, w) wrap_long((v), (w))

// ---- scalar helpers (mirrored exactly by the Swift reference) ----

// min(max(x, lo), hi) that keeps NaN.
inline float clip_f(float x, float lo, float hi) { float t = x < lo ? lo : x; return t > hi ? hi : t; }
inline long clip_l(long x, long lo, long hi) { long t = x < lo ? lo : x; return t > hi ? hi : t; }
inline float softplus_f(float x) { return x > 0.0f ? x + log1p(exp(-x)) : log1p(exp(x)); }
// Integer division and remainder: C truncation; x/0 = 0 and x%0 = 0 instead of a trap.
inline long div_l(long a, long b) { return b == 0 ? 0 : (b == -1 ? (long)(0UL - (ulong)a) : a / b); }
inline long fmod_l(long a, long b) { return (b == 0 || b == -1) ? 0 : a % b; }
// Remainder with the divisor's sign (ONNX Mod with fmod = 0, like NumPy's mod; a zero takes b's sign).
inline long mod_l(long a, long b) { long r = fmod_l(a, b); return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
inline float mod_f(float a, float b) { float r = fmod(a, b); return r == 0.0f ? copysign(0.0f, b) : (((r < 0.0f) != (b < 0.0f)) ? r + b : r); }
// a^b by squaring, wrapping on overflow; negative b gives 1/a^|b| truncated (0 unless |a| = 1).
inline long pow_l(long a, long b) {
    if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
    ulong r = 1, x = (ulong)a;
    while (b > 0) { if (b & 1) r *= x; x *= x; b >>= 1; }
    return (long)r;
}
// float → long like a C cast, but defined everywhere: NaN/±∞ → 0, saturating at the long range.
inline long f2l(float x) { return !isfinite(x) ? 0 : (x >= 9.2e18f ? LONG_MAX : (x <= -9.2e18f ? LONG_MIN : (long)x)); }
// Integer base, float exponent (result in the base's type): exact for integral exponents,
// else the float power truncated toward zero.
inline long pow_lf(long a, float b) { return (b == floor(b) && fabs(b) < 9.2e18f) ? pow_l(a, (long)b) : f2l(pow((float)a, b)); }
inline float max_f(float a, float b) { return (a > b || isnan(a)) ? a : b; }
inline float min_f(float a, float b) { return (a < b || isnan(a)) ? a : b; }

// ---- unary: y = EXPR(x, alpha, beta) ----
#define UNARY(NAME, T, EXPR) \
__kernel void NAME(int n, __global const T* X, __global T* Y, T alpha, T beta, int wrap) { \
    int i = get_global_id(0); \
    if (i >= n) return; \
    T x = X[i]; \
    Y[i] = STORE_##T(EXPR, wrap); \
}

UNARY(un_copy_f, float, x)
UNARY(un_relu_f, float, x < 0.0f ? 0.0f : x)
UNARY(un_sigmoid_f, float, 1.0f / (1.0f + exp(-x)))
UNARY(un_exp_f, float, exp(x))
UNARY(un_log_f, float, log(x))
UNARY(un_tanh_f, float, tanh(x))
UNARY(un_neg_f, float, -x)
UNARY(un_abs_f, float, fabs(x))
UNARY(un_erf_f, float, erf(x))
UNARY(un_sqrt_f, float, sqrt(x))
UNARY(un_reciprocal_f, float, 1.0f / x)
UNARY(un_floor_f, float, floor(x))
UNARY(un_ceil_f, float, ceil(x))
UNARY(un_round_f, float, rint(x))
UNARY(un_sign_f, float, x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x))
UNARY(un_softplus_f, float, softplus_f(x))
UNARY(un_softsign_f, float, x / (1.0f + fabs(x)))
UNARY(un_sin_f, float, sin(x))
UNARY(un_cos_f, float, cos(x))
UNARY(un_tan_f, float, tan(x))
UNARY(un_asin_f, float, asin(x))
UNARY(un_acos_f, float, acos(x))
UNARY(un_atan_f, float, atan(x))
UNARY(un_sinh_f, float, sinh(x))
UNARY(un_cosh_f, float, cosh(x))
UNARY(un_asinh_f, float, asinh(x))
UNARY(un_acosh_f, float, acosh(x))
UNARY(un_atanh_f, float, atanh(x))
UNARY(un_elu_f, float, x < 0.0f ? alpha * expm1(x) : x)
UNARY(un_selu_f, float, x <= 0.0f ? beta * (alpha * expm1(x)) : beta * x)
UNARY(un_celu_f, float, x > 0.0f ? x : alpha * expm1(x / alpha))
UNARY(un_leakyrelu_f, float, x < 0.0f ? alpha * x : x)
UNARY(un_hardsigmoid_f, float, clip_f(alpha * x + beta, 0.0f, 1.0f))
UNARY(un_hardswish_f, float, x * clip_f(x * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f))
UNARY(un_thresholdedrelu_f, float, x > alpha ? x : 0.0f)
UNARY(un_mish_f, float, x * tanh(softplus_f(x)))
// 0.5·x·(1 + erf(x/√2)) written with erfc so that large negative x does not cancel.
UNARY(un_gelu_f, float, 0.5f * x * erfc(-x * 0.70710678118654752f))
// 0.5·x·(1 + tanh(u)) = x / (1 + exp(−2u)), u = √(2/π)·(x + 0.044715·x³).
UNARY(un_gelutanh_f, float, x / (1.0f + exp(-2.0f * (0.79788456080286536f * (x + 0.044715f * x * x * x)))))
UNARY(un_clip_f, float, clip_f(x, alpha, beta))
UNARY(un_divs_f, float, x / alpha)

UNARY(un_copy_l, long, x)
UNARY(un_relu_l, long, x < 0 ? 0 : x)
UNARY(un_neg_l, long, (long)(0UL - (ulong)x))
UNARY(un_abs_l, long, x < 0 ? (long)(0UL - (ulong)x) : x)
UNARY(un_sign_l, long, x > 0 ? 1L : (x < 0 ? -1L : 0L))
UNARY(un_not_l, long, x == 0 ? 1L : 0L)
UNARY(un_clip_l, long, clip_l(x, alpha, beta))

// Clip with bounds computed at run time: LO[0] if (has & 1), HI[0] if (has & 2).
#define CLIP_BUFFERS(SFX, T, LOWEST, HIGHEST) \
__kernel void clipb_##SFX(int n, __global const T* X, __global const T* LO, __global const T* HI, int has, __global T* Y) { \
    int i = get_global_id(0); \
    if (i >= n) return; \
    Y[i] = clip_##SFX(X[i], (has & 1) ? LO[0] : (LOWEST), (has & 2) ? HI[0] : (HIGHEST)); \
}
CLIP_BUFFERS(f, float, -INFINITY, INFINITY)
CLIP_BUFFERS(l, long, LONG_MIN, LONG_MAX)

// ---- broadcasting: meta = dims[rank] ‖ strides of input 0 ‖ strides of input 1 (‖ input 2) ----
inline int2 offsets2(int i, int rank, __constant const int* m) {
    int2 o = (int2)(0, 0);
    for (int k = rank - 1; k >= 0; --k) {
        int d = m[k], q = i / d, r = i - q * d;
        o.x += r * m[rank + k];
        o.y += r * m[2 * rank + k];
        i = q;
    }
    return o;
}
inline int3 offsets3(int i, int rank, __constant const int* m) {
    int3 o = (int3)(0, 0, 0);
    for (int k = rank - 1; k >= 0; --k) {
        int d = m[k], q = i / d, r = i - q * d;
        o.x += r * m[rank + k];
        o.y += r * m[2 * rank + k];
        o.z += r * m[3 * rank + k];
        i = q;
    }
    return o;
}

// Offsets of element i in A and B for up to 4 merged dims, passed by value (no memory read per
// element): m = dims (s0–s3, leading ones 1) ‖ A's strides (s4–s7) ‖ B's strides (s8–sb).
inline int2 offsets2v(int i, int16 m) {
    int q = i / m.s3, r = i - q * m.s3;
    int2 o = (int2)(r * m.s7, r * m.sb);
    i = q; q = i / m.s2; r = i - q * m.s2;
    o += (int2)(r * m.s6, r * m.sa);
    i = q; q = i / m.s1; r = i - q * m.s1;
    o += (int2)(r * m.s5, r * m.s9);
    return o + (int2)(q * m.s4, q * m.s8);
}

// _c: every input has the output's layout; _s: strided (0 = broadcast) reads through meta; _b:
// strided with up to 4 merged dims given by value (offsets2v).
#define BINARY(NAME, TA, TB, TY, EXPR) \
__kernel void NAME##_c(int n, __global const TA* A, __global const TB* B, __global TY* Y, int wrap) { \
    int i = get_global_id(0); \
    if (i >= n) return; \
    TA a = A[i]; TB b = B[i]; \
    Y[i] = STORE_##TY(EXPR, wrap); \
} \
__kernel void NAME##_s(int n, int rank, __constant const int* meta, __global const TA* A, __global const TB* B, \
                       __global TY* Y, int wrap) { \
    int i = get_global_id(0); \
    if (i >= n) return; \
    int2 o = offsets2(i, rank, meta); \
    TA a = A[o.x]; TB b = B[o.y]; \
    Y[i] = STORE_##TY(EXPR, wrap); \
} \
__kernel void NAME##_b(int n, int16 geo, __global const TA* A, __global const TB* B, __global TY* Y, int wrap) { \
    int i = get_global_id(0); \
    if (i >= n) return; \
    int2 o = offsets2v(i, geo); \
    TA a = A[o.x]; TB b = B[o.y]; \
    Y[i] = STORE_##TY(EXPR, wrap); \
}

BINARY(bin_add_f, float, float, float, a + b)
BINARY(bin_sub_f, float, float, float, a - b)
BINARY(bin_mul_f, float, float, float, a * b)
BINARY(bin_div_f, float, float, float, a / b)
BINARY(bin_pow_f, float, float, float, pow(a, b))
BINARY(bin_pow_fl, float, long, float, pow(a, (float)b))
BINARY(bin_max_f, float, float, float, max_f(a, b))
BINARY(bin_min_f, float, float, float, min_f(a, b))
BINARY(bin_fmod_f, float, float, float, fmod(a, b))
BINARY(bin_mod_f, float, float, float, mod_f(a, b))
BINARY(bin_prelu_f, float, float, float, a < 0.0f ? a * b : a)
BINARY(bin_equal_f, float, float, long, (long)(a == b))
BINARY(bin_less_f, float, float, long, (long)(a < b))
BINARY(bin_lessequal_f, float, float, long, (long)(a <= b))
BINARY(bin_greater_f, float, float, long, (long)(a > b))
BINARY(bin_greaterequal_f, float, float, long, (long)(a >= b))

BINARY(bin_pow_lf, long, float, long, pow_lf(a, b))
BINARY(bin_add_l, long, long, long, (long)((ulong)a + (ulong)b))
BINARY(bin_sub_l, long, long, long, (long)((ulong)a - (ulong)b))
BINARY(bin_mul_l, long, long, long, (long)((ulong)a * (ulong)b))
BINARY(bin_div_l, long, long, long, div_l(a, b))
BINARY(bin_pow_l, long, long, long, pow_l(a, b))
BINARY(bin_max_l, long, long, long, a > b ? a : b)
BINARY(bin_min_l, long, long, long, a < b ? a : b)
BINARY(bin_fmod_l, long, long, long, fmod_l(a, b))
BINARY(bin_mod_l, long, long, long, mod_l(a, b))
BINARY(bin_prelu_l, long, long, long, a < 0 ? (long)((ulong)a * (ulong)b) : a)
BINARY(bin_equal_l, long, long, long, (long)(a == b))
BINARY(bin_less_l, long, long, long, (long)(a < b))
BINARY(bin_lessequal_l, long, long, long, (long)(a <= b))
BINARY(bin_greater_l, long, long, long, (long)(a > b))
BINARY(bin_greaterequal_l, long, long, long, (long)(a >= b))
BINARY(bin_and_l, long, long, long, (long)(a != 0 && b != 0))
BINARY(bin_or_l, long, long, long, (long)(a != 0 || b != 0))
BINARY(bin_xor_l, long, long, long, (long)((a != 0) != (b != 0)))

// ---- Where(cond, X, Y) ----
#define WHERE(NAME, T) \
__kernel void NAME##_c(int n, __global const long* C, __global const T* A, __global const T* B, __global T* Y, int wrap) { \
    int i = get_global_id(0); \
    if (i >= n) return; \
    Y[i] = C[i] != 0 ? A[i] : B[i]; \
} \
__kernel void NAME##_s(int n, int rank, __constant const int* meta, __global const long* C, __global const T* A, \
                       __global const T* B, __global T* Y, int wrap) { \
    int i = get_global_id(0); \
    if (i >= n) return; \
    int3 o = offsets3(i, rank, meta); \
    Y[i] = C[o.x] != 0 ? A[o.y] : B[o.z]; \
}

WHERE(where_f, float)
WHERE(where_l, long)

// ---- Cast: float→int truncates toward zero (NaN/±inf → 0, saturating at the long range) ----
__kernel void cast_f2l(int n, __global const float* X, __global long* Y, int wrap) {
    int i = get_global_id(0);
    if (i >= n) return;
    float x = X[i];
    Y[i] = wrap_long(wrap == 1 ? x != 0.0f : f2l(x), wrap);
}
__kernel void cast_l2f(int n, __global const long* X, __global float* Y, int wrap) {
    int i = get_global_id(0);
    if (i >= n) return;
    Y[i] = (float)X[i];
}
__kernel void cast_l2l(int n, __global const long* X, __global long* Y, int wrap) {
    int i = get_global_id(0);
    if (i >= n) return;
    Y[i] = wrap_long(X[i], wrap);
}

// ---- BatchNormalization (inference): channel c = (i / inner) % C ----
__kernel void batchnorm(int n, int C, int inner, __global const float* X, __global const float* scale,
                        __global const float* bias, __global const float* mean, __global const float* var,
                        float eps, __global float* Y) {
    int i = get_global_id(0);
    if (i >= n) return;
    int c = (i / inner) % C;
    Y[i] = (X[i] - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c];
}

// Float Add/Sub/Mul/Div on CPU devices, 8 elements per work-item as float8 (on PoCL ~5× faster
// than a work-item per element, and than the strided _s kernels' index arithmetic): each input is
// either laid out as the output or one value broadcast to all (aScalar / bScalar). IEEE results
// are the scalar kernels' (every lane is the same correctly rounded operation).
#define BINARY_V8(NAME, OP) \
__kernel void NAME(int n, __global const float* A, __global const float* B, __global float* Y, int aScalar, int bScalar) { \
    const int i = get_global_id(0) * 8; \
    if (i >= n) return; \
    if (i + 8 <= n) { \
        const float8 a = aScalar ? (float8)(A[0]) : vload8(0, A + i); \
        const float8 b = bScalar ? (float8)(B[0]) : vload8(0, B + i); \
        vstore8(a OP b, 0, Y + i); \
    } else { \
        for (int k = i; k < n; ++k) { \
            const float a = A[aScalar ? 0 : k], b = B[bScalar ? 0 : k]; \
            Y[k] = a OP b; \
        } \
    } \
}
BINARY_V8(binv8_add_f, +)
BINARY_V8(binv8_sub_f, -)
BINARY_V8(binv8_mul_f, *)
BINARY_V8(binv8_div_f, /)
