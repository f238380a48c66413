// TurboJPEG API (libturbojpeg0-dev): reports errors instead of exiting the process.
#ifndef GPUINFER_CTURBOJPEG_SHIM_H
#define GPUINFER_CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
#endif
