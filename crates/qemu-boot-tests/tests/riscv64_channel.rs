//! riscv64: the shared-memory channel between VMs with doorbells (SBI
//! extension calls, PLIC sources), the same probe modes as on aarch64
//! (`crates/probe-guest/src/channel.rs`, configs in
//! `configs/channel-riscv64/`): a producer and a consumer move 10,000
//! messages in order, none lost, through a storm of doorbells from a
//! third member that then resets; a VM with no channel is refused; a
//! read-only member that writes is stopped and named. `make test` builds
//! the image and runs this with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run, vm_ended, vm_fault};

const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
#[ignore = "needs images built by `make test`"]
fn two_vms_exchange_10000_messages_and_hostile_members_are_contained_on_riscv64() {
    let run = run(qemu_command(Arch::Riscv64, &image_dir().join("axvisor-riscv64-channel.bin"), 2, "256M"), TIMEOUT);
    run.assert_line("[41 chan-consumer] CHANNEL msgs=10000 bad=0");
    run.assert_line("[41 chan-consumer] channel consumer: status answered a value");
    run.assert_line("[40 chan-producer] channel producer: sent 10000 messages");
    run.assert_line(&vm_ended(40, "chan-producer", "powered off"));
    run.assert_line(&vm_ended(41, "chan-consumer", "powered off"));
    run.assert_line(
        "[42 chan-outsider] channel outsider: doorbell(0) = NOT_SUPPORTED, doorbell(7) = NOT_SUPPORTED, status(0) = NOT_SUPPORTED",
    );
    run.assert_line("[43 chan-reader] channel reader: read head");
    run.assert_line("doorbell(7) = INVALID_PARAMETERS, doorbell(0) = a value");
    run.assert_line(&vm_fault(
        43,
        "chan-reader",
        "emulated device write at guest-physical address 0x48000084 failed: a write to a read-only region",
    ));
    run.assert_line("[44 chan-stormer] channel stormer: ok: the consumer took messages 0 to 10000 during the storm");
    run.assert_line(" doorbells rung (at least 100000), 0 refused; resetting");
    run.assert_line("[44 chan-stormer] channel stormer: ok: after the reset the generation is");
    run.assert_line(&vm_ended(44, "chan-stormer", "powered off"));
    assert!(!run.output.contains("not ok"), "a wrong answer:\n{}", run.output);
    assert!(!run.output.contains("panicked"), "the hypervisor panicked:\n{}", run.output);
    run.assert_line("all VMs stopped (5 booted, 0 rejected, 1 stopped on a fault)");
}
