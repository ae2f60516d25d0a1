//! A hostile driver: every bad chain is completed with length 0 and
//! counted, none passes a frame on, none breaks the device.

mod common;

use common::*;
use virtio_core::mmio::reg;
use virtio_core::*;
use virtio_net::*;

/// Submits `bufs` on the transmit queue and notifies; returns the used
/// length of the completion.
fn tx_chain(t: &mut Transport, mem: &VecMemory, tx: &mut Ring, bufs: &[Buf]) -> u32 {
    let head = tx.submit(mem, bufs);
    let before = tx.used_idx(mem);
    wr(t, mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_eq!(tx.used_idx(mem), before.wrapping_add(1), "completed");
    let (id, len) = tx.used_elem(mem, before);
    assert_eq!(id, u32::from(head));
    assert!(t.is_live(), "still live");
    len
}

/// Writes a header with `flags`/`gso_type` and a frame of `len` at `at`.
fn tx_buf(mem: &VecMemory, at: u64, flags: u8, gso: u8, len: usize) -> Buf {
    let mut h = [0u8; HEADER_LEN];
    h[0] = flags;
    h[1] = gso;
    mem.put(at, &h);
    mem.put(at + HEADER_LEN as u64, &eth(PEER, MAC, len, 1));
    Buf(at, (HEADER_LEN + len) as u32, false)
}

#[test]
fn bad_transmit_chains_are_completed_and_counted() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    let mut tx = Ring::new(TRANSMITQ);
    // Shorter than the header; no readable byte at all.
    assert_eq!(
        tx_chain(&mut t, &mem, &mut tx, &[Buf(TX_DATA, 8, false)]),
        0
    );
    assert_eq!(
        tx_chain(&mut t, &mem, &mut tx, &[Buf(TX_DATA, 64, true)]),
        0
    );
    // Checksum offload and GSO asked for though not offered.
    let b = tx_buf(&mem, TX_DATA, 1, 0, 60);
    assert_eq!(tx_chain(&mut t, &mem, &mut tx, &[b]), 0);
    let b = tx_buf(&mem, TX_DATA, 0, 1, 60);
    assert_eq!(tx_chain(&mut t, &mem, &mut tx, &[b]), 0);
    assert_eq!(t.device().stats().tx_malformed, 4);
    // A runt and a 64 KiB frame.
    let b = tx_buf(&mem, TX_DATA, 0, 0, MIN_FRAME - 1);
    assert_eq!(tx_chain(&mut t, &mem, &mut tx, &[b]), 0);
    let b = tx_buf(&mem, BIG, 0, 0, 65536);
    assert_eq!(tx_chain(&mut t, &mem, &mut tx, &[b]), 0);
    let b = tx_buf(&mem, BIG, 0, 0, MAX_FRAME + 1);
    assert_eq!(tx_chain(&mut t, &mem, &mut tx, &[b]), 0);
    // A buffer outside guest memory.
    let out = [Buf(RAM_BASE - 0x1000, 100, false)];
    assert_eq!(tx_chain(&mut t, &mem, &mut tx, &out), 0);
    let end = [Buf(RAM_BASE + RAM_SIZE as u64 - 50, 100, false)];
    assert_eq!(tx_chain(&mut t, &mem, &mut tx, &end), 0);
    let wrap = [Buf(u64::MAX - 10, 100, false)];
    assert_eq!(tx_chain(&mut t, &mem, &mut tx, &wrap), 0);
    let s = t.device().stats();
    assert_eq!((s.tx_runt, s.tx_oversize, s.tx_malformed), (1, 2, 7));
    assert_eq!((s.tx_frames, t.device().outbox_len()), (0, 0));
    // The device still works.
    let f = eth(PEER, MAC, 60, 2);
    post_tx(&mem, &mut tx, 3, HEADER_LEN, &f);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_eq!(outbox(&mut t), [f]);
}

