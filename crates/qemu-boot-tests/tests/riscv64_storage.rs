//! riscv64: Linux mounts an ext4 root from the hypervisor's own virtio-blk
//! device (a file on the boot disk, read by the riscv64 FS=y hypervisor
//! through the platform's virtio-mmio slots), on a generated device tree's
//! `virtio,mmio` node under the PLIC; what one boot writes and syncs, the
//! next boot reads, across a VM reset (SBI SRST) and across two QEMU runs
//! on the same disk (see `qemu_boot_tests::storage`).
//!
//! Ignored under plain `cargo test`; `make test` builds the hypervisor
//! image and the disk and runs it with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, storage::assert_boots_persist};

/// Per QEMU run (two Linux boots, images read from the disk each time).
const TIMEOUT: Duration = Duration::from_secs(400);

#[test]
#[ignore = "needs images built by `make test`"]
fn linux_boot_counts_on_its_virtio_root_survive_resets_and_restarts() {
    assert_boots_persist(
        Arch::Riscv64,
        "axvisor-riscv64-fs-only.bin",
        "disk-storage-riscv64.img",
        "/guests/linux-riscv64-rootfs.ext4",
        "linux-storage",
        TIMEOUT,
    );
}
