// SPDX-License-Identifier: Apache-2.0
// What every fuzz target shares: FUZZ_CHECK states an invariant of a decoder
// (beyond "does not crash"); a broken one aborts, so libFuzzer keeps the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, detail)                                                                                   \
  do {                                                                                                             \
    if (!(cond)) {                                                                                                 \
      std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s: %s\n", __FILE__, __LINE__, #cond,                  \
                   std::string(detail).c_str());                                                                   \
      std::abort();                                                                                                \
    }                                                                                                              \
  } while (0)

inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
