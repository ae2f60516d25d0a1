#!/bin/busybox sh
# /init of the Linux network test guest (issue 25), put in its initramfs by
# `make-linux-rootfs.sh OUT ARCH net`. Its role and addresses come from the
# kernel command line:
#   net.role=server|client|uplink  net.ip=ADDR/PREFIX  [net.peer=ADDR]
#   [net.gw=ADDR]  [net.mib=64]  [net.port=5000]  [net.watchdog=600]
# It loads the virtio-net modules, brings eth0 up, and then
#   server: receives one TCP connection on net.port (busybox nc) into
#           md5sum and wc -c, timed from its first byte to its end:
#             NETTEST rx md5=<hex> bytes=<n> secs=<s.cc>
#   client: pings net.peer until it answers (at most 120 tries), then
#             NETTEST ping ok sent=5 received=<n> rtt_avg_us=<us>
#           sends net.mib MiB of /bin/net-stream to net.peer:net.port:
#             NETTEST tx done bytes=<n> secs=<s.cc>
#   uplink: pings net.gw (default 10.0.2.2):  NETTEST uplink ok|FAIL ...
# Failures print `NETTEST error=WHAT`. Seconds are guest uptime
# (/proc/uptime, 10 ms steps). Every role ends with `poweroff -f`; a
# watchdog powers the guest off after net.watchdog seconds of uptime.
/bin/busybox mkdir -p /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp
mount -t tmpfs tmpfs /tmp

fail() { echo "NETTEST error=$1"; poweroff -f; }
arg() {
    for word in $(cat /proc/cmdline); do
        case $word in net.$1=*) echo "${word#*=}"; return ;; esac
    done
    echo "$2"
}
role=$(arg role '') ip=$(arg ip '') peer=$(arg peer '') gw=$(arg gw '')
mib=$(arg mib 64) port=$(arg port 5000) watchdog=$(arg watchdog 600)
(sleep "$watchdog"; echo "NETTEST error=watchdog"; poweroff -f) &
# Uptime in hundredths of a second.
now_cs() { awk '{ printf "%d", $1 * 100 + 0.5 }' /proc/uptime; }
secs() { c=$(($2 - $1)); printf '%d.%02d' $((c / 100)) $((c % 100)); }

for m in $(cat /modules/order); do
    insmod /modules/$m.ko || fail "insmod-$m"
done

# The receiver listens before eth0 has an address: once the client's ping
# is answered, the port is open.
if [ "$role" = server ]; then
    mkfifo /tmp/hold /tmp/count
    exec 3<>/tmp/hold
    (
        # nc's stdin never ends (fd 3), so it stops only at the socket's EOF.
        nc -l -p "$port" <&3 | {
            dd bs=1 count=1 of=/tmp/first 2>/dev/null
            t0=$(now_cs)
            wc -c < /tmp/count > /tmp/bytes &
            { cat /tmp/first; cat; } | tee /tmp/count | md5sum > /tmp/md5
            wait
            t1=$(now_cs)
            echo "NETTEST rx md5=$(cut -d' ' -f1 /tmp/md5) bytes=$(cat /tmp/bytes) secs=$(secs "$t0" "$t1")"
        }
    ) &
    receiver=$!
fi

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /sys/class/net/eth0 ] || fail no-eth0
[ -n "$ip" ] || fail no-net.ip
ip link set lo up
ip link set eth0 up || fail eth0-up
ip addr add "$ip" dev eth0 || fail "ip-addr-$ip"
[ -z "$gw" ] || ip route add default via "$gw" || fail "route-$gw"
echo "NETTEST eth0 up role=$role ip=$ip mac=$(cat /sys/class/net/eth0/address)"

case $role in
server)
    wait "$receiver"
    ;;
client)
    [ -n "$peer" ] || fail no-net.peer
    i=0
    until ping -c 1 -W 1 "$peer" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 120 ] || fail "peer-$peer-silent"
    done
    out=$(ping -c 5 "$peer")
    received=$(echo "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
    # busybox: "round-trip min/avg/max = 0.412/0.602/0.911 ms"
    avg=$(echo "$out" | sed -n 's|^round-trip .* = [0-9.]*/\([0-9]*\.[0-9]*\)/.*|\1|p')
    [ -n "$avg" ] && [ "$received" -gt 0 ] || { echo "$out"; fail ping; }
    us=$(echo "$avg" | awk '{ printf "%d", $1 * 1000 + 0.5 }')
    echo "NETTEST ping ok sent=5 received=$received rtt_avg_us=$us"
    net-stream block /tmp/block || fail stream-block
    # The listener may start after the ping is answered (connection
    # refused): retry for 30 s; nothing was sent then.
    i=0
    while :; do
        t0=$(now_cs)
        net-stream send /tmp/block "$mib" | nc "$peer" "$port" && break
        i=$((i + 1))
        [ $i -lt 30 ] || fail "connect-$peer:$port"
        sleep 1
    done
    t1=$(now_cs)
    echo "NETTEST tx done bytes=$((mib << 20)) secs=$(secs "$t0" "$t1")"
    ;;
uplink)
    target=${gw:-10.0.2.2}
    if out=$(ping -c 3 -W 5 "$target"); then
        echo "NETTEST uplink ok $(echo "$out" | grep 'packets received')"
    else
        echo "$out"
        echo "NETTEST uplink FAIL target=$target"
    fi
    ;;
*) fail "net.role-'$role'" ;;
esac
poweroff -f
