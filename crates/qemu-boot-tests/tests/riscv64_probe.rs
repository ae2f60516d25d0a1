//! riscv64: the probe guest's suite under the hypervisor (our own vCPU,
//! SBI answered by the VMM, virtual PLIC) and bare under OpenSBI, and the
//! isolation case, and two vCPUs sharing one hart.
//!
//! Ignored under plain `cargo test`; `make test` builds the images and runs
//! them with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, assert_shared_cpu_bench, bare_command, image_dir, qemu_command, run, vm_ended, vm_fault};

const TIMEOUT: Duration = Duration::from_secs(120);
/// Checks the suite runs inside the guest (7 is its own VM, 8 is checked
/// from the host side).
const GUEST_CHECKS: [&str; 8] = [
    "hypercall",
    "emulated-mmio",
    "virtual-timer-interrupt",
    "wfi-wakeup",
    "smp-cpu-on-ipi",
    "sbi-base-probe",
    "device-interrupt",
    "sbi-conformance",
];

#[test]
#[ignore = "needs images built by `make test`"]
fn probe_suite_passes_under_the_hypervisor_on_riscv64() {
    let run = run(qemu_command(Arch::Riscv64, &image_dir().join("axvisor-riscv64-probe.bin"), 2, "256M"), TIMEOUT);
    run.assert_probe_suite(&GUEST_CHECKS, &["gic-conformance", "physical-timer-cyclic"]);
    run.assert_line("axvisor: VM[1] probe: powered off");
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}

#[test]
#[ignore = "needs images built by `make test`"]
fn probe_suite_passes_bare_on_riscv64() {
    let run = run(bare_command(Arch::Riscv64, &image_dir().join("probe-riscv64.elf"), 2, "256M", None), TIMEOUT);
    run.assert_probe_suite(&GUEST_CHECKS[1..], &["hypercall", "gic-conformance", "physical-timer-cyclic"]);
    run.assert_clean_exit();
}

#[test]
#[ignore = "needs images built by `make test`"]
fn isolation_fault_stops_only_the_faulting_vm_on_riscv64() {
    let run = run(qemu_command(Arch::Riscv64, &image_dir().join("axvisor-riscv64-isolation.bin"), 2, "256M"), TIMEOUT);
    run.assert_line(
        "axvisor: VM[2] probe-isolation: stopped on a fault: VM[2] vCPU[0]: read of 4 bytes at unmapped guest-physical address 0x3f000000",
    );
    run.assert_line("axvisor: VM[1] arceos: powered off");
    assert!(!run.output.contains("not ok 7"), "the guest ran past the fault:\n{}", run.output);
    run.assert_line("all VMs stopped (2 booted, 0 rejected, 1 stopped on a fault)");
    run.assert_clean_exit();
}

/// Mode 18 under the hypervisor: two vCPUs of one VM on one hart. Their
/// WFI traps while they share it, so 1,000 switches by IPI ping-pong
/// finish; each keeps its own VS CSRs and timer (a vCPU taken off the hart
/// is saved out), so with vCPU 1 spinning with interrupts masked, vCPU 0
/// still takes every one of its 64 timer interrupts.
#[test]
#[ignore = "needs images built by `make test`"]
fn two_vcpus_share_one_hart_and_a_spinner_does_not_starve_the_other() {
    // The time base is 10 MHz.
    assert_shared_cpu_bench(Arch::Riscv64, &image_dir().join("axvisor-riscv64-probe-shared.bin"), 10_000);
}

/// Mode 4 under the hypervisor: two vCPUs on one hart each fill f0-f31
/// with a pattern of their own, and `scounteren` and `senvcfg` (which a
/// guest writes on the hart itself) with values of their own, let the
/// other run, and check all 34 registers, 20 rounds each: not one is
/// wrong (without the hypervisor saving them on a switch, some 1,200 of
/// the 1,280 FP registers are, and every CSR check).
#[test]
#[ignore = "needs images built by `make test`"]
fn floating_point_registers_stay_each_vcpus_own_on_a_shared_hart() {
    let run = run(qemu_command(Arch::Riscv64, &image_dir().join("axvisor-riscv64-fp.bin"), 1, "256M"), TIMEOUT);
    run.assert_line("fp: 40 rounds on two vCPUs sharing a CPU, 0 registers wrong");
    run.assert_line("ok fp-isolation");
    assert!(!run.output.contains("not ok"), "output:\n{}", run.output);
    run.assert_line("axvisor: VM[1] fp: powered off");
    run.assert_clean_exit();
}

/// Hostile guests on hart 1 beside the ArceOS guest on hart 0
/// (`configs/hostile-riscv64/`): loads and stores at guest-physical
/// addresses at and above 2^39, which Sv39x4 translates through a 16 KiB
/// root (a 4 KiB root would make the walk read host memory as entries),
/// stop only their own VM, each with a line naming the address; reading
/// `cycle`, `instret` or `hpmcounter3` is an illegal instruction to the
/// guest (they count the host too), `time` reads. The ArceOS guest
/// finishes.
#[test]
#[ignore = "needs images built by `make test`"]
fn hostile_guests_on_riscv64_are_stopped_or_answered_and_the_others_go_on() {
    let run = run(qemu_command(Arch::Riscv64, &image_dir().join("axvisor-riscv64-hostile.bin"), 2, "256M"), TIMEOUT);
    let unmapped = "bytes at unmapped guest-physical address";
    run.assert_line(&vm_fault(10, "hostile-high-gpa", &format!("read of 4 {unmapped} 0x8000000000")));
    run.assert_line(&vm_fault(11, "hostile-top-gpa", &format!("write of 4 {unmapped} 0x1fffffff000")));
    run.assert_line(&vm_ended(12, "hostile-counters", "powered off"));
    run.assert_line(&vm_ended(1, "arceos", "powered off"));
    assert!(!run.output.contains("not ok"), "output:\n{}", run.output);
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/hostile-riscv64/03-config-high-gpa.toml: kernel.memory_regions[1] = [0x8000000000, 0x8000100000) (limit 0x8000000000)",
    );
    run.assert_line("all VMs stopped (4 booted, 1 rejected, 2 stopped on a fault)");
    run.assert_clean_exit();
}
