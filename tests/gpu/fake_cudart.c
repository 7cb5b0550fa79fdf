// SPDX-License-Identifier: Apache-2.0
// A stand-in for libcudart: the same exported names and C signatures as the
// CUDA runtime, doing host-memory work instead, so the GPU uprobes can be
// tested on a machine without a GPU. Nothing here knows about Myelin.
#include <stdlib.h>
#include <string.h>

typedef int cudaError_t;
typedef struct { unsigned x, y, z; } dim3;
typedef void* cudaStream_t;

__attribute__((noinline, visibility("default"))) cudaError_t cudaMalloc(void** ptr, size_t size) {
  *ptr = malloc(size);
  return *ptr ? 0 : 2;
}
__attribute__((noinline, visibility("default"))) cudaError_t cudaFree(void* ptr) {
  free(ptr);
  return 0;
}
__attribute__((noinline, visibility("default"))) cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, int kind) {
  (void)kind;
  memmove(dst, src, count);
  return 0;
}
__attribute__((noinline, visibility("default"))) cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, int kind,
                                                                            cudaStream_t stream) {
  (void)stream, (void)kind;
  memmove(dst, src, count);  // not through cudaMemcpy: each entry point counts once
  return 0;
}
__attribute__((noinline, visibility("default"))) cudaError_t cudaLaunchKernel(const void* func, dim3 grid, dim3 block, void** args,
                                                                             size_t shared, cudaStream_t stream) {
  (void)func, (void)grid, (void)block, (void)args, (void)shared, (void)stream;
  return 0;
}
