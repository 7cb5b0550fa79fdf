# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Start of every end-to-end test: strict mode, the namespace cluster, the
# assertions, and a clear SKIP without root.
set -euo pipefail
_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$_here/../../scripts/lib/cluster.sh"
source "$_here/lib_assert.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespaces, BPF)"; exit 0; }
