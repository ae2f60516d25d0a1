//! aarch64: the hypervisor's own virtio block and console devices (crates
//! virtio-core, virtio-blk, virtio-console) over virtio-mmio, driven by
//! the probe's minimal driver (its modes 25 and 26) beside the ArceOS
//! guest: negotiation, writes, a flush, reads, GET_ID, errors answered per
//! the specification, console lines, and hostile chains (a descriptor
//! loop, a buffer outside RAM) that leave the devices and the other VMs
//! working. `make test` builds the image and runs this
//! with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run, vm_ended};

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
        ] {
            run.assert_line(&format!("[32 virtio-console-probe] {line}"));
        }
        run.assert_line(&vm_ended(32, "virtio-console-probe", "powered off"));
        run.assert_line(&vm_ended(1, "arceos", "powered off"));
        run.assert_line("all VMs stopped (3 booted, 1 rejected, 0 stopped on a fault)");
        run.assert_clean_exit();
    }
}
