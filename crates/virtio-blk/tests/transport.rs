//! The block device behind the MMIO transport as drivers use it: Linux's
//! and virtio-drivers 0.7.5's negotiation, interrupts, bounded work per
//! notification, event index, indirect tables and reset.

mod common;

use common::*;
use virtio_blk::*;
use virtio_core::mmio::{INT_USED_BUFFER, reg};
use virtio_core::*;

#[test]
fn linux_style_sequence_submit_notify_used_ring_and_interrupt() {
    let mem = VecMemory::new();
    let mut t = mem_disk(&mem, 32);
    assert_eq!(rd(&mut t, reg::DEVICE_ID), DEVICE_ID);
    assert_ne!(t.driver_features() & VIRTIO_F_VERSION_1, 0);
    assert!(!t.irq_level());
    let mut drv = Driver::new(QSIZE);
    pattern(&mem, DATA, 1024, 4);
    header(&mem, VIRTIO_BLK_T_OUT, 2);
    let head = drv.submit(&mem, &[r(HDR, 16), r(DATA, 1024), w(STATUS, 1)]);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_eq!(drv.used_idx(&mem), 1);
    assert_eq!(drv.used_elem(&mem, 0), (u32::from(head), 1));
    assert_eq!(mem.get(STATUS, 1), [VIRTIO_BLK_S_OK]);
    assert_eq!(rd(&mut t, reg::INTERRUPT_STATUS), INT_USED_BUFFER);
    assert!(t.irq_level());
    wr(&mut t, &mem, reg::INTERRUPT_ACK, INT_USED_BUFFER);
    assert!(!t.irq_level());
    // NO_INTERRUPT in avail.flags: completed, no interrupt.
    mem.put(AVAIL, &1u16.to_le_bytes());
    let (s, _) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_IN,
        2,
        &[w(DATA + 0x1000, 1024)],
    );
    assert_eq!(s, VIRTIO_BLK_S_OK);
    assert_eq!(mem.get(DATA + 0x1000, 1024), mem.get(DATA, 1024));
    assert!(!t.irq_level());
}

/// virtio-drivers 0.7.5 (ArceOS, Starry): `begin_init` accepts
/// `RO|FLUSH|INDIRECT|EVENT_IDX & offered`, never VERSION_1, and does not
/// read FEATURES_OK back; its queue has 16 entries.
#[test]
fn virtio_drivers_negotiation_without_version_1() {
    const SUPPORTED: u64 =
        VIRTIO_BLK_F_RO | VIRTIO_BLK_F_FLUSH | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX;
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(VirtioBlk::new(MemBackend::new(64), BlkConfig::default()));
    assert_eq!(rd(&mut t, reg::VERSION), 2);
    wr(&mut t, &mem, reg::STATUS, 0);
    wr(
        &mut t,
        &mem,
        reg::STATUS,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER,
    );
    wr(&mut t, &mem, reg::DEVICE_FEATURES_SEL, 0);
    let mut offered = u64::from(rd(&mut t, reg::DEVICE_FEATURES));
    wr(&mut t, &mem, reg::DEVICE_FEATURES_SEL, 1);
    offered |= u64::from(rd(&mut t, reg::DEVICE_FEATURES)) << 32;
    let negotiated = offered & SUPPORTED;
    assert_eq!(negotiated, VIRTIO_BLK_F_FLUSH);
    wr(&mut t, &mem, reg::DRIVER_FEATURES_SEL, 0);
    wr(&mut t, &mem, reg::DRIVER_FEATURES, negotiated as u32);
    wr(&mut t, &mem, reg::DRIVER_FEATURES_SEL, 1);
    wr(
        &mut t,
        &mem,
        reg::DRIVER_FEATURES,
        (negotiated >> 32) as u32,
    );
    let s = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;
    wr(&mut t, &mem, reg::STATUS, s);
    assert_eq!(t.read(reg::CONFIG, 8), 64, "capacity");
    wr(&mut t, &mem, reg::QUEUE_SEL, 0);
    assert_eq!(rd(&mut t, reg::QUEUE_READY), 0);
    assert!(rd(&mut t, reg::QUEUE_NUM_MAX) >= 16);
    wr(&mut t, &mem, reg::QUEUE_SEL, 0);
    wr(&mut t, &mem, reg::QUEUE_NUM, 16);
    wr(&mut t, &mem, reg::QUEUE_DESC_LOW, DESC as u32);
    wr(&mut t, &mem, reg::QUEUE_DESC_HIGH, 0);
    wr(&mut t, &mem, reg::QUEUE_DRIVER_LOW, AVAIL as u32);
    wr(&mut t, &mem, reg::QUEUE_DRIVER_HIGH, 0);
    wr(&mut t, &mem, reg::QUEUE_DEVICE_LOW, USED as u32);
    wr(&mut t, &mem, reg::QUEUE_DEVICE_HIGH, 0);
    wr(&mut t, &mem, reg::QUEUE_READY, 1);
    wr(&mut t, &mem, reg::STATUS, s | STATUS_DRIVER_OK);
    assert!(t.is_live(), "live without VERSION_1");
    let mut drv = Driver::new(16);
    let data = pattern(&mem, DATA, 512, 8);
    let (st, _) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_OUT,
        63,
        &[r(DATA, 512)],
    );
    assert_eq!(st, VIRTIO_BLK_S_OK);
    let (st, _) = request(
        &mut t,
        &mem,
        &mut drv,
        VIRTIO_BLK_T_IN,
        63,
        &[w(DATA + 0x1000, 512)],
    );
    assert_eq!(st, VIRTIO_BLK_S_OK);
    assert_eq!(mem.get(DATA + 0x1000, 512), data);
    // ack_interrupt
    let pending = rd(&mut t, reg::INTERRUPT_STATUS);
    assert_eq!(pending, INT_USED_BUFFER);
    wr(&mut t, &mem, reg::INTERRUPT_ACK, pending);
    assert!(!t.irq_level());
}

