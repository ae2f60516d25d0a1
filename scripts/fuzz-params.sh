#!/usr/bin/env bash
# Writes the probe fuzzer's parameter block: seed and operation count as
# two little-endian u64 (loaded into the fuzz VM as its ramdisk).
#   usage: fuzz-params.sh OUT SEED OPS
set -euo pipefail
out=$1 seed=$2 ops=$3
case "$seed$ops" in *[!0-9]*) echo "fuzz-params: SEED and OPS must be decimal numbers (got '$seed', '$ops')" >&2; exit 2 ;; esac
mkdir -p "$(dirname "$out")"
python3 -c "import struct,sys; open(sys.argv[1],'wb').write(struct.pack('<QQ', int(sys.argv[2]), int(sys.argv[3])))" "$out" "$seed" "$ops"
