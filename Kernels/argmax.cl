// ArgMax/ArgMin and TopK along one axis, one work-item per row: row r (of `rows` = outer·inner)
// has `len` elements at base + i·inner, base = (r / inner)·len·inner + r % inner.
// NaN beats every number; among ties the lower index wins (ArgMax: the last with `last`).

#define ROW_BEGIN \
    int r = get_global_id(0); \
    if (r >= rows) return; \
    int base = (r / inner) * len * inner + r % inner;

#define NAN_float(v) isnan(v)
#define NAN_long(v) 0
#define GT(a, b) ((a) > (b))
#define LT(a, b) ((a) < (b))
// Whether v strictly beats b under CMP, NaN first.
#define BEATS(T, CMP, v, b) (NAN_##T(v) ? !NAN_##T(b) : (!NAN_##T(b) && CMP(v, b)))
#define TIES(T, v, b) ((v) == (b) || (NAN_##T(v) && NAN_##T(b)))

#define ARG(NAME, T, CMP) \
__kernel void NAME##_##T(__global const T* x, __global long* y, int rows, int len, int inner, int last) { \
    ROW_BEGIN \
    T best = x[base]; \
    int bi = 0; \
    for (int i = 1; i < len; ++i) { \
        T v = x[base + i * inner]; \
        if (BEATS(T, CMP, v, best) || (last && TIES(T, v, best))) { best = v; bi = i; } \
    } \
    y[r] = bi; \
}

ARG(argmax, float, GT)
ARG(argmin, float, LT)
ARG(argmax, long, GT)
ARG(argmin, long, LT)

// TopK: insertion into the row's k output slots (values and indices at ob + j·inner). A later
// element only displaces strictly worse ones, so ties keep the lower index first. NaN sorts
// above every number (first when `largest`, last otherwise), as in the ONNX reference.
#define BEFORE(T, v, b) (largest ? BEATS(T, GT, v, b) : (!NAN_##T(v) && (NAN_##T(b) || (v) < (b))))
#define TOPK(T) \
__kernel void topk_##T(__global const T* x, __global T* vals, __global long* idx, int rows, int len, int inner, \
                       int k, int largest) { \
    ROW_BEGIN \
    int ob = (r / inner) * k * inner + r % inner; \
    int count = 0; \
    for (int i = 0; i < len; ++i) { \
        T v = x[base + i * inner]; \
        if (count == k && !BEFORE(T, v, vals[ob + (k - 1) * inner])) continue; \
        int p = count < k ? count : k - 1; \
        while (p > 0 && BEFORE(T, v, vals[ob + (p - 1) * inner])) { \
            vals[ob + p * inner] = vals[ob + (p - 1) * inner]; \
            idx[ob + p * inner] = idx[ob + (p - 1) * inner]; \
            --p; \
        } \
        vals[ob + p * inner] = v; \
        idx[ob + p * inner] = i; \
        if (count < k) ++count; \
    } \
}

TOPK(float)
TOPK(long)
