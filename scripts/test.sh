#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every test: installs missing Debian packages, builds, then runs the
# unit, datapath, CNI and integration suites with ctest. Needs root for all
# but the unit tests (privileged suites print SKIP without it).
#   scripts/test.sh            # everything
#   scripts/test.sh -L unit    # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
exec ctest --output-on-failure --timeout 600 "$@"
