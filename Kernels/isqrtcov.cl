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
