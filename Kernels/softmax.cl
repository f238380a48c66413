// Softmax, LogSoftmax and Hardmax, one work-item per row: row r (of `rows` = outer·inner) has
// `len` elements at base + i·inner, base = (r / inner)·len·inner + r % inner.

#define ROW_BEGIN \
    int r = get_global_id(0); \
    if (r >= rows) return; \
    int base = (r / inner) * len * inner + r % inner;

// Row maximum; fmax ignores NaN, a NaN element then turns the whole row into NaN.
#define ROW_MAX \
    float m = -INFINITY; \
    for (int i = 0; i < len; ++i) m = fmax(m, x[base + i * inner]);

__kernel void softmax_float(__global const float* x, __global float* y, int rows, int len, int inner) {
    ROW_BEGIN
    ROW_MAX
    float s = 0.0f;
    for (int i = 0; i < len; ++i) {
        float e = exp(x[base + i * inner] - m);
        y[base + i * inner] = e;
        s += e;
    }
    for (int i = 0; i < len; ++i) y[base + i * inner] /= s;
}

__kernel void log_softmax_float(__global const float* x, __global float* y, int rows, int len, int inner) {
    ROW_BEGIN
    ROW_MAX
    float s = 0.0f;
    for (int i = 0; i < len; ++i) s += exp(x[base + i * inner] - m);
    float ls = log(s);
    for (int i = 0; i < len; ++i) y[base + i * inner] = (x[base + i * inner] - m) - ls;
}

// 1 at the first maximum (a NaN counts as the maximum, as in ArgMax), 0 elsewhere.
__kernel void hardmax_float(__global const float* x, __global float* y, int rows, int len, int inner) {
    ROW_BEGIN
    float best = x[base];
    int bi = 0;
    for (int i = 1; i < len; ++i) {
        float v = x[base + i * inner];
        if ((v > best || isnan(v)) && !isnan(best)) { best = v; bi = i; }
    }
    for (int i = 0; i < len; ++i) y[base + i * inner] = i == bi ? 1.0f : 0.0f;
}
