// NetVLAD head (ai.gpuinfer::NetVLAD, Sources/GPUInfer/Ops/Fused/NetVLAD.swift): strided L2
// normalization, soft-assignment with softmax, VLAD aggregation and the WPCA projection. fp32
// accumulation throughout; the work-group size of the reducing kernels must be a power of two.
// WPCA has a GPU-style kernel (netvlad_wpca, local-memory reduction) and a CPU-style one
// (netvlad_wpca_rows, float8 rows), both tiled over the batch by -DROWS/-DNB.

// Normalizes group g = get_group_id(0): its `len` values lie at
// (g / inner)·outer_stride + (g % inner)·inner_stride + t·elem_stride, and become
// v / sqrt(max(Σ v², eps_max) + eps_add) (eps_add = 0: TF l2_normalize; eps_max = 0: MatConvNet).
// One work-group per group (global size = groups · local size); dst may be src.
__kernel void netvlad_l2_groups(__global const float* src, __global float* dst, int inner, int outer_stride,
                                int inner_stride, int elem_stride, int len, float eps_max, float eps_add,
                                __local float* partial) {
    const int g = get_group_id(0), lid = get_local_id(0), wg = get_local_size(0);
    const int base = (g / inner) * outer_stride + (g % inner) * inner_stride;
    float s = 0.0f;
    for (int t = lid; t < len; t += wg) {
        const float v = src[base + t * elem_stride];
        s += v * v;
    }
    partial[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = wg / 2; h > 0; h >>= 1) {
        if (lid < h) partial[lid] += partial[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float ss = partial[0];
    const float r = sqrt((ss > eps_max ? ss : eps_max) + eps_add);
    for (int t = lid; t < len; t += wg) dst[base + t * elem_stride] = src[base + t * elem_stride] / r;
}

// The 16 floats at p, those at and past `valid` read as zero (a block's partial tail).
inline float16 load16_valid(__global const float* p, int valid) {
    if (valid >= 16) return vload16(0, p);
    float t[16];
    for (int q = 0; q < 16; ++q) t[q] = q < valid ? p[q] : 0.0f;
    return vload16(0, t);
}

// A[n,i,:] = softmax_k(Σ_d Wa[k,d]·Xn[n,d,i]) for the `count` = N·P descriptors; Xn is [N,D,P],
// A is [N,P,K]. One work-item per descriptor; the logits are staged in A.
__kernel void netvlad_assign(__global const float* Xn, __global const float* Wa, __global float* A, int count,
                             int D, int K, int P) {
    const int gid = get_global_id(0);
    if (gid >= count) return;
    const int n = gid / P, i = gid - n * P;
    __global const float* x = Xn + n * D * P + i;
    __global float* a = A + gid * K;
    for (int k = 0; k < K; ++k) {
        __global const float* w = Wa + k * D;
        float s = 0.0f;
        for (int d = 0; d < D; ++d) s += w[d] * x[d * P];
        a[k] = s;
    }
    softmax_strided(a, a, 0, K, 1);
}

// V[n,d,k] = Σ_i A[n,i,k]·Xn[n,d,i] + C[d,k]·Σ_i A[n,i,k] (C = the negated centroids), flattened
// d·K + k; one work-item per output (`count` = N·D·K).
__kernel void netvlad_aggregate(__global const float* Xn, __global const float* A, __global const float* C,
                                __global float* V, int count, int D, int K, int P) {
    const int gid = get_global_id(0);
    if (gid >= count) return;
    const int k = gid % K, nd = gid / K, d = nd % D, n = nd / D;
    __global const float* x = Xn + nd * P;
    __global const float* a = A + n * P * K + k;
    float acc = 0.0f, mass = 0.0f;
    for (int i = 0; i < P; ++i) {
        const float w = a[i * K];
        acc += w * x[i];
        mass += w;
    }
    V[gid] = acc + C[d * K + k] * mass;
}

#ifndef ROWS
#define ROWS 4
#endif
#ifndef NB
#define NB 1
#endif

// Y[b,o] = Σ_j W[o,j]·V[b,j] + bias[o], W row-major [rows, cols]. Work-group (g0, g1) computes
// rows g0·ROWS.. for batch items g1·NB.., so every weight value is read once per batch tile of NB
// (NB = 1: a GEMV that streams W once). Work-items stride over j (adjacent items read adjacent
// values) and the partial sums are reduced in local memory (ROWS·NB·wg floats).
__kernel void netvlad_wpca(__global const float* V, __global const float* W, __global const float* bias,
                           __global float* Y, int batch, int rows, int cols, __local float* partial) {
    const int lid = get_local_id(0), wg = get_local_size(0);
    const int row0 = get_group_id(0) * ROWS, b0 = get_group_id(1) * NB;
    float acc[ROWS][NB];
    __global const float* w[ROWS];
    __global const float* v[NB];
    for (int r = 0; r < ROWS; ++r) {
        w[r] = W + min(row0 + r, rows - 1) * cols;  // tail rows are computed again and not stored
        for (int b = 0; b < NB; ++b) acc[r][b] = 0.0f;
    }
    for (int b = 0; b < NB; ++b) v[b] = V + min(b0 + b, batch - 1) * cols;
    for (int j = lid; j < cols; j += wg) {
        float vb[NB];
        for (int b = 0; b < NB; ++b) vb[b] = v[b][j];
        for (int r = 0; r < ROWS; ++r) {
            const float wr = w[r][j];
            for (int b = 0; b < NB; ++b) acc[r][b] += wr * vb[b];
        }
    }
    for (int r = 0; r < ROWS; ++r)
        for (int b = 0; b < NB; ++b) partial[(r * NB + b) * wg + lid] = acc[r][b];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = wg / 2; h > 0; h >>= 1) {
        if (lid < h)
            for (int q = 0; q < ROWS * NB; ++q) partial[q * wg + lid] += partial[q * wg + lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int q = lid; q < ROWS * NB; q += wg) {
        const int r = q / NB, b = q - r * NB;
        if (row0 + r < rows && b0 + b < batch) Y[(b0 + b) * rows + row0 + r] = partial[q * wg] + bias[row0 + r];
    }
}

// CPU-style soft-assignment (devices that are not GPUs), in two kernels. netvlad_logits_rows: the
// logits L[n,i,k] = Σ_d Wa[k,d]·Xn[n,d,i] (d in order, as netvlad_assign) for 16 consecutive
// descriptors i (one float16 load of Xn's row d: contiguous along i) × 8 clusters per work-item in
// 8 float16 accumulators, stored into A. Global: [ceil(P/16), ceil(K/8), N].
__kernel void netvlad_logits_rows(__global const float* Xn, __global const float* Wa, __global float* A, int N, int D, int K, int P) {
    const int i0 = get_global_id(0) * 16, k0 = get_global_id(1) * 8, n = get_global_id(2);
    if (i0 >= P || k0 >= K || n >= N) return;
    float16 acc[8];
    __global const float* w[8];
    for (int r = 0; r < 8; ++r) {
        acc[r] = (float16)(0.0f);
        w[r] = Wa + min(k0 + r, K - 1) * D;
    }
    __global const float* x = Xn + n * D * P + i0;
    for (int d = 0; d < D; ++d, x += P) {
        const float16 xv = load16_valid(x, P - i0);
        for (int r = 0; r < 8; ++r) acc[r] += w[r][d] * xv;
    }
    for (int r = 0; r < 8 && k0 + r < K; ++r) {
        float t[16];
        vstore16(acc[r], 0, t);
        for (int q = 0; q < 16 && i0 + q < P; ++q) A[(n * P + i0 + q) * K + k0 + r] = t[q];
    }
}

// The softmax over the K logits of each of the `count` = N·P descriptors, in place.
__kernel void netvlad_softmax_rows(__global float* A, int count, int K) {
    const int gid = get_global_id(0);
    if (gid < count) softmax_strided(A, A, gid * K, K, 1);
}

// CPU-style aggregation: V[n,d,k] = Σ_i A[n,i,k]·Xn[n,d,i] + C[d,k]·Σ_i A[n,i,k] (i in order, as
// netvlad_aggregate) for 8 features d × 16 clusters k per work-item: per descriptor i one float16
// load of A's row (contiguous along k) and 8 broadcasts of Xn, the mass summed alongside.
// Global: [ceil(K/16), ceil(D/8), N].
__kernel void netvlad_aggregate_rows(__global const float* Xn, __global const float* A, __global const float* C,
                                     __global float* V, int N, int D, int K, int P) {
    const int k0 = get_global_id(0) * 16, d0 = get_global_id(1) * 8, n = get_global_id(2);
    if (k0 >= K || d0 >= D || n >= N) return;
    float16 acc[8], mass = (float16)(0.0f);
    __global const float* x[8];
    for (int r = 0; r < 8; ++r) {
        acc[r] = (float16)(0.0f);
        x[r] = Xn + (n * D + min(d0 + r, D - 1)) * P;
    }
    __global const float* a = A + n * P * K + k0;
    for (int i = 0; i < P; ++i, a += K) {
        const float16 av = load16_valid(a, K - k0);
        mass += av;
        for (int r = 0; r < 8; ++r) acc[r] += x[r][i] * av;
    }
    for (int r = 0; r < 8 && d0 + r < D; ++r) {
        float t[16], m[16];
        vstore16(acc[r], 0, t);
        vstore16(mass, 0, m);
        __global const float* c = C + (d0 + r) * K + k0;
        __global float* v = V + n * D * K + (d0 + r) * K + k0;
        for (int q = 0; q < 16 && k0 + q < K; ++q) v[q] = t[q] + c[q] * m[q];
    }
}

// CPU-style WPCA (devices that are not GPUs): one work-item computes ROWS rows for NB batch items
// with contiguous float8 loads and vector accumulators, no local memory or barriers. The weight is
// stored as WTYPE (fp32, or bf16/fp16 with -DW_BF16/-DW_FP16: half the bytes to stream).
__kernel void netvlad_wpca_rows(__global const float* V, __global const WTYPE* W, __global const float* bias,
                                __global float* Y, int batch, int rows, int cols) {
    const int row0 = get_global_id(0) * ROWS, b0 = get_global_id(1) * NB;
    if (row0 >= rows || b0 >= batch) return;
    float8 acc[ROWS][NB];
    __global const WTYPE* w[ROWS];
    __global const float* v[NB];
    for (int r = 0; r < ROWS; ++r) {
        w[r] = W + min(row0 + r, rows - 1) * cols;
        for (int b = 0; b < NB; ++b) acc[r][b] = (float8)(0.0f);
    }
    for (int b = 0; b < NB; ++b) v[b] = V + min(b0 + b, batch - 1) * cols;
    const int c8 = cols / 8 * 8;
    for (int j = 0; j < c8; j += 8) {
        float8 vb[NB];
        for (int b = 0; b < NB; ++b) vb[b] = vload8(0, v[b] + j);
        for (int r = 0; r < ROWS; ++r) {
            const float8 wr = WLOAD8(w[r] + j);
            for (int b = 0; b < NB; ++b) acc[r][b] += wr * vb[b];
        }
    }
    for (int r = 0; r < ROWS; ++r) {
        for (int b = 0; b < NB; ++b) {
            const float8 a = acc[r][b];
            float s = ((a.s0 + a.s1) + (a.s2 + a.s3)) + ((a.s4 + a.s5) + (a.s6 + a.s7));
            for (int j = c8; j < cols; ++j) s += WLOAD1(w[r] + j) * v[b][j];
            if (row0 + r < rows && b0 + b < batch) Y[(b0 + b) * rows + row0 + r] = s + bias[row0 + r];
        }
    }
}
