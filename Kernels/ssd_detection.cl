// SSD detection output (ai.gpuinfer::SSDDetectionOutput, Sources/GPUInfer/Ops/Fused/SSDDetectionOutput.swift):
// decode, sigmoid + per-class score filter, per-class sort, greedy IoU suppression, class merge
// and top K, written straight into the [N,1,K,7] output. The IoU test is nms.cl's (onnxruntime's
// SuppressByIOU); FP contraction is off so the decode and IoU arithmetic is the reference's.
#pragma OPENCL FP_CONTRACT OFF

// Decoded corners (y_min, x_min, y_max, x_max) per (image, anchor); `count` = N·A.
__kernel void ssd_decode(__global const float* enc, __global const float* anchors, __global float4* boxes, int count, int A,
                         float ys, float xs, float hs, float ws) {
    const int gid = get_global_id(0);
    if (gid >= count) return;
    const int i = gid % A;
    __global const float* e = enc + gid * 4;
    __global const float* a = anchors + i * 4;
    const float yc = (e[0] / ys) * a[2] + a[0];
    const float xc = (e[1] / xs) * a[3] + a[1];
    const float h = exp(e[2] / hs) * a[2];
    const float w = exp(e[3] / ws) * a[3];
    const float hh = h / 2.0f, hw = w / 2.0f;
    boxes[gid] = (float4)(yc - hh, xc - hw, yc + hh, xc + hw);
}

// Per (image, foreground class) group g = n·C + c: sigmoid of logit column c+1 for every anchor,
// candidates with score > threshold compacted in anchor order; `count` = N·C. `floor` is a logit
// below which no score can pass (the threshold's logit minus a margin far above exp's rounding,
// from the host): those anchors skip the exp; the others are judged by the score as computed.
__kernel void ssd_filter(__global const float* logits, __global int* cand_idx, __global float* cand_score,
                         __global int* cand_count, int count, int C, int A, float threshold, float floor) {
    const int g = get_global_id(0);
    if (g >= count) return;
    const int n = g / C, c = g - n * C;
    __global const float* l = logits + n * A * (C + 1) + c + 1;
    int k = 0;
    for (int i = 0; i < A; ++i) {
        const float x = l[i * (C + 1)];
        if (!(x > floor)) continue;
        const float s = 1.0f / (1.0f + exp(-x));
        if (s > threshold) {
            cand_idx[g * A + k] = i;
            cand_score[g * A + k] = s;
            ++k;
        }
    }
    cand_count[g] = k;
}

// Candidate j of group g goes to its rank: descending score, equal scores by lower anchor
// (candidates are in anchor order, so by lower j); `count` = N·C·A.
__kernel void ssd_sort(__global const int* cand_idx, __global const float* cand_score, __global const int* cand_count,
                       __global int* sort_idx, __global float* sort_score, int count, int A) {
    const int gid = get_global_id(0);
    if (gid >= count) return;
    const int g = gid / A, j = gid - g * A;
    const int m = cand_count[g];
    if (j >= m) return;
    __global const float* s = cand_score + g * A;
    const float sj = s[j];
    int rank = 0;
    for (int q = 0; q < m; ++q) rank += (s[q] > sj || (s[q] == sj && q < j)) ? 1 : 0;
    sort_idx[g * A + rank] = cand_idx[g * A + j];
    sort_score[g * A + rank] = sj;
}

inline float4 ssd_corners(float4 b) {
    // (x_min, y_min, x_max, y_max) of a (y1, x1, y2, x2) box, as nms.cl with center_point_box 0.
    return (float4)(fmin(b.y, b.w), fmin(b.x, b.z), fmax(b.y, b.w), fmax(b.x, b.z));
}

// Greedy suppression per group over its sorted candidates, at most `keep` kept (kept_* rows of
// max(keep, 1) entries); `count` = N·C.
__kernel void ssd_nms(__global const float4* boxes, __global const int* sort_idx, __global const float* sort_score,
                      __global const int* cand_count, __global int* kept_idx, __global float* kept_score,
                      __global int* kept_count, int count, int C, int A, int keep, float iou_threshold) {
    const int g = get_global_id(0);
    if (g >= count) return;
    const int n = g / C, stride = keep > 0 ? keep : 1;
    __global const float4* bx = boxes + n * A;
    __global int* sel = kept_idx + g * stride;
    const int m = cand_count[g];
    int kept = 0;
    for (int r = 0; r < m && kept < keep; ++r) {
        const int i = sort_idx[g * A + r];
        const float4 ci = ssd_corners(bx[i]);
        bool ok = true;
        for (int k = 0; k < kept && ok; ++k) {
            if (box_suppresses(ssd_corners(bx[sel[k]]), ci, iou_threshold)) ok = false;
        }
        if (ok) {
            sel[kept] = i;
            kept_score[g * stride + kept] = sort_score[g * A + r];
            ++kept;
        }
    }
    kept_count[g] = kept;
}

// Kept entry k of group g: its rank among all kept entries of its image (descending score, equal
// scores by c·A + anchor); the first K become output rows. `count` = N·C·stride.
__kernel void ssd_merge(__global const float4* boxes, __global const int* kept_idx, __global const float* kept_score,
                        __global const int* kept_count, __global float* out, int count, int C, int A, int stride, int K) {
    const int gid = get_global_id(0);
    if (gid >= count) return;
    const int g = gid / stride, k = gid - g * stride;
    if (k >= kept_count[g]) return;
    const int n = g / C, c = g - n * C;
    const float s = kept_score[gid];
    const int i = kept_idx[gid];
    const int order = c * A + i;
    int rank = 0;
    for (int c2 = 0; c2 < C && rank < K; ++c2) {
        const int g2 = n * C + c2, m = kept_count[g2];
        for (int k2 = 0; k2 < m; ++k2) {
            const float s2 = kept_score[g2 * stride + k2];
            rank += (s2 > s || (s2 == s && c2 * A + kept_idx[g2 * stride + k2] < order)) ? 1 : 0;
        }
    }
    if (rank >= K) return;
    const float4 b = boxes[n * A + i];
    __global float* row = out + (n * K + rank) * 7;
    row[0] = (float)n;
    row[1] = (float)(c + 1);
    row[2] = s;
    row[3] = fmin(fmax(b.y, 0.0f), 1.0f);
    row[4] = fmin(fmax(b.x, 0.0f), 1.0f);
    row[5] = fmin(fmax(b.w, 0.0f), 1.0f);
    row[6] = fmin(fmax(b.z, 0.0f), 1.0f);
}

// Rows r ≥ (detections of the image) become [-1, 0, 0, 0, 0, 0, 0]; `count` = N·K.
__kernel void ssd_fill(__global const int* kept_count, __global float* out, int count, int C, int K) {
    const int gid = get_global_id(0);
    if (gid >= count) return;
    const int n = gid / K, r = gid - n * K;
    int total = 0;
    for (int c = 0; c < C; ++c) total += kept_count[n * C + c];
    if (r < total) return;
    __global float* row = out + gid * 7;
    row[0] = -1.0f;
    for (int q = 1; q < 7; ++q) row[q] = 0.0f;
}
