// GeM pooling (Sources/GPUInfer/Ops/Fused/GeM.swift): y = (Σ max(x, eps)^p / S)^q per plane of S
// values. max keeps NaN (x < eps ? eps : x), as Clip and Max do.

inline float gem_term(float v, float eps, float p) { return pow(v < eps ? eps : v, p); }

// One work-item per plane, summing in index order.
__kernel void gem_planes(__global const float* x, __global float* y, int planes, int size, float eps, float p, float q) {
    const int i = get_global_id(0);
    if (i >= planes) return;
    __global const float* s = x + (long)i * size;
    float acc = 0.0f;
    for (int j = 0; j < size; ++j) acc += gem_term(s[j], eps, p);
    y[i] = pow(acc / (float)size, q);
}

#ifndef GROUP
#define GROUP 64
#endif

// One work-group of GROUP work-items per plane: strided coalesced loads, then a tree reduction
// in local memory.
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void gem_local(__global const float* x, __global float* y, int planes, int size, float eps, float p, float q) {
    __local float part[GROUP];
    const int plane = get_group_id(0), t = get_local_id(0);
    float acc = 0.0f;
    if (plane < planes) {
        __global const float* s = x + (long)plane * size;
        for (int j = t; j < size; j += GROUP) acc += gem_term(s[j], eps, p);
    }
    part[t] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = GROUP / 2; w > 0; w >>= 1) {
        if (t < w) part[t] += part[t + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t == 0 && plane < planes) y[plane] = pow(part[0] / (float)size, q);
}
