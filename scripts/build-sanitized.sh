#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds a sanitizer variant with clang 14 in a build directory beside build/
# (the main build's ctest runs this as the fixture of the asan and fuzz tests):
#   scripts/build-sanitized.sh asan   # build-asan/: myelind, myelin, myelin-cni and the unit and
#                                     #   kube tests under ASan+UBSan (target sanitize_suite)
#   scripts/build-sanitized.sh fuzz   # build-fuzz/: the libFuzzer targets of tests/fuzz (target fuzz_targets)
# Only what the variant's tests run is built. BPF objects are the same
# CO-RE objects as in the main build: they are not sanitized.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  asan) dir=build-asan opt=-DMYELIN_SANITIZE=address,undefined target=sanitize_suite ;;
  fuzz) dir=build-fuzz opt=-DMYELIN_FUZZ=ON target=fuzz_targets ;;
  *) echo "usage: $0 asan|fuzz" >&2; exit 2 ;;
esac
# -O1 as ASan advises; line tables are all a symbolized report needs.
flags="-O1 -gline-tables-only -DNDEBUG"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" "$opt" >/dev/null
cmake --build "$dir" --target "$target" -j "$(nproc)"
