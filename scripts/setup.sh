#!/usr/bin/env bash
# Installs what the build and the tests need, and only what is missing.
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail

TARGETS="aarch64-unknown-none-softfloat riscv64gc-unknown-none-elf x86_64-unknown-none"
COMPONENTS="rust-src llvm-tools rustfmt clippy"
QEMU_MIN_MAJOR=10

log() { echo "[setup] $*"; }
need_root() { if [ "$(id -u)" -ne 0 ]; then echo sudo; fi; }
SUDO=$(need_root)

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        $SUDO apt-get update -qq
        apt_updated=1
    fi
}

# QEMU 10 comes from bookworm-backports on Debian 12 and from the main
# archive on later Debian; elsewhere it has to be installed by hand.
os_codename() {
    (. /etc/os-release 2>/dev/null && echo "${ID:-}:${VERSION_CODENAME:-}")
}

ensure_backports() {
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        log "adding bookworm-backports"
        $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt_updated=0
    fi
}

qemu_ok() {
    local bin=$1 v
    command -v "$bin" >/dev/null 2>&1 || return 1
    v=$("$bin" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -n1)
    [ -n "$v" ] && [ "$v" -ge "$QEMU_MIN_MAJOR" ]
}

install_debian_packages() {
    local missing=()
    command -v cpio >/dev/null || missing+=(cpio)
    command -v mkfs.fat >/dev/null || missing+=(dosfstools)
    command -v mcopy >/dev/null || missing+=(mtools)
    command -v sfdisk >/dev/null || missing+=(fdisk)
    command -v dtc >/dev/null || missing+=(device-tree-compiler)
    command -v mkimage >/dev/null || missing+=(u-boot-tools)
    [ -f /usr/lib/u-boot/qemu_arm64/u-boot.bin ] || missing+=(u-boot-qemu)
    # Guest root filesystems (mkfs.ext4 -d) and reading them back (debugfs).
    command -v debugfs >/dev/null || [ -x /usr/sbin/debugfs ] || missing+=(e2fsprogs)
    # The Starry guest's ext4 C library (lwext4): clang as the aarch64 musl
    # compiler (scripts/musl-cross-wrappers.sh), libclang for bindgen, cmake.
    command -v clang >/dev/null || missing+=(clang)
    compgen -G "/usr/lib/llvm-*/lib/libclang.so" >/dev/null || missing+=(libclang-dev)
    command -v cmake >/dev/null || missing+=(cmake)
    # The management API's tests (crates/qemu-boot-tests/api/): curl, and a
    # headless browser driven by Selenium from Debian's own python3.
    command -v curl >/dev/null || missing+=(curl)
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import selenium' 2>/dev/null || missing+=(python3-selenium)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_update_once
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    local qemu=()
    qemu_ok qemu-system-aarch64 || qemu+=(qemu-system-arm)
    qemu_ok qemu-system-riscv64 || qemu+=(qemu-system-misc)
    qemu_ok qemu-system-x86_64 || qemu+=(qemu-system-x86)
    if [ ${#qemu[@]} -gt 0 ]; then
        case "$(os_codename)" in
            debian:bookworm)
                ensure_backports
                log "installing ${qemu[*]} from bookworm-backports"
                apt_update_once
                $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                    -t bookworm-backports --no-install-recommends "${qemu[@]}" >/dev/null
                ;;
            debian:*)
                log "installing ${qemu[*]}"
                apt_update_once
                $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                    --no-install-recommends "${qemu[@]}" >/dev/null
                ;;
            *)
                echo "[setup] QEMU $QEMU_MIN_MAJOR or newer is needed (qemu-system-aarch64, -riscv64, -x86_64); this is not Debian ($(os_codename)): install it and run again" >&2
                exit 1
                ;;
        esac
        for bin in qemu-system-aarch64 qemu-system-riscv64 qemu-system-x86_64; do
            qemu_ok "$bin" || { echo "[setup] $bin is older than QEMU $QEMU_MIN_MAJOR after the install" >&2; exit 1; }
        done
    fi
}

install_rust_parts() {
    local have_targets have_components t c
    have_targets=$(rustup target list --toolchain nightly --installed)
    for t in $TARGETS; do
        if ! grep -qx "$t" <<<"$have_targets"; then
            log "adding target $t"
            rustup target add --toolchain nightly "$t"
        fi
    done
    have_components=$(rustup component list --toolchain nightly --installed)
    for c in $COMPONENTS; do
        if ! grep -q "^$c" <<<"$have_components"; then
            log "adding component $c"
            rustup component add --toolchain nightly "$c"
        fi
    done
}

case "${1:-all}" in
    rust) install_rust_parts ;;
    debian) install_debian_packages ;;
    all) install_rust_parts; install_debian_packages ;;
    *) echo "usage: $0 [all|rust|debian]" >&2; exit 2 ;;
esac
