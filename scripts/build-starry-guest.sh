#!/usr/bin/env bash
# Builds the Starry-OS guest (guests/starry: starry-kernel from crates.io)
# for aarch64 with build-arceos-guest.sh, after making the C cross tools its
# lwext4 needs. Starry finds its ext4 root at the one virtio-mmio slot its
# platform config lists (QEMU virt's first, 0x0a00_0000, also the
# hypervisor's default place for a VM's first [[devices.virtual]] device;
# the stock list probes 32 slots and names 0x0a00_3000 twice) and runs
# /init from it (scripts/make-starry-rootfs.sh builds that root).
#   usage: build-starry-guest.sh VM_CONFIG OUTPUT.bin
# Incremental: its own target directory (guests/starry/target) and the C
# tools (target/musl-cross) stay between builds. (Starry's `rtc` feature
# reads the PL031 at 0x0901_0000 at boot: the VM config passes it through.)
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: build-starry-guest.sh VM_CONFIG OUTPUT.bin" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
# lwext4_rust's build script calls aarch64-linux-musl-{cc,gcc,ar,...}.
"$root/scripts/musl-cross-wrappers.sh" "$root/target/musl-cross"
export PATH=$root/target/musl-cross/bin:$PATH
exec "$root/scripts/build-arceos-guest.sh" --guest starry --bin starry-guest \
    --set "devices.virtio-mmio-ranges=[[0x0a00_0000, 0x200]]" aarch64 "$1" "$2"
