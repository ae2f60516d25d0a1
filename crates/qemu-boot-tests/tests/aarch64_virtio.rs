//! aarch64: the hypervisor's own virtio block and console devices (crates
//! virtio-core, virtio-blk, virtio-console) over virtio-mmio, driven by
//! the probe's minimal driver (its modes 25 and 26) beside the ArceOS
//! guest: negotiation, writes, a flush, reads, GET_ID, errors answered per
//! the specification, console lines, and hostile chains (a descriptor
//! loop, a chain longer than the queue, zero and huge lengths, buffers
//! outside RAM and in MMIO, rings in the device's window, an indirect
//! descriptor not negotiated, a notification storm, a reset with a
//! request queued) that leave the devices and the other VMs working.
//! `make test` builds the image and runs this with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, attach_disk, boot_disk_file, fresh_copy, image_dir, qemu_command, run, vm_ended};

const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
#[ignore = "needs images built by `make test`"]
fn the_virtio_devices_serve_the_probe_and_survive_hostile_chains() {
    for (arch, image) in [(Arch::Aarch64, "axvisor-aarch64-virtio.bin"), (Arch::Aarch64Gic3, "axvisor-aarch64-gicv3-virtio.bin")] {
        let run = run(qemu_command(arch, &image_dir().join(image), 2, "256M"), TIMEOUT);
        run.assert_line(
            "VM config crates/qemu-boot-tests/configs/virtio/blk-too-large.toml: devices.emu_devices \"virtio-blk\" (virtio block): cfg_list[0] = 1000000: a RAM disk has 1 to 131072 sectors",
        );
        for check in [
            "ok: capacity is 2048 sectors",
            "ok: FEATURES_OK reads back set",
            "ok: writing sectors 1..=8 in one request is OK",
            "ok: FLUSH is OK",
            "ok: reading sectors 1..=8 in one request returns the pattern",
            "ok: sector 0, never written, reads as zero",
            "ok: GET_ID writes 20 bytes and is OK",
            "ok: reading 2 sectors at 2047 (past the end) is IOERR",
            "ok: request type 0x55 is UNSUPP",
            "ok: a descriptor loop is completed with used length 0",
            "ok: after the reset, sectors 1..=8 read back the pattern",
            "ok: a buffer outside RAM is refused",
            "ok: the device still serves: reading sector 0 is OK",
            // Malformed chains: completed with used length 0, no status.
            "ok: a chain through all 8 descriptors and on (longer than the queue) is completed with used length 0, no status written",
            "ok: a zero-length data buffer is completed with used length 0, no status written",
            "ok: a data buffer of 0xfffffe00 bytes is completed with used length 0, no status written",
            "ok: a data buffer in the distributor is completed with used length 0, no status written",
            "ok: a data buffer in the device's own window is completed with used length 0, no status written",
            "ok: INDIRECT_DESC is not offered",
            "ok: an indirect descriptor (not negotiated) is completed with used length 0, no status written",
            "ok: rings in the device's own window: DEVICE_NEEDS_RESET, the queue not ready",
            "ok: a read notified 1000 times (queues 0, 1, 2, 0xffff, 0xffffffff) is served once",
            "ok: a reset with a write queued: nothing used, no status written",
            "ok: the dropped write never reached the disk: sector 9 reads as zero",
            "ok: the device still serves: sectors 1..=8 read back the pattern",
        ] {
            run.assert_line(&format!("[30 virtio-blk-probe] hostile virtio-blk: {check}"));
        }
        assert!(!run.output.contains("not ok"), "a wrong answer:\n{}", run.output);
        run.assert_line(&vm_ended(30, "virtio-blk-probe", "powered off"));
        // The console: what the guest transmits reaches the VM's console
        // as prefixed lines (one chain or two buffers per line), a loop
        // and a buffer outside RAM are completed empty, a reset recovers.
        for line in [
            "virtio-console: hello from the guest",
            "virtio-console: second line in two buffers",
            "virtio-console: after the reset",
            "virtio-console: still here",
            "hostile virtio-console: ok: a descriptor loop is completed with used length 0",
            "hostile virtio-console: ok: a buffer outside RAM is completed with used length 0",
            "hostile virtio-console: ok: the device still works: a line completes",
            "hostile virtio-console: ok: no input arrived: the receive queue's used idx is still 0",
            "hostile virtio-console: ok: a chain through all 8 descriptors and on (longer than the queue) is completed with used length 0",
            "hostile virtio-console: ok: a line followed by a zero-length buffer is completed with used length 0",
            "hostile virtio-console: ok: a line followed by a buffer of 0xfffffff0 bytes is completed with used length 0",
            "hostile virtio-console: ok: a line followed by a buffer in the distributor is completed with used length 0",
            "hostile virtio-console: ok: a line followed by a buffer in the device's own window is completed with used length 0",
            "hostile virtio-console: ok: INDIRECT_DESC is not offered",
            "hostile virtio-console: ok: an indirect descriptor (not negotiated) is completed with used length 0",
            "hostile virtio-console: ok: a line notified 1000 times (queues 1, 0, 2, 0xffff, 0xffffffff) is used once",
            "hostile virtio-console: ok: a reset with a line queued: nothing used",
            "hostile virtio-console: ok: after a reset with a line queued, a line completes",
            "virtio-console: after a reset with a line queued",
        ] {
            run.assert_line(&format!("[32 virtio-console-probe] {line}"));
        }
        // Refused chains and the line a reset dropped never reach the
        // console; the line of the notification storm goes out once.
        assert!(!run.output.contains("must not appear"), "a refused chain was transmitted:\n{}", run.output);
        let once = "[32 virtio-console-probe] virtio-console: sent once despite 1000 notifications";
        assert_eq!(run.output.lines().filter(|l| l.contains(once)).count(), 1, "the storm's line not once:\n{}", run.output);
        run.assert_line(&vm_ended(32, "virtio-console-probe", "powered off"));
        run.assert_line(&vm_ended(1, "arceos", "powered off"));
        run.assert_line("all VMs stopped (3 booted, 1 rejected, 0 stopped on a fault)");
        run.assert_clean_exit();
    }
}

