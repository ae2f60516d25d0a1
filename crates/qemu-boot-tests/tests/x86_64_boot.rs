//! x86_64: the hypervisor boots on QEMU's q35 under TCG, which emulates
//! AMD SVM with nested paging, turns SVM on for every CPU, boots the
//! ArceOS guest through its SVM vCPU (Multiboot entry, COM1 console, the
//! x2APIC, ACPI power-off) and powers off cleanly; bad x86 configs are
//! refused with a line each while the good VM still boots.
//!
//! Ignored under plain `cargo test`; `make test` builds the images.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs images built by `make test`"]
fn arceos_guest_boots_through_svm_and_the_hypervisor_exits_cleanly() {
    let image = image_dir().join("axvisor-x86_64-arceos.elf32");
    let run = run(qemu_command(Arch::X86_64, &image, 2, "256M"), TIMEOUT);
    for cpu in [0, 1] {
        run.assert_line(&format!("AMD SVM on for CPU {cpu} (host save area at 0x"));
    }
    run.assert_line("hardware virtualization enabled on 2 CPU(s)");
    run.assert_line("axplat_x86_pc::apic:80] Using x2APIC.");
    run.assert_line("[1 arceos] Hello, world! (ArceOS guest)");
    run.assert_line("VM[1] arceos powered off");
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
    eprintln!("x86 guest boot under the hypervisor: {:.2?} wall", run.elapsed);
}

#[test]
#[ignore = "needs images built by `make test`"]
fn bad_x86_configs_are_refused_and_the_good_vm_still_boots() {
    let image = image_dir().join("axvisor-x86_64-bad-configs.elf32");
    let run = run(qemu_command(Arch::X86_64, &image, 2, "256M"), TIMEOUT);
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/x86-boot-info-high.toml: kernel.dtb_load_addr: the Multiboot information at 0x100000000 would not lie below 4 GiB",
    );
    run.assert_line("[1 arceos] Hello, world! (ArceOS guest)");
    run.assert_line("all VMs stopped (1 booted, 1 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}
