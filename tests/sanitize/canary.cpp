// SPDX-License-Identifier: Apache-2.0
// A deliberate defect per argument (leak, overflow, ub), built in the
// sanitizer build only: the positive control of run.sh, which must fail a
// run in which any process reports, whatever that process's exit status.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

char* volatile escape;  // keeps the compiler from eliding the allocations

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  volatile int n = argc > 2 ? std::atoi(argv[2]) : 8;
  if (what == "leak") {
    escape = static_cast<char*>(std::malloc(64));
    escape = nullptr;
    return 0;
  }
  if (what == "overflow") {
    escape = new char[8];
    escape[n] = 1;  // n = 8: one past the end
    delete[] escape;
    return 0;
  }
  if (what == "ub") {
    int big = 2147483647;
    std::printf("%d\n", big + n);  // signed overflow
    return 0;
  }
  std::puts("usage: canary leak|overflow|ub");
  return 0;
}
