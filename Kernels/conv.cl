// Direct 2-D convolution (NCHW, groups, strides, dilations, asymmetric pads; 1-D runs as H = 1).
// Each work-item accumulates a tile of OCB output channels × PXB consecutive output columns in
// registers (fp32), summing over (c, kh, kw) in order. Tails are clamped on load, skipped on store.
// meta: C, H, W, Cout, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, Cg (C/group), Mg (Cout/group), G.
// Global: [OH · ceil(OW/PXB), G · ceil(Mg/OCB), N].

inline void conv2d_tile(__global const float* X, __global const float* Wt, __global const float* Bias,
                        __global float* Y, __constant const int* m, int hasBias, int batch,
                        const int OCB, const int PXB) {
    const int C = m[0], H = m[1], W = m[2], Cout = m[3], OH = m[4], OW = m[5], KH = m[6], KW = m[7];
    const int sh = m[8], sw = m[9], dh = m[10], dw = m[11], ph = m[12], pw = m[13];
    const int Cg = m[14], Mg = m[15], G = m[16];
    const int owBlocks = (OW + PXB - 1) / PXB, ocBlocks = (Mg + OCB - 1) / OCB;
    const int p = get_global_id(0), gb = get_global_id(1), n = get_global_id(2);
    if (p >= OH * owBlocks || gb >= G * ocBlocks || n >= batch) return;
    const int oh = p / owBlocks, ow0 = (p - oh * owBlocks) * PXB;
    const int g = gb / ocBlocks, m0 = (gb - g * ocBlocks) * OCB;
    const int wsize = Cg * KH * KW;

    int wo[8];
    for (int j = 0; j < OCB; ++j) wo[j] = (g * Mg + min(m0 + j, Mg - 1)) * wsize;
    float acc[8];
    for (int i = 0; i < OCB * PXB; ++i) acc[i] = 0.0f;

    __global const float* xg = X + (n * C + g * Cg) * H * W;
    const int ih0 = oh * sh - ph, iw0 = ow0 * sw - pw;
    for (int c = 0; c < Cg; ++c) {
        __global const float* xc = xg + c * H * W;
        const int wc = c * KH * KW;
        for (int kh = 0; kh < KH; ++kh) {
            const int ih = ih0 + kh * dh;
            if (ih < 0 || ih >= H) continue;
            __global const float* xr = xc + ih * W;
            for (int kw = 0; kw < KW; ++kw) {
                float xv[8];
                for (int q = 0; q < PXB; ++q) {
                    const int iw = iw0 + q * sw + kw * dw;
                    xv[q] = (iw >= 0 && iw < W) ? xr[iw] : 0.0f;
                }
                const int wk = wc + kh * KW + kw;
                for (int j = 0; j < OCB; ++j) {
                    const float wv = Wt[wo[j] + wk];
                    for (int q = 0; q < PXB; ++q) acc[j * PXB + q] += wv * xv[q];
                }
            }
        }
    }

    for (int j = 0; j < OCB; ++j) {
        const int oc = g * Mg + m0 + j;
        if (m0 + j >= Mg) break;
        const float bias = hasBias ? Bias[oc] : 0.0f;
        __global float* yr = Y + ((n * Cout + oc) * OH + oh) * OW;
        for (int q = 0; q < PXB; ++q) {
            if (ow0 + q >= OW) break;
            yr[ow0 + q] = act(acc[j * PXB + q] + bias);
        }
    }
}

// 4 output channels × 2 columns: the general case (Cout/group ≥ 4).
__kernel void conv2d_c4p2(__global const float* X, __global const float* Wt, __global const float* Bias,
                          __global float* Y, __constant const int* meta, int hasBias, int batch) {
    conv2d_tile(X, Wt, Bias, Y, meta, hasBias, batch, 4, 2);
}

// 1 output channel × 4 columns: depthwise and narrow groups.
__kernel void conv2d_c1p4(__global const float* X, __global const float* Wt, __global const float* Bias,
                          __global float* Y, __constant const int* meta, int hasBias, int batch) {
    conv2d_tile(X, Wt, Bias, Y, meta, hasBias, batch, 1, 4);
}

// The residual/activation epilogue of a Conv whose kernel stored Σ w·x + b without them (paths
// other than conv2d_blocked, see Conv.swift encode): Y[i] = act(Y[i] + R[i]) with R shaped like Y,
// or act(Y[i]) when hasR is 0 (a residual that broadcasts was added by the Add kernel already).
__kernel void conv_epilogue(int n, __global float* Y, __global const float* R, int hasR) {
    const int i = get_global_id(0);
    if (i >= n) return;
    Y[i] = hasR ? act(Y[i] + R[i]) : act(Y[i]);
}
