//! aarch64: the probe guest's conformance suite under the hypervisor and
//! bare, the isolation case (a guest touching an unmapped address is
//! stopped; the hypervisor and the other VM go on), and the 30,000-tick
//! physical-timer cyclic test of NimbOS-class guests, and two vCPUs
//! sharing one CPU.
//!
//! Ignored under plain `cargo test`; `make test` builds the images and runs
//! them with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, assert_shared_cpu_bench, bare_command, count_instructions, image_dir, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(120);
use qemu_boot_tests::AARCH64_PROBE_CHECKS as GUEST_CHECKS;

#[test]
#[ignore = "needs images built by `make test`"]
fn probe_suite_passes_under_the_hypervisor() {
    let image = image_dir().join("axvisor-aarch64-probe.bin");
    let run = run(qemu_command(Arch::Aarch64, &image, 2, "256M"), TIMEOUT);
    run.assert_probe_suite(&GUEST_CHECKS, &["sbi-conformance"]);
    // Check 8: SYSTEM_OFF ends the VM and the hypervisor says so.
    run.assert_line("axvisor: VM[1] probe: powered off");
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}

#[test]
#[ignore = "needs images built by `make test`"]
fn probe_suite_passes_bare() {
    let elf = image_dir().join("probe-aarch64.elf");
    let run = run(bare_command(Arch::Aarch64, &elf, 2, "256M", None), TIMEOUT);
    run.assert_probe_suite(&GUEST_CHECKS[1..], &["hypercall", "sbi-conformance"]);
    run.assert_clean_exit();
}

#[test]
#[ignore = "needs images built by `make test`"]
fn isolation_fault_stops_only_the_faulting_vm() {
    let image = image_dir().join("axvisor-aarch64-isolation.bin");
    let run = run(qemu_command(Arch::Aarch64, &image, 2, "256M"), TIMEOUT);
    // Both guests print at once on the one UART, so their lines may
    // interleave; the hypervisor's closing report comes after both stopped.
    run.assert_line(
        "axvisor: VM[2] probe-isolation: stopped on a fault: VM[2] vCPU[0]: read of 4 bytes at unmapped guest-physical address 0x3f000000",
    );
    run.assert_line("axvisor: VM[1] arceos: powered off");
    assert!(!run.output.contains("not ok 7"), "the guest ran past the fault:\n{}", run.output);
    run.assert_line("all VMs stopped (2 booted, 0 rejected, 1 stopped on a fault)");
    run.assert_clean_exit();
}

/// The ticks the cyclic test takes, and its report line.
const CYCLIC: &str = "# physical timer: 30000 ticks at 1000 Hz (CVAL and TVAL alternately)";

/// Mode 17 under the hypervisor: 30,000 ticks of the EL1 physical timer at
/// 1 kHz (30 s of guest time; under `-icount` idle time passes at once).
#[test]
#[ignore = "needs images built by `make test`"]
fn physical_timer_cyclic_test_passes_under_the_hypervisor() {
    let mut cmd = qemu_command(Arch::Aarch64, &image_dir().join("axvisor-aarch64-ptimer.bin"), 1, "256M");
    count_instructions(&mut cmd);
    let run = run(cmd, TIMEOUT);
    run.assert_line(CYCLIC);
    run.assert_line("ok 1 physical-timer-cyclic");
    assert!(!run.output.contains("not ok"), "output:\n{}", run.output);
    run.assert_line("axvisor: VM[1] ptimer-cyclic: powered off");
    run.assert_clean_exit();
}

/// The same test bare (entry = load address + 4 * 17).
#[test]
#[ignore = "needs images built by `make test`"]
fn physical_timer_cyclic_test_passes_bare() {
    let elf = image_dir().join("probe-aarch64.elf");
    let mut cmd = bare_command(Arch::Aarch64, &elf, 1, "256M", Some(0x4020_0044));
    count_instructions(&mut cmd);
    let run = run(cmd, TIMEOUT);
    run.assert_line(CYCLIC);
    run.assert_line("ok 1 physical-timer-cyclic");
    assert!(!run.output.contains("not ok"), "output:\n{}", run.output);
    run.assert_clean_exit();
}

/// Mode 18 under the hypervisor: two vCPUs of one VM on one physical CPU.
/// 1,000 switches by IPI ping-pong, each side waiting in WFI, finish; then
/// with vCPU 1 spinning with interrupts masked (no exits), vCPU 0 still
/// takes every one of its 64 timer interrupts, well within the slice.
#[test]
#[ignore = "needs images built by `make test`"]
fn two_vcpus_share_one_cpu_and_a_spinner_does_not_starve_the_other() {
    // The counter runs at 62.5 MHz.
    assert_shared_cpu_bench(Arch::Aarch64, &image_dir().join("axvisor-aarch64-probe-shared.bin"), 62_500);
}
