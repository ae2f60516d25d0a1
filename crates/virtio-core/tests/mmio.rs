//! The virtio-mmio register model: every register, the status rules and
//! feature negotiation.

mod common;

use common::transport::*;
use common::*;
use virtio_core::mmio::{INT_CONFIG_CHANGE, INT_USED_BUFFER, MAGIC, reg};
use virtio_core::*;

#[test]
fn identity_registers() {
    let mut t = MmioTransport::new(TestDevice::default());
    assert_eq!(rd(&mut t, reg::MAGIC_VALUE), MAGIC);
    assert_eq!(rd(&mut t, reg::MAGIC_VALUE), 0x7472_6976);
    assert_eq!(rd(&mut t, reg::VERSION), 2);
    assert_eq!(rd(&mut t, reg::DEVICE_ID), 2);
    assert_eq!(rd(&mut t, reg::VENDOR_ID), VENDOR_ID);
    assert_eq!(rd(&mut t, reg::SHM_LEN_LOW), u32::MAX);
    assert_eq!(rd(&mut t, reg::SHM_BASE_HIGH), u32::MAX);
}

#[test]
fn device_features_by_selector() {
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    assert_eq!(rd(&mut t, reg::DEVICE_FEATURES), OFFERED as u32);
    wr(&mut t, &mem, reg::DEVICE_FEATURES_SEL, 1);
    assert_eq!(rd(&mut t, reg::DEVICE_FEATURES), 1, "VERSION_1 is bit 32");
    wr(&mut t, &mem, reg::DEVICE_FEATURES_SEL, 2);
    assert_eq!(rd(&mut t, reg::DEVICE_FEATURES), 0);
    wr(&mut t, &mem, reg::DEVICE_FEATURES_SEL, u32::MAX);
    assert_eq!(rd(&mut t, reg::DEVICE_FEATURES), 0);
}

#[test]
fn driver_features_by_selector_and_frozen_after_features_ok() {
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    set_features(&mut t, &mem, VIRTIO_F_VERSION_1 | 1);
    wr(&mut t, &mem, reg::DRIVER_FEATURES_SEL, 7);
    wr(&mut t, &mem, reg::DRIVER_FEATURES, u32::MAX);
    assert_eq!(t.driver_features(), VIRTIO_F_VERSION_1 | 1);
    wr(&mut t, &mem, reg::STATUS, STATUS_FEATURES_OK);
    assert_eq!(t.status(), STATUS_FEATURES_OK);
    wr(&mut t, &mem, reg::DRIVER_FEATURES_SEL, 0);
    wr(&mut t, &mem, reg::DRIVER_FEATURES, 4);
    assert_eq!(t.driver_features(), VIRTIO_F_VERSION_1 | 1);
}

#[test]
fn features_ok_requires_only_offered_bits() {
    let mem = VecMemory::new();
    for (features, ok) in [
        (VIRTIO_F_VERSION_1, true),
        (OFFERED, true),
        (VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX, true),
        // VERSION_1 is not required (virtio-drivers 0.7.5 never accepts it).
        (0, true),
        (VIRTIO_F_EVENT_IDX | 1, true),
        (VIRTIO_F_EVENT_IDX | 0b10, false),
        (VIRTIO_F_VERSION_1 | 0b10, false),
        (VIRTIO_F_VERSION_1 | 1 << 34, false),
    ] {
        let mut t = MmioTransport::new(TestDevice::default());
        set_features(&mut t, &mem, features);
        let s = STATUS_ACKNOWLEDGE | STATUS_DRIVER;
        wr(&mut t, &mem, reg::STATUS, s | STATUS_FEATURES_OK);
        let want = if ok { s | STATUS_FEATURES_OK } else { s };
        assert_eq!(rd(&mut t, reg::STATUS), want, "features {features:#x}");
        // Without FEATURES_OK, DRIVER_OK does not take and nothing activates.
        wr(&mut t, &mem, reg::STATUS, want | STATUS_DRIVER_OK);
        assert_eq!(t.device().activated.is_some(), ok);
        assert_eq!(t.is_live(), ok);
    }
}

#[test]
fn driver_ok_activates_with_negotiated_features() {
    let mem = VecMemory::new();
    let t = bring_up(&mem, VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX);
    assert_eq!(
        t.device().activated,
        Some(VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX)
    );
}

