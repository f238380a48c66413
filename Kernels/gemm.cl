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

// CPU-style variants for PoCL-like devices (chosen in StridedGemm.encode; GPUs keep gemm_tile).
// Both take the same arguments and meta as gemm_tile.

#ifndef DOT_M
#define DOT_M 1
#endif
#ifndef DOT_N
#define DOT_N 4
#endif

// Dot-product form, for A and B both contiguous along K (as_k = bs_k = 1: e.g. a fully connected
// layer with transB = 1, whose weight rows are the columns of B). B is stored as WTYPE (fp32, or
// a constant weight in bf16/fp16 with -DW_BF16/-DW_FP16; common.cl). Each work-item computes DOT_M rows
// × DOT_N columns of Y as float8 dot products (DOT_M·DOT_N float8 accumulators, each A and B row
// read once per work-item), reduced at the end, then the K % 8 tail in order.
// Global: [ceil(N/DOT_N), ceil(M/DOT_M), batches].
__kernel void gemm_dot(__global const float* A, __global const WTYPE* B, __global const float* C,
                       __global float* Y, __constant const int* meta, float alpha, float beta,
                       int hasC, int batches) {
    const int M = meta[0], N = meta[1], K = meta[2];
    const int n0 = (int)get_global_id(0) * DOT_N, m0 = (int)get_global_id(1) * DOT_M, b = (int)get_global_id(2);
    if (m0 >= M || n0 >= N || b >= batches) return;
    const int asm_ = meta[3], bsn = meta[6], csm = meta[7], csn = meta[8];
    const int rank = meta[9];
    __constant const int* dims = meta + 10;
    __global const float* a = A + strided_offset(b, rank, dims, dims + rank);
    __global const WTYPE* bp = B + strided_offset(b, rank, dims, dims + 2 * rank);

    // Tail rows/columns re-read the last valid row/column and are not stored.
    __global const float* ar[DOT_M];
    __global const WTYPE* br[DOT_N];
    float8 acc[DOT_M][DOT_N];
    _Pragma("unroll")
    for (int i = 0; i < DOT_M; ++i) {
        ar[i] = a + min(m0 + i, M - 1) * asm_;
        _Pragma("unroll")
        for (int j = 0; j < DOT_N; ++j) acc[i][j] = (float8)(0.0f);
    }
    _Pragma("unroll")
    for (int j = 0; j < DOT_N; ++j) br[j] = bp + min(n0 + j, N - 1) * bsn;
    const int k8 = K & ~7;
    for (int k = 0; k < k8; k += 8) {
        float8 av[DOT_M], bv[DOT_N];
        _Pragma("unroll")
        for (int i = 0; i < DOT_M; ++i) av[i] = vload8(0, ar[i] + k);
        _Pragma("unroll")
        for (int j = 0; j < DOT_N; ++j) bv[j] = WLOAD8(br[j] + k);
        _Pragma("unroll")
        for (int i = 0; i < DOT_M; ++i)
            _Pragma("unroll")
            for (int j = 0; j < DOT_N; ++j) acc[i][j] += av[i] * bv[j];
    }

    __global const float* c = hasC ? C + strided_offset(b, rank, dims, dims + 3 * rank) : C;
    __global float* y = Y + (long)b * M * N;
    for (int i = 0; i < DOT_M; ++i) {
        const int m = m0 + i;
        if (m >= M) break;
        for (int j = 0; j < DOT_N; ++j) {
            const int n = n0 + j;
            if (n >= N) break;
            const float8 t = acc[i][j];
            float s = ((t.s0 + t.s1) + (t.s2 + t.s3)) + ((t.s4 + t.s5) + (t.s6 + t.s7));
            for (int k = k8; k < K; ++k) s += ar[i][k] * WLOAD1(br[j] + k);
            float v = alpha * s;
            if (hasC) v += beta * c[m * csm + n * csn];
            y[m * N + n] = act(v);
        }
    }
}

#ifndef ROW_M
#define ROW_M 4
#endif
#ifndef ROW_V
#define ROW_V 2
#endif
#define ROW_N (16 * ROW_V)

