// Reductions over any set of axes (ReduceSum, ReduceMean, …), stamped per kind and type.
// `meta` = [krank, rrank, kept dims, kept strides, reduced dims, reduced strides] (coalesced on
// the host, rrank >= 1). Output o reads x[strided_offset(o, kept) + strided_offset(r, reduced)]
// for r in 0..<rcount. `_wg` variants use one work-group per output and a local tree.

#define KD (meta + 2)
#define KS (meta + 2 + meta[0])
#define RD (meta + 2 + 2 * meta[0])
#define RS (meta + 2 + 2 * meta[0] + meta[1])

// One work-item walks all reduced elements: the innermost reduced dim without divisions.
#define FOR_REDUCED(v, BODY) { \
    int rr_ = meta[1] - 1, inner_ = RD[rr_], istr_ = RS[rr_]; \
    int outer_ = inner_ > 0 ? rcount / inner_ : 0; \
    for (int q_ = 0; q_ < outer_; ++q_) { \
        int off_ = base + strided_offset(q_, rr_, RD, RS); \
        for (int j_ = 0; j_ < inner_; ++j_) { v = x[off_ + j_ * istr_]; BODY } } }

// Lanes of a work-group take every L-th reduced element.
#define FOR_REDUCED_WG(v, BODY) \
    for (int r_ = (int)get_local_id(0); r_ < rcount; r_ += (int)get_local_size(0)) { \
        v = x[base + strided_offset(r_, meta[1], RD, RS)]; BODY }

// Combines every lane's `acc` with COMB through `scratch`; all lanes get the result.
#define GROUP_COMBINE(acc, COMB) { \
    int l_ = get_local_id(0), n_ = get_local_size(0); \
    scratch[l_] = acc; barrier(CLK_LOCAL_MEM_FENCE); \
    for (int s_ = 1; s_ < n_; s_ <<= 1) { \
        if ((l_ & (2 * s_ - 1)) == 0 && l_ + s_ < n_) scratch[l_] = COMB(scratch[l_], scratch[l_ + s_]); \
        barrier(CLK_LOCAL_MEM_FENCE); } \
    acc = scratch[0]; barrier(CLK_LOCAL_MEM_FENCE); }

#define ADD(a, b) ((a) + (b))
#define MUL(a, b) ((a) * (b))
// NaN-propagating max/min (NumPy semantics): once acc is NaN it stays NaN.
#define FMAX(a, v) (((v) > (a) || isnan(v)) && !isnan(a) ? (v) : (a))
#define FMIN(a, v) (((v) < (a) || isnan(v)) && !isnan(a) ? (v) : (a))
#define LMAX(a, v) max(a, v)
#define LMIN(a, v) min(a, v)

// Kahan-compensated s += t; the compensation is dropped once s is infinite or NaN.
#define KAHAN(s, c, t) { float y_ = (t) - c; float u_ = s + y_; c = isfinite(u_) ? (u_ - s) - y_ : 0.0f; s = u_; }

#define PROLOGUE \
    int base = strided_offset(o, meta[0], KD, KS);

// Additive kinds: y = FIN(Σ MAP(x)). With NEEDMAX the NaN-propagating max m is found first
// (MAP and FIN may use it); an infinite or NaN m is the result.
#define ADDITIVE(NAME, NEEDMAX, MAP, FIN) \
__kernel void reduce_##NAME##_float(__global const float* x, __global float* y, int n, int rcount, \
                                    __constant const int* meta) { \
    int o = get_global_id(0); \
    if (o >= n) return; \
    PROLOGUE \
    float v, m = 0.0f, s = 0.0f, c = 0.0f; \
    if (NEEDMAX) { m = -INFINITY; FOR_REDUCED(v, { m = FMAX(m, v); }) \
                   if (!isfinite(m)) { y[o] = m; return; } } \
    FOR_REDUCED(v, { KAHAN(s, c, MAP(v)) }) \
    y[o] = FIN(s); \
} \
__kernel void reduce_##NAME##_float_wg(__global const float* x, __global float* y, int n, int rcount, \
                                       __constant const int* meta, __local float* scratch) { \
    int o = get_group_id(0); \
    PROLOGUE \
    float v, m = 0.0f, s = 0.0f, c = 0.0f; \
    if (NEEDMAX) { m = -INFINITY; FOR_REDUCED_WG(v, { m = FMAX(m, v); }) GROUP_COMBINE(m, FMAX) } \
    /* No early return: every lane must reach every barrier (PoCL hangs otherwise). */ \
    FOR_REDUCED_WG(v, { KAHAN(s, c, MAP(v)) }) \
    GROUP_COMBINE(s, ADD) \
    if (get_local_id(0) == 0) y[o] = NEEDMAX && !isfinite(m) ? m : FIN(s); \
}

// Folding kinds: acc = STEP(acc, x) from INIT.
#define FOLD(NAME, T, INIT, STEP) \
__kernel void reduce_##NAME##_##T(__global const T* x, __global T* y, int n, int rcount, \
                                  __constant const int* meta) { \
    int o = get_global_id(0); \
    if (o >= n) return; \
    PROLOGUE \
    T v, acc = INIT; \
    FOR_REDUCED(v, { acc = STEP(acc, v); }) \
    y[o] = acc; \
} \
__kernel void reduce_##NAME##_##T##_wg(__global const T* x, __global T* y, int n, int rcount, \
                                       __constant const int* meta, __local T* scratch) { \
    int o = get_group_id(0); \
    PROLOGUE \
    T v, acc = INIT; \
    FOR_REDUCED_WG(v, { acc = STEP(acc, v); }) \
    GROUP_COMBINE(acc, STEP) \
    if (get_local_id(0) == 0) y[o] = acc; \
}

#define ID(v) (v)
#define SQUARE(v) ((v) * (v))
#define MEAN_FIN(s) ((s) / (float)rcount)
#define LSE_MAP(v) exp((v) - m)
#define LSE_FIN(s) (m + log(s))

ADDITIVE(sum, 0, ID, ID)
ADDITIVE(mean, 0, ID, MEAN_FIN)
ADDITIVE(l1, 0, fabs, ID)
ADDITIVE(l2, 0, SQUARE, sqrt)
ADDITIVE(sumsq, 0, SQUARE, ID)
ADDITIVE(logsum, 0, ID, log)
ADDITIVE(lse, 1, LSE_MAP, LSE_FIN)

FOLD(max, float, -INFINITY, FMAX)
FOLD(min, float, INFINITY, FMIN)
FOLD(prod, float, 1.0f, MUL)
FOLD(sum, long, 0, ADD)
FOLD(max, long, LONG_MIN, LMAX)
FOLD(min, long, LONG_MAX, LMIN)
FOLD(prod, long, 1, MUL)

// Integer reductions over no elements: every output is the type's identity `v`.
__kernel void reduce_fill_long(__global long* y, int n, long v) {
    int o = get_global_id(0);
    if (o < n) y[o] = v;
}
