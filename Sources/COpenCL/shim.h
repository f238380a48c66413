// OpenCL 1.2 API surface: PoCL and every GPU driver implement it.
#ifndef GPUINFER_COPENCL_SHIM_H
#define GPUINFER_COPENCL_SHIM_H
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#endif
