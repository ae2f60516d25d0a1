//! aarch64: hostile guests. Fourteen VMs each misbehave in one way (configs
//! in `configs/hostile/`), on physical CPU 1 beside an FP/SIMD isolation
//! check whose two vCPUs share CPU 1 with them; one, foreign-spi, on CPU 0
//! with the ArceOS guest and spi-owner, whose SPI it attacks.
//! Each hostile VM must be answered per the specification or stopped with
//! a line naming what it did; the ArceOS guest must finish; nothing may
//! panic; the hypervisor must power off. The guest-side fuzzer runs in an
//! image of its own.
//!
//! Guests print at once on one UART, so their lines may interleave: the
//! verdicts come from the hypervisor's closing report, printed after every
//! VM stopped. A case that is answered powers off when every answer was
//! right and turns its only vCPU off when one was not.
//!
//! The same VMs run on a GICv3 host too (`GIC=3`), with the same verdicts.
//!
//! Ignored under plain `cargo test`; `make test` builds the images.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run, vm_ended as ended, vm_fault as fault};

const TIMEOUT: Duration = Duration::from_secs(180);

#[test]
#[ignore = "needs images built by `make test`"]
fn hostile_guests_are_answered_or_stopped_and_the_others_go_on() {
    for (arch, image) in [(Arch::Aarch64, "axvisor-aarch64-hostile.bin"), (Arch::Aarch64Gic3, "axvisor-aarch64-gicv3-hostile.bin")] {
        hostile_guests_on(arch, image);
    }
}

fn hostile_guests_on(arch: Arch, image: &str) {
    let run = run(qemu_command(arch, &image_dir().join(image), 2, "256M"), TIMEOUT);
    // Stopped, each with the line that names what it did.
    run.assert_line(&fault(10, "hostile-fetch-unmapped", "instruction fetch at unmapped guest-physical address 0x70000000"));
    run.assert_line(&fault(11, "hostile-vector-unmapped", "instruction fetch at unmapped guest-physical address 0x70000200"));
    // (A translation fault at level 3 on GICv2, whose CPU interface is
    // mapped next to the distributor; at level 1 on GICv3.)
    run.assert_line(&fault(15, "hostile-mmio-no-syndrome", "load/store pair (LDP/STP) (ESR 0x9200000"));
    run.assert_line(&fault(18, "hostile-read-only", "write to a read-only region (ESR"));
    run.assert_line(&fault(19, "hostile-no-exec", "instruction fetch from a no-execute region (ESR"));
    run.assert_line(&ended(16, "hostile-cpu-off-last", "turned its last vCPU off: stopped"));
    // Answered per the specification: every answer right, then SYSTEM_OFF
    // (smc-calls and mmio-no-syndrome check their answers before the end
    // above; a wrong one would have asked for a reset instead).
    // smc-reset: SYSTEM_RESET restarted the VM from its images (boot 2).
    // pmu-debug: PMU and trace registers UNDEFINED, debug registers RAZ/WI,
    // and the VM goes on. foreign-spi: every SPI (the PL011's 33 and the
    // RTC's 34 among them) set pending, enabled, active and cleared in a
    // loop reaches its virtual GIC only: spi-owner, which owns 34 and holds
    // it asserted meanwhile, never gets it again with its RTC quiet.
    let answered = [
        (12, "smc-reset"),
        (13, "smc-calls"),
        (14, "ptimer"),
        (17, "cpu-on-bad"),
        (20, "vgic-abuse"),
        (21, "hvc-flood"),
        (22, "pmu-debug"),
        (23, "foreign-spi"),
        (25, "reset-loop"),
    ];
    for (id, name) in answered {
        run.assert_line(&ended(id, &format!("hostile-{name}"), "powered off"));
    }
    run.assert_line(&ended(24, "spi-owner", "powered off"));
    // reset-loop: 20 boots from its images, each with clean RAM.
    run.assert_line("VM[25] hostile-reset-loop asked for a reset: restarted from its images (boot 20;");
    run.assert_line("hostile reset-loop: ok: restarted from its images with clean RAM every time (saw 0x14)");
    // Two vCPUs sharing CPU 1 keep their own FP/SIMD registers.
    run.assert_line(&ended(31, "fp-simd", "powered off"));
    // The well-behaved guest finishes, and the hypervisor with it.
    run.assert_line(&ended(1, "arceos", "powered off"));
    run.assert_line("all VMs stopped (18 booted, 0 rejected, 5 stopped on a fault)");
    // No physical interrupt was let in that nobody handles.
    assert!(!run.output.contains("Unhandled IRQ"), "an interrupt reached the host unhandled:\n{}", run.output);
    run.assert_clean_exit();
}

#[test]
#[ignore = "needs images built by `make test`"]
fn fuzzer_runs_ten_thousand_operations_and_only_its_vm_stops() {
    let image = image_dir().join("axvisor-aarch64-fuzz.bin");
    let run = run(qemu_command(Arch::Aarch64, &image, 2, "256M"), TIMEOUT);
    // (Its first lines share the UART with the ArceOS guest's and may
    // interleave; by its last the ArceOS guest is done.)
    run.assert_line("fuzz: 10000 ops done");
    // Its virtqueue operations left both virtio devices working: after a
    // reset each serves a well-formed request.
    run.assert_line("[2 fuzz] fuzz: virtio: ");
    run.assert_line("[2 fuzz] fuzz: ok: virtio-blk after a reset: a write and a read back of sector");
    run.assert_line("[2 fuzz] fuzz: ok: virtio-console after a reset: a line was transmitted");
    run.assert_line("[2 fuzz] fuzz: virtio-console: this line went out after the fuzzing");
    assert!(!run.output.contains("not ok fuzz"), "a virtio device did not serve after the fuzzing:\n{}", run.output);
    // Its last operation, an unmapped read, is reached only after all the
    // others and stops only this VM.
    run.assert_line(&fault(2, "fuzz", "read of 4 bytes at unmapped guest-physical address 0x3f0000c8"));
    // Its config repeats the ArceOS guest's id: it runs as VM[2], said so.
    run.assert_line("base.id = 1 is VM[1] arceos's already: this VM is VM[2]");
    run.assert_line(&ended(1, "arceos", "powered off"));
    run.assert_line("all VMs stopped (2 booted, 0 rejected, 1 stopped on a fault)");
    run.assert_clean_exit();
}
