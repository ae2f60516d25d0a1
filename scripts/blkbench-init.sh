#!/bin/busybox sh
# /init of the Linux block benchmark guest (`make bench`, issue 24), put
# in its initramfs by `make-linux-rootfs.sh OUT aarch64 blkbench`. On the
# raw /dev/vda (no filesystem) it runs, with direct I/O (no page cache):
#   seq_write  SEQ_MIB x 1 MiB writes      seq_read  SEQ_MIB x 1 MiB reads
#   req_read   REQS x 4 KiB reads          req_write REQS x 4 KiB writes
# and an empty dd (`spawn`: starting dd, to subtract), each timed by the
# kernel's monotonic clock in ns (/proc/timer_list `now at`), and prints
#   BLKBENCH phase=NAME bytes=B requests=R ns=T
# then `BLKBENCH done` (or `BLKBENCH error=...`) and powers off.
bb=/bin/busybox
SEQ_MIB=64
REQS=4096
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
for m in $($bb cat /modules/order); do
    $bb insmod /modules/$m.ko || echo "BLKBENCH error=insmod-$m"
done
# The disk appears once virtio-blk has probed it: up to 10 s of guest time.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do $bb sleep 0.1; i=$((i + 1)); done
fail() { echo "BLKBENCH error=$1"; $bb poweroff -f; }
[ -b /dev/vda ] || fail no-vda
size=$($bb cat /sys/block/vda/size)
[ $((size * 512)) -ge $((SEQ_MIB << 20)) ] || fail disk-smaller-than-${SEQ_MIB}MiB
now() { $bb awk '/^now at/ { print $3; exit }' /proc/timer_list; }
now >/dev/null && [ -n "$(now)" ] || fail no-clock
# phase NAME BYTES REQUESTS DD-ARGS...
phase() {
    name=$1 bytes=$2 requests=$3
    shift 3
    t0=$(now)
    $bb dd "$@" 2>/dev/null || fail "dd-$name"
    t1=$(now)
    echo "BLKBENCH phase=$name bytes=$bytes requests=$requests ns=$((t1 - t0))"
}
phase spawn 0 0 if=/dev/zero of=/dev/null count=0
phase seq_write $((SEQ_MIB << 20)) $SEQ_MIB if=/dev/zero of=/dev/vda bs=1M count=$SEQ_MIB oflag=direct
phase seq_read $((SEQ_MIB << 20)) $SEQ_MIB if=/dev/vda of=/dev/null bs=1M count=$SEQ_MIB iflag=direct
phase req_read $((REQS * 4096)) $REQS if=/dev/vda of=/dev/null bs=4k count=$REQS iflag=direct
phase req_write $((REQS * 4096)) $REQS if=/dev/zero of=/dev/vda bs=4k count=$REQS oflag=direct
echo "BLKBENCH done"
$bb poweroff -f