// Row-block form, for B contiguous along N (bs_n = 1; A any strides): each work-item computes
// ROW_M rows × ROW_N = 16·ROW_V columns of Y in ROW_M·ROW_V float16 accumulators, summing over k
// in order: per k, ROW_V vector loads of B's row and ROW_M broadcasts of A. The last column block
// (N % ROW_N) reads B through a clamped private copy. Global: [ceil(N/ROW_N), ceil(M/ROW_M), batches].
__kernel void gemm_rows(__global const float* A, __global const float* B, __global const float* C,
                        __global float* Y, __constant const int* meta, float alpha, float beta,
                        int hasC, int batches) {
    const int M = meta[0], N = meta[1], K = meta[2];
    const int n0 = (int)get_global_id(0) * ROW_N, m0 = (int)get_global_id(1) * ROW_M, b = (int)get_global_id(2);
    if (m0 >= M || n0 >= N || b >= batches) return;
    const int asm_ = meta[3], ask = meta[4], bsk = meta[5], csm = meta[7], csn = meta[8];
    const int rank = meta[9];
    __constant const int* dims = meta + 10;
    __global const float* a = A + strided_offset(b, rank, dims, dims + rank);
    __global const float* bp = B + strided_offset(b, rank, dims, dims + 2 * rank) + n0;

    __global const float* ar[ROW_M];
    float16 acc[ROW_M][ROW_V];
    _Pragma("unroll")
    for (int i = 0; i < ROW_M; ++i) {
        ar[i] = a + min(m0 + i, M - 1) * asm_;
        _Pragma("unroll")
        for (int v = 0; v < ROW_V; ++v) acc[i][v] = (float16)(0.0f);
    }
    if (n0 + ROW_N <= N) {
        for (int k = 0; k < K; ++k, bp += bsk) {
            float16 bv[ROW_V];
            _Pragma("unroll")
            for (int v = 0; v < ROW_V; ++v) bv[v] = vload16(v, bp);
            const int ka = k * ask;
            _Pragma("unroll")
            for (int i = 0; i < ROW_M; ++i) {
                const float av = ar[i][ka];
                _Pragma("unroll")
                for (int v = 0; v < ROW_V; ++v) acc[i][v] += av * bv[v];
            }
        }
    } else {
        const int last = N - 1 - n0;
        float t[ROW_N];
        for (int k = 0; k < K; ++k, bp += bsk) {
            for (int q = 0; q < ROW_N; ++q) t[q] = bp[min(q, last)];
            float16 bv[ROW_V];
            for (int v = 0; v < ROW_V; ++v) bv[v] = vload16(v, t);
            const int ka = k * ask;
            for (int i = 0; i < ROW_M; ++i) {
                const float av = ar[i][ka];
                for (int v = 0; v < ROW_V; ++v) acc[i][v] += av * bv[v];
            }
        }
    }

    __global const float* c = hasC ? C + strided_offset(b, rank, dims, dims + 3 * rank) : C;
    __global float* y = Y + (long)b * M * N;
    const int cols = min(ROW_N, N - n0);
    for (int i = 0; i < ROW_M; ++i) {
        const int m = m0 + i;
        if (m >= M) break;
        float t[ROW_N];
        _Pragma("unroll")
        for (int v = 0; v < ROW_V; ++v) vstore16(acc[i][v], v, t);
        __global float* yr = y + m * N + n0;
        if (hasC) {
            __global const float* cr = c + m * csm + n0 * csn;
            for (int q = 0; q < cols; ++q) yr[q] = act(alpha * t[q] + beta * cr[q * csn]);
        } else {
            for (int q = 0; q < cols; ++q) yr[q] = act(alpha * t[q]);
        }
    }
}

// After a GEMM computed outside these kernels (CLBlast, StridedGemm's `.clblast` variant, which
// writes Y = alpha·A·B with beta 0): Y = act(Y + beta·C) in place, C addressed as in gemm_tile
// (meta as above). One work-item per element of Y; consecutive work-items, consecutive columns.
__kernel void gemm_epilogue(__global float* Y, __global const float* C, __constant const int* meta, float beta,
                            int hasC, int total) {
    const int i = (int)get_global_id(0);
    if (i >= total) return;
    float v = Y[i];
    if (hasC) {
        const int M = meta[0], N = meta[1], rank = meta[9];
        const int mn = M * N, b = i / mn, r = i - b * mn, m = r / N, n = r - m * N;
        __constant const int* dims = meta + 10;
        v += beta * C[strided_offset(b, rank, dims, dims + 3 * rank) + m * meta[7] + n * meta[8]];
    }
    Y[i] = act(v);
}
