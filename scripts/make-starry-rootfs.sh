#!/usr/bin/env bash
# Builds the Starry-OS guest's root filesystem without root privileges: an
# ext4 image (mkfs.ext4 -d) holding Debian's static arm64 busybox (from the
# cache scripts/fetch-linux-guest.sh fills) and an /init script, which Starry
# runs as its first process. /init runs a shell command that prints
# `STARRY-SHELL-OK <uname -s>` and lists /, appends a line to /starry-boots
# and prints `STARRY-EXT4-BOOTS <lines>`, then exits: Starry flushes the
# disk and powers off.
#   usage: make-starry-rootfs.sh OUT.ext4
set -euo pipefail
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)
# mkfs.ext4 and e2fsck live in /usr/sbin, which a user's PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin
die() { echo "make-starry-rootfs: $*" >&2; exit 1; }
cache=${AXVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/axvisor}/debian-arm64
busybox_deb=$(ls "$cache"/debs/busybox-static_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$busybox_deb" ]; then
    "$root/scripts/fetch-linux-guest.sh" "$root/target/guests" aarch64
    busybox_deb=$(ls "$cache"/debs/busybox-static_*.deb | head -n1)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg -x "$busybox_deb" "$work/deb"
busybox=$work/deb/bin/busybox
[ -x "$busybox" ] || die "$(basename "$busybox_deb") holds no bin/busybox"
# ELF e_machine 0xb7: AArch64.
[ "$(od -An -tx1 -j18 -N2 "$busybox" | tr -d ' ')" = b700 ] || die "bin/busybox is not an arm64 ELF"

fs=$work/root
mkdir -p "$fs"/{bin,dev,etc,proc,sys,tmp}
cp "$busybox" "$fs/bin/busybox"
for applet in sh ls uname cat echo wc; do ln -s busybox "$fs/bin/$applet"; done
echo starry > "$fs/etc/hostname"
cat > "$fs/init" <<'INIT'
#!/bin/sh
# The Starry guest's first process (scripts/make-starry-rootfs.sh).
/bin/sh -c 'echo "STARRY-SHELL-OK $(uname -s)"; ls /'
# One line per boot on the ext4 root: a later boot sees the earlier ones.
echo "boot" >> /starry-boots
echo "STARRY-EXT4-BOOTS $(wc -l < /starry-boots)"
INIT
chmod 755 "$fs/init"

mkdir -p "$(dirname "$out")"
rm -f "$out"
truncate -s 16M "$out"
# 4 KiB blocks (images under 512 MiB would get 1 KiB ones); the files keep
# the builder's owner, the root directory is root's.
mkfs.ext4 -q -F -b 4096 -L starry -E root_owner=0:0 -d "$fs" "$out"
e2fsck -fn "$out" >/dev/null 2>&1 || die "e2fsck does not find $out clean"
echo "starry rootfs: $out ($(stat -c %s "$out") bytes, busybox from $(basename "$busybox_deb"))"
