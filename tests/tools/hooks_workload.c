// SPDX-License-Identifier: Apache-2.0
// The workload of the TracingPolicy hooks test (tests/integration/
// tracing_hooks_test.sh): each subcommand does one thing a hook sees or
// must not see.
//   dup            dup(0) and dup2(0, 10): syscalls of a list
//   nodup          getppid(): none of them
//   usdt A B       the USDT probes myelin_test:args(int A, long B) and myelin_test:sem(A),
//                  the second only while its semaphore is counted up (printed: sem=N)
//   ret N          calls hooks_workload_ret(N), which returns N * 2 (a uretprobe's value)
// Exit 77: built without <sys/sdt.h> (no USDT probes).
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define HAVE_SDT 1
#endif

// The semaphores of the probes (SystemTap's convention: PROVIDER_NAME_semaphore in .probes).
unsigned short myelin_test_args_semaphore __attribute__((unused, section(".probes")));
unsigned short myelin_test_sem_semaphore __attribute__((unused, section(".probes")));

__attribute__((noinline, used)) long hooks_workload_ret(long n) {
  __asm__ volatile("" ::: "memory");
  return n * 2;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "dup")) return dup(0) < 0 || dup2(0, 10) < 0;
  if (!strcmp(argv[1], "nodup")) return getppid() < 0;
  if (!strcmp(argv[1], "ret") && argc > 2) {
    volatile long r = hooks_workload_ret(atol(argv[2]));
    printf("ret=%ld\n", (long)r);
    return 0;
  }
  if (!strcmp(argv[1], "usdt") && argc > 3) {
#ifdef HAVE_SDT
    int a = atoi(argv[2]);
    long b = atol(argv[3]);
    DTRACE_PROBE2(myelin_test, args, a, b);
    printf("sem=%u\n", (unsigned)myelin_test_sem_semaphore);
    if (myelin_test_sem_semaphore) DTRACE_PROBE1(myelin_test, sem, a);
    return 0;
#else
    return 77;
#endif
  }
  return 2;
}
