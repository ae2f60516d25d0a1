#!/usr/bin/env bash
# Builds an ArceOS guest (guests/NAME, arceos-hello unless --guest says
# otherwise) for one architecture, linked for the load address its VM config
# names, and writes a raw binary image. `--set TABLE.KEY=VALUE` overrides a
# platform config key (e.g. the virtio-mmio slots the guest probes); `--bin`
# names the guest's binary when it is not the guest's name.
#   usage: build-arceos-guest.sh [--guest NAME] [--bin BIN] [--set TABLE.KEY=VALUE]... ARCH VM_CONFIG OUTPUT.bin
set -euo pipefail
guest_name=arceos-hello bin= sets=()
while [ $# -gt 0 ]; do
    case $1 in
        --guest) guest_name=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --set) sets+=(--set "$2"); shift 2 ;;
        *) break ;;
    esac
done
[ $# -eq 3 ] || { echo "usage: build-arceos-guest.sh [--guest NAME] [--bin BIN] [--set TABLE.KEY=VALUE]... ARCH VM_CONFIG OUTPUT.bin" >&2; exit 2; }
bin=${bin:-$guest_name}
arch=$1 vm_config=$2 output=$3
root=$(cd "$(dirname "$0")/.." && pwd)
guest=$root/guests/$guest_name
[ -f "$guest/Cargo.toml" ] || { echo "build-arceos-guest: no guest $guest" >&2; exit 2; }

case $arch in
    aarch64) target=aarch64-unknown-none-softfloat; platform=aarch64-qemu-virt ;;
    riscv64) target=riscv64gc-unknown-none-elf; platform=riscv64-qemu-virt ;;
    x86_64) target=x86_64-unknown-none; platform=x86-pc ;;
    *) echo "build-arceos-guest: unknown ARCH '$arch'" >&2; exit 2 ;;
esac
[ -f "$vm_config" ] || { echo "build-arceos-guest: VM config $vm_config not found" >&2; exit 2; }

# Each image (named by its output file) has its own platform config and,
# beside the default one, its own target directory: builds for different
# load addresses then stay cached side by side.
name=$(basename "$output" .bin)
config=$root/configs/platforms/$name.generated.toml
# x86: the platform crate takes the TSC for 4 GHz; QEMU's TCG runs it at
# 1 GHz under -icount, which the boot figure counts in.
[ "$arch" = x86_64 ] && sets+=(--set devices.timer-frequency=1_000_000_000)
python3 "$root/scripts/platform-config.py" --manifest "$guest/Cargo.toml" \
    --package "axplat-$platform" --vm-config "$vm_config" "${sets[@]}" -o "$config.new"
# Replaced only when it changed: a newer config rebuilds every ArceOS crate.
if cmp -s "$config.new" "$config"; then rm "$config.new"; else mv "$config.new" "$config"; fi

target_dir=$guest/target
[ "$name" = "$guest_name-$arch" ] || target_dir=$guest/target/variants/$name
export CARGO_TARGET_DIR=$target_dir
out_dir=$target_dir/$target/release
# The guest is its own workspace; these flags replace (not extend) the
# hypervisor's target flags from .cargo/config.toml.
export RUSTFLAGS="-Zcrate-attr=feature(core_io) -Aunused_features -Clink-arg=-T$out_dir/linker_$platform.lds -Clink-arg=-no-pie -Clink-arg=-znostart-stop-gc"
AX_CONFIG_PATH=$config cargo build --quiet --release --locked \
    --manifest-path "$guest/Cargo.toml" --target "$target"

objcopy=$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy
mkdir -p "$(dirname "$output")"
"$objcopy" -O binary "$out_dir/$bin" "$output"
# x86: a 32-bit ELF too, which QEMU's Multiboot loader boots bare.
[ "$arch" = x86_64 ] && "$objcopy" -O elf32-i386 "$out_dir/$bin" "${output%.bin}.elf32"
echo "guest: $output ($(stat -c %s "$output") bytes)"
