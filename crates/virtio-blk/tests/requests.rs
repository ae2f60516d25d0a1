//! Well-formed requests: every type, multi-segment round trips, flush
//! ordering, GET_ID, read-only disks, features and configuration space.

mod common;

use common::*;
use virtio_blk::*;
use virtio_core::mmio::reg;
use virtio_core::*;

#[test]
fn write_then_read_round_trip_across_segments() {
    let mem = VecMemory::new();
    let mut t = mem_disk(&mem, 64);
    let mut drv = Driver::new(QSIZE);
    // Three segments of uneven sizes (512, 1536, 2048 bytes): 8 sectors.
    let a = pattern(&mem, DATA, 512, 1);
    let b = pattern(&mem, DATA + 0x1000, 1536, 2);
    let c = pattern(&mem, DATA + 0x3000, 2048, 3);
    let segs = [r(DATA, 512), r(DATA + 0x1000, 1536), r(DATA + 0x3000, 2048)];
    let (status, len) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_OUT, 5, &segs);
    assert_eq!((status, len), (VIRTIO_BLK_S_OK, 1));
    let want = [a, b, c].concat();
    assert_eq!(&t.device().backend().bytes()[5 * 512..13 * 512], &want[..]);
    assert!(
        t.device().backend().bytes()[..5 * 512]
            .iter()
            .all(|&x| x == 0)
    );

    // Read it back split differently: 1024 + 3072 bytes into other buffers.
    let out = [w(DATA + 0x10000, 1024), w(DATA + 0x20000, 3072)];
    let (status, len) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_IN, 5, &out);
    assert_eq!((status, len), (VIRTIO_BLK_S_OK, 4096 + 1));
    let got = [mem.get(DATA + 0x10000, 1024), mem.get(DATA + 0x20000, 3072)].concat();
    assert_eq!(got, want);
}

#[test]
fn large_request_crosses_the_bounce_buffer() {
    let mem = VecMemory::new();
    let mut t = mem_disk(&mem, 4096);
    let mut drv = Driver::new(QSIZE);
    let len = 1 << 20; // the default cap, 16 chunks of 64 KiB
    let data = pattern(&mem, DATA, len, 9);
    let (s, _) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_OUT,
        100,
        &[r(DATA, len as u32)],
    );
    assert_eq!(s, VIRTIO_BLK_S_OK);
    mem.put(DATA, &vec![0; len]);
    let (s, used) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_IN,
        100,
        &[w(DATA, len as u32)],
    );
    assert_eq!((s, used), (VIRTIO_BLK_S_OK, len as u32 + 1));
    assert_eq!(mem.get(DATA, len), data);
}

#[test]
fn a_request_that_is_no_multiple_of_the_chunk_ends_with_a_short_chunk() {
    let mem = VecMemory::new();
    let mut t = mem_disk(&mem, 4096);
    let mut drv = Driver::new(QSIZE);
    // 64 KiB + 32.5 KiB: the second chunk is short (Linux's 1 MiB writes
    // arrive split like this).
    let len = 65536 + 33280;
    let data = pattern(&mem, DATA, len, 4);
    let (s, _) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_OUT, 7, &[r(DATA, len as u32)]);
    assert_eq!(s, VIRTIO_BLK_S_OK);
    assert_eq!(&t.device().backend().bytes()[7 * 512..7 * 512 + len], &data[..]);
    mem.put(DATA, &vec![0; len]);
    let (s, used) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_IN, 7, &[w(DATA, len as u32)]);
    assert_eq!((s, used), (VIRTIO_BLK_S_OK, len as u32 + 1));
    assert_eq!(mem.get(DATA, len), data);
}

#[test]
fn status_may_share_the_last_writable_descriptor() {
    let mem = VecMemory::new();
    let mut t = mem_disk(&mem, 8);
    let mut drv = Driver::new(QSIZE);
    t.device_mut().backend_mut().write(1, &[0x5a; 512]).unwrap();
    header(&mem, VIRTIO_BLK_T_IN, 1);
    // Data and status in one 513-byte writable buffer.
    let len = run(&mut t, &mem, &mut drv, &[r(HDR, 16), w(DATA, 513)]);
    assert_eq!(len, 513);
    assert_eq!(mem.get(DATA, 512), vec![0x5a; 512]);
    assert_eq!(mem.get(DATA + 512, 1), [VIRTIO_BLK_S_OK]);
}

