#!/usr/bin/env bash
# Builds, without root, the Linux guest of the storage test (issue 24): an
# ext4 root on a virtio-blk disk that counts its boots.
#   usage: make-linux-rootfs.sh OUT_DIR [aarch64|riscv64] [storage|blkbench|net|shell]
# (blkbench: only OUT_DIR/linux-ARCH-blkbench-initramfs.cpio.gz, the
# virtio modules and scripts/blkbench-init.sh as /init: `make bench`.
# net: only OUT_DIR/linux-ARCH-net-initramfs.cpio.gz, the virtio-net
# modules, scripts/net-init.sh as /init and scripts/net-stream.sh as
# /bin/net-stream: the network tests, issue 25. shell: only
# OUT_DIR/linux-ARCH-shell-initramfs.cpio.gz, no modules, an /init that
# prints `SHELL-GUEST-UP` and keeps an interactive sh on the console: the
# management API's tests, issue 30.)
# Writes
#   OUT_DIR/linux-ARCH-storage-initramfs.cpio.gz: busybox, the modules the
#     kernel needs for virtio-mmio, virtio-blk and ext4 but does not build
#     in (with what they depend on, from each module's .modinfo: the
#     packages ship no modules.dep), and an /init that mounts /dev/vda
#     (ext4, rw) and runs the check below;
#   OUT_DIR/linux-ARCH-rootfs.ext4: 16 MiB of ext4 (mkfs.ext4 -d) whose
#     /counter holds 0.
# The check reads N from /counter and prints
#   STORAGE-CHECK boots=N file=<ok|missing|bad>
# (file: the 256 KiB /data.bin the previous boot wrote, against the md5 it
# wrote beside it), writes N + 1, a fresh /data.bin and its md5, syncs,
# and then restarts the machine (`reboot -f`) if N is even, else powers
# it off. The kernel comes from the package fetch-linux-guest.sh caches.
set -euo pipefail
out=$1 arch=${2:-aarch64} mode=${3:-storage}
case $arch in
    aarch64) debarch=arm64 flavour=cloud-arm64 ;;
    riscv64) debarch=riscv64 flavour=riscv64 ;;
    *) echo "make-linux-rootfs: no Linux guest for ARCH '$arch'" >&2; exit 2 ;;
