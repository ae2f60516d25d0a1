//! aarch64: Starry-OS (guests/starry, starry-kernel from crates.io) boots
//! to its shell from an ext4 root (scripts/make-starry-rootfs.sh): its
//! /init prints `STARRY-SHELL-OK Linux`, lists /, appends a line to
//! /starry-boots and prints how many it holds, then exits, and Starry
//! powers the machine off. Bare on QEMU's own virtio-blk device first, then
//! under the hypervisor (FS=y, no embedded config) with the file-backed
//! virtio-blk device over the rootfs on the boot disk. Each boots twice on
//! one copy of its disk: the second boot must count the first one's line.
//!
//! Ignored under plain `cargo test`; `make test` builds the images and runs
//! this with `--include-ignored`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use qemu_boot_tests::{
    Arch, Run, attach_disk, bare_raw_command, boot_disk_file, count_instructions, fresh_copy, image_dir, qemu_command,
    run, vm_ended,
};

const TIMEOUT: Duration = Duration::from_secs(300);
/// Where the guest is linked (its VM's load address and entry).
const GUEST_LOAD: u64 = 0x4020_0000;
const ROOTFS: &str = "starry-aarch64-rootfs.ext4";

/// Checks one boot's lines: the shell ran a command from the ext4 root,
/// the root holds `boot` lines, init ended well and nothing panicked.
fn assert_starry_boot(run: &Run, boot: u32) {
    run.assert_line("STARRY-SHELL-OK Linux");
    run.assert_line(&format!("STARRY-EXT4-BOOTS {boot}"));
    run.assert_line("Init process exited with code: 0");
    // Also fails on a `panicked at` line (Starry's or the hypervisor's).
    run.assert_clean_exit();
    eprintln!(
        "starry boot {boot}: init exited at {:?} s guest time; {:.2?} wall",
        init_exit_time(run),
        run.elapsed
    );
}

/// The timestamp (seconds of guest time: instructions / 1e9 under
/// `-icount shift=0`) of Starry's `Init process exited` log line.
fn init_exit_time(run: &Run) -> Option<f64> {
    let line = run.output.lines().find(|l| l.contains("Init process exited"))?;
    line.trim_start()
        .strip_prefix('[')?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The file `path` of the ext4 image `image`, read with debugfs.
fn ext4_file(image: &Path, path: &str) -> String {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat {path}"))
        .arg(image)
        .output()
        .unwrap_or_else(|e| panic!("cannot run debugfs: {e}"));
    assert!(
        out.status.success(),
        "debugfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starry alone on QEMU (no hypervisor), its rootfs on the first
/// virtio-mmio slot: tells a guest or image problem apart from a
/// hypervisor one.
#[test]
#[ignore = "needs images built by `make test`"]
fn starry_runs_its_shell_from_ext4_bare() {
    let rootfs = fresh_copy(ROOTFS, "starry-aarch64-rootfs.bare.ext4");
    for boot in 1..=2 {
        let mut cmd = bare_raw_command(&image_dir().join("starry-aarch64.bin"), GUEST_LOAD, 1, "128M");
        cmd.arg("-drive")
            .arg(format!("file={},if=none,format=raw,id=disk0", rootfs.display()));
        cmd.args(["-device", "virtio-blk-device,drive=disk0,bus=virtio-mmio-bus.0"]);
        count_instructions(&mut cmd);
        assert_starry_boot(&run(cmd, TIMEOUT), boot);
    }
    assert_eq!(ext4_file(&rootfs, "/starry-boots"), "boot\nboot\n");
}

/// Starry under the hypervisor, its root the file-backed virtio-blk device
/// over /guests/starry-aarch64-rootfs.ext4 on the boot disk: the second run
/// of the hypervisor on the same boot disk finds the first boot's line,
/// and so does the host in the file afterwards.
#[test]
#[ignore = "needs images built by `make test`"]
fn starry_runs_its_shell_from_ext4_under_the_hypervisor() {
    let boot_disk = fresh_copy("disk-starry-aarch64.img", "disk-starry-aarch64.run.img");
    for boot in 1..=2 {
        let mut cmd = qemu_command(
            Arch::Aarch64,
            &image_dir().join("axvisor-aarch64-fs-only.bin"),
            2,
            "256M",
        );
        attach_disk(&mut cmd, &boot_disk);
        count_instructions(&mut cmd);
        let run = run(cmd, TIMEOUT);
        run.assert_line("VM[1]: disk \"root\" = /guests/starry-aarch64-rootfs.ext4 (16384 KiB) at 0xa000000, irq 48");
        assert_starry_boot(&run, boot);
        run.assert_line(&vm_ended(1, "starry", "powered off"));
        run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    }
    let rootfs = image_dir().join("starry-aarch64-rootfs.run.ext4");
    std::fs::write(
        &rootfs,
        boot_disk_file(&boot_disk, "/guests/starry-aarch64-rootfs.ext4"),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", rootfs.display()));
    assert_eq!(ext4_file(&rootfs, "/starry-boots"), "boot\nboot\n");
}
