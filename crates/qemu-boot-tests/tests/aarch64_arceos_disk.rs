//! aarch64: an ArceOS guest (guests/arceos-fs) reading and writing files on
//! its own disk, an 8 MiB GPT + FAT16 image (scripts/make-guest-disk.sh).
//! Bare on QEMU's own virtio-blk device first, then under the hypervisor
//! (FS=y) with the file-backed virtio-blk device over that image on the
//! hypervisor's boot disk. Each boots twice on one copy of its disk: the
//! second boot must find what the first one wrote, and afterwards the host
//! reads the guest's file out of the image with mtools.
//!
//! Ignored under plain `cargo test`; `make test` builds the images and runs
//! this with `--include-ignored`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use qemu_boot_tests::{Arch, Run, attach_disk, boot_disk_file, count_instructions, fresh_copy, image_dir, qemu_command, run, vm_ended};

const TIMEOUT: Duration = Duration::from_secs(300);
/// Where the guest is linked, and where the bare run puts QEMU's device
/// tree and the stub that enters the guest with its address in x0 (the
/// VM's `dtb_load_addr`: axfs reads `chosen/bootargs` from it).
const GUEST_LOAD: u64 = 0x4020_0000;
const DTB_ADDR: u64 = 0x41e0_0000;
const STUB_ADDR: u64 = 0x4010_0000;
/// The file the guest writes: `boot=N\n` and a 5,000-byte pattern.
const WRITTEN_LEN: usize = 5007;

/// Checks one boot's lines: the seed file read, the earlier boot's file
/// found intact (or none on the first boot), this boot's file written and
/// read back.
fn assert_guest_boot(run: &Run, boot: u32) {
    run.assert_line("ARCEOS-FS-SEED: ArceOS guest disk seed");
    if boot == 1 {
        run.assert_line("ARCEOS-FS-EARLIER: none (/written.txt absent: first boot on this disk)");
    } else {
        run.assert_line(&format!(
            "ARCEOS-FS-EARLIER: /written.txt from boot {} found ({WRITTEN_LEN} bytes, intact)",
            boot - 1
        ));
    }
    run.assert_line(&format!("ARCEOS-FS-CHECK read=ok write=ok boot={boot} ["));
    assert!(!run.output.contains("ARCEOS-FS-FAIL"), "the guest reported a failure:\n{}", run.output);
    run.assert_clean_exit();
}

