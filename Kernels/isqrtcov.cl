// iSQRT-COV (ai.gpuinfer::ISqrtCov, Sources/GPUInfer/Ops/Fused/ISqrtCov.swift): row centering,
// traces, pre-normalization with the first Newton–Schulz factor, and the scaled upper-triangle
// gather. The covariance product and the Newton–Schulz iterations are batched C×C GEMMs
// (gemm_tile in gemm.cl). fp32 throughout; each kernel sums in the same order as its reference.

// Xc[r,:] = X[r,:] − mean(X[r,:]) for the `rows` = N·C rows of M values.
__kernel void isqrtcov_center(__global const float* X, __global float* Xc, int rows, int M) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    __global const float* x = X + (long)r * M;
    __global float* y = Xc + (long)r * M;
    float s = 0.0f;
    for (int i = 0; i < M; ++i) s += x[i];
    const float mean = s / (float)M;
    for (int i = 0; i < M; ++i) y[i] = x[i] - mean;
}

// tr[n] = Σ_i S[n,i,i] for the N images (diagonal summed in order).
__kernel void isqrtcov_trace(__global const float* S, __global float* tr, int N, int C) {
    const int n = get_global_id(0);
    if (n >= N) return;
    __global const float* s = S + (long)n * C * C;
    float t = 0.0f;
    for (int i = 0; i < C; ++i) t += s[i * (C + 1)];
    tr[n] = t;
}

// A = S / tr[n] and T = ½(3I − A), elementwise over the `count` = N·C·C entries.
__kernel void isqrtcov_prepare(__global const float* S, __global const float* tr, __global float* A,
                               __global float* T, int count, int C) {
    const int p = get_global_id(0);
    if (p >= count) return;
    const int cc = C * C, n = p / cc, q = p - n * cc, i = q / C, j = q - i * C;
    const float a = S[p] / tr[n];
    A[p] = a;
    T[p] = 0.5f * ((i == j ? 3.0f : 0.0f) - a);
}

// out[n,p] = Y[n, index[p]]·√tr[n] for the `count` = N·K outputs (K = C(C+1)/2, index = the
// row-major upper-triangle positions i·C + j, j ≥ i; CC = C·C).
__kernel void isqrtcov_triu(__global const float* Y, __global const float* tr, __global const int* index,
                            __global float* out, int count, int K, int CC) {
    const int g = get_global_id(0);
    if (g >= count) return;
    const int n = g / K, p = g - n * K;
    out[g] = Y[(long)n * CC + index[p]] * sqrt(tr[n]);
}

// Y[b] = alpha·P[b]·Q[b] (+ beta·D when hasD; D is one C×C matrix for the whole batch) for the N
// row-major C×C matrices: the CPU-style Newton–Schulz product (register blocks, wide vector loads,
// no barriers). Work-item (g0, g1, b) computes rows 4·g1 … 4·g1+3, columns 16·g0 … 16·g0+15 of
// image b, summing over k in order like the reference; a column block past C's last multiple of
// 16 takes the scalar path.
__kernel void isqrtcov_matmul(__global const float* P, __global const float* Q, __global const float* D,
                              __global float* Y, int C, float alpha, float beta, int hasD, int N) {
    const int j0 = get_global_id(0) * 16, i0 = get_global_id(1) * 4, b = get_global_id(2);
    if (j0 >= C || i0 >= C || b >= N) return;
    const long off = (long)b * C * C;
    __global const float* p = P + off;
    __global const float* q = Q + off;
    __global float* y = Y + off;
    const int rows = min(4, C - i0);
    if (j0 + 16 <= C) {
        // Rows past C re-read row C − 1 and are not stored.
        __global const float* p0 = p + i0 * C;
        __global const float* p1 = p + min(i0 + 1, C - 1) * C;
        __global const float* p2 = p + min(i0 + 2, C - 1) * C;
        __global const float* p3 = p + min(i0 + 3, C - 1) * C;
        float16 a0 = (float16)(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < C; ++k) {
            const float16 v = vload16(0, q + k * C + j0);
            a0 += p0[k] * v;
            a1 += p1[k] * v;
            a2 += p2[k] * v;
            a3 += p3[k] * v;
        }
        float16 acc[4] = {a0, a1, a2, a3};
        for (int r = 0; r < rows; ++r) {
            float16 out = alpha * acc[r];
            if (hasD) out += beta * vload16(0, D + (i0 + r) * C + j0);
            vstore16(out, 0, y + (i0 + r) * C + j0);
        }
        return;
    }
    for (int r = 0; r < rows; ++r) {
        __global const float* pr = p + (i0 + r) * C;
        for (int j = j0; j < C; ++j) {
            float s = 0.0f;
            for (int k = 0; k < C; ++k) s += pr[k] * q[k * C + j];
            float out = alpha * s;
            if (hasD) out += beta * D[(i0 + r) * C + j];
            y[(i0 + r) * C + j] = out;
        }
    }
}
