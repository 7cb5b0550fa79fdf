#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds Myelin into build/ (binaries in build/bin/).
#   scripts/build.sh                          # everything, test suites included
#   scripts/build.sh myelind myelin-cni myelin   # only these targets (and what they need)
# Incremental: up-to-date targets cost a configure check and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
if [ $# -gt 0 ]; then
  cmake --build build -j "$(nproc)" --target "$@"
else
  cmake --build build -j "$(nproc)"
fi
