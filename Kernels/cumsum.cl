// CumSum along one axis: row r (of rows = outer·inner) has `len` elements at base + i·inner,
// base = (r / inner)·len·inner + r % inner. `exclusive` writes the sum before the element,
// `reverse` scans from the last element. T: -DT=float or -DT=long. BLOCK: elements per block of
// the blocked scan (cumsum_block_sums → cumsum_block_offsets → cumsum_blocks).

#ifndef T
#define T float
#endif
#ifndef BLOCK
#define BLOCK 256
#endif

// Element `i` of the row in scan order (from the end when reversed).
#define AT(i) (base + (reverse ? len - 1 - (i) : (i)) * inner)

// One work-item per row: a sequential scan in fp32 (or 64-bit) in scan order.
__kernel void cumsum_rows(__global const T* x, __global T* y, int rows, int len, int inner, int exclusive, int reverse) {
    int r = get_global_id(0);
    if (r >= rows) return;
    int base = (r / inner) * len * inner + r % inner;
    T acc = 0;
    for (int i = 0; i < len; ++i) {
        int p = AT(i);
        T v = x[p];
        if (exclusive) { y[p] = acc; acc += v; } else { acc += v; y[p] = acc; }
    }
}

// Blocks cover scan positions: block b of row r holds scan positions b·BLOCK ..< (b+1)·BLOCK
// (the elements len−1−i of a reversed row). sums[r·blocks + b] = Σ of block b.
__kernel void cumsum_block_sums(__global const T* x, __global T* sums, int rows, int len, int inner, int blocks, int reverse) {
    int id = get_global_id(0);
    if (id >= rows * blocks) return;
    int r = id / blocks, b = id - r * blocks;
    int base = (r / inner) * len * inner + r % inner;
    int end = min(len, (b + 1) * BLOCK);
    T acc = 0;
    for (int i = b * BLOCK; i < end; ++i) acc += x[AT(i)];
    sums[id] = acc;
}

// Per row, the block sums become exclusive offsets: block b's offset is the sum of blocks 0..<b.
__kernel void cumsum_block_offsets(__global T* sums, int rows, int blocks) {
    int r = get_global_id(0);
    if (r >= rows) return;
    __global T* s = sums + r * blocks;
    T acc = 0;
    for (int b = 0; b < blocks; ++b) {
        T v = s[b];
        s[b] = acc;
        acc += v;
    }
}

// Block b of row r scanned sequentially from its offset.
__kernel void cumsum_blocks(__global const T* x, __global T* y, __global const T* sums, int rows, int len, int inner,
                            int blocks, int exclusive, int reverse) {
    int id = get_global_id(0);
    if (id >= rows * blocks) return;
    int r = id / blocks, b = id - r * blocks;
    int base = (r / inner) * len * inner + r % inner;
    int end = min(len, (b + 1) * BLOCK);
    T acc = sums[id];
    for (int i = b * BLOCK; i < end; ++i) {
        int p = AT(i);
        T v = x[p];
        if (exclusive) { y[p] = acc; acc += v; } else { acc += v; y[p] = acc; }
    }
}