/// A `[[devices.virtual]]` disk that is a file on the boot disk: the probe
/// writes sectors 1..=8 and flushes; after the hypervisor is gone the file
/// holds them, the rest as it was (zeros). A second VM naming the same
/// writable file is refused by name while the first has it.
#[test]
#[ignore = "needs images built by `make test`"]
fn a_file_backed_disk_keeps_what_the_guest_flushed() {
    let boot_disk = fresh_copy("disk-blk-file.img", "disk-blk-file.run.img");
    let mut cmd = qemu_command(Arch::Aarch64, &image_dir().join("axvisor-aarch64-fs-only.bin"), 2, "256M");
    attach_disk(&mut cmd, &boot_disk);
    let run = run(cmd, TIMEOUT);
    run.assert_line("VM[30]: disk \"data\" = /guests/probe-disk.img (1024 KiB) at 0xa000000, irq 48");
    run.assert_line("VM config /vms/blk-same-file.toml: devices.virtual[0]: /guests/probe-disk.img: VM[30] has it open for writing");
    for check in ["writing sectors 1..=8 in one request is OK", "FLUSH is OK", "the device still serves: reading sector 0 is OK"] {
        run.assert_line(&format!("[30 blk-file-probe] hostile virtio-blk: ok: {check}"));
    }
    assert!(!run.output.contains("not ok"), "a wrong answer:\n{}", run.output);
    run.assert_line("all VMs stopped (1 booted, 1 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
    let disk = boot_disk_file(&boot_disk, "/guests/probe-disk.img");
    assert_eq!(disk.len(), 1 << 20, "the image keeps its size");
    // The probe's pattern: byte i of sector s is s * 7 + i (mod 256).
    let wrong = (512..9 * 512).filter(|&at| disk[at] != ((at / 512) * 7 + at % 512) as u8).count();
    assert_eq!(wrong, 0, "bytes of sectors 1..=8 not as the probe wrote them");
    assert!(disk[..512].iter().chain(&disk[9 * 512..]).all(|&b| b == 0), "bytes the probe never wrote changed");
}
