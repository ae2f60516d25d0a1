#!/usr/bin/env bash
# Builds the probe guest (crates/probe-guest) for one architecture and
# writes its ELF (for bare QEMU runs) and raw image (for VM configs).
#   usage: build-probe-guest.sh OUT_DIR [ARCH]
#          build-probe-guest.sh --clippy [ARCH]    (lint it instead)
set -euo pipefail
out=$1 arch=${2:-aarch64}
root=$(cd "$(dirname "$0")/.." && pwd)
case $arch in
    aarch64) target=aarch64-unknown-none-softfloat ;;
    riscv64) target=riscv64gc-unknown-none-elf ;;
    x86_64) target=x86_64-unknown-none ;;
    *) echo "build-probe-guest: no probe for ARCH '$arch'" >&2; exit 2 ;;
esac
# Its own workspace and link script: these flags replace the hypervisor's
# target flags from .cargo/config.toml.
export RUSTFLAGS="-Cforce-frame-pointers=no"
# x86_64: the 32-bit start code names absolute addresses.
[ "$arch" = x86_64 ] && RUSTFLAGS="$RUSTFLAGS -Crelocation-model=static -Clink-arg=-no-pie"
export CARGO_TARGET_DIR=$root/target/probe-guest
manifest=$root/crates/probe-guest/Cargo.toml
if [ "$out" = --clippy ]; then
    exec cargo clippy --quiet --release --locked --manifest-path "$manifest" --target $target -- -D warnings
fi
cargo build --quiet --release --locked --manifest-path "$manifest" --target $target
mkdir -p "$out"
cp "$CARGO_TARGET_DIR/$target/release/probe-guest" "$out/probe-$arch.elf"
objcopy=$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy
"$objcopy" -O binary "$out/probe-$arch.elf" "$out/probe-$arch.bin"
echo "guest: $out/probe-$arch.bin ($(stat -c %s "$out/probe-$arch.bin") bytes)"
