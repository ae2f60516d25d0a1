#!/usr/bin/env bash
# Makes the `aarch64-linux-musl-*` C tools that lwext4_rust's build script
# (Starry's ext4) calls, from Debian's clang and LLVM tools plus the musl C
# headers of Debian's musl-dev:arm64 (downloaded once into the same cache as
# scripts/fetch-linux-guest.sh; checked against Debian's signed index).
# The C library is freestanding (no libc is linked): only headers are needed.
#   usage: musl-cross-wrappers.sh OUT_DIR
# Writes OUT_DIR/bin/aarch64-linux-musl-{cc,gcc,c++,ar,objcopy,objdump,size}
# (put OUT_DIR/bin on PATH) and OUT_DIR/sysroot-aarch64 (what `-print-sysroot`
# answers). Idempotent: once made, it only checks and returns.
set -euo pipefail
mkdir -p "$1"
out=$(cd "$1" && pwd)
triple=aarch64-linux-musl debarch=arm64
die() { echo "musl-cross-wrappers: $*" >&2; exit 1; }

command -v clang >/dev/null || die "clang is missing (scripts/setup.sh installs it)"
llvm_bin=$(dirname "$(readlink -f "$(command -v clang)")")
resource_include=$(clang -print-resource-dir)/include
for tool in clang llvm-ar llvm-objcopy llvm-objdump llvm-size; do
    [ -x "$llvm_bin/$tool" ] || die "$llvm_bin/$tool is missing"
done
[ -f "$resource_include/stddef.h" ] || die "clang's own headers are missing in $resource_include"

sysroot=$out/sysroot-aarch64
stamp=$out/.made
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$llvm_bin" ] && [ -f "$sysroot/include/stdint.h" ] && exit 0

cache=${AXVISOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/axvisor}/debian-$debarch
mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/debs"
sandbox=()
if [ "$(id -u)" = 0 ]; then
    sandbox=(-oAPT::Sandbox::User=root)
fi
apt_guest=(-qq "${sandbox[@]}" -oAPT::Architecture=$debarch -oAPT::Architectures=$debarch
    -oDir::State::Lists="$cache/lists" -oDir::Cache="$cache"
    -oDir::Cache::Archives="$cache/archives" -oDebug::NoLocking=1)
musl_deb=$(ls "$cache"/debs/musl-dev_*_$debarch.deb 2>/dev/null | head -n1 || true)
if [ -z "$musl_deb" ]; then
    echo "musl-cross-wrappers: downloading musl-dev:$debarch into $cache"
    apt-get "${apt_guest[@]}" update
    (cd "$cache/debs" && apt-get "${apt_guest[@]}" download musl-dev)
    musl_deb=$(ls "$cache"/debs/musl-dev_*_$debarch.deb | head -n1)
fi

rm -rf "$out"
mkdir -p "$out/bin" "$out/musl" "$sysroot"
dpkg -x "$musl_deb" "$out/musl"
headers=$out/musl/usr/include/$triple
[ -f "$headers/stdint.h" ] || die "$(basename "$musl_deb") holds no usr/include/$triple/stdint.h"
ln -s "$headers" "$sysroot/include"

# The compiler: clang for the musl triple, with only clang's own and musl's
# headers (never the host's).
cat > "$out/bin/$triple-cc" <<CC
#!/bin/sh
# Made by scripts/musl-cross-wrappers.sh: clang as an $triple compiler.
for arg in "\$@"; do
    [ "\$arg" = -print-sysroot ] && { echo "$sysroot"; exit 0; }
done
exec "$llvm_bin/clang" --target=$triple -nostdinc -isystem "$resource_include" -isystem "$headers" "\$@"
CC
chmod 755 "$out/bin/$triple-cc"
ln -s "$triple-cc" "$out/bin/$triple-gcc"
ln -s "$triple-cc" "$out/bin/$triple-c++"
for tool in ar objcopy objdump size; do
    ln -s "$llvm_bin/llvm-$tool" "$out/bin/$triple-$tool"
done
echo "$llvm_bin" > "$stamp"
echo "musl-cross-wrappers: $out/bin ($triple, clang $(clang -dumpversion), $(basename "$musl_deb"))"
