//! Frames both ways: transmit into the outbox, delivery into receive
//! buffers, the backlog and its refill, pending work, notifications.

mod common;

use common::*;
use virtio_core::mmio::{INT_USED_BUFFER, reg};
use virtio_core::*;
use virtio_net::*;

fn notify(t: &mut Transport, mem: &VecMemory, q: u16) {
    wr(t, mem, reg::QUEUE_NOTIFY, u32::from(q));
}

#[test]
fn transmitted_frame_reaches_outbox_byte_exact() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    let mut tx = Ring::new(TRANSMITQ);
    let small = eth(PEER, MAC, MIN_FRAME, 3);
    let full = eth(PEER, MAC, MAX_FRAME, 4);
    let h0 = post_tx(&mem, &mut tx, 0, HEADER_LEN, &small);
    let h1 = post_tx(&mem, &mut tx, 1, HEADER_LEN, &full);
    // Linux's layout: header and frame in separate descriptors, the frame
    // split again.
    let split = eth(BROADCAST_MAC, MAC, 300, 5);
    mem.put(BIG, &[0; HEADER_LEN]);
    mem.put(BIG + 0x100, &split[..100]);
    mem.put(BIG + 0x400, &split[100..]);
    let h2 = tx.submit(
        &mem,
        &[
            Buf(BIG, HEADER_LEN as u32, false),
            Buf(BIG + 0x100, 100, false),
            Buf(BIG + 0x400, 200, false),
        ],
    );
    notify(&mut t, &mem, TRANSMITQ);
    assert_eq!(tx.used_idx(&mem), 3);
    for (i, h) in [h0, h1, h2].into_iter().enumerate() {
        assert_eq!(tx.used_elem(&mem, i as u16), (u32::from(h), 0));
    }
    assert_ne!(t.interrupt_status() & INT_USED_BUFFER, 0);
    assert_eq!(outbox(&mut t), [small, full, split]);
    let s = t.device().stats();
    assert_eq!(
        (s.tx_frames, s.tx_bytes),
        (3, (MIN_FRAME + MAX_FRAME + 300) as u64)
    );
    assert!(!t.device().has_pending());
}

const BROADCAST_MAC: Mac = [0xff; 6];

#[test]
fn delivery_writes_header_and_frame() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    let mut rx = Ring::new(RECEIVEQ);
    post_rx(&mem, &mut rx, 0, 2);
    mem.put(RX_DATA, &[0xaa; 64]);
    let frame = eth(MAC, PEER, 98, 7);
    let d = deliver(&mut t, &mem, &frame).unwrap();
    assert_eq!(d, Delivery::Delivered { notify: true });
    assert_eq!(rx.used_idx(&mem), 1);
    assert_eq!(rx.used_elem(&mem, 0), (0, (HEADER_LEN + 98) as u32));
    let mut header = [0u8; HEADER_LEN];
    header[10] = 1; // num_buffers
    assert_eq!(mem.get(RX_DATA, HEADER_LEN), header);
    assert_eq!(mem.get(RX_DATA + HEADER_LEN as u64, 98), frame);
    // A buffer split in two descriptors, the header in the first alone.
    let at = BIG;
    let head = rx.submit(
        &mem,
        &[
            Buf(at, HEADER_LEN as u32, true),
            Buf(at + 0x100, 2000, true),
        ],
    );
    let big = eth(MAC, PEER, MAX_FRAME, 8);
    assert!(matches!(
        deliver(&mut t, &mem, &big),
        Some(Delivery::Delivered { .. })
    ));
    // Buffer 1 of the first batch came first.
    assert_eq!(rx.used_elem(&mem, 1).1, (HEADER_LEN + MAX_FRAME) as u32);
    assert!(matches!(
        deliver(&mut t, &mem, &big),
        Some(Delivery::Delivered { .. })
    ));
    assert_eq!(
        rx.used_elem(&mem, 2),
        (u32::from(head), (HEADER_LEN + MAX_FRAME) as u32)
    );
    assert_eq!(mem.get(at + 0x100, MAX_FRAME), big);
    let s = t.device().stats();
    assert_eq!((s.rx_frames, s.rx_bytes), (3, (98 + 2 * MAX_FRAME) as u64));
}

#[test]
fn backlog_then_refill_in_order() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    let mut rx = Ring::new(RECEIVEQ);
    let frames: Vec<Vec<u8>> = (0..5).map(|i| eth(MAC, PEER, 60 + i, i as u8)).collect();
    for f in &frames {
        assert_eq!(deliver(&mut t, &mem, f), Some(Delivery::Queued));
    }
    assert_eq!(t.device().backlog_len(), 5);
    // Two buffers: the two oldest frames go, the rest keep waiting; a new
    // frame queues behind them.
    post_rx(&mem, &mut rx, 0, 2);
    notify(&mut t, &mem, RECEIVEQ);
    assert_eq!(rx.used_idx(&mem), 2);
    let extra = eth(MAC, PEER, 200, 99);
    assert_eq!(deliver(&mut t, &mem, &extra), Some(Delivery::Queued));
    post_rx(&mem, &mut rx, 2, 8);
    notify(&mut t, &mem, RECEIVEQ);
    assert_eq!(rx.used_idx(&mem), 6);
    let want: Vec<&Vec<u8>> = frames.iter().chain([&extra]).collect();
    for (i, f) in want.into_iter().enumerate() {
        let (id, len) = rx.used_elem(&mem, i as u16);
        assert_eq!(len as usize, HEADER_LEN + f.len());
        let at = RX_DATA + SLOT * u64::from(id) + HEADER_LEN as u64;
        assert_eq!(&mem.get(at, f.len()), f, "frame {i}");
    }
    assert_eq!(t.device().backlog_len(), 0);
    // The backlog is empty again: delivery is direct.
    let d = deliver(&mut t, &mem, &extra).unwrap();
    assert!(matches!(d, Delivery::Delivered { .. }));
}

