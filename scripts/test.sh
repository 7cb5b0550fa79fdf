#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every test: installs missing Debian packages, builds, then runs the
# unit, datapath, CNI and integration suites with ctest. Needs root for all
# but the unit tests (privileged suites print SKIP without it).
# Also the sanitizer suites, as ctest tests that build their own build
# directories with clang: asan (unit, CNI and some integration tests on an
# ASan+UBSan build, build-asan/) and fuzz (each libFuzzer target for
# MYELIN_FUZZ_SECONDS, default 20, build-fuzz/).
#   scripts/test.sh            # everything
#   scripts/test.sh -L unit    # extra arguments go to ctest
#   scripts/test.sh -L fuzz    # only the fuzz targets
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
exec ctest --output-on-failure --timeout 600 "$@"
