//! aarch64 booted like a board: U-Boot (Debian's `u-boot-qemu`, the
//! `qemu_arm64` build) runs boot.scr from the FAT partition of the disk,
//! which loads the hypervisor with `booti`; the hypervisor then loads the
//! VM config and the guest image from the same partition.
//!
//! Ignored under plain `cargo test`; `make test` builds the disk and runs
//! it with `--include-ignored`.

use std::path::PathBuf;
use std::time::Duration;

use qemu_boot_tests::{attach_disk, firmware_command, image_dir, run};

const TIMEOUT: Duration = Duration::from_secs(300);

fn firmware() -> PathBuf {
    std::env::var_os("AXVISOR_UBOOT").map_or_else(|| PathBuf::from("/usr/lib/u-boot/qemu_arm64/u-boot.bin"), PathBuf::from)
}

#[test]
#[ignore = "needs images built by `make test`"]
fn uboot_boots_the_hypervisor_and_its_guest_from_the_fat_partition() {
    let mut cmd = firmware_command(&firmware(), 2, "256M");
    attach_disk(&mut cmd, &image_dir().join("disk-uboot.img"));
    let run = run(cmd, TIMEOUT);
    run.assert_line("Found U-Boot script /boot.scr");
    run.assert_line("boot.scr: loading /axvisor.bin from virtio 0:1");
    run.assert_line("Starting kernel ...");
    run.assert_line("a type-1 hypervisor on ArceOS");
    run.assert_line("Hello, world! (ArceOS guest)");
    run.assert_line("axvisor: VM[1] arceos-fs: powered off");
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}
