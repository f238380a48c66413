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
    softmax_strided(x, y, base, len, inner);
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

// CPU-style Softmax along an axis followed by at least 16 elements (`inner`): one work-item per 16
// consecutive inner positions of one outer index, the 16 rows in the lanes of float16 vectors
// (contiguous loads; softmax_float reads each row with a stride of `inner`, which PoCL does not
// vectorize: a YOLOv8 DFL head's softmax over 16 bins × 33,600 anchors took 2.2 ms). Same steps
// and order as softmax_float per lane; the last partial block runs them lane by lane.
// Global: [ceil(inner/16), outer].
__kernel void softmax_inner16(__global const float* x, __global float* y, int outer, int len, int inner) {
    const int j0 = get_global_id(0) * 16, o = get_global_id(1);
    if (j0 >= inner || o >= outer) return;
    const int base = o * len * inner + j0;
    if (j0 + 16 <= inner) {
        float16 m = (float16)(-INFINITY);
        for (int i = 0; i < len; ++i) m = fmax(m, vload16(0, x + base + i * inner));
        float16 s = (float16)(0.0f);
        for (int i = 0; i < len; ++i) {
            const float16 e = exp(vload16(0, x + base + i * inner) - m);
            vstore16(e, 0, y + base + i * inner);
            s += e;
        }
        for (int i = 0; i < len; ++i) vstore16(vload16(0, y + base + i * inner) / s, 0, y + base + i * inner);
        return;
    }
    for (int q = 0; j0 + q < inner; ++q) softmax_strided(x, y, base + q, len, inner);
}
