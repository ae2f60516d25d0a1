#!/usr/bin/env bash
# The network benchmark's baseline (issue 25): the two Linux guests of the
# network test (scripts/net-init.sh; same kernel, initramfs, 128 MiB and
# one CPU each as their VMs) bare on QEMU, one QEMU each, their virtio-net
# devices joined by QEMU's socket network on 127.0.0.1 (a free port).
#   usage: net-bare-baseline.sh [aarch64|riscv64] [MIB] [OUT_DIR]
# Prints the guests' NETTEST lines, then one line
#   net-bare arch=ARCH bytes=N tx_secs=S rx_secs=S rtt_avg_us=U md5=ok|bad
# (figures are the guests' own: guest uptime and busybox ping; md5 against
# scripts/net-stream.sh run here). Exit status 1 when a line is missing
# or the md5 differs. Each QEMU is bounded by TIMEOUT seconds (600).
set -euo pipefail
arch=${1:-aarch64} mib=${2:-64} out=${3:-target/bench}
root=$(cd "$(dirname "$0")/.." && pwd)
guests=$root/target/guests
timeout=${TIMEOUT:-600}
case $arch in
    aarch64) qemu=(qemu-system-aarch64 -machine virt -cpu cortex-a72) console=ttyAMA0 ;;
    riscv64) qemu=(qemu-system-riscv64 -machine virt -bios default) console=ttyS0 ;;
    *) echo "net-bare-baseline: ARCH aarch64 or riscv64" >&2; exit 2 ;;
esac
kernel=$guests/linux-$arch.Image initrd=$guests/linux-$arch-net-initramfs.cpio.gz
for f in "$kernel" "$initrd"; do
    [ -f "$f" ] || { echo "net-bare-baseline: $f missing (make-linux-rootfs.sh target/guests $arch net)" >&2; exit 1; }
done
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# guest ROLE IP MAC NETDEV EXTRA-CMDLINE
guest() {
    timeout "$timeout" "${qemu[@]}" -m 128M -smp 1 -nographic -monitor none -serial stdio -nic none \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=$console panic=-1 net.role=$1 net.ip=$2${5:+ $5}" \
        -netdev "socket,id=n0,$4" -device "virtio-net-device,netdev=n0,mac=$3" < /dev/null
}
# The command lines of the VMs (crates/qemu-boot-tests/configs/net/):
# the benchmark checks that they match.
mibarg=
[ "$mib" = 64 ] || mibarg=" net.mib=$mib"
guest server 10.0.2.15/24 02:00:00:00:01:01 "listen=127.0.0.1:$port" "${mibarg# }" > "$work/server.log" 2>&1 &
server=$!
# The listening QEMU is up once its port listens (at most 10 s).
for _ in $(seq 100); do
    [ -n "$(ss -Hltn "sport = :$port")" ] && break
    sleep 0.1
done
guest client 10.0.2.16/24 02:00:00:00:01:02 "connect=127.0.0.1:$port" "net.peer=10.0.2.15$mibarg" \
    > "$work/client.log" 2>&1 || true
wait "$server" || true
cp "$work/server.log" "$out/net-bare-$arch-server.log"
cp "$work/client.log" "$out/net-bare-$arch-client.log"
grep -a -h '^NETTEST' "$work/server.log" "$work/client.log" | tr -d '\r'

field() { grep -a -h "^NETTEST $1" "$work"/*.log | tr -d '\r' | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }
sh "$root/scripts/net-stream.sh" block "$work/block"
want=$(sh "$root/scripts/net-stream.sh" send "$work/block" "$mib" | md5sum | cut -d' ' -f1)
rx_md5=$(field rx md5) rx_secs=$(field rx secs) bytes=$(field rx bytes)
tx_secs=$(field tx secs) rtt=$(field 'ping ok' rtt_avg_us)
md5=bad
[ "$rx_md5" = "$want" ] && md5=ok
echo "net-bare arch=$arch bytes=${bytes:-?} tx_secs=${tx_secs:-?} rx_secs=${rx_secs:-?} rtt_avg_us=${rtt:-?} md5=$md5"
[ "$md5" = ok ] && [ -n "$tx_secs" ] && [ -n "$rtt" ]
