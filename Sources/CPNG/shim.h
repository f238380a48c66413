// libpng (libpng-dev), simplified read API: png_image_* report errors in png_image.message
// instead of longjmp-ing into the caller.
#ifndef GPUINFER_CPNG_SHIM_H
#define GPUINFER_CPNG_SHIM_H
#include <png.h>
#endif
