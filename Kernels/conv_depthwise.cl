// Depthwise 3×3 convolution (Conv with group = C = Cout, weight [C,1,3,3], no dilation), stride
// STRIDE (1 or 2) compiled in, asymmetric pads (TF SAME). Each work-item computes 4 consecutive
// output columns of one channel plane with the 9 weights in registers, summing kh-major then kw
// (the reference's order), then adds the bias and the fused activation (common.cl `act`).
// meta: C, H, W, OH, OW, ph, pw. Global: [OH · ceil(OW/4), C, N].
#ifndef STRIDE
#define STRIDE 1
#endif
#define PX 4
#define SPAN ((PX - 1) * STRIDE + 3)

__kernel void conv2d_dw3x3(__global const float* X, __global const float* Wt, __global const float* Bias, __global float* Y,
                           __constant const int* m, int hasBias, int batch) {
    const int C = m[0], H = m[1], W = m[2], OH = m[3], OW = m[4], ph = m[5], pw = m[6];
    const int owBlocks = (OW + PX - 1) / PX;
    const int p = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (p >= OH * owBlocks || c >= C || n >= batch) return;
    const int oh = p / owBlocks, ow0 = (p - oh * owBlocks) * PX;
    const int ih0 = oh * STRIDE - ph, iw0 = ow0 * STRIDE - pw;
    __global const float* x = X + (n * C + c) * H * W;
    __global const float* wc = Wt + c * 9;
    float w[9];
    for (int i = 0; i < 9; ++i) w[i] = wc[i];
    float acc[PX];
    for (int q = 0; q < PX; ++q) acc[q] = 0.0f;
    const bool interior = iw0 >= 0 && iw0 + SPAN <= W;
    for (int kh = 0; kh < 3; ++kh) {
        const int ih = ih0 + kh;
        if (ih < 0 || ih >= H) continue;
        __global const float* xr = x + ih * W + iw0;
        float xv[SPAN];
        if (interior) {
            for (int t = 0; t < SPAN; ++t) xv[t] = xr[t];
        } else {
            for (int t = 0; t < SPAN; ++t) xv[t] = (iw0 + t >= 0 && iw0 + t < W) ? xr[t] : 0.0f;
        }
        for (int kw = 0; kw < 3; ++kw) {
            const float wv = w[kh * 3 + kw];
            for (int q = 0; q < PX; ++q) acc[q] += wv * xv[q * STRIDE + kw];
        }
    }
    const float b = hasBias ? Bias[c] : 0.0f;
    __global float* yr = Y + ((n * C + c) * OH + oh) * OW + ow0;
    for (int q = 0; q < PX && ow0 + q < OW; ++q) yr[q] = act(acc[q] + b);
}