#[test]
fn backlog_full_drops() {
    let mem = VecMemory::new();
    let config = NetConfig {
        backlog_frames: 2,
        ..NetConfig::new(MAC)
    };
    let mut t = bring_up(config, &mem);
    let f = eth(MAC, PEER, 60, 0);
    assert_eq!(deliver(&mut t, &mem, &f), Some(Delivery::Queued));
    assert_eq!(deliver(&mut t, &mem, &f), Some(Delivery::Queued));
    let d = deliver(&mut t, &mem, &f);
    assert_eq!(d, Some(Delivery::Dropped(RxDrop::BacklogFull)));
    assert_eq!(t.device().stats().rx_backlog_dropped, 1);
}

#[test]
fn refill_stops_at_its_limit_and_continues() {
    let mem = VecMemory::new();
    let config = NetConfig {
        max_rx_per_call: 2,
        ..NetConfig::new(MAC)
    };
    let mut t = bring_up(config, &mem);
    let mut rx = Ring::new(RECEIVEQ);
    for i in 0..5 {
        deliver(&mut t, &mem, &eth(MAC, PEER, 60, i)).unwrap();
    }
    post_rx(&mem, &mut rx, 0, 8);
    notify(&mut t, &mem, RECEIVEQ);
    assert_eq!(rx.used_idx(&mem), 2);
    assert!(t.device().has_pending());
    t.run_device(&mem, |d, q, m| d.run_pending(q, m));
    assert_eq!(rx.used_idx(&mem), 4);
    t.run_device(&mem, |d, q, m| d.run_pending(q, m));
    assert_eq!(rx.used_idx(&mem), 5);
    assert!(!t.device().has_pending());
}

#[test]
fn outbox_full_stops_and_take_outbox_continues() {
    let mem = VecMemory::new();
    let config = NetConfig {
        outbox_frames: 2,
        ..NetConfig::new(MAC)
    };
    let mut t = bring_up(config, &mem);
    let mut tx = Ring::new(TRANSMITQ);
    let frames: Vec<Vec<u8>> = (0..5).map(|i| eth(PEER, MAC, 60, i)).collect();
    for (i, f) in frames.iter().enumerate() {
        post_tx(&mem, &mut tx, i as u16, HEADER_LEN, f);
    }
    notify(&mut t, &mem, TRANSMITQ);
    assert_eq!(tx.used_idx(&mem), 2, "stopped at the outbox's capacity");
    assert!(t.device().has_pending());
    assert_eq!(t.device().outbox_len(), 2);
    // Nothing moves until the outbox is taken.
    t.run_device(&mem, |d, q, m| d.transmit(q, m));
    assert_eq!(tx.used_idx(&mem), 2);
    let mut spare = t.device().spare_outbox();
    let mut got = Vec::new();
    while t.device().has_pending() {
        t.device_mut().take_outbox(&mut spare);
        assert_eq!(t.device().outbox_len(), 0);
        got.extend(drain(&mut spare));
        t.run_device(&mem, |d, q, m| d.run_pending(q, m));
    }
    got.extend(outbox(&mut t));
    assert_eq!(got, frames);
    assert_eq!(tx.used_idx(&mem), 5);
}

#[test]
fn take_outbox_clears_the_spare() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    let mut tx = Ring::new(TRANSMITQ);
    let f = eth(PEER, MAC, 60, 1);
    post_tx(&mem, &mut tx, 0, HEADER_LEN, &f);
    notify(&mut t, &mem, TRANSMITQ);
    let mut spare = t.device().spare_outbox();
    spare.push(b"stale frame left by the caller");
    t.device_mut().take_outbox(&mut spare);
    assert_eq!(drain(&mut spare), [f]);
    assert_eq!(t.device().outbox_len(), 0);
    assert_eq!(spare.capacity(), t.device().config().outbox_frames);
}

#[test]
fn event_idx_suppresses_notifications() {
    let mem = VecMemory::new();
    let config = NetConfig {
        ring_features: VIRTIO_F_EVENT_IDX,
        ..NetConfig::new(MAC)
    };
    let mut t = bring_up(config, &mem);
    let mut rx = Ring::new(RECEIVEQ);
    post_rx(&mem, &mut rx, 0, 4);
    // Interrupt only after the 3rd used buffer (used_event = 2).
    rx.set_used_event(&mem, 2);
    let f = eth(MAC, PEER, 60, 0);
    let notes: Vec<Delivery> = (0..4).map(|_| deliver(&mut t, &mem, &f).unwrap()).collect();
    let want = [false, false, true, false].map(|notify| Delivery::Delivered { notify });
    assert_eq!(notes, want);
}

#[test]
fn no_interrupt_flag_respected() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    let mut rx = Ring::new(RECEIVEQ);
    post_rx(&mem, &mut rx, 0, 1);
    mem.put(
        rings(RECEIVEQ) + 0x1000,
        &AVAIL_F_NO_INTERRUPT.to_le_bytes(),
    );
    let d = deliver(&mut t, &mem, &eth(MAC, PEER, 60, 0));
    assert_eq!(d, Some(Delivery::Delivered { notify: false }));
    assert_eq!(t.interrupt_status(), 0);
}
