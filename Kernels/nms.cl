// ONNX NonMaxSuppression (Sources/GPUInfer/Ops/Detection/NonMaxSuppression.swift): onnxruntime's
// rules (strict score and IoU comparisons, ties by lower box index, boxes of non-positive area
// never suppress). The arithmetic of suppresses() is the reference's, in the same order; FP
// contraction is off so that no fused multiply-add changes a result exactly at a threshold.
#pragma OPENCL FP_CONTRACT OFF

#ifndef CENTER_POINT_BOX
#define CENTER_POINT_BOX 0
#endif

// Corners (x_min, y_min, x_max, y_max) of a box in the layout given by CENTER_POINT_BOX.
inline float4 nms_corners(__global const float* b) {
#if CENTER_POINT_BOX
    const float hw = b[2] / 2.0f, hh = b[3] / 2.0f;
    return (float4)(b[0] - hw, b[1] - hh, b[0] + hw, b[1] + hh);
#else
    return (float4)(fmin(b[1], b[3]), fmin(b[0], b[2]), fmax(b[1], b[3]), fmax(b[0], b[2]));
#endif
}

inline bool nms_passes(float s, int has_score, float score_threshold) {
    return !isnan(s) && (!has_score || s > score_threshold);
}

// For each of the `count` = groups·B candidates: if it passes the score filter, its rank among
// the passing candidates of its (batch, class) group (descending score, ties by lower index)
// and sorted[group·B + rank] = its index.
__kernel void nms_rank(__global const float* scores, __global int* sorted, int count, int B, int has_score,
                       float score_threshold) {
    const int gid = get_global_id(0);
    if (gid >= count) return;
    const int g = gid / B, i = gid - g * B;
    __global const float* s = scores + g * B;
    const float si = s[i];
    if (!nms_passes(si, has_score, score_threshold)) return;
    int rank = 0;
    for (int j = 0; j < B; ++j) {
        const float sj = s[j];
        if (nms_passes(sj, has_score, score_threshold) && (sj > si || (sj == si && j < i))) ++rank;
    }
    sorted[g * B + rank] = i;
}

// Greedy selection for each of the `groups` (batch, class) pairs (one work-item each): visits
// the sorted candidates and keeps those no kept box suppresses, at most `keep`.
__kernel void nms_greedy(__global const float* boxes, __global const float* scores, __global const int* sorted,
                         __global int* selected, __global int* counts, int groups, int C, int B, int keep,
                         int has_score, float score_threshold, float iou_threshold) {
    const int g = get_global_id(0);
    if (g >= groups) return;
    const int n = g / C;
    __global const float* s = scores + g * B;
    __global const float* bx = boxes + n * B * 4;
    int passing = 0;
    for (int j = 0; j < B; ++j) passing += nms_passes(s[j], has_score, score_threshold) ? 1 : 0;
    __global int* sel = selected + g * keep;
    int kept = 0;
    for (int r = 0; r < passing && kept < keep; ++r) {
        const int i = sorted[g * B + r];
        const float4 ci = nms_corners(bx + i * 4);
        bool ok = true;
        for (int k = 0; k < kept && ok; ++k) {
            if (box_suppresses(nms_corners(bx + sel[k] * 4), ci, iou_threshold)) ok = false;
        }
        if (ok) sel[kept++] = i;
    }
    counts[g] = kept;
}

// counts[0..groups) → exclusive prefix sums in counts[0..groups] (counts[groups] = total). One work-item.
__kernel void nms_offsets(__global int* counts, int groups, __global long* shape, int shape_offset) {
    if (get_global_id(0) != 0) return;
    int total = 0;
    for (int g = 0; g < groups; ++g) {
        const int c = counts[g];
        counts[g] = total;
        total += c;
    }
    counts[groups] = total;
    shape[shape_offset] = total;
    shape[shape_offset + 1] = 3;
}

// Output rows (batch, class, box) at their offsets; rows past the total are −1 (trimmed by the host).
__kernel void nms_write(__global const int* selected, __global const int* offsets, __global long* out, int bound,
                        int groups, int C, int keep) {
    const int t = get_global_id(0);
    if (t >= bound) return;
    const int g = t / keep, k = t - g * keep;
    if (offsets[g] + k < offsets[g + 1]) {
        __global long* row = out + (offsets[g] + k) * 3;
        row[0] = g / C;
        row[1] = g % C;
        row[2] = selected[t];
    }
    if (t >= offsets[groups]) {
        out[t * 3] = -1;
        out[t * 3 + 1] = -1;
        out[t * 3 + 2] = -1;
    }
}

// The shape of an output that can hold no row (max_output_boxes_per_class ≤ 0, no boxes, no class).
__kernel void nms_none(__global long* shape, int shape_offset) {
    if (get_global_id(0) != 0) return;
    shape[shape_offset] = 0;
    shape[shape_offset + 1] = 3;
}
