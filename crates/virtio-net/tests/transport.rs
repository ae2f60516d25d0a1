//! Negotiation through the MMIO transport, configuration space, link
//! changes, the legacy header, liveness and reset.

mod common;

use common::*;
use virtio_core::mmio::{INT_CONFIG_CHANGE, reg};
use virtio_core::*;
use virtio_net::*;

#[test]
fn negotiation_and_config_space() {
    let mem = VecMemory::new();
    let config = NetConfig {
        ring_features: VIRTIO_F_EVENT_IDX | (1 << 35),
        ..NetConfig::new(MAC)
    };
    let mut t = bring_up(config, &mem);
    assert_eq!(rd(&mut t, reg::DEVICE_ID), DEVICE_ID);
    let want = VIRTIO_F_VERSION_1 | NET_F_MAC | NET_F_STATUS | VIRTIO_F_EVENT_IDX;
    assert_eq!(
        t.driver_features(),
        want,
        "no offload, no unknown ring feature"
    );
    for q in [RECEIVEQ, TRANSMITQ] {
        wr(&mut t, &mem, reg::QUEUE_SEL, u32::from(q));
        assert_eq!(rd(&mut t, reg::QUEUE_NUM_MAX), 256);
    }
    wr(&mut t, &mem, reg::QUEUE_SEL, 2);
    assert_eq!(rd(&mut t, reg::QUEUE_NUM_MAX), 0, "no control queue");
    let mac: Vec<u8> = (0..6).map(|i| t.read(reg::CONFIG + i, 1) as u8).collect();
    assert_eq!(mac, MAC);
    assert_eq!(t.read(reg::CONFIG + 6, 2), u64::from(NET_S_LINK_UP));
    assert_eq!(
        t.read(reg::CONFIG + 4, 4),
        0x0001_0001,
        "mac[4..6] = 01 00, status 1"
    );
    assert_eq!(t.read(reg::CONFIG + 8, 4), 0, "past the space");
    // Read-only.
    t.write(&mem, reg::CONFIG, 4, 0xffff_ffff);
    assert_eq!(t.device().mac(), MAC);
    assert_eq!(t.read(reg::CONFIG, 1), u64::from(MAC[0]));
}

#[test]
fn link_change_is_visible() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    assert!(t.device().link_up());
    assert!(!t.device_mut().set_link(true), "unchanged");
    assert!(t.device_mut().set_link(false));
    t.config_changed();
    assert_eq!(t.read(reg::CONFIG + 6, 2), 0);
    assert_ne!(t.interrupt_status() & INT_CONFIG_CHANGE, 0);
    assert!(t.device_mut().set_link(true));
    assert_eq!(t.read(reg::CONFIG + 6, 2), 1);
}

#[test]
fn legacy_header_without_version_1() {
    // virtio-drivers 0.7.5 accepts MAC and STATUS but not VERSION_1: its
    // header is 10 bytes.
    let mem = VecMemory::new();
    let dev = VirtioNet::new(NetConfig::new(MAC));
    let mut t = bring_up_with(dev, &mem, NET_F_MAC | NET_F_STATUS, &[RECEIVEQ, TRANSMITQ]);
    let (mut rx, mut tx) = (Ring::new(RECEIVEQ), Ring::new(TRANSMITQ));
    let frame = eth(PEER, MAC, 60, 1);
    post_tx(&mem, &mut tx, 0, LEGACY_HEADER_LEN, &frame);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_eq!(outbox(&mut t), std::slice::from_ref(&frame));
    post_rx(&mem, &mut rx, 0, 1);
    assert!(matches!(
        deliver(&mut t, &mem, &frame),
        Some(Delivery::Delivered { .. })
    ));
    assert_eq!(rx.used_elem(&mem, 0).1, 70);
    assert_eq!(mem.get(RX_DATA, 10), [0; 10]);
    assert_eq!(mem.get(RX_DATA + 10, 60), frame);
}

#[test]
fn not_live_drops() {
    let mem = VecMemory::new();
    // Never activated.
    let mut dev = VirtioNet::new(NetConfig::new(MAC));
    let mut queues = [Queue::new(16), Queue::new(16)];
    let frame = eth(MAC, PEER, 60, 0);
    let d = dev.deliver(&frame, &mut queues, &mem).unwrap();
    assert_eq!(d, Delivery::Dropped(RxDrop::NotLive));
    // DRIVER_OK, but the driver enabled only the transmit queue.
    let dev = VirtioNet::new(NetConfig::new(MAC));
    let mut t = bring_up_with(dev, &mem, u64::MAX, &[TRANSMITQ]);
    assert_eq!(
        deliver(&mut t, &mem, &frame),
        Some(Delivery::Dropped(RxDrop::NotLive))
    );
    assert_eq!(t.device().stats().rx_not_live, 1);
    assert_eq!(t.device().backlog_len(), 0);
    // After a reset the transport no longer runs the device at all.
    wr(&mut t, &mem, reg::STATUS, 0);
    assert_eq!(deliver(&mut t, &mem, &frame), None);
}

#[test]
fn reset_clears_outbox_backlog_and_pending() {
    let mem = VecMemory::new();
    let config = NetConfig {
        outbox_frames: 1,
        ..NetConfig::new(MAC)
    };
    let mut t = bring_up(config, &mem);
    let mut tx = Ring::new(TRANSMITQ);
    for i in 0..3 {
        post_tx(&mem, &mut tx, i, HEADER_LEN, &eth(PEER, MAC, 60, i as u8));
    }
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_eq!(
        deliver(&mut t, &mem, &eth(MAC, PEER, 60, 9)),
        Some(Delivery::Queued)
    );
    assert!(t.device().has_pending());
    assert_eq!((t.device().outbox_len(), t.device().backlog_len()), (1, 1));
    wr(&mut t, &mem, reg::STATUS, 0);
    let d = t.device();
    assert!(!d.has_pending());
    assert_eq!((d.outbox_len(), d.backlog_len()), (0, 0));
    assert_eq!(d.config().outbox_frames, 1);
    // Back up: a fresh start, queues at index 0 again.
    let mut t2 = bring_up_with(
        VirtioNet::new(config),
        &mem,
        u64::MAX,
        &[RECEIVEQ, TRANSMITQ],
    );
    assert!(outbox(&mut t2).is_empty());
}

#[test]
fn broken_ring_needs_reset() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    // avail.idx jumps by more than the queue size.
    mem.put(rings(TRANSMITQ) + 0x1002, &1000u16.to_le_bytes());
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert!(!t.is_live());
    let mut queues = [Queue::new(16), Queue::new(16)];
    let frame = eth(MAC, PEER, 60, 0);
    let mut dev = VirtioNet::new(NetConfig::new(MAC));
    assert_eq!(
        dev.deliver(&frame, &mut queues, &mem),
        Ok(Delivery::Dropped(RxDrop::NotLive))
    );
}

#[test]
fn config_limits_are_normalized() {
    let dev = VirtioNet::new(NetConfig {
        queue_size: 0,
        outbox_frames: 0,
        max_rx_per_call: 0,
        ..NetConfig::new(MAC)
    });
    let c = dev.config();
    assert_eq!(
        (c.queue_size, c.outbox_frames, c.max_rx_per_call),
        (2, 1, 1)
    );
    assert_eq!(dev.spare_outbox().capacity(), 1);
}
