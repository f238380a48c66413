// LpNormalization (one work-item per row) and the row normaliser behind Instance-, Layer- and
// GroupNormalization (one work-group per row of L contiguous elements).

// LpNormalization: row r (of outer·inner) has `len` elements at base + i·inner. y = x / ‖row‖ₚ,
// and 0 where the norm is 0 (as in the ONNX reference).
__kernel void lp_norm_float(__global const float* x, __global float* y, int rows, int len, int inner, int p) {
    int r = get_global_id(0);
    if (r >= rows) return;
    int base = (r / inner) * len * inner + r % inner;
    float s = 0.0f;
    for (int i = 0; i < len; ++i) {
        float v = x[base + i * inner];
        s += p == 1 ? fabs(v) : v * v;
    }
    float norm = p == 1 ? s : sqrt(s);
    for (int i = 0; i < len; ++i) y[base + i * inner] = norm == 0.0f ? 0.0f : x[base + i * inner] / norm;
}

// Sum of every lane's v over the work-group (tree through `scratch`); all lanes get it.
inline float group_sum(float v, __local float* scratch) {
    int l = get_local_id(0), n = get_local_size(0);
    scratch[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = 1; s < n; s <<= 1) {
        if ((l & (2 * s - 1)) == 0 && l + s < n) scratch[l] += scratch[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

// Scale/bias index of element j of row `row`: m = [rmod, rmul, rank, dims, strides],
// index = (row % rmod)·rmul + strided_offset(j, rank, dims, strides).
inline int affine_index(int row, int j, __constant const int* m) {
    return (row % m[0]) * m[1] + strided_offset(j, m[2], m + 3, m + 3 + m[2]);
}

// y = (x − mean)·invstd·scale + bias per row, mean and variance (two passes) over the row's L
// elements; invstd = 1/√(var + eps). With `stats`, mean[row] and invstd[row] are stored too.
__kernel void normalize_rows_float(__global const float* x, __global float* y, int L, float eps,
                                   __global const float* scale, __constant const int* smeta,
                                   __global const float* bias, __constant const int* bmeta, int has_bias,
                                   __global float* mean_out, __global float* invstd_out, int stats,
                                   __local float* scratch) {
    int row = get_group_id(0), l = get_local_id(0), n = get_local_size(0);
    int base = row * L;
    float s = 0.0f;
    for (int j = l; j < L; j += n) s += x[base + j];
    float mean = group_sum(s, scratch) / (float)L;
    float q = 0.0f;
    for (int j = l; j < L; j += n) {
        float d = x[base + j] - mean;
        q += d * d;
    }
    float invstd = 1.0f / sqrt(group_sum(q, scratch) / (float)L + eps);
    for (int j = l; j < L; j += n) {
        float b = has_bias ? bias[affine_index(row, j, bmeta)] : 0.0f;
        y[base + j] = (x[base + j] - mean) * invstd * scale[affine_index(row, j, smeta)] + b;
    }
    if (stats && l == 0) {
        mean_out[row] = mean;
        invstd_out[row] = invstd;
    }
}