#[test]
fn status_bits_are_only_cleared_by_reset() {
    let mem = VecMemory::new();
    let mut t = bring_up(&mem, VIRTIO_F_VERSION_1);
    let live = rd(&mut t, reg::STATUS);
    wr(&mut t, &mem, reg::STATUS, STATUS_ACKNOWLEDGE);
    assert_eq!(rd(&mut t, reg::STATUS), live);
    // The driver cannot set DEVICE_NEEDS_RESET; FAILED it may.
    wr(&mut t, &mem, reg::STATUS, live | STATUS_DEVICE_NEEDS_RESET);
    assert_eq!(rd(&mut t, reg::STATUS), live);
    wr(&mut t, &mem, reg::STATUS, live | STATUS_FAILED);
    assert_eq!(rd(&mut t, reg::STATUS), live | STATUS_FAILED);
    assert_eq!(
        t.device().activated,
        Some(VIRTIO_F_VERSION_1),
        "activated once"
    );
}

#[test]
fn queue_registers_follow_queue_sel() {
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    assert_eq!(rd(&mut t, reg::QUEUE_NUM_MAX), 16);
    wr(&mut t, &mem, reg::QUEUE_SEL, 1);
    assert_eq!(rd(&mut t, reg::QUEUE_NUM_MAX), 8);
    wr(&mut t, &mem, reg::QUEUE_NUM, 4);
    wr(&mut t, &mem, reg::QUEUE_DESC_LOW, 0x1000);
    wr(&mut t, &mem, reg::QUEUE_DESC_HIGH, 0x2);
    wr(&mut t, &mem, reg::QUEUE_DRIVER_LOW, 0x3000);
    wr(&mut t, &mem, reg::QUEUE_DRIVER_HIGH, 0x4);
    wr(&mut t, &mem, reg::QUEUE_DEVICE_LOW, 0x5000);
    wr(&mut t, &mem, reg::QUEUE_DEVICE_HIGH, 0x6);
    let q = &t.queues()[1];
    assert_eq!(q.size(), 4);
    assert_eq!(q.addresses(), (0x2_0000_1000, 0x4_0000_3000, 0x6_0000_5000));
    assert_eq!(t.queues()[0].addresses(), (0, 0, 0));
    // A queue that does not exist: reads 0, writes go nowhere.
    wr(&mut t, &mem, reg::QUEUE_SEL, 2);
    assert_eq!(rd(&mut t, reg::QUEUE_NUM_MAX), 0);
    assert_eq!(rd(&mut t, reg::QUEUE_READY), 0);
    wr(&mut t, &mem, reg::QUEUE_NUM, 2);
    wr(&mut t, &mem, reg::QUEUE_READY, 1);
    assert_eq!(t.queues()[0].size(), 16);
    assert_eq!(t.queues()[1].size(), 4);
    wr(&mut t, &mem, reg::QUEUE_SEL, u32::MAX);
    assert_eq!(rd(&mut t, reg::QUEUE_NUM_MAX), 0);
    // A size above 16 bits is not truncated into a valid one.
    wr(&mut t, &mem, reg::QUEUE_SEL, 0);
    wr(&mut t, &mem, reg::QUEUE_NUM, 0x1_0008);
    assert_eq!(t.queues()[0].size(), 0);
}

#[test]
fn queue_ready_validates_and_live_queue_is_frozen() {
    let mem = VecMemory::new();
    let mut t = bring_up(&mem, VIRTIO_F_VERSION_1);
    assert_eq!(rd(&mut t, reg::QUEUE_READY), 1);
    wr(&mut t, &mem, reg::QUEUE_NUM, 2);
    wr(&mut t, &mem, reg::QUEUE_DESC_LOW, 0);
    wr(&mut t, &mem, reg::QUEUE_DRIVER_LOW, 0);
    wr(&mut t, &mem, reg::QUEUE_DEVICE_HIGH, 1);
    assert_eq!(t.queues()[0].size(), 8);
    assert_eq!(t.queues()[0].addresses(), (DESC, AVAIL, USED));
    // QueueReady = 0 disables; the reads say so.
    wr(&mut t, &mem, reg::QUEUE_READY, 0);
    assert_eq!(rd(&mut t, reg::QUEUE_READY), 0);
    assert!(t.is_live());
}

