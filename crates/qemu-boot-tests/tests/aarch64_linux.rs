//! aarch64: Debian's arm64 kernel with a busybox initramfs boots on two
//! vCPUs under the hypervisor (generated device tree, virtual GICv2,
//! forwarded timer and UART interrupts, PSCI CPU_ON), reports both CPUs
//! and powers off; the hypervisor then exits cleanly.
//!
//! Ignored under plain `cargo test`; `make test` builds the image (fetching
//! the Linux guest once) and runs it with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
#[ignore = "needs images built by `make test`"]
fn linux_boots_on_two_vcpus_and_powers_off() {
    let image = image_dir().join("axvisor-aarch64-linux.bin");
    let run = run(qemu_command(Arch::Aarch64, &image, 2, "256M"), TIMEOUT);
    run.assert_line("smp: Brought up 1 node, 2 CPUs");
    run.assert_line("LINUX-GUEST-UP cpus=2");
    run.assert_line("axvisor: VM[1] linux: powered off");
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
    eprintln!("Linux SMP2 under the hypervisor: {:.2?} wall", run.elapsed);
}

/// Linux SMP2 on a one-CPU host: both vCPUs take turns on CPU 0 while the
/// initramfs runs its FP/SIMD and compression check on both at once
/// (`fpcheck=20`, crates/qemu-boot-tests/configs/linux-fpcheck.toml):
/// every round on every worker matches its first, so no vCPU ever saw
/// the other's FP/SIMD registers.
#[test]
#[ignore = "needs images built by `make test`"]
fn linux_fp_simd_state_stays_its_own_with_two_vcpus_on_one_cpu() {
    let image = image_dir().join("axvisor-aarch64-linux-fpcheck.bin");
    let run = run(qemu_command(Arch::Aarch64, &image, 1, "256M"), TIMEOUT);
    run.assert_line("LINUX-GUEST-UP cpus=2");
    for worker in [1, 2] {
        run.assert_line(&format!("FPCHECK worker={worker} rounds=20 mismatches=0"));
    }
    run.assert_line("axvisor: VM[1] linux-fpcheck: powered off");
    run.assert_clean_exit();
    eprintln!("Linux FP/SIMD check, two vCPUs on one CPU: {:.2?} wall", run.elapsed);
}

/// Linux SMP2 from a config in upstream AxVisor's field set
/// (`configs/vms/linux-aarch64-upstream.toml`) on a GICv3 host: every host
/// device passed through by path (`["/"]`, the PCIe host excluded), the
/// interrupt controller "passed through", the device tree derived from the
/// host's. Linux finds the host's RTC and GPIO in that tree and uses them.
#[test]
#[ignore = "needs images built by `make test`"]
fn linux_from_an_upstream_style_config_uses_the_hosts_devices() {
    let image = image_dir().join("axvisor-aarch64-gicv3-linux-upstream.bin");
    let run = run(qemu_command(Arch::Aarch64Gic3, &image, 2, "512M"), TIMEOUT);
    run.assert_line("rtc-pl031 9010000.pl031: registered as rtc0");
    run.assert_line("pl061_gpio 9030000.pl061: PL061 GPIO chip registered");
    run.assert_line("LINUX-GUEST-UP cpus=2");
    run.assert_line("axvisor: VM[1] linux-upstream: powered off");
    run.assert_clean_exit();
}
