#!/bin/sh
# The network test's deterministic byte stream (issue 25), the same text
# run by the Linux guest (busybox, as /bin/net-stream, put there by
# make-linux-rootfs.sh) and by the host test computing the md5 it expects:
#   net-stream.sh block FILE     writes FILE: the first 1048560 bytes of
#                                `seq 1 200000` (one number a line)
#   net-stream.sh send FILE MIB  writes MIB MiB to stdout: MiB i (1..MIB)
#                                is `printf '%015d\n' i` (16 bytes), then FILE
# Every MiB differs, so data delivered at a wrong offset changes the md5.
set -e
case $1 in
    block) seq 1 200000 | head -c 1048560 > "$2" ;;
    send)
        i=1
        while [ "$i" -le "$3" ]; do
            printf '%015d\n' "$i"
            cat "$2"
            i=$((i + 1))
        done
        ;;
    *) echo "usage: net-stream.sh block FILE | send FILE MIB" >&2; exit 2 ;;
esac