#[test]
fn work_per_notify_is_bounded_and_pending_is_reported() {
    let mem = VecMemory::new();
    let cfg = BlkConfig {
        max_requests_per_notify: 2,
        ..BlkConfig::default()
    };
    let dev = VirtioBlk::new(Recorder::new(16), cfg);
    let mut t = bring_up(dev, &mem, u64::MAX);
    let mut drv = Driver::new(QSIZE);
    header(&mem, VIRTIO_BLK_T_IN, 0);
    for i in 0..5 {
        drv.submit(
            &mem,
            &[r(HDR, 16), w(DATA + 0x1000 * i, 512), w(STATUS + i, 1)],
        );
    }
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_eq!(drv.used_idx(&mem), 2);
    assert!(t.device().has_pending());
    assert!(t.irq_level(), "what was done is signalled");
    wr(&mut t, &mem, reg::INTERRUPT_ACK, INT_USED_BUFFER);
    t.run_device(&mem, |d, q, m| d.process(q, m));
    assert_eq!(drv.used_idx(&mem), 4);
    assert!(t.device().has_pending());
    t.run_device(&mem, |d, q, m| d.process(q, m));
    assert_eq!(drv.used_idx(&mem), 5);
    assert!(!t.device().has_pending());
    assert!(t.irq_level());
    assert_eq!(t.device().backend().calls.len(), 5);
    // A reset forgets pending work.
    for i in 0..3 {
        drv.submit(&mem, &[r(HDR, 16), w(DATA, 512), w(STATUS + i, 1)]);
    }
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert!(t.device().has_pending());
    wr(&mut t, &mem, reg::STATUS, 0);
    assert!(!t.device().has_pending());
    t.run_device(&mem, |d, q, m| d.process(q, m));
    assert_eq!(
        t.device().backend().calls.len(),
        7,
        "nothing runs after reset"
    );
}

#[test]
fn event_idx_and_indirect_when_configured() {
    let mem = VecMemory::new();
    let cfg = BlkConfig {
        ring_features: VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC,
        ..BlkConfig::default()
    };
    let mut t = bring_up(VirtioBlk::new(MemBackend::new(16), cfg), &mem, u64::MAX);
    let neg = VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC;
    assert_eq!(t.driver_features() & neg, neg);
    let mut drv = Driver::new(QSIZE);
    // One request through an indirect table of three descriptors.
    let table = DATA + 0x8000;
    header(&mem, VIRTIO_BLK_T_GET_ID, 0);
    let put_desc = |i: u64, addr: u64, len: u32, flags: u16, next: u16| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..].copy_from_slice(&next.to_le_bytes());
        mem.put(table + 16 * i, &b);
    };
    put_desc(0, HDR, 16, DESC_F_NEXT, 1);
    put_desc(1, DATA, 20, DESC_F_NEXT | DESC_F_WRITE, 2);
    put_desc(2, STATUS, 1, DESC_F_WRITE, 0);
    drv.desc(&mem, 0, table, 48, DESC_F_INDIRECT, 0);
    // used_event = 1: no interrupt for the first completion.
    mem.put(AVAIL + 4 + 2 * u64::from(QSIZE), &1u16.to_le_bytes());
    drv.publish(&mem, 0);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_eq!(drv.used_elem(&mem, 0), (0, 21));
    assert_eq!(mem.get(DATA, 16), b"axvisor-mem-disk");
    assert_eq!(
        mem.get(USED + 4 + 8 * u64::from(QSIZE), 2),
        [1, 0],
        "avail_event"
    );
    assert!(!t.irq_level(), "suppressed by used_event");
    let (s, _) = request(&mut t, &mem, &mut drv, VIRTIO_BLK_T_FLUSH, 0, &[]);
    assert_eq!(s, VIRTIO_BLK_S_OK);
    assert!(t.irq_level(), "second completion passes used_event");
}
