//! aarch64 on a GICv3 host (QEMU `gic-version=3`, hypervisor built with
//! `GIC=3`): the guests that run on GICv2 run here with a virtual GICv3
//! (emulated distributor and redistributors, the CPU interface through
//! the ICH list registers, SGIs from trapped ICC_SGI1R_EL1 writes): the
//! ArceOS guest, the probe's suite (and the same suite bare on a GICv3
//! machine), Linux on two vCPUs, and the probe as a guest that never
//! writes GICR_WAKER (hypervisor and bare). A GICv2 build on this host stops
//! with a line that says how to build for it.
//!
//! Ignored under plain `cargo test`; `make test` builds the images and runs
//! them with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, bare_command, image_dir, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(300);
const ARCH: Arch = Arch::Aarch64Gic3;

#[test]
#[ignore = "needs images built by `make test`"]
fn arceos_guest_boots_on_a_gicv3_host() {
    let run = run(qemu_command(ARCH, &image_dir().join("axvisor-aarch64-gicv3-arceos.bin"), 1, "256M"), TIMEOUT);
    run.assert_line("Hello, world! (ArceOS guest)");
    run.assert_line("axvisor: VM[1] arceos: powered off");
    run.assert_clean_exit();
}

use qemu_boot_tests::AARCH64_PROBE_CHECKS as GUEST_CHECKS;

#[test]
#[ignore = "needs images built by `make test`"]
fn probe_suite_passes_with_a_virtual_gicv3() {
    let run = run(qemu_command(ARCH, &image_dir().join("axvisor-aarch64-gicv3-probe.bin"), 2, "256M"), TIMEOUT);
    run.assert_probe_suite(&GUEST_CHECKS, &["sbi-conformance"]);
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}

#[test]
#[ignore = "needs images built by `make test`"]
fn probe_suite_passes_bare_on_a_gicv3_machine() {
    let run = run(bare_command(ARCH, &image_dir().join("probe-aarch64.elf"), 2, "256M", None), TIMEOUT);
    run.assert_probe_suite(&GUEST_CHECKS[1..], &["hypercall", "sbi-conformance"]);
    run.assert_clean_exit();
}

#[test]
#[ignore = "needs images built by `make test`"]
fn linux_boots_on_two_vcpus_with_a_virtual_gicv3() {
    let run = run(qemu_command(ARCH, &image_dir().join("axvisor-aarch64-gicv3-linux.bin"), 2, "256M"), TIMEOUT);
    run.assert_line("GICv3: CPU1: found redistributor 1 region 0:0x00000000080c0000");
    run.assert_line("smp: Brought up 1 node, 2 CPUs");
    run.assert_line("LINUX-GUEST-UP cpus=2");
    run.assert_line("axvisor: VM[1] linux: powered off");
    run.assert_clean_exit();
}

#[test]
#[ignore = "needs images built by `make test`"]
fn a_gicv2_build_on_a_gicv3_host_says_how_to_build() {
    let run = run(qemu_command(ARCH, &image_dir().join("axvisor-aarch64-arceos.bin"), 1, "256M"), TIMEOUT);
    run.assert_line(
        "axvisor: cannot virtualize the host interrupt controller: host device tree: the host has a GICv3 and this hypervisor was built for GICv2 (build with GIC=3); powering off",
    );
    run.assert_clean_exit();
}

/// The probe's mode 39 prints these: a guest that never writes GICR_WAKER
/// still takes a self-SGI and the timer's PPI, and reads a consistent
/// GICR_WAKER.
const NO_WAKER_CHECKS: [&str; 3] = ["ok 1 no-waker-sgi", "ok 2 no-waker-timer-ppi", "ok 3 no-waker-state"];

#[test]
#[ignore = "needs images built by `make test`"]
fn a_guest_that_never_wakes_its_redistributor_takes_interrupts() {
    let run = run(qemu_command(ARCH, &image_dir().join("axvisor-aarch64-gicv3-no-waker.bin"), 1, "256M"), TIMEOUT);
    NO_WAKER_CHECKS.iter().for_each(|line| run.assert_line(line));
    run.assert_line("probe: GICR_WAKER reads 0x6");
    run.assert_line("3 passed, 0 failed, 0 skipped");
    run.assert_line("axvisor: VM[1] gicv3-no-waker: powered off");
    run.assert_clean_exit();
}

/// The same bare on QEMU's GICv3, which delivers regardless too (entry =
/// load address + 4 * 39).
#[test]
#[ignore = "needs images built by `make test`"]
fn a_guest_that_never_wakes_its_redistributor_takes_interrupts_bare() {
    let run = run(bare_command(ARCH, &image_dir().join("probe-aarch64.elf"), 1, "256M", Some(0x4020_009c)), TIMEOUT);
    NO_WAKER_CHECKS.iter().for_each(|line| run.assert_line(line));
    run.assert_line("probe: GICR_WAKER reads 0x6");
    run.assert_line("3 passed, 0 failed, 0 skipped");
    run.assert_clean_exit();
}