#[test]
fn a_queue_is_enabled_only_after_features_ok_and_with_its_features() {
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    wr(&mut t, &mem, reg::STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    // INDIRECT and EVENT_IDX written, queue enabled, then taken back.
    set_features(&mut t, &mem, VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX);
    setup_queue0(&mut t, &mem);
    assert_eq!(rd(&mut t, reg::QUEUE_READY), 0, "not before FEATURES_OK");
    set_features(&mut t, &mem, VIRTIO_F_VERSION_1);
    let s = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;
    wr(&mut t, &mem, reg::STATUS, s);
    wr(&mut t, &mem, reg::QUEUE_READY, 1);
    assert_eq!(rd(&mut t, reg::QUEUE_READY), 1);
    wr(&mut t, &mem, reg::STATUS, s | STATUS_DRIVER_OK);
    assert!(t.is_live());
    assert_eq!(t.driver_features(), VIRTIO_F_VERSION_1);
}

#[test]
fn queue_ready_with_bad_rings_sets_needs_reset() {
    let mem = VecMemory::new();
    let mut t = bring_up(&mem, VIRTIO_F_VERSION_1);
    wr(&mut t, &mem, reg::QUEUE_SEL, 1);
    wr(&mut t, &mem, reg::QUEUE_NUM, 8);
    wr(&mut t, &mem, reg::QUEUE_DESC_LOW, 0x10); // outside RAM
    wr(&mut t, &mem, reg::QUEUE_DRIVER_LOW, AVAIL as u32 + 0x100);
    wr(&mut t, &mem, reg::QUEUE_DEVICE_LOW, USED as u32 + 0x100);
    wr(&mut t, &mem, reg::QUEUE_READY, 1);
    assert_eq!(rd(&mut t, reg::QUEUE_READY), 0);
    assert_ne!(rd(&mut t, reg::STATUS) & STATUS_DEVICE_NEEDS_RESET, 0);
    assert_eq!(rd(&mut t, reg::INTERRUPT_STATUS), INT_CONFIG_CHANGE);
    assert!(!t.is_live());
}

#[test]
fn notify_reaches_the_device_only_when_live_and_ready() {
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    set_features(&mut t, &mem, VIRTIO_F_VERSION_1);
    wr(&mut t, &mem, reg::STATUS, STATUS_FEATURES_OK);
    setup_queue0(&mut t, &mem);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0); // before DRIVER_OK
    assert!(t.device().notified.is_empty());

    wr(
        &mut t,
        &mem,
        reg::STATUS,
        STATUS_FEATURES_OK | STATUS_DRIVER_OK,
    );
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 1); // queue 1 not ready
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 2); // no such queue
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0x1_0000);
    assert!(t.device().notified.is_empty());

    let mut drv = Driver::new(8);
    drv.desc(&mem, 0, DATA, 8, DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_eq!(t.device().notified, [0]);
    assert_eq!(t.device().completed, 1);
    assert_eq!(drv.used_idx(&mem), 1);
    assert_eq!(rd(&mut t, reg::INTERRUPT_STATUS), INT_USED_BUFFER);
    assert!(t.irq_level());
    wr(&mut t, &mem, reg::INTERRUPT_ACK, INT_USED_BUFFER);
    assert_eq!(rd(&mut t, reg::INTERRUPT_STATUS), 0);
    assert!(!t.irq_level());
}

#[test]
fn hostile_ring_breaks_the_device_not_the_host() {
    let mem = VecMemory::new();
    let mut t = bring_up(&mem, VIRTIO_F_VERSION_1);
    let mut drv = Driver::new(8);
    drv.set_avail_idx(&mem, 200);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert_eq!(t.interrupt_status(), INT_CONFIG_CHANGE);
    // A notify storm on a broken device does nothing.
    for _ in 0..1000 {
        wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    }
    assert_eq!(t.device().notified.len(), 1);
    // A reset brings it back.
    wr(&mut t, &mem, reg::STATUS, 0);
    assert_eq!(t.status(), 0);
    assert_eq!(t.interrupt_status(), 0);
}

#[test]
fn device_error_sets_needs_reset() {
    let mem = VecMemory::new();
    let mut t = bring_up(&mem, VIRTIO_F_VERSION_1);
    t.device_mut().fail_notify = true;
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_ne!(rd(&mut t, reg::STATUS) & STATUS_DEVICE_NEEDS_RESET, 0);
    assert!(t.irq_level());
}

