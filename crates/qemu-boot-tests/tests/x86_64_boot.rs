//! x86_64: the hypervisor boots on QEMU's q35 under TCG, which emulates
//! AMD SVM with nested paging, turns SVM on for every CPU, and refuses a
//! VM with a line saying why (the SVM vCPU is not wired in yet), then
//! powers off cleanly.
//!
//! Ignored under plain `cargo test`; `make test` builds the image.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs images built by `make test`"]
fn the_host_enables_svm_on_every_cpu_and_refuses_guests_with_a_line() {
    let image = image_dir().join("axvisor-x86_64-svm.elf32");
    let run = run(qemu_command(Arch::X86_64, &image, 2, "256M"), TIMEOUT);
    for cpu in [0, 1] {
        run.assert_line(&format!("AMD SVM on for CPU {cpu} (host save area at 0x"));
    }
    run.assert_line("hardware virtualization enabled on 2 CPU(s)");
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/x86-svm.toml: this host cannot run it: AMD SVM is on, but its vCPU (crate svm-vcpu) is not wired in yet",
    );
    run.assert_line("all VMs stopped (0 booted, 1 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}