#[test]
fn descriptor_loop_on_either_queue() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    for q in [TRANSMITQ, RECEIVEQ] {
        let mut ring = Ring::new(q);
        // Descriptor 0 -> 1 -> 0 -> ...
        let flags = DESC_F_NEXT | if q == RECEIVEQ { DESC_F_WRITE } else { 0 };
        ring.desc(&mem, 0, TX_DATA, 64, flags, 1);
        ring.desc(&mem, 1, TX_DATA, 64, flags, 0);
        ring.publish(&mem, 0);
        if q == TRANSMITQ {
            wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(q));
        } else {
            let d = deliver(&mut t, &mem, &eth(MAC, PEER, 60, 0));
            assert_eq!(d, Some(Delivery::Queued), "no usable buffer");
        }
        assert_eq!(ring.used_idx(&mem), 1);
        assert_eq!(ring.used_elem(&mem, 0), (0, 0));
        assert!(t.is_live());
    }
    let s = t.device().stats();
    assert_eq!((s.tx_malformed, s.rx_malformed), (1, 1));
}

#[test]
fn receive_buffers_too_small_or_bad_are_skipped() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    let mut rx = Ring::new(RECEIVEQ);
    let f = eth(MAC, PEER, 100, 3);
    // Too small by one byte; readable only; outside RAM; then a good one.
    rx.submit(&mem, &[Buf(RX_DATA, (HEADER_LEN + 99) as u32, true)]);
    rx.submit(&mem, &[Buf(RX_DATA, 2048, false)]);
    rx.submit(&mem, &[Buf(RAM_BASE + RAM_SIZE as u64, 2048, true)]);
    let good = rx.submit(&mem, &[Buf(RX_DATA + SLOT, 2048, true)]);
    let d = deliver(&mut t, &mem, &f).unwrap();
    assert!(matches!(d, Delivery::Delivered { .. }));
    assert_eq!(rx.used_idx(&mem), 4);
    for i in 0..3 {
        assert_eq!(rx.used_elem(&mem, i).1, 0);
    }
    assert_eq!(
        rx.used_elem(&mem, 3),
        (u32::from(good), (HEADER_LEN + 100) as u32)
    );
    assert_eq!(mem.get(RX_DATA + SLOT + HEADER_LEN as u64, 100), f);
    let s = t.device().stats();
    assert_eq!((s.rx_too_small, s.rx_malformed, s.rx_frames), (2, 1, 1));
    // Only too-small buffers: all completed, the frame waits.
    rx.submit(&mem, &[Buf(RX_DATA, 20, true)]);
    assert_eq!(deliver(&mut t, &mem, &f), Some(Delivery::Queued));
    assert_eq!(t.device().stats().rx_too_small, 3);
    assert_eq!(rx.used_idx(&mem), 5);
}

#[test]
fn oversize_delivery_dropped() {
    let mem = VecMemory::new();
    let mut t = up(&mem);
    let mut rx = Ring::new(RECEIVEQ);
    post_rx(&mem, &mut rx, 0, 1);
    let big = vec![0u8; 65536];
    assert_eq!(
        deliver(&mut t, &mem, &big),
        Some(Delivery::Dropped(RxDrop::Oversize))
    );
    assert_eq!(rx.used_idx(&mem), 0, "no buffer used");
    assert_eq!(t.device().stats().rx_oversize, 1);
}

#[test]
fn transmit_bounded_per_call() {
    // A queue's worth of chains at most per call, even if every one is
    // dropped (so the outbox never fills).
    let mem = VecMemory::new();
    let mut t = up(&mem);
    let mut tx = Ring::new(TRANSMITQ);
    for _ in 0..QSIZE {
        tx.submit(&mem, &[Buf(TX_DATA, 4, false)]);
    }
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_eq!(tx.used_idx(&mem), QSIZE);
    assert!(t.device().has_pending());
    t.run_device(&mem, |d, q, m| d.run_pending(q, m));
    assert!(!t.device().has_pending());
}
