//! Random transmit chains (good and hostile) and random deliveries with
//! random receive buffers: no panic, every chain completed, counters add
//! up.

mod common;

use common::*;
use virtio_core::mmio::reg;
use virtio_core::*;
use virtio_net::*;

/// A random buffer: mostly in RAM, sometimes outside, zero-length or
/// huge.
fn random_buf(rng: &mut Rng, write: bool) -> Buf {
    let addr = match rng.below(20) {
        0 => rng.next(),
        1 => RAM_BASE + RAM_SIZE as u64 - rng.below(64),
        _ => TX_DATA + rng.below(0x40000),
    };
    let len = match rng.below(20) {
        0 => 0,
        1 => rng.next() as u32,
        2 => 65536,
        _ => rng.below(2200) as u32,
    };
    Buf(addr, len, write)
}

fn random_chain(rng: &mut Rng, mem: &VecMemory, ring: &mut Ring, rx: bool) {
    let n = 1 + rng.below(4) as usize;
    let bufs: Vec<Buf> = (0..n)
        .map(|_| {
            let write = rx ^ (rng.below(10) == 0);
            random_buf(rng, write)
        })
        .collect();
    let head = ring.chain(mem, &bufs);
    if rng.below(30) == 0 {
        // A loop, or a next index out of range.
        ring.desc(mem, head, TX_DATA, 64, DESC_F_NEXT, head);
    }
    if rng.below(3) == 0 && !rx {
        // A plausible header: zero, or asking for an offload.
        let h = [rng.below(2) as u8 * rng.below(3) as u8; HEADER_LEN];
        let _ = mem.write(bufs[0].0, &h[..(bufs[0].1 as usize).min(HEADER_LEN)]);
    }
    ring.publish(mem, head % QSIZE);
}

#[test]
fn random_traffic() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mem = VecMemory::new();
    let config = NetConfig {
        outbox_frames: 4,
        backlog_frames: 8,
        max_rx_per_call: 3,
        ..NetConfig::new(MAC)
    };
    let mut t = bring_up(config, &mem);
    let mut rx = Ring::new(RECEIVEQ);
    let mut tx = Ring::new(TRANSMITQ);
    let mut spare = t.device().spare_outbox();
    let (mut sent, mut delivered, mut queued, mut dropped) = (0u64, 0u64, 0u64, 0u64);
    let mut taken = 0u64;
    for i in 0..10_000u32 {
        // The rings stay sane (only chains are hostile): never broken.
        assert!(t.is_live());
        match rng.below(4) {
            0 => {
                // Keep fewer chains in flight than the queue size.
                if tx.avail_idx.wrapping_sub(tx.used_idx(&mem)) < QSIZE / 2 {
                    random_chain(&mut rng, &mem, &mut tx, false);
                    sent += 1;
                }
                wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
            }
            1 => {
                if rx.avail_idx.wrapping_sub(rx.used_idx(&mem)) < QSIZE / 2 {
                    random_chain(&mut rng, &mem, &mut rx, true);
                }
                wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(RECEIVEQ));
            }
            2 => {
                let len = rng.below(1600) as usize;
                match deliver(&mut t, &mem, &eth(MAC, PEER, len, i as u8)) {
                    Some(Delivery::Delivered { .. }) => delivered += 1,
                    Some(Delivery::Queued) => queued += 1,
                    Some(Delivery::Dropped(_)) => dropped += 1,
                    None => {}
                }
            }
            _ => {
                t.device_mut().take_outbox(&mut spare);
                while let Some(f) = spare.front() {
                    assert!((MIN_FRAME..=MAX_FRAME).contains(&f.len()));
                    taken += 1;
                    spare.pop_front();
                }
                t.run_device(&mem, |d, q, m| d.run_pending(q, m));
            }
        }
        let d = t.device();
        assert!(d.outbox_len() <= 4 && d.backlog_len() <= 8);
    }
    let s = t.device().stats();
    assert_eq!(s.tx_frames, taken + t.device().outbox_len() as u64);
    let tx_done = s.tx_frames + s.tx_malformed + s.tx_runt + s.tx_oversize;
    let in_flight = u64::from(tx.avail_idx.wrapping_sub(tx.used_idx(&mem)));
    assert_eq!(tx_done + in_flight, sent, "every chain counted once");
    assert_eq!(
        s.rx_backlog_dropped + s.rx_oversize + s.rx_not_live,
        dropped
    );
    let backlog = t.device().backlog_len() as u64;
    assert_eq!(s.rx_frames + backlog, delivered + queued);
    assert!(s.tx_frames > 100 && s.rx_frames > 100, "{s:?}");
    assert!(
        s.tx_malformed > 100 && s.rx_too_small + s.rx_malformed > 100,
        "{s:?}"
    );
}
