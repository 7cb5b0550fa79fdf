#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one program inside Debian's stock cloud kernel under qemu (TCG, no KVM
# needed), for the BPF features this host kernel lacks (fentry/fexit, BPF-LSM,
# kprobes). The kernel comes from the Debian package, unpacked with dpkg -x
# and cached; the initramfs holds busybox, the program and its shared
# libraries. Prints the guest console and exits with the program's status.
#
#   tests/vm/run-in-vm.sh [--file SRC[:DST]]... [--timeout S] -- PROGRAM [ARGS...]
set -euo pipefail

CACHE=${MYELIN_VM_CACHE:-/var/cache/myelin-vm}
TIMEOUT=240
FILES=()
while [ $# -gt 0 ]; do
  case $1 in
    --file) FILES+=("$2"); shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run-in-vm: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ $# -ge 1 ] || { echo "run-in-vm: no program given (see --help)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "run-in-vm: qemu-system-x86_64 missing (apt-get install qemu-system-x86)" >&2; exit 2; }
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q "statically linked" || BUSYBOX=/bin/busybox

# --- the kernel: Debian's linux-image-cloud-amd64 dependency, cached ---
kernel_image() {
  mkdir -p "$CACHE"
  local pkg
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
  [ -n "$pkg" ] || { echo "run-in-vm: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 2; }
  if ! ls "$CACHE/$pkg"/boot/vmlinuz-* >/dev/null 2>&1; then
    (cd "$CACHE" && apt-get download "$pkg" >/dev/null 2>&1) || { echo "run-in-vm: apt-get download $pkg failed" >&2; exit 2; }
    rm -rf "$CACHE/$pkg.tmp" && dpkg -x "$CACHE/${pkg}"_*.deb "$CACHE/$pkg.tmp" && mv "$CACHE/$pkg.tmp" "$CACHE/$pkg"
    rm -f "$CACHE/${pkg}"_*.deb
  fi
  ls "$CACHE/$pkg"/boot/vmlinuz-* | head -n 1
}
KERNEL=$(kernel_image)

# --- the initramfs ---
WORK=$(mktemp -d /tmp/myelin-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,proc,sys,dev,tmp,run,etc,work}
cp "$BUSYBOX" "$ROOT/bin/busybox"

copy_with_libs() {  # $1 = host path, $2 = path in the guest
  install -D -m 0755 "$1" "$ROOT$2"
  # A script has no libraries: ldd fails, and that is fine.
  { ldd "$1" 2>/dev/null || true; } | { grep -oE '/[^ ]+' || true; } | while read -r lib; do
    [ -e "$ROOT$lib" ] || install -D -m 0755 "$lib" "$ROOT$lib"
  done
}
PROG=$1; shift
copy_with_libs "$(readlink -f "$PROG")" /work/prog
for f in "${FILES[@]}"; do
  src=${f%%:*}; dst=${f#*:}; [ "$dst" = "$f" ] && dst=/work/$(basename "$src")
  if [ -x "$src" ] && ldd "$src" >/dev/null 2>&1; then copy_with_libs "$src" "$dst"; else install -D -m 0644 "$src" "$ROOT$dst"; fi
done
printf '%q ' "$@" >"$ROOT/work/args"

cat >"$ROOT/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
# A fresh machine: bpffs, tracefs, securityfs and debugfs are left unmounted
# (myelind mounts what it needs at start).
ip link set lo up 2>/dev/null
echo "MYELIN_VM_KERNEL $(uname -r) $(grep -o 'lsm=[^ ]*' /proc/cmdline)"
cd /work
eval "/work/prog $(cat /work/args)"
echo "MYELIN_VM_EXIT=$?"
poweroff -f
INIT
chmod +x "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$WORK/initrd.gz"

# --- boot ---
set +e
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -m 1024 -smp 1 -nographic -no-reboot \
  -kernel "$KERNEL" -initrd "$WORK/initrd.gz" \
  -append "console=ttyS0 panic=-1 quiet lsm=lockdown,capability,landlock,bpf" </dev/null | tr -d '\r' | tee "$WORK/console.log" |
  grep -v -E '^\x1b\[|^$'
set -e
rc=$(grep -oE 'MYELIN_VM_EXIT=[0-9]+' "$WORK/console.log" | tail -n 1 | cut -d= -f2)
if [ -z "$rc" ]; then
  echo "run-in-vm: the guest did not report an exit status (timeout ${TIMEOUT}s or crash)" >&2
  exit 3
fi
exit "$rc"
