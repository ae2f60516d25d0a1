#!/usr/bin/env bash
# Fetches an arm64 Linux kernel and busybox from Debian's arm64 packages into
# a cache outside git, checks what it got, and builds the initramfs whose
# /init prints `LINUX-GUEST-UP cpus=<n>` and powers off.
#   usage: fetch-linux-guest.sh OUT_DIR
# Writes OUT_DIR/linux-aarch64.Image and OUT_DIR/linux-aarch64-initramfs.cpio.gz.
# The cache is $AXVISOR_CACHE (default ~/.cache/axvisor); apt checks each
# package against Debian's signed index.
set -euo pipefail
out=$1
cache=${AXVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/axvisor}/debian-arm64
mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/debs" "$out"
# As root apt would drop to its sandbox user, who cannot write the cache;
# as a user it needs no sandbox. (Built apart: a failing test inside the
# array assignment would end the script under `set -e`.)
sandbox=()
if [ "$(id -u)" = 0 ]; then
    sandbox=(-oAPT::Sandbox::User=root)
fi
apt_arm64=(-qq "${sandbox[@]}" -oAPT::Architecture=arm64 -oAPT::Architectures=arm64
    -oDir::State::Lists="$cache/lists" -oDir::Cache="$cache"
    -oDir::Cache::Archives="$cache/archives" -oDebug::NoLocking=1)

die() { echo "fetch-linux-guest: $*" >&2; exit 1; }

kernel_deb=$(ls "$cache"/debs/linux-image-*-cloud-arm64_*.deb 2>/dev/null | head -n1 || true)
busybox_deb=$(ls "$cache"/debs/busybox-static_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$kernel_deb" ] || [ -z "$busybox_deb" ]; then
    echo "fetch-linux-guest: downloading arm64 packages into $cache"
    apt-get "${apt_arm64[@]}" update
    # The newest cloud kernel the index offers (one exact package name).
    kernel_pkg=$(apt-cache "${apt_arm64[@]}" search --names-only '^linux-image-[0-9.]+-[0-9]+-cloud-arm64$' \
        | cut -d' ' -f1 | sort -V | tail -n1)
    [ -n "$kernel_pkg" ] || die "no linux-image-*-cloud-arm64 package in the arm64 index"
    (cd "$cache/debs" && apt-get "${apt_arm64[@]}" download "$kernel_pkg" busybox-static)
    kernel_deb=$(ls "$cache"/debs/linux-image-*-cloud-arm64_*.deb | head -n1)
    busybox_deb=$(ls "$cache"/debs/busybox-static_*.deb | head -n1)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg -x "$kernel_deb" "$work/kernel"
dpkg -x "$busybox_deb" "$work/busybox"
image=$(ls "$work"/kernel/boot/vmlinuz-* 2>/dev/null | head -n1)
[ -n "$image" ] || die "$(basename "$kernel_deb") holds no boot/vmlinuz-*"
# An arm64 Image carries "ARMd" at offset 0x38.
[ "$(dd if="$image" bs=1 skip=56 count=4 status=none)" = "ARMd" ] \
    || die "$image is not an uncompressed arm64 Image"
busybox=$work/busybox/bin/busybox
[ -x "$busybox" ] || die "$(basename "$busybox_deb") holds no bin/busybox"
# ELF e_machine 0xb7 = AArch64.
[ "$(od -An -tx1 -j18 -N2 "$busybox" | tr -d ' ')" = "b700" ] || die "bin/busybox is not an arm64 ELF"
cp "$image" "$out/linux-aarch64.Image"

root=$work/initramfs
mkdir -p "$root"/{bin,proc,sys,dev}
cp "$busybox" "$root/bin/busybox"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
# Background jobs read /dev/null (the check below starts some).
/bin/busybox mknod /dev/null c 1 3
echo "LINUX-GUEST-UP cpus=$(/bin/busybox nproc)"
echo "LINUX-GUEST-UPTIME $(/bin/busybox cut -d' ' -f1 /proc/uptime)"
# fpcheck=N on the command line: on every CPU at once, N rounds of
# floating point (awk) and a compression round trip (SIMD copies), each
# compared with the first round's result.
rounds=$(/bin/busybox sed -n 's/.*fpcheck=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$rounds" ]; then
    check() {
        ref="" bad=0 i=0
        while [ "$i" -lt "$rounds" ]; do
            v=$(/bin/busybox awk 'BEGIN { s = 0; for (k = 1; k <= 2000; k++) s += sqrt(k) * 1.000001 / (k + 0.5); printf "%.12f", s }')
            z=$(/bin/busybox dd if=/bin/busybox bs=4096 count=64 2>/dev/null | /bin/busybox gzip -1 | /bin/busybox gunzip | /bin/busybox md5sum)
            [ -z "$ref" ] && ref="$v $z"
            [ "$v $z" != "$ref" ] && bad=$((bad + 1))
            i=$((i + 1))
        done
        echo "FPCHECK worker=$1 rounds=$rounds mismatches=$bad"
    }
    for w in $(/bin/busybox seq 1 $(/bin/busybox nproc)); do check "$w" & done
    wait
fi
/bin/busybox poweroff -f
INIT
chmod 755 "$root/init"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --reproducible) \
    | gzip -9n > "$out/linux-aarch64-initramfs.cpio.gz"
echo "linux guest: $(basename "$kernel_deb") + $(basename "$busybox_deb") -> $out"
