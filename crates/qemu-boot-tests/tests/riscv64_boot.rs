//! riscv64: the hypervisor (HS-mode under OpenSBI) boots the ArceOS guest
//! and Linux SMP2 through the same architecture-neutral VMM, and ends
//! cleanly.
//!
//! Ignored under plain `cargo test`; `make test` builds the images and runs
//! them with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs images built by `make test`"]
fn arceos_guest_boots_on_riscv64() {
    let image = image_dir().join("axvisor-riscv64-arceos.bin");
    let run = run(qemu_command(Arch::Riscv64, &image, 1, "256M"), TIMEOUT);
    run.assert_line("axvisor 0.1.0: a type-1 hypervisor on ArceOS");
    run.assert_line("Hello, world! (ArceOS guest)");
    run.assert_line("axvisor: VM[1] arceos: powered off");
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}

/// Debian trixie's riscv64 kernel with two vCPUs, its device tree
/// generated from the config (harts, virtual PLIC, UART, /chosen): both
/// harts come up (SBI HSM), /init runs from the initramfs and powers off
/// (SBI system reset).
#[test]
#[ignore = "needs images built by `make test`"]
fn linux_smp2_boots_on_riscv64() {
    let image = image_dir().join("axvisor-riscv64-linux.bin");
    let run = run(qemu_command(Arch::Riscv64, &image, 2, "256M"), TIMEOUT);
    run.assert_line("Machine model: axvisor guest");
    run.assert_line("smp: Brought up 1 node, 2 CPUs");
    run.assert_line("LINUX-GUEST-UP cpus=2");
    run.assert_line("axvisor: VM[1] linux: powered off");
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}
