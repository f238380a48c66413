// Pad: modes 0 constant, 1 reflect, 2 edge, 3 wrap. Negative begins crop. T: -DT=float or -DT=long.
// meta = output dims, input dims, begin pads, input strides (rank ints each). The fill value is
// value_buf[0] when use_buf (the constant_value input, a device value), else `value`.

__kernel void pad(int n, int rank, int mode, __constant const int* meta,
                  __global const T* src, __global T* dst, T value, __global const T* value_buf, int use_buf) {
    int i = get_global_id(0);
    if (i >= n) return;
    int off = 0, r = i;
    for (int k = rank - 1; k >= 0; --k) {
        int d = meta[k];
        int q = r / d;
        int size = meta[rank + k];
        int c = r - q * d - meta[2 * rank + k];
        r = q;
        if (c < 0 || c >= size) {
            if (mode == 0) {
                dst[i] = use_buf ? value_buf[0] : value;
                return;
            } else if (mode == 1) {
                int p = 2 * (size - 1);
                if (p == 0) {
                    c = 0;
                } else {
                    c %= p;
                    if (c < 0) c += p;
                    if (c >= size) c = p - c;
                }
            } else if (mode == 2) {
                c = c < 0 ? 0 : size - 1;
            } else {
                c %= size;
                if (c < 0) c += size;
            }
        }
        off += c * meta[3 * rank + k];
    }
    dst[i] = src[off];
}
