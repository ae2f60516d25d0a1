//! Hostile requests: every error case answered with IOERR (or, without a
//! status byte, length 0), malformed chains, broken rings and 10,000
//! random requests.

mod common;

use common::*;
use virtio_blk::*;
use virtio_core::mmio::{INT_CONFIG_CHANGE, reg};
use virtio_core::*;

fn recorder_disk(mem: &VecMemory, sectors: usize, cfg: BlkConfig) -> Transport<Recorder> {
    bring_up(VirtioBlk::new(Recorder::new(sectors), cfg), mem, u64::MAX)
}

#[test]
fn out_of_range_and_overflowing_sectors_are_io_errors() {
    let mem = VecMemory::new();
    let mut t = recorder_disk(&mem, 16, BlkConfig::default());
    let mut drv = Driver::new(QSIZE);
    for (kind, sector, len) in [
        (VIRTIO_BLK_T_IN, 15, 1024),      // last sector + one past the end
        (VIRTIO_BLK_T_OUT, 16, 512),      // first sector past the end
        (VIRTIO_BLK_T_IN, u64::MAX, 512), // sector + len overflows
        (VIRTIO_BLK_T_OUT, u64::MAX - 1, 1024),
        (VIRTIO_BLK_T_IN, u64::MAX / 512 + 1, 512), // sector * 512 overflows
    ] {
        let buf = Buf(DATA, len, kind == VIRTIO_BLK_T_IN);
        let (s, used) = request(&mut t, &mem, &mut drv, kind, sector, &[buf]);
        assert_eq!((s, used), (VIRTIO_BLK_S_IOERR, 1), "{kind} at {sector}");
    }
    // Exactly up to the end is fine.
    let (s, _) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_IN,
        14,
        &[w(DATA, 1024)],
    );
    assert_eq!(s, VIRTIO_BLK_S_OK);
    assert_eq!(
        t.device().backend().calls,
        [Call::Read(14, 1024)],
        "refused before the backend"
    );
}

#[test]
fn data_not_in_whole_sectors_is_an_io_error() {
    let mem = VecMemory::new();
    let mut t = recorder_disk(&mem, 16, BlkConfig::default());
    let mut drv = Driver::new(QSIZE);
    for (kind, bufs) in [
        (VIRTIO_BLK_T_OUT, vec![r(DATA, 511)]),
        (VIRTIO_BLK_T_OUT, vec![r(DATA, 512), r(DATA + 0x1000, 1)]),
        (VIRTIO_BLK_T_IN, vec![w(DATA, 513)]),
        (VIRTIO_BLK_T_IN, vec![w(DATA, 100), w(DATA + 0x1000, 100)]),
    ] {
        let (s, used) = request(&mut t, &mem, &mut drv, kind, 0, &bufs);
        assert_eq!((s, used), (VIRTIO_BLK_S_IOERR, 1), "{bufs:?}");
    }
    assert!(t.device().backend().calls.is_empty());
    assert_eq!(t.device().stats().io_errors, 4);
}

#[test]
fn data_above_the_cap_is_an_io_error_without_copying() {
    let mem = VecMemory::new();
    let cfg = BlkConfig {
        max_request_bytes: 8192,
        ..BlkConfig::default()
    };
    let mut t = recorder_disk(&mem, 64, cfg);
    let mut drv = Driver::new(QSIZE);
    assert_eq!(
        t.read(reg::CONFIG + 12, 4) * t.read(reg::CONFIG + 8, 4),
        8192
    );
    let (s, _) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_OUT,
        0,
        &[r(DATA, 8192)],
    );
    assert_eq!(s, VIRTIO_BLK_S_OK);
    let (s, used) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_OUT,
        0,
        &[r(DATA, 8704)],
    );
    assert_eq!((s, used), (VIRTIO_BLK_S_IOERR, 1));
    let (s, used) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_IN,
        0,
        &[w(DATA, 3 << 20)],
    );
    assert_eq!((s, used), (VIRTIO_BLK_S_IOERR, 1));
    assert_eq!(t.device().backend().calls, [Call::Write(0, 8192)]);
}