#[test]
fn status_zero_resets_everything() {
    let mem = VecMemory::new();
    let mut t = bring_up(&mem, OFFERED);
    t.config_changed();
    wr(&mut t, &mem, reg::QUEUE_SEL, 1);
    wr(&mut t, &mem, reg::DEVICE_FEATURES_SEL, 1);
    let resets = t.device().resets;
    wr(&mut t, &mem, reg::STATUS, 0);
    assert_eq!(t.device().resets, resets + 1);
    assert_eq!(rd(&mut t, reg::STATUS), 0);
    assert_eq!(t.driver_features(), 0);
    assert_eq!(rd(&mut t, reg::INTERRUPT_STATUS), 0);
    assert_eq!(rd(&mut t, reg::QUEUE_NUM_MAX), 16, "QueueSel back to 0");
    assert_eq!(
        rd(&mut t, reg::DEVICE_FEATURES),
        OFFERED as u32,
        "selector back to 0"
    );
    assert!(
        t.queues()
            .iter()
            .all(|q| !q.ready() && q.addresses() == (0, 0, 0))
    );
}

#[test]
fn reset_mid_request_drops_the_late_completion() {
    let mem = VecMemory::new();
    let mut t = bring_up(&mem, VIRTIO_F_VERSION_1);
    let mut drv = Driver::new(8);
    drv.desc(&mem, 0, DATA, 8, DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    t.device_mut().hold_next = true;
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    let token = t.device().held.expect("request in flight");
    // The driver resets and sets the queue up again on the same rings.
    wr(&mut t, &mem, reg::STATUS, 0);
    set_features(&mut t, &mem, VIRTIO_F_VERSION_1);
    wr(&mut t, &mem, reg::STATUS, STATUS_FEATURES_OK);
    setup_queue0(&mut t, &mem);
    wr(
        &mut t,
        &mem,
        reg::STATUS,
        STATUS_FEATURES_OK | STATUS_DRIVER_OK,
    );
    // The backend finishes the old request late: it is refused.
    let mut result = None;
    t.run_device(&mem, |_, queues, m| {
        result = Some(queues[0].add_used(m, token, 8));
        Ok(false)
    });
    assert_eq!(result, Some(Err(QueueError::StaleToken)));
    assert_eq!(drv.used_idx(&mem), 0);
    assert!(t.is_live());
}

#[test]
fn run_device_only_on_a_live_device() {
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    let mut ran = false;
    t.run_device(&mem, |_, _, _| {
        ran = true;
        Ok(true)
    });
    assert!(!ran);
    let mut t = bring_up(&mem, VIRTIO_F_VERSION_1);
    t.run_device(&mem, |_, _, _| Ok(true));
    assert_eq!(t.interrupt_status(), INT_USED_BUFFER);
    t.run_device(&mem, |_, _, _| Err(DeviceError::Broken));
    assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0);
}

#[test]
fn wrong_widths_and_unaligned_register_accesses_are_ignored() {
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    for width in [0, 1, 2, 3, 8, 16] {
        assert_eq!(t.read(reg::MAGIC_VALUE, width), 0, "width {width}");
        t.write(&mem, reg::QUEUE_NUM, width, 2);
        t.write(&mem, reg::STATUS, width, u64::from(STATUS_ACKNOWLEDGE));
    }
    assert_eq!(t.read(reg::MAGIC_VALUE + 1, 4), 0);
    t.write(&mem, reg::QUEUE_NUM + 2, 4, 2);
    assert_eq!(t.queues()[0].size(), 16);
    assert_eq!(t.status(), 0);
}

#[test]
fn unknown_offsets_read_zero_and_ignore_writes() {
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    for off in [
        0x018, 0x028, 0x03c, 0x040, 0x048, 0x054, 0x068, 0x0c0, 0x0f8,
    ] {
        assert_eq!(rd(&mut t, off), 0, "offset {off:#x}");
        wr(&mut t, &mem, off, u32::MAX);
    }
    // Write-only registers read as zero.
    wr(&mut t, &mem, reg::QUEUE_SEL, 1);
    assert_eq!(rd(&mut t, reg::QUEUE_SEL), 0);
    assert_eq!(rd(&mut t, reg::QUEUE_NOTIFY), 0);
    assert_eq!(t.status(), 0);
    assert_eq!(t.driver_features(), 0);
    assert_eq!(t.queues()[0].size(), 16);
    assert_eq!(t.queues()[0].addresses(), (0, 0, 0));
}

