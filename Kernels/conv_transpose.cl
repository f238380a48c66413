// Transposed 2-D convolution (NCHW; 1-D runs as H = 1) in gather form: output pixel (oh, ow)
// takes x[ih, iw]·w[kh, kw] wherever ih·sh − ph + kh·dh = oh (and likewise for w). Each
// work-item accumulates OCB output channels of one pixel, summing over (c, kh, kw) in order.
// meta: C, H, W, Cout, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, Cg (C/group), Mg (Cout/group), G.
// Weights are [C, Mg, KH, KW]. Global: [OH · OW, G · ceil(Mg/OCB), N].

inline void conv_transpose2d_tile(__global const float* X, __global const float* Wt, __global const float* Bias,
                                  __global float* Y, __constant const int* m, int hasBias, int batch, const int OCB) {
    const int C = m[0], H = m[1], W = m[2], Cout = m[3], OH = m[4], OW = m[5], KH = m[6], KW = m[7];
    const int sh = m[8], sw = m[9], dh = m[10], dw = m[11], ph = m[12], pw = m[13];
    const int Cg = m[14], Mg = m[15], G = m[16];
    const int ocBlocks = (Mg + OCB - 1) / OCB;
    const int p = get_global_id(0), gb = get_global_id(1), n = get_global_id(2);
    if (p >= OH * OW || gb >= G * ocBlocks || n >= batch) return;
    const int oh = p / OW, ow = p - oh * OW;
    const int g = gb / ocBlocks, m0 = (gb - g * ocBlocks) * OCB;
    const int ksize = KH * KW;

    int wo[4];
    for (int j = 0; j < OCB; ++j) wo[j] = min(m0 + j, Mg - 1) * ksize;
    float acc[4];
    for (int j = 0; j < OCB; ++j) acc[j] = 0.0f;

    for (int c = 0; c < Cg; ++c) {
        __global const float* xc = X + (n * C + g * Cg + c) * H * W;
        __global const float* wc = Wt + (g * Cg + c) * Mg * ksize;
        for (int kh = 0; kh < KH; ++kh) {
            const int th = oh + ph - kh * dh;
            if (th < 0 || th % sh != 0 || th / sh >= H) continue;
            __global const float* xr = xc + (th / sh) * W;
            for (int kw = 0; kw < KW; ++kw) {
                const int tw = ow + pw - kw * dw;
                if (tw < 0 || tw % sw != 0 || tw / sw >= W) continue;
                const float xv = xr[tw / sw];
                const int wk = kh * KW + kw;
                for (int j = 0; j < OCB; ++j) acc[j] += xv * wc[wo[j] + wk];
            }
        }
    }

    for (int j = 0; j < OCB; ++j) {
        if (m0 + j >= Mg) break;
        const int oc = g * Mg + m0 + j;
        Y[((n * Cout + oc) * OH + oh) * OW + ow] = acc[j] + (hasBias ? Bias[oc] : 0.0f);
    }
}

__kernel void conv_transpose2d_c4(__global const float* X, __global const float* Wt, __global const float* Bias,
                                  __global float* Y, __constant const int* meta, int hasBias, int batch) {
    conv_transpose2d_tile(X, Wt, Bias, Y, meta, hasBias, batch, 4);
}

__kernel void conv_transpose2d_c1(__global const float* X, __global const float* Wt, __global const float* Bias,
                                  __global float* Y, __constant const int* meta, int hasBias, int batch) {
    conv_transpose2d_tile(X, Wt, Bias, Y, meta, hasBias, batch, 1);
}
