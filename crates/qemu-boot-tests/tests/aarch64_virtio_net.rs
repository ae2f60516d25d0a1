//! aarch64: the hypervisor's own virtio-net devices (crates virtio-net,
//! l2-switch) driven by the probe's minimal driver (its mode 27) in one VM
//! with two NICs on the switch (configs/virtio/net-probe.toml), beside
//! the ArceOS guest, on GICv2 and GICv3: negotiation, MACs and link status,
//! frames net0 -> net1 byte-exact, net1's bounded backlog, a reset of
//! net1, then malformed and spoofed frames that never arrive and a receive
//! buffer too small for its frame, after which the devices still forward.
//! `make test` builds the images and runs this with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run, vm_ended};

const TIMEOUT: Duration = Duration::from_secs(300);

/// Every line the probe prints as `hostile virtio-net: ok: ...` (each
/// assertion matches the start of the line, before `(saw ...)`).
const CHECKS: &[&str] = &[
    "DeviceID is 1 (network)",
    "the features offered are VERSION_1, MAC and STATUS, nothing else",
    "FEATURES_OK reads back set (VERSION_1, MAC, STATUS)",
    "DRIVER_OK reads back, without DEVICE_NEEDS_RESET",
    // Forwarding.
    "net0's MAC in the config space is 02:00:00:00:01:01 (the config's guest_mac)",
    "net1's MAC in the config space is 02:41:58:00:21:01 (derived from VM id 33, NIC 1)",
    "STATUS shows the link up on both NICs",
    "a 64-byte unicast frame net0 -> net1's MAC arrives byte-exact, num_buffers 1, used length 76",
    "the transmit chain is completed with used length 0",
    "net1's InterruptStatus showed the used buffer",
    "a broadcast frame from net0 (header and frame in one buffer) arrives on net1",
    "a multicast frame from net0 arrives on net1",
    "a frame from net0 to an unknown MAC is flooded to net1",
    "a 1518-byte frame (the largest, in three buffers) arrives byte-exact on net1",
    "net0 received none of its own frames (broadcast, multicast, unknown unicast)",
    // The backlog and a reset.
    "10 frames sent while net1 has no receive buffers arrive in order once it gives buffers and notifies receiveq",
    "70 frames sent while net1 has no receive buffers: the first 64 arrive in order",
    "the 6 frames beyond the backlog of 64 were dropped: nothing more arrives",
    "net1 reset and negotiated again",
    "frames held for net1 before its reset are dropped with it",
    "after a reset of net1 and a new negotiation, a frame from net0 arrives byte-exact",
    // Malformed transmit chains.
    "a chain of 8 bytes (shorter than the header) is completed with used length 0; nothing arrives on net1",
    "a header and no frame is completed with used length 0; nothing arrives on net1",
    "a header with gso_type TCPV4 (not negotiated) is completed with used length 0; nothing arrives on net1",
    "a header with flags NEEDS_CSUM (not negotiated) is completed with used length 0; nothing arrives on net1",
    "a 10-byte frame (a runt) is completed with used length 0; nothing arrives on net1",
    "a 13-byte frame (a runt) is completed with used length 0; nothing arrives on net1",
    "a 1519-byte frame (over 1518) is completed with used length 0; nothing arrives on net1",
    "a 9000-byte frame is completed with used length 0; nothing arrives on net1",
    "a frame buffer claiming 0xfffffff0 bytes is completed with used length 0; nothing arrives on net1",
    "a frame buffer outside RAM is completed with used length 0; nothing arrives on net1",
    "a frame buffer in the distributor is completed with used length 0; nothing arrives on net1",
    "a descriptor loop is completed with used length 0",
    "after a descriptor loop nothing arrives on net1",
    "net0 reset and negotiated again",
    // Spoofing.
    "a frame from net0 with net1's MAC as source is completed with used length 0; nothing arrives on net1",
    "a broadcast from net0 with another MAC as source is completed with used length 0; nothing arrives on net1",
    "a frame from net0 with a multicast source MAC is completed with used length 0; nothing arrives on net1",
    "after the spoofed frames a frame to net1's MAC still arrives on net1",
    // Receive side, and the end.
    "a receive buffer smaller than header + frame is completed with used length 0",
    "the frame goes whole into the next receive buffer",
    "the device still forwards: a 1514-byte frame net0 -> net1 arrives byte-exact",
    "net0 received nothing since its last reset",
];

#[test]
#[ignore = "needs images built by `make test`"]
fn two_nics_forward_through_the_switch_and_survive_hostile_frames() {
    for (arch, image) in [
        (Arch::Aarch64, "axvisor-aarch64-virtio-net.bin"),
        (Arch::Aarch64Gic3, "axvisor-aarch64-gicv3-virtio-net.bin"),
    ] {
        let run = run(qemu_command(arch, &image_dir().join(image), 2, "256M"), TIMEOUT);
        run.assert_line("VM[33]: NIC \"net0\" 02:00:00:00:01:01 at 0xa000000, irq 48");
        run.assert_line("VM[33]: NIC \"net1\" 02:41:58:00:21:01 at 0xa000200, irq 49");
        for check in CHECKS {
            run.assert_line(&format!("[33 virtio-net-probe] hostile virtio-net: ok: {check}"));
        }
        assert!(!run.output.contains("not ok"), "a wrong answer:\n{}", run.output);
        run.assert_line(&vm_ended(33, "virtio-net-probe", "powered off"));
        run.assert_line(&vm_ended(1, "arceos", "powered off"));
        run.assert_line("all VMs stopped (2 booted, 0 rejected, 0 stopped on a fault)");
        run.assert_clean_exit();
    }
}
