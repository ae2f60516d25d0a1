//! aarch64: the hypervisor's own virtio block device (crates virtio-core
//! and virtio-blk) over virtio-mmio, driven by the probe's minimal driver
//! (its mode 25) beside the ArceOS guest: negotiation, writes, a flush,
//! reads, GET_ID, errors answered per the specification, and hostile
//! chains (a descriptor loop, a buffer outside RAM) that leave the device
//! and the other VM working. `make test` builds the image and runs this
//! with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run, vm_ended};

const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
#[ignore = "needs images built by `make test`"]
fn the_virtio_block_device_serves_the_probe_and_survives_hostile_chains() {
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
        run.assert_line(&vm_ended(1, "arceos", "powered off"));
        run.assert_line("all VMs stopped (2 booted, 1 rejected, 0 stopped on a fault)");
        run.assert_clean_exit();
    }
}