/// Reads `/written.txt` out of the FAT partition (at 1 MiB) of the guest
/// disk `disk` with mtools.
fn written_file(disk: &Path) -> Vec<u8> {
    let out = Command::new("mtype")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg("::/written.txt")
        .output()
        .unwrap_or_else(|e| panic!("cannot run mtype: {e}"));
    assert!(out.status.success(), "mtype: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn assert_written_by_boot(disk: &Path, boot: u32) {
    let bytes = written_file(disk);
    assert_eq!(bytes.len(), WRITTEN_LEN, "written.txt has the wrong length");
    let header = format!("boot={boot}\n");
    assert!(
        bytes.starts_with(header.as_bytes()),
        "written.txt starts {:?}",
        String::from_utf8_lossy(&bytes[..16.min(bytes.len())])
    );
}

/// `movz xREG, #(imm16 << 16)`.
fn movz_high(reg: u32, value: u64) -> u32 {
    assert_eq!(value & 0xffff_0000, value, "{value:#x} needs more than one movz");
    0xd2a0_0000 | (((value >> 16) as u32) << 5) | reg
}

/// QEMU's virt machine at EL1, as a VM would start the guest: its image at
/// GUEST_LOAD, QEMU's own device tree at DTB_ADDR, entered through a stub
/// (`movz x0; movz x1; br x1`) with x0 = DTB_ADDR, and `disk` on the first
/// virtio-mmio slot (0x0a00_0000, the only one the guest probes).
fn bare_guest_command(dtb: &Path, disk: &Path) -> Command {
    let stub = [movz_high(0, DTB_ADDR), movz_high(1, GUEST_LOAD), 0xd61f_0020];
    let mut cmd = Command::new("qemu-system-aarch64");
    cmd.args(["-machine", "virt,virtualization=off,gic-version=2", "-cpu", "cortex-a72"]);
    cmd.args(["-m", "256M", "-smp", "1", "-nographic", "-monitor", "none", "-serial", "stdio", "-nic", "none"]);
    let loader = |arg: String| ["-device".to_string(), format!("loader,{arg}")];
    cmd.args(loader(format!(
        "file={},addr={GUEST_LOAD:#x},force-raw=on",
        image_dir().join("arceos-fs-aarch64.bin").display()
    )));
    cmd.args(loader(format!("file={},addr={DTB_ADDR:#x},force-raw=on", dtb.display())));
    for (i, word) in stub.iter().enumerate() {
        cmd.args(loader(format!("addr={:#x},data={word:#x},data-len=4", STUB_ADDR + 4 * i as u64)));
    }
    cmd.args(loader(format!("addr={STUB_ADDR:#x},cpu-num=0")));
    cmd.arg("-drive").arg(format!("file={},if=none,format=raw,id=disk0", disk.display()));
    cmd.args(["-device", "virtio-blk-device,drive=disk0,bus=virtio-mmio-bus.0"]);
    count_instructions(&mut cmd);
    cmd
}

/// The guest alone on QEMU (no hypervisor): two boots on one copy of its
/// disk. Tells a guest or image problem apart from a hypervisor one.
#[test]
#[ignore = "needs images built by `make test`"]
fn arceos_reads_and_writes_its_disk_bare() {
    let dtb = image_dir().join("arceos-fs-bare.dtb");
    let mut dump = Command::new("qemu-system-aarch64");
    dump.args(["-machine", &format!("virt,virtualization=off,gic-version=2,dumpdtb={}", dtb.display())]);
    dump.args(["-cpu", "cortex-a72", "-m", "256M", "-smp", "1", "-nographic", "-monitor", "none", "-nic", "none"]);
    run(dump, Duration::from_secs(30)).assert_clean_exit();
    let disk = fresh_copy("arceos-fs-disk.img", "arceos-fs-disk.bare.img");
    for boot in 1..=2 {
        let run = run(bare_guest_command(&dtb, &disk), TIMEOUT);
        run.assert_line("ARCEOS-FS-ROOT: seed.txt");
        assert_guest_boot(&run, boot);
    }
    assert_written_by_boot(&disk, 2);
}

/// The guest under the hypervisor, its disk the file-backed virtio-blk
/// device over /guests/arceos-fs-disk.img on the boot disk: the first boot
/// writes, the hypervisor writes the dirty sectors back to the file, and
/// the second boot (a new hypervisor run on the same boot disk) finds them.
#[test]
#[ignore = "needs images built by `make test`"]
fn arceos_reads_and_writes_its_disk_under_the_hypervisor() {
    let boot_disk = fresh_copy("disk-arceos-fs.img", "disk-arceos-fs.run.img");
    for boot in 1..=2 {
        let mut cmd = qemu_command(Arch::Aarch64, &image_dir().join("axvisor-aarch64-arceos-disk.bin"), 1, "256M");
        attach_disk(&mut cmd, &boot_disk);
        count_instructions(&mut cmd);
        let run = run(cmd, TIMEOUT);
        assert_guest_boot(&run, boot);
        run.assert_line(&vm_ended(1, "arceos-disk", "powered off"));
        run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    }
    // The guest's disk as the hypervisor left it in the boot disk's /guests.
    let guest_disk = image_dir().join("arceos-fs-disk.run.img");
    std::fs::write(&guest_disk, boot_disk_file(&boot_disk, "/guests/arceos-fs-disk.img"))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", guest_disk.display()));
    assert_written_by_boot(&guest_disk, 2);
}
