#!/usr/bin/env bash
# Builds the probe guest (crates/probe-guest) and writes its ELF (for bare
# QEMU runs) and raw image (for VM configs).
#   usage: build-probe-guest.sh OUT_DIR
#          build-probe-guest.sh --clippy     (lint it instead)
set -euo pipefail
out=$1
root=$(cd "$(dirname "$0")/.." && pwd)
target=aarch64-unknown-none-softfloat
# Its own workspace and link script: these flags replace the hypervisor's
# target flags from .cargo/config.toml.
export RUSTFLAGS="-Cforce-frame-pointers=no"
export CARGO_TARGET_DIR=$root/target/probe-guest
manifest=$root/crates/probe-guest/Cargo.toml
if [ "$out" = --clippy ]; then
    exec cargo clippy --quiet --release --locked --manifest-path "$manifest" --target $target -- -D warnings
fi
cargo build --quiet --release --locked --manifest-path "$manifest" --target $target
mkdir -p "$out"
cp "$CARGO_TARGET_DIR/$target/release/probe-guest" "$out/probe-aarch64.elf"
objcopy=$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy
"$objcopy" -O binary "$out/probe-aarch64.elf" "$out/probe-aarch64.bin"
echo "guest: $out/probe-aarch64.bin ($(stat -c %s "$out/probe-aarch64.bin") bytes)"