#[test]
fn flush_calls_the_backend_after_the_writes_before_it() {
    let mem = VecMemory::new();
    let dev = VirtioBlk::new(Recorder::new(16), BlkConfig::default());
    let mut t = bring_up(dev, &mem, u64::MAX);
    let mut drv = Driver::new(QSIZE);
    // Three requests published before one notify: write, write, flush.
    for (kind, sector) in [
        (VIRTIO_BLK_T_OUT, 0),
        (VIRTIO_BLK_T_OUT, 1),
        (VIRTIO_BLK_T_FLUSH, 0),
    ] {
        let hdr = HDR + 0x20 * sector + if kind == VIRTIO_BLK_T_FLUSH { 0x40 } else { 0 };
        let mut h = [0u8; 16];
        h[..4].copy_from_slice(&kind.to_le_bytes());
        h[8..].copy_from_slice(&sector.to_le_bytes());
        mem.put(hdr, &h);
        let mut bufs = vec![r(hdr, 16)];
        if kind == VIRTIO_BLK_T_OUT {
            bufs.push(r(DATA, 512));
        }
        bufs.push(w(STATUS + sector, 1));
        drv.submit(&mem, &bufs);
    }
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_eq!(drv.used_idx(&mem), 3);
    assert_eq!(
        t.device().backend().calls,
        [Call::Write(0, 512), Call::Write(1, 512), Call::Flush],
        "write-back: no flush until asked"
    );
    // The flush's completion is the last used element.
    assert_eq!(drv.used_elem(&mem, 2), (6, 1));
    assert_eq!(mem.get(STATUS, 2), [VIRTIO_BLK_S_OK; 2]);
}

#[test]
fn failed_flush_is_an_io_error() {
    let mem = VecMemory::new();
    let dev = VirtioBlk::new(Recorder::new(16), BlkConfig::default());
    let mut t = bring_up(dev, &mem, u64::MAX);
    let mut drv = Driver::new(QSIZE);
    t.device_mut().backend_mut().fail_flush = true;
    let (s, len) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_FLUSH, 0, &[]);
    assert_eq!((s, len), (VIRTIO_BLK_S_IOERR, 1));
    t.device_mut().backend_mut().fail_flush = false;
    let (s, _) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_FLUSH, 0, &[]);
    assert_eq!(s, VIRTIO_BLK_S_OK);
    assert_eq!(t.device().backend().calls, [Call::Flush, Call::Flush]);
}

#[test]
fn without_flush_negotiated_writes_are_write_through() {
    let mem = VecMemory::new();
    let dev = VirtioBlk::new(Recorder::new(16), BlkConfig::default());
    let mut t = bring_up(dev, &mem, !VIRTIO_BLK_F_FLUSH);
    let mut drv = Driver::new(QSIZE);
    let (s, _) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_OUT,
        3,
        &[r(DATA, 1024)],
    );
    assert_eq!(s, VIRTIO_BLK_S_OK);
    assert_eq!(
        t.device().backend().calls,
        [Call::Write(3, 1024), Call::Flush]
    );
    // A write whose flush fails is not acknowledged as done.
    t.device_mut().backend_mut().fail_flush = true;
    let (s, _) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_OUT, 3, &[r(DATA, 512)]);
    assert_eq!(s, VIRTIO_BLK_S_IOERR);
}

#[test]
fn get_id_returns_the_serial() {
    let mem = VecMemory::new();
    let disk = MemBackend::new(8).with_id(b"vm1-root");
    let mut t = bring_up(VirtioBlk::new(disk, BlkConfig::default()), &mem, u64::MAX);
    let mut drv = Driver::new(QSIZE);
    mem.put(DATA, &[0xee; 20]);
    let (s, len) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_GET_ID,
        0,
        &[w(DATA, 20)],
    );
    assert_eq!((s, len), (VIRTIO_BLK_S_OK, 21));
    assert_eq!(mem.get(DATA, 20), b"vm1-root\0\0\0\0\0\0\0\0\0\0\0\0");
    // A shorter buffer gets what fits.
    let (s, len) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_GET_ID,
        0,
        &[w(DATA, 4)],
    );
    assert_eq!((s, len), (VIRTIO_BLK_S_OK, 5));
}

#[test]
fn unknown_types_are_unsupported() {
    let mem = VecMemory::new();
    let mut t = mem_disk(&mem, 8);
    let mut drv = Driver::new(QSIZE);
    // 10 GET_LIFETIME, 11 DISCARD, 13 WRITE_ZEROES, 14 SECURE_ERASE: not offered.
    for kind in [2, 3, 10, 11, 13, 14, 0x8000_0000, u32::MAX] {
        let (s, len) = request(&mut t, &mem, &mut drv, kind, 0, &[w(DATA, 512)]);
        assert_eq!((s, len), (VIRTIO_BLK_S_UNSUPP, 1), "type {kind}");
    }
    assert_eq!(t.device().stats().unsupported, 8);
}

