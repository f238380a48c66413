// Retrieval search: cosine scores of a batch of queries against one chunk of the database (a GEMM,
// queries · chunkᵀ, both row-major [rows, dim]), then a per-query top-k kept on the device across
// chunks. Ranking order everywhere: higher score first; equal scores: lower database index first.
// Build options: TOPK (the k); TQ × TR, the queries × rows tile of a search_scores work-item (the
// host uses TQ = 1 for fewer than 4 queries). Sentinel entries have score -INFINITY and index -1.

#ifndef TQ
#define TQ 4
#endif
#ifndef TR
#define TR 4
#endif

#ifndef TOPK
#define TOPK 10
#endif

// scores[q * nr + r] = Σ_d queries[q, d] · db[r, d] for q < nq, r < nr; a work-item computes TQ
// queries × TR rows, summing four interleaved partial sums (d mod 4) and then the dim % 4 tail.
__kernel void search_scores(__global const float* queries, __global const float* db, __global float* scores,
                            int nq, int nr, int dim) {
    const int r0 = (int)get_global_id(0) * TR, q0 = (int)get_global_id(1) * TQ;
    if (r0 >= nr || q0 >= nq) return;
    // Tail rows/queries re-read the last valid one and are not stored.
    long qo[TQ], ro[TR];
    for (int i = 0; i < TQ; ++i) qo[i] = (long)min(q0 + i, nq - 1) * dim;
    for (int j = 0; j < TR; ++j) ro[j] = (long)min(r0 + j, nr - 1) * dim;
    float4 acc[TQ][TR];
    for (int i = 0; i < TQ; ++i)
        for (int j = 0; j < TR; ++j) acc[i][j] = (float4)(0.0f);
    const int d4 = dim & ~3;
    for (int d = 0; d < d4; d += 4) {
        float4 a[TQ], b[TR];
        for (int i = 0; i < TQ; ++i) a[i] = vload4(0, queries + qo[i] + d);
        for (int j = 0; j < TR; ++j) b[j] = vload4(0, db + ro[j] + d);
        for (int i = 0; i < TQ; ++i)
            for (int j = 0; j < TR; ++j) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < TQ; ++i) {
        const int q = q0 + i;
        if (q >= nq) break;
        for (int j = 0; j < TR; ++j) {
            const int r = r0 + j;
            if (r >= nr) break;
            float s = (acc[i][j].x + acc[i][j].y) + (acc[i][j].z + acc[i][j].w);
            for (int d = d4; d < dim; ++d) s += queries[qo[i] + d] * db[ro[j] + d];
            scores[(long)q * nr + r] = s;
        }
    }
}

// CPU-style scores (PoCL and other non-GPU devices): the chunk is packed as [ceil(nr/PR)][dim][PR]
// (row r at block r / PR, lane r % PR; the tail lanes of the last block zero), so a work-item keeps
// a TQ queries × PR rows tile in TQ PR-wide vector registers and, per d, loads one contiguous PR
// vector of the chunk and broadcasts TQ query values (the outer-product form of a CPU GEMM
// micro-kernel). Sums run over d in order. Global: [ceil(nq/TQ), ceil(nr/PR)]; the host makes a
// work-group one row block for all query tiles, so the block (dim · PR floats) is read from cache.
#ifndef PR
#define PR 16
#endif
#define SEARCH_CAT_(a, b) a##b
#define SEARCH_CAT(a, b) SEARCH_CAT_(a, b)
#define PVEC SEARCH_CAT(float, PR)
#define PVSTORE SEARCH_CAT(vstore, PR)

