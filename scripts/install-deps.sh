#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages Myelin needs to build, test and demo, if any
# are missing. Safe to run again: it only calls apt-get when something lacks.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  clang-14 llvm-14 libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev libmnl-dev
  protobuf-compiler libprotobuf-dev prometheus-cpp-dev libyaml-cpp-dev nlohmann-json3-dev libssl-dev
  python3 openssl
  libgtest-dev googletest
  iproute2 iputils-ping netcat-openbsd socat util-linux jq curl bc iperf3 sockperf iptables nftables ipvsadm time
  containernetworking-plugins prometheus
  libgrpc++-dev protobuf-compiler-grpc etcd-server etcd-client
  qemu-system-x86 cpio busybox-static kmod
  systemtap-sdt-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
