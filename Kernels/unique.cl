// Unique over m slices of L elements (slice i, element t at ((t / inner)·m + i)·inner + t % inner;
// a flattened input is m = n slices of one element). Every pair of slices is compared: one
// work-item per slice. scratch holds first[m], rank[m], count[m] and U. T is the element type;
// for floats NaN equals NaN and sorts after every number.

inline int order_of(T a, T b) {
#ifdef T_IS_FLOAT
    if (isnan(a) || isnan(b)) return isnan(a) == isnan(b) ? 0 : (isnan(a) ? 1 : -1);
#endif
    return a < b ? -1 : (a > b ? 1 : 0);
}

inline int compare_slices(__global const T* x, int m, int inner, int L, int i, int j) {
    for (int t = 0; t < L; ++t) {
        const int base = (t / inner) * m * inner + t % inner;
        const int c = order_of(x[base + i * inner], x[base + j * inner]);
        if (c != 0) return c;
    }
    return 0;
}

// first[i]: the lowest slice equal to slice i.
__kernel void unique_first(__global const T* x, int m, int inner, int L, __global int* scratch) {
    const int i = get_global_id(0);
    if (i >= m) return;
    int f = i;
    for (int j = 0; j < i; ++j) {
        if (compare_slices(x, m, inner, L, i, j) == 0) { f = j; break; }
    }
    scratch[i] = f;
}

// For each first occurrence: its rank among the distinct slices (by value when sorted, else by
// position) and how many slices equal it.
__kernel void unique_rank(__global const T* x, int m, int inner, int L, __global int* scratch, int sorted) {
    const int i = get_global_id(0);
    if (i >= m) return;
    __global const int* first = scratch;
    if (first[i] != i) return;
    int rank = 0, count = 0;
    for (int j = 0; j < m; ++j) {
        if (first[j] == i) ++count;
        if (first[j] != j || j == i) continue;
        if (sorted ? compare_slices(x, m, inner, L, j, i) < 0 : j < i) ++rank;
    }
    scratch[m + i] = rank;
    scratch[2 * m + i] = count;
}

// U, and the four outputs' real shapes: Y (dims with U at `axis`), indices [U], inverse [m], counts [U].
__kernel void unique_count(int m, __global int* scratch, __global long* shape, __constant const int* dims, int rank, int axis, int4 slots) {
    if (get_global_id(0) != 0) return;
    int u = 0;
    for (int i = 0; i < m; ++i) u += scratch[i] == i;
    scratch[3 * m] = u;
    for (int d = 0; d < rank; ++d) shape[slots.s0 + d] = d == axis ? u : dims[d];
    shape[slots.s1] = u;
    shape[slots.s2] = m;
    shape[slots.s3] = u;
}

__kernel void unique_write(__global const T* x, int m, int inner, int L, __global const int* scratch,
                           __global T* y, __global long* indices, __global long* inverse, __global long* counts) {
    const int i = get_global_id(0);
    if (i >= m) return;
    const int f = scratch[i], r = scratch[m + f], u = scratch[3 * m];
    inverse[i] = r;
    if (f != i) return;
    indices[r] = i;
    counts[r] = scratch[2 * m + i];
    for (int t = 0; t < L; ++t) {
        const int o = t / inner, k = t % inner;
        y[(o * u + r) * inner + k] = x[(o * m + i) * inner + k];
    }
}