#[test]
fn config_space_and_generation() {
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    t.device_mut().config = [1, 2, 3, 4, 5, 6, 7, 8];
    assert_eq!(t.read(reg::CONFIG, 1), 1);
    assert_eq!(t.read(reg::CONFIG + 1, 2), 0x0302);
    assert_eq!(t.read(reg::CONFIG + 4, 4), 0x0807_0605);
    assert_eq!(t.read(reg::CONFIG, 8), 0x0807_0605_0403_0201);
    assert_eq!(
        t.read(reg::CONFIG + 6, 4),
        0x0807,
        "past the end reads zero"
    );
    assert_eq!(t.read(reg::CONFIG, 3), 0);
    assert_eq!(t.read(u64::MAX, 4), 0);
    t.write(&mem, reg::CONFIG + 2, 2, 0xbbaa);
    t.write(&mem, reg::CONFIG, 3, 0xffffff);
    t.write(&mem, u64::MAX, 1, 0xff);
    assert_eq!(t.device().config, [1, 2, 0xaa, 0xbb, 5, 6, 7, 8]);

    assert_eq!(rd(&mut t, reg::CONFIG_GENERATION), 0);
    t.config_changed();
    assert_eq!(rd(&mut t, reg::CONFIG_GENERATION), 1);
    assert_eq!(t.interrupt_status(), 0, "no interrupt before DRIVER_OK");
    let mut t = bring_up(&mem, VIRTIO_F_VERSION_1);
    t.config_changed();
    assert_eq!(t.interrupt_status(), INT_CONFIG_CHANGE);
}

/// virtio-drivers 0.7.5 (ArceOS, Starry) as its source does it with a
/// version-2 header: `begin_init` (no ACKNOWLEDGE-only step, features
/// `device & supported` without VERSION_1, FEATURES_OK not read back),
/// `VirtQueue::new` (QueueReady read, QueueNumMax read, `queue_set`),
/// `finish_init`, then a request and `ack_interrupt`.
#[test]
fn virtio_drivers_0_7_5_negotiation_sequence() {
    const SUPPORTED: u64 = 1 << 5 | 1 << 9 | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX;
    let mem = VecMemory::new();
    let mut t = MmioTransport::new(TestDevice::default());
    assert_eq!(rd(&mut t, reg::MAGIC_VALUE), MAGIC);
    assert_ne!(rd(&mut t, reg::DEVICE_ID), 0);
    assert_eq!(rd(&mut t, reg::VERSION), 2, "modern header");
    // begin_init
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
    assert_ne!(offered & VIRTIO_F_VERSION_1, 0, "offered for Linux");
    let negotiated = offered & SUPPORTED;
    assert_eq!(negotiated & VIRTIO_F_VERSION_1, 0);
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
    // VirtQueue::new(queue 0, size 8 here; the driver's blk uses 16)
    wr(&mut t, &mem, reg::QUEUE_SEL, 0);
    assert_eq!(rd(&mut t, reg::QUEUE_READY), 0, "queue not in use");
    wr(&mut t, &mem, reg::QUEUE_SEL, 0);
    assert!(rd(&mut t, reg::QUEUE_NUM_MAX) >= 8);
    setup_queue0(&mut t, &mem);
    // finish_init
    wr(&mut t, &mem, reg::STATUS, s | STATUS_DRIVER_OK);
    assert_eq!(rd(&mut t, reg::STATUS), s | STATUS_DRIVER_OK);
    assert!(t.is_live());
    assert_eq!(t.device().activated, Some(negotiated));
    // One request, with EVENT_IDX negotiated: used_event 0 asks for an IRQ.
    let mut drv = Driver::new(8);
    drv.desc(&mem, 0, DATA, 8, DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, 0);
    assert_eq!(drv.used_idx(&mem), 1);
    assert_eq!(drv.avail_event(&mem), 1);
    // ack_interrupt
    let pending = rd(&mut t, reg::INTERRUPT_STATUS);
    assert_eq!(pending, INT_USED_BUFFER);
    wr(&mut t, &mem, reg::INTERRUPT_ACK, pending);
    assert!(!t.irq_level());
}
