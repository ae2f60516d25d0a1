//! riscv64: Linux VMs on the hypervisor's virtio-net devices and switch
//! (issue 25), as aarch64_net.rs does on aarch64. Two VMs of 96 MiB each
//! (configs/net/linux-riscv64-net-a.toml, -b.toml: with the embedded
//! kernel they fill the riscv64 host's 256 MiB) ping each other and move
//! 64 MiB over TCP (busybox nc) whose md5 the receiver prints; it must
//! equal the md5 of scripts/net-stream.sh run here. One VM reaches QEMU's
//! user-network gateway through the uplink (the host's own NIC on the
//! switch). The guests are scripts/net-init.sh; their lines start with
//! `NETTEST`.
//!
//! Ignored under plain `cargo test`; `make test` builds the images and
//! runs it with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::net::assert_transfer;
use qemu_boot_tests::{Arch, image_dir, qemu_command, run, vm_ended};

/// Two Linux boots and 64 MiB through the switch (the guests' own
/// watchdog, net.watchdog=300, powers them off after 300 s of guest time).
const PAIR_TIMEOUT: Duration = Duration::from_secs(400);
const UPLINK_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs images built by `make test`"]
fn two_linux_vms_ping_and_move_64_mib_over_tcp_intact() {
    let image = image_dir().join("axvisor-riscv64-net.bin");
    assert_transfer(&run(
        qemu_command(Arch::Riscv64, &image, 2, "256M"),
        PAIR_TIMEOUT,
    ));
}

#[test]
#[ignore = "needs images built by `make test`"]
fn a_linux_vm_reaches_qemus_gateway_through_the_uplink() {
    let image = image_dir().join("axvisor-riscv64-net-uplink.bin");
    let mut cmd = qemu_command(Arch::Riscv64, &image, 1, "256M");
    // The host's NIC: QEMU's user network, restricted to QEMU itself.
    cmd.args([
        "-netdev",
        "user,id=up,restrict=on",
        "-device",
        "virtio-net-device,netdev=up",
    ]);
    let run = run(cmd, UPLINK_TIMEOUT);
    let out = &run.output;
    assert!(
        !out.contains("NETTEST error="),
        "the guest failed; output was:\n{out}"
    );
    run.assert_line("NETTEST uplink ok 3 packets transmitted, 3 packets received, 0% packet loss");
    assert!(!out.contains("NETTEST uplink FAIL"), "output was:\n{out}");
    run.assert_line(&vm_ended(1, "net-uplink", "powered off"));
    run.assert_line("all VMs stopped (1 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
}