#[test]
fn read_only_disk_refuses_writes_and_serves_reads() {
    let mem = VecMemory::new();
    let disk = MemBackend::from_bytes(vec![7; 8 * 512], true);
    let mut t = bring_up(VirtioBlk::new(disk, BlkConfig::default()), &mem, u64::MAX);
    assert_ne!(t.driver_features() & VIRTIO_BLK_F_RO, 0, "RO offered");
    let mut drv = Driver::new(QSIZE);
    let (s, len) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_OUT, 0, &[r(DATA, 512)]);
    assert_eq!((s, len), (VIRTIO_BLK_S_IOERR, 1));
    assert!(t.device().backend().bytes().iter().all(|&x| x == 7));
    let (s, _) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_IN, 7, &[w(DATA, 512)]);
    assert_eq!(s, VIRTIO_BLK_S_OK);
    assert_eq!(mem.get(DATA, 512), vec![7; 512]);
    let (s, _) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_FLUSH, 0, &[]);
    assert_eq!(s, VIRTIO_BLK_S_OK);
}

#[test]
fn features_and_config_space() {
    let mem = VecMemory::new();
    let mut t = mem_disk(&mem, 1000);
    let want = VIRTIO_F_VERSION_1
        | VIRTIO_BLK_F_SIZE_MAX
        | VIRTIO_BLK_F_SEG_MAX
        | VIRTIO_BLK_F_BLK_SIZE
        | VIRTIO_BLK_F_FLUSH;
    assert_eq!(t.device().device_features(), want);
    assert_eq!(t.driver_features(), want);
    assert_eq!(t.read(reg::CONFIG, 8), 1000, "capacity");
    assert_eq!(t.read(reg::CONFIG, 4), 1000);
    assert_eq!(t.read(reg::CONFIG + 4, 4), 0);
    let size_max = t.read(reg::CONFIG + 8, 4);
    let seg_max = t.read(reg::CONFIG + 12, 4);
    assert_eq!(seg_max, u64::from(DEFAULT_QUEUE_SIZE) - 2);
    assert!(size_max >= 4096 && size_max.is_multiple_of(512));
    assert!(seg_max * size_max <= u64::from(DEFAULT_MAX_REQUEST_BYTES));
    assert_eq!(t.read(reg::CONFIG + 16, 4), 0, "no geometry");
    assert_eq!(t.read(reg::CONFIG + 20, 4), 512, "blk_size");
    assert_eq!(t.read(reg::CONFIG + 20, 2), 512);
    assert_eq!(t.read(reg::CONFIG + 34, 2), 1, "num_queues");
    assert_eq!(t.read(reg::CONFIG + 36, 4), 0, "past the end");
    assert_eq!(t.read(reg::CONFIG + 0x100, 8), 0);
    // Writes change nothing (no CONFIG_WCE).
    t.write(&mem, reg::CONFIG, 8, 5);
    t.write(&mem, reg::CONFIG + 32, 1, 1);
    assert_eq!(t.read(reg::CONFIG, 8), 1000);
    assert_eq!(t.read(reg::CONFIG + 32, 1), 0);
    // Ring features only when configured; INDIRECT works end to end.
    let cfg = BlkConfig {
        ring_features: VIRTIO_F_INDIRECT_DESC | 1 << 3,
        ..BlkConfig::default()
    };
    let dev = VirtioBlk::new(MemBackend::new(8), cfg);
    assert_eq!(dev.device_features(), want | VIRTIO_F_INDIRECT_DESC);
}

#[test]
fn limits_are_normalized_and_bound_seg_and_size_max() {
    let c = BlkConfig {
        queue_size: 0,
        max_request_bytes: 1000,
        max_requests_per_notify: 0,
        ring_features: u64::MAX,
    }
    .normalized();
    assert_eq!(c.queue_size, 4);
    assert_eq!(c.max_request_bytes, 4096);
    assert_eq!(c.max_requests_per_notify, 1);
    assert_eq!(c.ring_features, VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX);
    for (queue_size, bytes) in [
        (4, 4096),
        (128, 1 << 20),
        (256, 64 << 10),
        (1024, 8 << 20),
        (16, 5000),
    ] {
        let c = BlkConfig {
            queue_size,
            max_request_bytes: bytes,
            ..BlkConfig::default()
        }
        .normalized();
        assert!(c.seg_max() >= 1 && c.seg_max() <= u32::from(queue_size) - 2);
        assert!(c.size_max() >= 4096 && c.size_max().is_multiple_of(512));
        assert!(c.seg_max() * c.size_max() <= c.max_request_bytes, "{c:?}");
    }
}
