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

// Whether `s` is UTF-8 an API response can carry (a proto3 string): what a
// refusal says reaches `myelin status` and `policy list`.
inline bool is_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    const unsigned char c = static_cast<unsigned char>(s[i + 1 < s.size() ? i + 1 : i]);
    if ((b == 0xe0 && c < 0xa0) || (b == 0xed && c > 0x9f) || (b == 0xf0 && c < 0x90) || (b == 0xf4 && c > 0x8f)) return false;
    i += n;
  }
  return true;
}
