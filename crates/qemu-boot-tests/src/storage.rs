//! The storage tests (issue 24): Linux with an ext4 root on the
//! hypervisor's own virtio-blk device, whose backing file lives on the boot
//! disk. The guest (scripts/make-linux-rootfs.sh) prints
//! `STORAGE-CHECK boots=N file=<ok|missing|bad>`, counts the boot on the
//! disk with a fresh 256 KiB file, syncs, and resets the VM after an even
//! boot, powers it off after an odd one. Two QEMU runs on one copy of the
//! boot disk must see boots 0, 1 and then 2, 3: what a boot wrote survives
//! the VM's reset and the hypervisor's exit. The host then reads the image
//! back off the boot disk: a consistent ext4 (once its journal is
//! replayed) whose counter says 4.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{
    Arch, Run, attach_disk, boot_disk_file, fresh_copy, image_dir, qemu_command, run, vm_ended,
};

/// The guest's `STORAGE-CHECK` lines in order, each from that word on.
pub fn storage_checks(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter_map(|l| l.find("STORAGE-CHECK").map(|at| l[at..].trim_end()))
        .collect()
}

/// The guest uptimes (seconds) of its `STORAGE-SYNCED` lines: how long
/// each boot took to the synced counter, in guest time.
pub fn synced_uptimes(output: &str) -> Vec<f64> {
    output
        .lines()
        .filter_map(|l| {
            l.split("STORAGE-SYNCED")
                .nth(1)?
                .split("uptime=")
                .nth(1)?
                .trim()
                .parse()
                .ok()
        })
        .collect()
}

/// Boots the FS=y hypervisor `image` of `arch` twice on one fresh copy
/// of the boot disk `disk` (in the test images), whose only VM is `vm`
/// (id 1) and whose root is the ext4 image `root` on that disk. Each run
/// must show two boots, the first resetting the VM, the second powering it
/// off and so ending the hypervisor cleanly.
pub fn assert_boots_persist(
    arch: Arch,
    image: &str,
    disk: &str,
    root: &str,
    vm: &str,
    timeout: Duration,
) {
    let disk = fresh_copy(disk, &format!("scratch-{disk}"));
    for first in [0, 2] {
        let mut cmd = qemu_command(arch, &image_dir().join(image), 2, "256M");
        attach_disk(&mut cmd, &disk);
        let run = run(cmd, timeout);
        let file = if first == 0 { "missing" } else { "ok" };
        let expected = [
            format!("STORAGE-CHECK boots={first} file={file}"),
            format!("STORAGE-CHECK boots={} file=ok", first + 1),
        ];
        assert_eq!(
            storage_checks(&run.output),
            expected,
            "run from boot {first}; output:\n{}",
            run.output
        );
        assert_vm_reset_once(&run, vm);
        run.assert_line(&vm_ended(1, vm, "powered off"));
        run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
        assert!(
            !run.output.contains("Kernel panic"),
            "the guest panicked:\n{}",
            run.output
        );
        run.assert_clean_exit();
        eprintln!(
            "{vm}: boots {first} and {}: guest uptime at sync {:?} s; {:.2?} wall",
            first + 1,
            synced_uptimes(&run.output),
            run.elapsed
        );
    }
    assert_eq!(
        counter_of(&disk, root),
        "4",
        "the counter on the disk after four boots"
    );
}

/// The counter in the ext4 image at `root` on the boot disk `disk`, read
/// on the host after replaying its journal and checking it (e2fsprogs).
fn counter_of(disk: &Path, root: &str) -> String {
    let image = disk.with_extension("root.ext4");
    std::fs::write(&image, boot_disk_file(disk, root))
        .unwrap_or_else(|e| panic!("writing {}: {e}", image.display()));
    let tool = |program: &str, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .arg(&image)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{program} {args:?} on {root} failed:\n{text}"
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    tool("e2fsck", &["-E", "journal_only", "-y"]);
    tool("e2fsck", &["-f", "-n"]);
    let counter = tool("debugfs", &["-R", "cat /counter"]);
    let _ = std::fs::remove_file(&image);
    counter
}

/// The hypervisor restarted VM 1 `vm` exactly once, as its guest asked.
fn assert_vm_reset_once(run: &Run, vm: &str) {
    let resets = run
        .output
        .lines()
        .filter(|l| l.contains(&format!("VM[1] {vm} asked for a reset: restarted")))
        .count();
    assert_eq!(resets, 1, "one reset per run; output:\n{}", run.output);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_check_lines_behind_any_prefix() {
        let log = "[1 linux] STORAGE-CHECK boots=0 file=missing\r\nnoise\nSTORAGE-SYNCED boots=1 uptime=3.84\n\
                   STORAGE-CHECK boots=1 file=ok\nSTORAGE-SYNCED boots=2 uptime=x\n";
        assert_eq!(
            storage_checks(log),
            [
                "STORAGE-CHECK boots=0 file=missing",
                "STORAGE-CHECK boots=1 file=ok"
            ]
        );
        assert_eq!(synced_uptimes(log), [3.84]);
    }
}
