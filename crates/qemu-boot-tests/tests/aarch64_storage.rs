//! aarch64: Linux mounts an ext4 root from the hypervisor's own virtio-blk
//! device (a file on the boot disk), on a generated device tree's
//! `virtio,mmio` node; what one boot writes and syncs, the next boot reads,
//! across a VM reset (PSCI SYSTEM_RESET) and across two QEMU runs on the
//! same disk (see `qemu_boot_tests::storage`).
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
        Arch::Aarch64,
        "axvisor-aarch64-fs-only.bin",
        "disk-storage-aarch64.img",
        "/guests/linux-aarch64-rootfs.ext4",
        "linux-storage",
        TIMEOUT,
    );
}
