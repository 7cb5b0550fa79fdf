// SPDX-License-Identifier: Apache-2.0
// A "GPU workload" linked against the stand-in CUDA libraries, with known
// numbers: 3 x cudaMalloc(1 MiB), 2 x cudaMemcpy(4096), 1 x cudaMemcpyAsync(100),
// 5 x cudaLaunchKernel, 3 x cudaFree, 1 x cuMemAlloc_v2(65536),
// 1 x cuMemcpyHtoD_v2(512), 1 x cuMemcpyDtoH_v2(256), 2 x cuLaunchKernel.
// It then waits for a line on stdin, so the test reads its counters while it runs.
#include <stdio.h>
#include <stdlib.h>

typedef struct { unsigned x, y, z; } dim3;
int cudaMalloc(void** ptr, size_t size);
int cudaFree(void* ptr);
int cudaMemcpy(void* dst, const void* src, size_t count, int kind);
int cudaMemcpyAsync(void* dst, const void* src, size_t count, int kind, void* stream);
int cudaLaunchKernel(const void* func, dim3 grid, dim3 block, void** args, size_t shared, void* stream);
int cuMemAlloc_v2(unsigned long long* dptr, size_t bytes);
int cuMemcpyHtoD_v2(unsigned long long dst, const void* src, size_t bytes);
int cuMemcpyDtoH_v2(void* dst, unsigned long long src, size_t bytes);
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   void* stream, void** params, void** extra);

int main(void) {
  void* p[3];
  static char host[4096];
  for (int i = 0; i < 3; i++) cudaMalloc(&p[i], 1 << 20);
  for (int i = 0; i < 2; i++) cudaMemcpy(p[0], host, sizeof host, 1);
  cudaMemcpyAsync(p[1], host, 100, 1, NULL);
  dim3 g = {1, 1, 1};
  for (int i = 0; i < 5; i++) cudaLaunchKernel((const void*)main, g, g, NULL, 0, NULL);
  for (int i = 0; i < 3; i++) cudaFree(p[i]);
  unsigned long long d = 0;
  cuMemAlloc_v2(&d, 65536);
  cuMemcpyHtoD_v2(d, host, 512);
  cuMemcpyDtoH_v2(host, d, 256);
  for (int i = 0; i < 2; i++) cuLaunchKernel(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL);
  printf("done\n");
  fflush(stdout);
  char line[8];
  if (!fgets(line, sizeof line, stdin)) return 0;
  return 0;
}
