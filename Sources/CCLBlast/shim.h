// CLBlast's C API (Debian libclblast-dev): tuned GEMM for GPU-class OpenCL devices.
#ifndef GPUINFER_CCLBLAST_SHIM_H
#define GPUINFER_CCLBLAST_SHIM_H
#define CL_TARGET_OPENCL_VERSION 120
#include <clblast_c.h>
#endif
