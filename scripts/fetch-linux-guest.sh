#!/usr/bin/env bash
# Fetches a Linux kernel and busybox from Debian's packages for one guest
# architecture into a cache outside git, checks what it got, and builds the
# initramfs whose /init prints `LINUX-GUEST-UP cpus=<n>` and powers off.
#   usage: fetch-linux-guest.sh OUT_DIR [aarch64|riscv64]
# Writes OUT_DIR/linux-ARCH.Image and OUT_DIR/linux-ARCH-initramfs.cpio.gz.
# aarch64 takes bookworm's arm64 cloud kernel (the host's own suites);
# riscv64, which bookworm does not have, takes trixie's riscv64 kernel.
# The cache is $AXVISOR_CACHE (default ~/.cache/axvisor); apt checks each
# package against Debian's signed index.
set -euo pipefail
out=$1 arch=${2:-aarch64}
case $arch in
    aarch64) debarch=arm64 flavour=cloud-arm64 elf_machine=b700 version='[0-9.]+-[0-9]+' ;;
    riscv64) debarch=riscv64 flavour=riscv64 elf_machine=f300 version='[0-9.]+[+a-z0-9]*' ;;
    *) echo "fetch-linux-guest: no Linux guest for ARCH '$arch'" >&2; exit 2 ;;
esac
cache=${AXVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/axvisor}/debian-$debarch
mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/debs" "$out"
# As root apt would drop to its sandbox user, who cannot write the cache;
# as a user it needs no sandbox. (Built apart: a failing test inside the
# array assignment would end the script under `set -e`.)
sandbox=()
if [ "$(id -u)" = 0 ]; then
    sandbox=(-oAPT::Sandbox::User=root)
fi
sources=()
if [ "$arch" = riscv64 ]; then
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
        > "$cache/sources.list"
    sources=(-oDir::Etc::SourceList="$cache/sources.list" -oDir::Etc::SourceParts=/nonexistent)
fi
apt_guest=(-qq "${sandbox[@]}" "${sources[@]}" -oAPT::Architecture=$debarch -oAPT::Architectures=$debarch
    -oDir::State::Lists="$cache/lists" -oDir::Cache="$cache"
    -oDir::Cache::Archives="$cache/archives" -oDebug::NoLocking=1)

die() { echo "fetch-linux-guest: $*" >&2; exit 1; }

kernel_deb=$(ls "$cache"/debs/linux-image-*-${flavour}_*.deb 2>/dev/null | head -n1 || true)
busybox_deb=$(ls "$cache"/debs/busybox-static_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$kernel_deb" ] || [ -z "$busybox_deb" ]; then
    echo "fetch-linux-guest: downloading $debarch packages into $cache"
    apt-get "${apt_guest[@]}" update
    # The newest kernel of the flavour the index offers (one exact package name).
    kernel_pkg=$(apt-cache "${apt_guest[@]}" search --names-only "^linux-image-${version}-${flavour}\$" \
        | cut -d' ' -f1 | sort -V | tail -n1)
    [ -n "$kernel_pkg" ] || die "no linux-image-*-$flavour package in the $debarch index"
    (cd "$cache/debs" && apt-get "${apt_guest[@]}" download "$kernel_pkg" busybox-static)
    kernel_deb=$(ls "$cache"/debs/linux-image-*-${flavour}_*.deb | head -n1)
    busybox_deb=$(ls "$cache"/debs/busybox-static_*.deb | head -n1)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg -x "$kernel_deb" "$work/kernel"
dpkg -x "$busybox_deb" "$work/busybox"
# arm64 ships boot/vmlinuz-*, riscv64 boot/vmlinux-* (an Image with an EFI stub).
image=$(ls "$work"/kernel/boot/vmlinuz-* "$work"/kernel/boot/vmlinux-* 2>/dev/null | head -n1 || true)
[ -n "$image" ] || die "$(basename "$kernel_deb") holds no boot/vmlinuz-* or boot/vmlinux-*"
# A gzipped Image is unpacked: the guest is entered at its first byte.
if [ "$(od -An -tx1 -N2 "$image" | tr -d ' ')" = "1f8b" ]; then
    gunzip -c "$image" > "$work/Image"
    image=$work/Image
fi
# An arm64 Image carries "ARMd" at offset 0x38, a riscv one "RSC\x05".
magic=$(dd if="$image" bs=1 skip=56 count=4 status=none | od -An -tx1 | tr -d ' ')
case $arch in
    aarch64) [ "$magic" = 41524d64 ] || die "$image is not an uncompressed arm64 Image" ;;
    riscv64) [ "$magic" = 52534305 ] || die "$image is not an uncompressed riscv64 Image" ;;
esac
# bookworm ships bin/busybox, trixie (merged /usr) usr/bin/busybox.
busybox=$work/busybox/bin/busybox
[ -x "$busybox" ] || busybox=$work/busybox/usr/bin/busybox
[ -x "$busybox" ] || die "$(basename "$busybox_deb") holds no bin/busybox or usr/bin/busybox"
# ELF e_machine: 0xb7 AArch64, 0xf3 RISC-V.
[ "$(od -An -tx1 -j18 -N2 "$busybox" | tr -d ' ')" = "$elf_machine" ] || die "bin/busybox is not a $debarch ELF"
cp "$image" "$out/linux-$arch.Image"

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
    | gzip -9n > "$out/linux-$arch-initramfs.cpio.gz"
echo "linux guest: $(basename "$kernel_deb") + $(basename "$busybox_deb") -> $out"
