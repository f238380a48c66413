// RoiAlign: one work-item per output element (roi, channel, bin) samples its bin's grid of
// bilinear points directly, with the arithmetic of RoiAlign.reference (onnxruntime's order, fp32,
// no contraction). dims = (N, C, H, W) of X. A batch index outside 0..<N (only possible when the
// indices are not known at plan time) gives zeros instead of reading outside X.
#pragma OPENCL FP_CONTRACT OFF

// std::max(a, b): b only when a < b.
inline float max_of(float a, float b) { return a < b ? b : a; }

// ⌈v⌉ as a sample count: 0 for v ≤ 0 or NaN, capped (RoiAlign.Region.ceilCount).
inline int ceil_count(float v) { return v > 0.0f ? (int)fmin(ceil(v), 65536.0f) : 0; }

__kernel void roi_align(int n, __global const float* x, __global const float* rois, __global const long* batch_indices,
                        __global float* y, int4 dims, int out_h, int out_w, int sampling, float scale, int half_pixel,
                        int max_mode) {
    int i = get_global_id(0);
    if (i >= n) return;
    const int channels = dims.y, height = dims.z, width = dims.w;
    int pw = i % out_w, t = i / out_w;
    int ph = t % out_h;
    t /= out_h;
    int c = t % channels, r = t / channels;
    long b = batch_indices[r];
    if (b < 0 || b >= dims.x) { y[i] = 0.0f; return; }

    __global const float* box = rois + r * 4;
    float offset = half_pixel ? 0.5f : 0.0f;
    float start_w = box[0] * scale - offset, start_h = box[1] * scale - offset;
    float rw = (box[2] * scale - offset) - start_w, rh = (box[3] * scale - offset) - start_h;
    if (!half_pixel) { rw = rw < 1.0f ? 1.0f : rw; rh = rh < 1.0f ? 1.0f : rh; }
    float bin_h = rh / (float)out_h, bin_w = rw / (float)out_w;
    int grid_h = sampling > 0 ? sampling : ceil_count(bin_h);
    int grid_w = sampling > 0 ? sampling : ceil_count(bin_w);
    float count = (float)max(grid_h * grid_w, 1);

    __global const float* plane = x + ((int)b * channels + c) * height * width;
    float acc = 0.0f;
    int first = 1;
    for (int iy = 0; iy < grid_h; ++iy) {
        float yy = start_h + (float)ph * bin_h + ((float)iy + 0.5f) * bin_h / (float)grid_h;
        for (int ix = 0; ix < grid_w; ++ix) {
            float xx = start_w + (float)pw * bin_w + ((float)ix + 0.5f) * bin_w / (float)grid_w;
            int p1 = 0, p2 = 0, p3 = 0, p4 = 0;
            float w1 = 0.0f, w2 = 0.0f, w3 = 0.0f, w4 = 0.0f;
            if (!(yy < -1.0f || yy > (float)height || xx < -1.0f || xx > (float)width || isnan(yy) || isnan(xx))) {
                float sy = yy <= 0.0f ? 0.0f : yy, sx = xx <= 0.0f ? 0.0f : xx;
                int y_low = (int)sy, x_low = (int)sx, y_high = y_low + 1, x_high = x_low + 1;
                if (y_low >= height - 1) { y_low = y_high = height - 1; sy = (float)y_low; }
                if (x_low >= width - 1) { x_low = x_high = width - 1; sx = (float)x_low; }
                float ly = sy - (float)y_low, lx = sx - (float)x_low;
                float hy = 1.0f - ly, hx = 1.0f - lx;
                w1 = hy * hx; w2 = hy * lx; w3 = ly * hx; w4 = ly * lx;
                p1 = y_low * width + x_low; p2 = y_low * width + x_high;
                p3 = y_high * width + x_low; p4 = y_high * width + x_high;
            }
            float v1 = w1 * plane[p1], v2 = w2 * plane[p2], v3 = w3 * plane[p3], v4 = w4 * plane[p4];
            if (max_mode) {
                float m = max_of(max_of(max_of(v1, v2), v3), v4);
                acc = first ? m : max_of(acc, m);
                first = 0;
            } else {
                acc += ((v1 + v2) + v3) + v4;
            }
        }
    }
    y[i] = max_mode ? acc : acc / count;
}
