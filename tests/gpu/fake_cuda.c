// SPDX-License-Identifier: Apache-2.0
// A stand-in for libcuda (the driver API): exported names and signatures as
// in cuda.h (cuMemAlloc and friends are the _v2 symbols there).
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef void* CUfunction;
typedef void* CUstream;

__attribute__((noinline, visibility("default"))) CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytes) {
  *dptr = (CUdeviceptr)(unsigned long)malloc(bytes);
  return *dptr ? 0 : 2;
}
__attribute__((noinline, visibility("default"))) CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes) {
  memcpy((void*)(unsigned long)dst, src, bytes);
  return 0;
}
__attribute__((noinline, visibility("default"))) CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes) {
  memcpy(dst, (const void*)(unsigned long)src, bytes);
  return 0;
}
__attribute__((noinline, visibility("default"))) CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                                                        unsigned by, unsigned bz, unsigned shared, CUstream stream,
                                                                        void** params, void** extra) {
  (void)f, (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shared, (void)stream, (void)params, (void)extra;
  return 0;
}
