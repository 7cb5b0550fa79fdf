// SPDX-License-Identifier: Apache-2.0
// The file-integrity benchmark's workload: N x (open for write, write 64
// bytes, close) on files under DIR. Prints nanoseconds per iteration.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fim_loop DIR N\n");
    return 2;
  }
  const long n = atol(argv[2]);
  char path[4096], buf[64] = {0};
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/f%ld", argv[1], i % 16);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, buf, sizeof buf) != sizeof buf) return 1;
    close(fd);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
  return 0;
}
