// Batched strided GEMM: Y[b] = alpha·A[b]·B[b] + beta·C[b], each work-item a 4×4 tile of Y.
// Operands are addressed by strides, so transposes, broadcast batches and bias rows/columns
// need no copies. meta: M, N, K, as_m, as_k, bs_k, bs_n, cs_m, cs_n, rank, then rank batch
// dims and rank batch strides for each of A, B and C. Y is dense [batch, M, N].

#define TM 4
#define TN 4

__kernel void gemm_tile(__global const float* A, __global const float* B, __global const float* C,
                        __global float* Y, __constant const int* meta, float alpha, float beta,
                        int hasC, int batches) {
    const int M = meta[0], N = meta[1], K = meta[2];
    const int m0 = (int)get_global_id(1) * TM, n0 = (int)get_global_id(0) * TN, b = (int)get_global_id(2);
    if (m0 >= M || n0 >= N || b >= batches) return;
    const int asm_ = meta[3], ask = meta[4], bsk = meta[5], bsn = meta[6], csm = meta[7], csn = meta[8];
    const int rank = meta[9];
    __constant const int* dims = meta + 10;
    __global const float* a = A + strided_offset(b, rank, dims, dims + rank);
    __global const float* bp = B + strided_offset(b, rank, dims, dims + 2 * rank);

    // Tail rows/columns re-read the last valid row/column and are not stored.
    int ra[TM], cb[TN];
    for (int i = 0; i < TM; ++i) ra[i] = min(m0 + i, M - 1) * asm_;
    for (int j = 0; j < TN; ++j) cb[j] = min(n0 + j, N - 1) * bsn;

    float acc[TM][TN];
    for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
    for (int k = 0; k < K; ++k) {
        float av[TM], bv[TN];
        for (int i = 0; i < TM; ++i) av[i] = a[ra[i] + k * ask];
        for (int j = 0; j < TN; ++j) bv[j] = bp[k * bsk + cb[j]];
        for (int i = 0; i < TM; ++i)
            for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
    }

    __global const float* c = hasC ? C + strided_offset(b, rank, dims, dims + 3 * rank) : C;
    __global float* y = Y + (long)b * M * N;
    for (int i = 0; i < TM; ++i) {
        const int m = m0 + i;
        if (m >= M) break;
        for (int j = 0; j < TN; ++j) {
            const int n = n0 + j;
            if (n >= N) break;
            float v = alpha * acc[i][j];
            if (hasC) v += beta * c[m * csm + n * csn];
            y[m * N + n] = act(v);
        }
    }
}