#[test]
fn missing_short_or_writable_header_is_an_io_error() {
    let mem = VecMemory::new();
    let mut t = recorder_disk(&mem, 16, BlkConfig::default());
    let mut drv = Driver::new(QSIZE);
    header(&mem, VIRTIO_BLK_T_IN, 0);
    for bufs in [
        vec![w(STATUS, 1)],                           // no header at all
        vec![r(HDR, 8), w(STATUS, 1)],                // short header
        vec![r(HDR, 8), r(HDR + 8, 7), w(STATUS, 1)], // 15 bytes in two pieces
        vec![w(HDR, 16), w(DATA, 512), w(STATUS, 1)], // header device-writable
    ] {
        mem.put(STATUS, &[0xff]);
        let used = run(&mut t, &mem, &mut drv, &bufs);
        assert_eq!(used, 1, "{bufs:?}");
        assert_eq!(mem.get(STATUS, 1), [VIRTIO_BLK_S_IOERR], "{bufs:?}");
    }
    // A header split across descriptors is still a header.
    let used = run(
        &mut t,
        &mem,
        &mut drv,
        &[r(HDR, 4), r(HDR + 4, 12), w(DATA, 512), w(STATUS, 1)],
    );
    assert_eq!((used, mem.get(STATUS, 1)[0]), (513, VIRTIO_BLK_S_OK));
    assert_eq!(t.device().backend().calls, [Call::Read(0, 512)]);
}

#[test]
fn no_writable_status_byte_completes_with_length_zero() {
    let mem = VecMemory::new();
    let mut t = recorder_disk(&mem, 16, BlkConfig::default());
    let mut drv = Driver::new(QSIZE);
    for kind in [VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_IN, 99] {
        header(&mem, kind, 0);
        let used = run(&mut t, &mem, &mut drv, &[r(HDR, 16), r(DATA, 512)]);
        assert_eq!(used, 0, "type {kind}");
    }
    assert!(t.device().backend().calls.is_empty(), "nothing executed");
    assert_eq!(t.device().stats().malformed, 4);
    assert!(t.is_live());
}

#[test]
fn backend_failure_is_an_io_error() {
    let mem = VecMemory::new();
    let mut t = recorder_disk(&mem, 16, BlkConfig::default());
    let mut drv = Driver::new(QSIZE);
    t.device_mut().backend_mut().fail_io = true;
    let (s, used) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_IN, 0, &[w(DATA, 512)]);
    assert_eq!((s, used), (VIRTIO_BLK_S_IOERR, 1), "nothing written");
    let (s, _) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_OUT, 0, &[r(DATA, 512)]);
    assert_eq!(s, VIRTIO_BLK_S_IOERR);
}

#[test]
fn malformed_chains_complete_with_length_zero() {
    let mem = VecMemory::new();
    let mut t = recorder_disk(&mem, 16, BlkConfig::default());
    let mut drv = Driver::new(QSIZE);
    header(&mem, VIRTIO_BLK_T_IN, 0);
    // A descriptor loop: 0 -> 1 -> 0.
    drv.desc(&mem, 0, HDR, 16, DESC_F_NEXT, 1);
    drv.desc(&mem, 1, STATUS, 1, DESC_F_NEXT | DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    // A buffer outside guest RAM.
    drv.desc(&mem, 2, HDR, 16, DESC_F_NEXT, 3);
    drv.desc(&mem, 3, 0x1000, 512, DESC_F_NEXT | DESC_F_WRITE, 4);
    drv.desc(&mem, 4, STATUS, 1, DESC_F_WRITE, 0);
    drv.publish(&mem, 2);
    // Zero-length buffer; readable after writable; indirect not negotiated.
    drv.desc(&mem, 5, HDR, 0, 0, 0);
    drv.publish(&mem, 5);
    drv.desc(&mem, 6, STATUS, 1, DESC_F_WRITE | DESC_F_NEXT, 7);
    drv.desc(&mem, 7, HDR, 16, 0, 0);
    drv.publish(&mem, 6);
    drv.desc(&mem, 8, DATA, 64, DESC_F_INDIRECT, 0);
    drv.publish(&mem, 8);
    // A head index past the queue: consumed, nothing to complete.
    drv.publish(&mem, 200);
    // Then a good request still works.
    mem.put(STATUS + 1, &[0xff]);
    drv.desc(&mem, 9, HDR, 16, DESC_F_NEXT, 10);
    drv.desc(&mem, 10, DATA + 0x1000, 512, DESC_F_NEXT | DESC_F_WRITE, 11);
    drv.desc(&mem, 11, STATUS + 1, 1, DESC_F_WRITE, 0);
    drv.publish(&mem, 9);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_eq!(drv.used_idx(&mem), 6);
    for (i, id) in [0, 2, 5, 6, 8].into_iter().enumerate() {
        assert_eq!(drv.used_elem(&mem, i as u16), (id, 0));
    }
    assert_eq!(drv.used_elem(&mem, 5), (9, 513));
    assert_eq!(mem.get(STATUS + 1, 1), [VIRTIO_BLK_S_OK]);
    assert_eq!(t.device().stats().malformed, 6);
    assert!(t.is_live());
}

#[test]
fn broken_ring_needs_reset_and_a_reset_recovers() {
    let mem = VecMemory::new();
    let mut t = recorder_disk(&mem, 16, BlkConfig::default());
    mem.put(AVAIL + 2, &500u16.to_le_bytes()); // avail.idx jumps past the queue
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert_eq!(t.interrupt_status(), INT_CONFIG_CHANGE);
    for _ in 0..100 {
        wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    }
    assert!(t.device().backend().calls.is_empty());
    mem.put(AVAIL, &[0; 4]);
    mem.put(USED, &[0; 4]);
    let dev = VirtioBlk::new(Recorder::new(16), BlkConfig::default());
    let mut t = bring_up(dev, &mem, u64::MAX);
    let mut drv = Driver::new(QSIZE);
    let (s, _) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_IN, 0, &[w(DATA, 512)]);
    assert_eq!(s, VIRTIO_BLK_S_OK);
}

