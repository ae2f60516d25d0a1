//! aarch64: the hypervisor boots the ArceOS guest and ends cleanly, and a
//! bad VM config is rejected with one line while the good VM still boots.
//!
//! Ignored under plain `cargo test`; `make test` builds the images and runs
//! them with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, count_instructions, image_dir, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs images built by `make test`"]
fn arceos_guest_boots_and_hypervisor_exits_cleanly() {
    let image = image_dir().join("axvisor-aarch64-arceos.bin");
    let run = run(qemu_command(Arch::Aarch64, &image, 1, "256M"), TIMEOUT);
    run.assert_line("axvisor 0.1.0: a type-1 hypervisor on ArceOS");
    run.assert_line("Hello, world! (ArceOS guest)");
    run.assert_line("VM[1] arceos powered off");
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
    eprintln!("guest boot under the hypervisor: {:.2?} wall", run.elapsed);
}

#[test]
#[ignore = "needs images built by `make test`"]
fn bad_configs_are_rejected_and_the_good_vm_still_boots() {
    let image = image_dir().join("axvisor-aarch64-bad-configs.bin");
    let run = run(qemu_command(Arch::Aarch64, &image, 1, "256M"), TIMEOUT);
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/zero-vcpus.toml: base.cpu_num = 0: a VM needs at least one vCPU",
    );
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/image-too-large.toml: kernel.kernel_path = \"../../../target/guests/arceos-hello-aarch64.bin\": image is",
    );
    run.assert_line("VM config crates/qemu-boot-tests/configs/no-such-file.toml: the file could not be read");
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/passthrough-ram.toml: devices.passthrough_devices[0] = \"host-ram\" at [0x48000000, 0x48100000): host RAM",
    );
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/no-such-cpu.toml: base.phys_cpu_ids[0] = 5: the host has 1 CPU(s), 0 to 0",
    );
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/too-much-ram.toml: kernel.memory_regions: no free host memory for the 0x40000000-byte RAM region at 0x40000000",
    );
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/device-taken.toml: devices.passthrough_devices[0] = \"virtio-mmio-31\" at host [0xa003000, 0xa004000): already passed through to VM[5]",
    );
    // Containment: host RAM by any passthrough field, a page shared with
    // another VM's device, ids that collide in the tables or the VMID, and
    // a huge vCPU count before a device tree is generated from it.
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/device-shares-page.toml: devices.passthrough_devices[0] = \"virtio-mmio-30\" at host [0xa003000, 0xa004000): already passed through to VM[5]",
    );
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/passthrough-gpa-in-ram.toml: devices.passthrough_devices[0].base_hpa = 0x9000000: differs from base_gpa",
    );
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/passthrough-addresses-ram.toml: devices.passthrough_addresses[0] at [0x48000000, 0x48100000): host RAM",
    );
    run.assert_line("VM config crates/qemu-boot-tests/configs/vm-id-zero.toml: base.id = 0: must be 1 to 255");
    run.assert_line("VM config crates/qemu-boot-tests/configs/vm-id-257.toml: base.id = 257: must be 1 to 255");
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/huge-cpu-num.toml: base.cpu_num = 100000000: more vCPUs than the hypervisor supports (64)",
    );
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/virtual-disk-in-passthrough.toml: devices.virtual[0]: its virtio-mmio window lies in the pages of passthrough device \"virtio-mmio-0\"",
    );
    run.assert_line("Hello, world! (ArceOS guest)");
    // VM 5 asked for the host UART too, which VM 1 has: its own is virtual.
    run.assert_line("[5 device-owner] Hello, world! (ArceOS guest)");
    // Its identity-mapped RAM cannot have the hypervisor's own memory.
    run.assert_line(
        "VM[5] device-owner: kernel.memory_regions[0] asks for identity mapping, but host memory at 0x40000000 cannot be had",
    );
    run.assert_line("all VMs stopped (2 booted, 14 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}

/// Two ArceOS guests, each with a console of its own (an emulated PL011):
/// every line either prints reaches the host console whole, prefixed with
/// its VM.
#[test]
#[ignore = "needs images built by `make test`"]
fn each_vm_has_its_own_console_and_its_lines_are_prefixed() {
    let image = image_dir().join("axvisor-aarch64-consoles.bin");
    let run = run(qemu_command(Arch::Aarch64, &image, 2, "256M"), TIMEOUT);
    for (id, name) in [(1, "arceos-a"), (2, "arceos-b")] {
        let prefix = format!("[{id} {name}] ");
        let hello = run.output.lines().find(|l| l.contains("Hello, world! (ArceOS guest)") && l.starts_with(&prefix));
        assert!(hello.is_some(), "no hello line starting with {prefix:?}:\n{}", run.output);
        run.assert_line(&format!("axvisor: VM[{id}] {name}: powered off"));
    }
    // No guest line reaches the console without its prefix.
    assert!(
        !run.output.lines().any(|l| l.starts_with("Hello, world!")),
        "an unprefixed guest line:\n{}",
        run.output
    );
    run.assert_line("all VMs stopped (2 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}

/// The default multi-VM set (`VMSET=multi`): ArceOS, the probe's suite and
/// Linux SMP2 side by side, plus a probe that spins 2 s with interrupts
/// masked on CPU 0: six vCPUs on two CPUs, each VM with its own emulated
/// PL011. Every guest's lines come prefixed with its VM, the probe's checks
/// all pass (its device interrupt is its own UART's), the spinner does not
/// starve the others, and every VM completes.
#[test]
#[ignore = "needs images built by `make test`"]
fn four_vms_share_two_cpus_each_with_its_own_console() {
    let image = image_dir().join("axvisor-aarch64-multi.bin");
    // Guest time counts instructions, so that a busy host cannot make the
    // probe's timer ticks look late.
    let mut cmd = qemu_command(Arch::Aarch64, &image, 2, "512M");
    count_instructions(&mut cmd);
    let run = run(cmd, Duration::from_secs(300));
    let prefixed = |prefix: &str, text: &str| run.output.lines().any(|l| l.starts_with(prefix) && l.contains(text));
    assert!(prefixed("[1 arceos] ", "Hello, world! (ArceOS guest)"), "{}", run.output);
    assert!(prefixed("[2 probe] ", "9 passed, 0 failed, 1 skipped"), "{}", run.output);
    assert!(prefixed("[2 probe] ", "ok 9 device-interrupt"), "{}", run.output);
    assert!(prefixed("[3 linux] ", "LINUX-GUEST-UP cpus=2"), "{}", run.output);
    assert!(prefixed("[4 spinner] ", "probe: spun 2 s without an exit"), "{}", run.output);
    assert!(!run.output.contains("not ok"), "{}", run.output);
    for (id, name) in [(1, "arceos"), (2, "probe"), (3, "linux"), (4, "spinner")] {
        run.assert_line(&format!("axvisor: VM[{id}] {name}: powered off"));
    }
    run.assert_line("all VMs stopped (4 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}

/// A VM config in upstream AxVisor's own field set
/// (`configs/vms/arceos-aarch64-upstream.toml`): identity-mapped RAM at
/// 0x8000_0000 (so the host needs 2 GiB), `passthrough_devices = [["/"]]`
/// with `excluded_devices` (the console and bus masters held back),
/// `interrupt_mode = "passthrough"` and no emulated devices, a device tree
/// derived from the host's. The ArceOS
/// guest linked for that address boots and powers off, on a GICv2 host and
/// on a GICv3 one.
#[test]
#[ignore = "needs images built by `make test`"]
fn a_config_in_upstreams_field_set_boots_the_arceos_guest() {
    for (arch, image) in [(Arch::Aarch64, "axvisor-aarch64-upstream.bin"), (Arch::Aarch64Gic3, "axvisor-aarch64-gicv3-upstream.bin")] {
        let run = run(qemu_command(arch, &image_dir().join(image), 1, "1G"), TIMEOUT);
        run.assert_line("VM[1] arceos-upstream: RAM [0x60000000, +0x8000000) identity-mapped");
        // "Everything" holds back the host console (the guest writes to a
        // virtual UART in its place, prefixed lines) and the bus masters.
        run.assert_line("VM 1 (arceos-upstream): /pl011@9000000 is the host's console UART: the VM gets a virtual UART there instead");
        run.assert_line("VM 1 (arceos-upstream): /fw-cfg@9020000 and ");
        run.assert_line("held back from the passthrough: they can DMA into any host memory (no IOMMU)");
        run.assert_line("[1 arceos-upstream] Hello, world! (ArceOS guest)");
        run.assert_line("axvisor: VM[1] arceos-upstream: powered off");
        run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
        run.assert_clean_exit();
    }
}
