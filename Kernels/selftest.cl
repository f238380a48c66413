// Device self-test (`gpuinfer devices --check`, CLRuntime.selfTest): y = a·x + b, element-wise.
__kernel void selftest_axpb(__global const float* x, __global float* y, float a, float b, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    y[i] = a * x[i] + b;
}
