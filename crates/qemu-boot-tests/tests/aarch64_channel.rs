//! aarch64: a shared-memory channel between VMs with doorbells
//! (`src/vmm/channel.rs`), driven by the probe's channel modes
//! (`crates/probe-guest/src/channel.rs`, configs in
//! `configs/channel/`): a producer and a consumer move 10,000 messages
//! through a ring in the shared pages, in order, none lost, one doorbell
//! per batch; beside them a VM with no channel is refused, a read-only
//! member that writes is stopped and named, a member rings at least
//! 100,000 times through the whole exchange and then resets (its peers go
//! on, the channel's generation grows), and a member
//! of the wrong size is refused by name; on GICv2 and GICv3 hosts. And,
//! through the management shell, the channel's pages go back to the host
//! when its last member VM is deleted, not before.
//! `make test` builds the images and runs this with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run, run_script, vm_ended, vm_fault};

const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
#[ignore = "needs images built by `make test`"]
fn two_vms_exchange_10000_messages_and_hostile_members_are_contained() {
    for (arch, image) in [(Arch::Aarch64, "axvisor-aarch64-channel.bin"), (Arch::Aarch64Gic3, "axvisor-aarch64-gicv3-channel.bin")] {
        channel_run(arch, image);
    }
}

/// One run of the channel VMs under `image`, on a GICv2 or GICv3 host.
fn channel_run(arch: Arch, image: &str) {
    let run = run(qemu_command(arch, &image_dir().join(image), 2, "256M"), TIMEOUT);
    // The exchange: every message in order with its checksum.
    run.assert_line("[41 chan-consumer] CHANNEL msgs=10000 bad=0");
    run.assert_line("[41 chan-consumer] channel consumer: status answered a value");
    run.assert_line("[40 chan-producer] channel producer: sent 10000 messages");
    run.assert_line(&vm_ended(40, "chan-producer", "powered off"));
    run.assert_line(&vm_ended(41, "chan-consumer", "powered off"));
    // A VM with no channel can neither ring nor ask.
    run.assert_line(
        "[42 chan-outsider] channel outsider: doorbell(0) = NOT_SUPPORTED, doorbell(7) = NOT_SUPPORTED, status(0) = NOT_SUPPORTED",
    );
    run.assert_line(&vm_ended(42, "chan-outsider", "powered off"));
    // A read-only member reads, may ring its own channel, not one it lacks,
    // and is stopped when it writes.
    run.assert_line("[43 chan-reader] channel reader: read head");
    run.assert_line("doorbell(7) = INVALID_PARAMETERS, doorbell(0) = a value");
    run.assert_line(&vm_fault(43, "chan-reader", "write to a read-only region (ESR"));
    // A doorbell storm through the whole exchange (the producer starts
    // when it does), then a reset: the generation grew.
    run.assert_line("[44 chan-stormer] channel stormer: ok: the consumer took messages 0 to 10000 during the storm");
    run.assert_line(" doorbells rung (at least 100000), 0 refused; resetting");
    run.assert_line("[44 chan-stormer] channel stormer: ok: after the reset the generation is");
    run.assert_line(&vm_ended(44, "chan-stormer", "powered off"));
    // A member whose size differs is refused by name.
    run.assert_line(
        "VM config crates/qemu-boot-tests/configs/channel/45-bad-size.toml: devices.emu_devices[2].length = 0x20000 (VM[40] has 0x10000 for \"link\"): every member of a channel maps the same pages: the sizes must agree",
    );
    assert!(!run.output.contains("not ok"), "a wrong answer:\n{}", run.output);
    assert!(!run.output.contains("panicked"), "the hypervisor panicked:\n{}", run.output);
    run.assert_line("5 booted, 1 rejected, 1 stopped on a fault");
}

/// The host's free memory each `vm list` printed, in KiB.
fn free_kib(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.split("host memory free: ").nth(1))
        .filter_map(|rest| rest.trim_end_matches(" KiB").trim().parse().ok())
        .collect()
}

#[test]
#[ignore = "needs images built by `make test`"]
fn the_channels_pages_are_freed_with_its_last_member() {
    // Two members of a 16 MiB channel, each waiting for its power button.
    let cmd = qemu_command(Arch::Aarch64, &image_dir().join("axvisor-aarch64-channel-shell.bin"), 1, "256M");
    let script = [
        ("axvisor> ", "vm list\r"),
        ("host memory free:", "vm stop 1\r"),
        ("VM[1] powered off by its guest", "vm delete 1\r"),
        ("VM[1] deleted", "vm list\r"),
        ("host memory free:", "vm stop 2\r"),
        ("VM[2] powered off by its guest", "vm delete 2\r"),
        ("VM[2] deleted", "vm list\r"),
        ("host memory free:", "exit\r"),
    ];
    let run = run_script(cmd, &script, TIMEOUT);
    for (expect, _) in &script {
        run.assert_line(expect);
    }
    let free = free_kib(&run.output);
    assert_eq!(free.len(), 3, "three lists:\n{}", run.output);
    let (first, last) = (free[1].saturating_sub(free[0]), free[2].saturating_sub(free[1]));
    eprintln!("host memory free: {} KiB, {} KiB after deleting the first member, {} KiB after the last", free[0], free[1], free[2]);
    // The first deletion frees that VM's memory only; the last one its
    // memory and the channel's 16 MiB.
    assert!(first < 16 * 1024, "the channel went with its first member ({first} KiB freed):\n{}", run.output);
    assert!(last >= first + 16 * 1024 - 512, "the channel's 16 MiB did not come back ({first} then {last} KiB):\n{}", run.output);
    run.assert_clean_exit();
}
