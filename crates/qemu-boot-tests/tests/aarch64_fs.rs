//! aarch64: guest images and VM configs on a FAT32 boot disk (virtio-blk),
//! read by the hypervisor's filesystem feature.
//!
//! Ignored under plain `cargo test`; `make test` builds the hypervisor
//! images and the disks and runs them with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, attach_disk, image_dir, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(300);

/// Embedded configs with `image_location = "fs"`: the ArceOS guest boots
/// from the disk, and the probe resetting itself in a loop beside it; a
/// missing kernel and one too large for its region are rejected with a
/// line naming the path, and the good VMs still boot.
#[test]
#[ignore = "needs images built by `make test`"]
fn arceos_boots_from_the_disk_and_bad_disk_images_are_rejected() {
    let mut cmd = qemu_command(Arch::Aarch64, &image_dir().join("axvisor-aarch64-fs.bin"), 2, "256M");
    attach_disk(&mut cmd, &image_dir().join("disk-guests.img"));
    let run = run(cmd, TIMEOUT);
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/fs-missing-kernel.toml: kernel.kernel_path = \"/guests/no-such-kernel.bin\": image not found",
    );
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/fs-image-too-large.toml: kernel.kernel_path = \"/guests/linux-aarch64.Image\": image is",
    );
    run.assert_line("Hello, world! (ArceOS guest)");
    run.assert_line("axvisor: VM[1] arceos-fs: powered off");
    // The probe resets itself 19 times beside it: its image is read from
    // the disk again each time, outside the VM's RAM lock.
    run.assert_line("VM[2] reset-loop-fs asked for a reset: restarted from its images (boot 20;");
    run.assert_line("hostile reset-loop: ok: restarted from its images with clean RAM every time (saw 0x14)");
    run.assert_line("axvisor: VM[2] reset-loop-fs: powered off");
    assert!(!run.output.contains("not ok"), "a wrong answer:\n{}", run.output);
    run.assert_line("all VMs stopped (2 booted, 2 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}

/// A hypervisor with no embedded config boots the Linux VM whose config it
/// finds in /vms on the disk, with the kernel and initramfs from /guests.
#[test]
#[ignore = "needs images built by `make test`"]
fn linux_config_found_on_the_disk_boots() {
    let mut cmd = qemu_command(Arch::Aarch64, &image_dir().join("axvisor-aarch64-fs-only.bin"), 2, "256M");
    attach_disk(&mut cmd, &image_dir().join("disk-linux-vm.img"));
    let run = run(cmd, TIMEOUT);
    run.assert_line("LINUX-GUEST-UP cpus=2");
    run.assert_line("axvisor: VM[1] linux-fs: powered off");
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}