/// 10,000 random chains against an in-memory disk: random types, sectors,
/// lengths, directions and addresses (some outside RAM). The device never
/// panics, completes every chain whose head is in range, and every status
/// it writes is OK, IOERR or UNSUPP.
#[test]
fn ten_thousand_random_requests() {
    let mem = VecMemory::new();
    let cfg = BlkConfig {
        max_request_bytes: 8192,
        max_requests_per_notify: 4,
        ..BlkConfig::default()
    };
    let mut t = bring_up(VirtioBlk::new(MemBackend::new(64), cfg), &mem, u64::MAX);
    let mut drv = Driver::new(QSIZE);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut statuses = [0u32; 3];
    let mut zero_len = 0;
    for op in 0..10_000u32 {
        let kind = match rng.below(6) {
            0 => VIRTIO_BLK_T_IN,
            1 => VIRTIO_BLK_T_OUT,
            2 => VIRTIO_BLK_T_FLUSH,
            3 => VIRTIO_BLK_T_GET_ID,
            _ => rng.next() as u32 % 16,
        };
        let sector = match rng.below(4) {
            0 => rng.below(64),
            1 => 60 + rng.below(8),
            2 => u64::MAX - rng.below(16),
            _ => rng.next(),
        };
        let mut h = [0u8; 16];
        h[..4].copy_from_slice(&kind.to_le_bytes());
        h[8..].copy_from_slice(&sector.to_le_bytes());
        mem.put(HDR, &h);
        let n = 1 + rng.below(5) as usize;
        let mut bufs = Vec::new();
        for k in 0..n {
            let addr = match rng.below(40) {
                0 => rng.next(),
                1 => RAM_BASE + RAM_SIZE as u64 - rng.below(1024),
                2 => HDR,
                _ => DATA + rng.below(0x8000),
            };
            let len = match rng.below(16) {
                0 => 0,
                1 => rng.next() as u32,
                2 | 3 => 1 + rng.below(600) as u32,
                4 => 16,
                5 => 1,
                _ => 512 * (1 + rng.below(20) as u32),
            };
            let first = k == 0 && rng.chance(80);
            let write = if first { false } else { rng.chance(60) };
            bufs.push(Buf(
                if first { HDR } else { addr },
                if first { 16 } else { len },
                write,
            ));
        }
        // Keep the chain's own order legal most of the time.
        if rng.chance(90) {
            bufs.sort_by_key(|b| b.2);
        }
        if let Some(last) = bufs.iter_mut().rev().find(|b| b.2)
            && rng.chance(80)
        {
            *last = w(STATUS, 1);
        }
        mem.put(STATUS, &[0xff]);
        let before = drv.used_idx(&mem);
        drv.submit(&mem, &bufs);
        wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
        while t.device().has_pending() {
            t.run_device(&mem, |d, q, m| d.process(q, m));
        }
        assert!(t.is_live(), "op {op}");
        assert_eq!(drv.used_idx(&mem), before.wrapping_add(1), "op {op}");
        let (_, used) = drv.used_elem(&mem, before);
        let status_is_ours = bufs.last().is_some_and(|b| b.0 == STATUS && b.2);
        if used == 0 {
            zero_len += 1;
        } else if status_is_ours {
            let s = mem.get(STATUS, 1)[0];
            assert!(s <= VIRTIO_BLK_S_UNSUPP, "op {op}: status {s}");
            statuses[usize::from(s)] += 1;
        }
        wr(&mut t, &mem, reg::INTERRUPT_ACK, 3);
    }
    let stats = t.device().stats();
    assert_eq!(
        stats.ok + stats.io_errors + stats.unsupported + stats.malformed,
        10_000
    );
    println!("{statuses:?} OK/IOERR/UNSUPP, {zero_len} length 0, {stats:?}");
    assert!(statuses.iter().all(|&n| n > 100), "{statuses:?}");
    assert!(zero_len > 100);
}