esac
die() { echo "make-linux-rootfs: $*" >&2; exit 1; }
cache=${AXVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/axvisor}/debian-$debarch
kernel_deb=$(ls "$cache"/debs/linux-image-*-${flavour}_*.deb 2>/dev/null | head -n1 || true)
busybox_deb=$(ls "$cache"/debs/busybox-static_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$kernel_deb" ] || [ -z "$busybox_deb" ]; then
    "$(dirname "$0")/fetch-linux-guest.sh" "$out" "$arch"
    kernel_deb=$(ls "$cache"/debs/linux-image-*-${flavour}_*.deb | head -n1)
    busybox_deb=$(ls "$cache"/debs/busybox-static_*.deb | head -n1)
fi
mkdir -p "$out"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg -x "$kernel_deb" "$work/kernel"
dpkg -x "$busybox_deb" "$work/busybox"
# bookworm keeps modules in lib/, trixie (merged /usr) in usr/lib/.
moddir=$(ls -d "$work"/kernel/lib/modules/* "$work"/kernel/usr/lib/modules/* 2>/dev/null | head -n1 || true)
[ -n "$moddir" ] || die "$(basename "$kernel_deb") holds no lib/modules/VERSION"
busybox=$work/busybox/bin/busybox
[ -x "$busybox" ] || busybox=$work/busybox/usr/bin/busybox
[ -x "$busybox" ] || die "$(basename "$busybox_deb") holds no busybox"

root=$work/initramfs
mkdir -p "$root"/{bin,proc,sys,dev,mnt,modules}
cp "$busybox" "$root/bin/busybox"

# The modules in load order: each after what its .modinfo `depends=`
# names. Soft dependencies name aliases; the one these modules have
# (crypto-crc32c, of ext4 and jbd2) is given by its module here.
order=()
module_file() { find "$moddir/kernel" -name "$1.ko" -o -name "$1.ko.xz" | head -n1; }
modinfo_field() {
    case $1 in
        *.xz) xz -dc "$1" ;;
        *) cat "$1" ;;
    esac | strings -a | sed -n "s/^$2=//p" | head -n1
}
add_module() {
    local name=$1 file deps dep
    for dep in "${order[@]}"; do [ "$dep" = "$name" ] && return 0; done
    file=$(module_file "$name")
    if [ -z "$file" ]; then
        grep -q "/$name\.ko$" "$moddir/modules.builtin" || die "module $name: neither a file nor built in"
        return 0
    fi
    deps=$(modinfo_field "$file" depends)
    for dep in ${deps//,/ }; do add_module "$dep"; done
    order+=("$name")
    case $file in
        *.xz) xz -dc "$file" > "$root/modules/$name.ko" ;;
        *) cp "$file" "$root/modules/$name.ko" ;;
    esac
}
modules="crc32c_generic virtio_mmio virtio_blk ext4"
[ "$mode" = blkbench ] && modules="virtio_mmio virtio_blk"
[ "$mode" = net ] && modules="virtio_mmio virtio_net"
[ "$mode" = shell ] && modules=""
for m in $modules; do add_module "$m"; done
echo "${order[*]}" > "$root/modules/order"

if [ "$mode" = blkbench ]; then
    install -m 755 "$(dirname "$0")/blkbench-init.sh" "$root/init"
    (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --reproducible) \
        | gzip -9n > "$out/linux-$arch-blkbench-initramfs.cpio.gz"
    echo "blkbench guest: modules ${order[*]} -> $out/linux-$arch-blkbench-initramfs.cpio.gz"
    exit 0
fi
if [ "$mode" = net ]; then
    install -m 755 "$(dirname "$0")/net-init.sh" "$root/init"
    install -m 755 "$(dirname "$0")/net-stream.sh" "$root/bin/net-stream"
    (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --reproducible) \
        | gzip -9n > "$out/linux-$arch-net-initramfs.cpio.gz"
    echo "net guest: modules ${order[*]} -> $out/linux-$arch-net-initramfs.cpio.gz"
    exit 0
fi
if [ "$mode" = shell ]; then
    cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "SHELL-GUEST-UP"
export PS1='shell# ' HOME=/ PATH=/bin
# The console's shell, started again if it exits (init must not end).
while true; do setsid cttyhack sh; done
INIT
    chmod 755 "$root/init"
    (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --reproducible) \
        | gzip -9n > "$out/linux-$arch-shell-initramfs.cpio.gz"
    echo "shell guest: -> $out/linux-$arch-shell-initramfs.cpio.gz"
    exit 0
fi
[ "$mode" = storage ] || die "mode '$mode': storage, blkbench, net or shell"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
for m in $($bb cat /modules/order); do
    $bb insmod /modules/$m.ko || echo "STORAGE-CHECK insmod $m failed"
done
# The disk appears once virtio-blk has probed it: up to 10 s of guest time.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do $bb sleep 0.1; i=$((i + 1)); done
if ! $bb mount -t ext4 -o rw /dev/vda /mnt; then
    echo "STORAGE-CHECK no ext4 root on /dev/vda"
    $bb poweroff -f
fi
n=$($bb cat /mnt/counter 2>/dev/null)
case $n in
    ''|*[!0-9]*) echo "STORAGE-CHECK bad counter '$n'"; $bb umount /mnt; $bb poweroff -f ;;
esac
file=missing
if [ -f /mnt/data.bin ]; then
    file=bad
    (cd /mnt && $bb md5sum -c -s data.md5) && file=ok
fi
echo "STORAGE-CHECK boots=$n file=$file"
$bb dd if=/dev/urandom of=/mnt/data.bin bs=4096 count=64 2>/dev/null
(cd /mnt && $bb md5sum data.bin > data.md5)
echo $((n + 1)) > /mnt/counter
$bb sync
echo "STORAGE-SYNCED boots=$((n + 1)) uptime=$($bb cut -d' ' -f1 /proc/uptime)"
if [ $((n % 2)) -eq 0 ]; then
    $bb reboot -f
fi
$bb poweroff -f
INIT
chmod 755 "$root/init"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --reproducible) \
    | gzip -9n > "$out/linux-$arch-storage-initramfs.cpio.gz"

disk=$work/rootfs
mkdir -p "$disk"
echo 0 > "$disk/counter"
rm -f "$out/linux-$arch-rootfs.ext4"
truncate -s 16M "$out/linux-$arch-rootfs.ext4"
# 4 KiB blocks (mke2fs picks 1 KiB below 512 MiB; other readers need 4 KiB).
mkfs.ext4 -q -F -b 4096 -L storage -E root_owner=0:0 -d "$disk" "$out/linux-$arch-rootfs.ext4"
echo "storage guest: modules ${order[*]} -> $out/linux-$arch-storage-initramfs.cpio.gz" \
    "($(stat -c %s "$out/linux-$arch-storage-initramfs.cpio.gz") bytes), $out/linux-$arch-rootfs.ext4 (16 MiB)"