__kernel void search_scores_packed(__global const float* queries, __global const float* packed, __global float* scores,
                                   int nq, int nr, int dim) {
    const int q0 = (int)get_global_id(0) * TQ, r0 = (int)get_global_id(1) * PR;
    if (q0 >= nq || r0 >= nr) return;
    // Tail queries re-read the last valid one and are not stored.
    __global const float* qp[TQ];
    PVEC acc[TQ];
    _Pragma("unroll")
    for (int i = 0; i < TQ; ++i) {
        qp[i] = queries + (long)min(q0 + i, nq - 1) * dim;
        acc[i] = (PVEC)(0.0f);
    }
    __global const PVEC* block = (__global const PVEC*)(packed + (long)(r0 / PR) * dim * PR);
    for (int d = 0; d < dim; ++d) {
        const PVEC b = block[d];
        _Pragma("unroll")
        for (int i = 0; i < TQ; ++i) acc[i] += qp[i][d] * b;
    }
    for (int i = 0; i < TQ; ++i) {
        const int q = q0 + i;
        if (q >= nq) break;
        __global float* out = scores + (long)q * nr + r0;
        if (r0 + PR <= nr) {
            PVSTORE(acc[i], 0, out);
        } else {
            float t[PR];
            PVSTORE(acc[i], 0, t);
            for (int j = 0; j < nr - r0; ++j) out[j] = t[j];
        }
    }
}

// True when (s, i) ranks before (t, j).
inline bool ranks_before(float s, int i, float t, int j) {
    return s > t || (s == t && (uint)i < (uint)j);
}

// Inserts (s, i) into the sorted list (bs, bi) of length TOPK when it ranks before the last entry.
inline void topk_insert(float* bs, int* bi, float s, int i) {
    if (!ranks_before(s, i, bs[TOPK - 1], bi[TOPK - 1])) return;
    int p = TOPK - 1;
    while (p > 0 && ranks_before(s, i, bs[p - 1], bi[p - 1])) {
        bs[p] = bs[p - 1];
        bi[p] = bi[p - 1];
        --p;
    }
    bs[p] = s;
    bi[p] = i;
}

// Work-item (segment, q): the top TOPK of scores[q, seg·seglen …] (at most seglen rows), as global
// indices base + r, into cand_s/cand_i[(q · nseg + seg) · TOPK …], padded with sentinels.
__kernel void topk_segments(__global const float* scores, __global float* cand_s, __global int* cand_i,
                            int nq, int nr, int seglen, int nseg, int base) {
    const int seg = (int)get_global_id(0), q = (int)get_global_id(1);
    if (seg >= nseg || q >= nq) return;
    float bs[TOPK];
    int bi[TOPK];
    for (int j = 0; j < TOPK; ++j) { bs[j] = -INFINITY; bi[j] = -1; }
    const int start = seg * seglen, end = min(start + seglen, nr);
    __global const float* row = scores + (long)q * nr;
    for (int r = start; r < end; ++r) topk_insert(bs, bi, row[r], base + r);
    const long o = ((long)q * nseg + seg) * TOPK;
    for (int j = 0; j < TOPK; ++j) { cand_s[o + j] = bs[j]; cand_i[o + j] = bi[j]; }
}

// Work-item q: merges the nseg candidate lists of query q into its running top-k (best_s/best_i,
// [nq, TOPK], in place). Candidates are sorted per list, so a list stops at its first sentinel.
__kernel void topk_merge(__global const float* cand_s, __global const int* cand_i, __global float* best_s,
                         __global int* best_i, int nq, int nseg) {
    const int q = (int)get_global_id(0);
    if (q >= nq) return;
    float bs[TOPK];
    int bi[TOPK];
    for (int j = 0; j < TOPK; ++j) { bs[j] = best_s[q * TOPK + j]; bi[j] = best_i[q * TOPK + j]; }
    for (int seg = 0; seg < nseg; ++seg) {
        const long o = ((long)q * nseg + seg) * TOPK;
        for (int j = 0; j < TOPK; ++j) {
            const int i = cand_i[o + j];
            if (i < 0) break;
            const float s = cand_s[o + j];
            if (!ranks_before(s, i, bs[TOPK - 1], bi[TOPK - 1])) break;
            topk_insert(bs, bi, s, i);
        }
    }
    for (int j = 0; j < TOPK; ++j) { best_s[q * TOPK + j] = bs[j]; best_i[q * TOPK + j] = bi[j]; }
}
