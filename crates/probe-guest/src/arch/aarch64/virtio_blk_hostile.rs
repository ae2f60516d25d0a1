//! The `virtio-blk` case's hostile requests after its working ones: a
//! chain longer than the queue, zero and huge lengths, buffers in MMIO
//! (the distributor, the device's own window), rings in the device's own
//! window, an indirect descriptor though INDIRECT_DESC is not offered, a
//! notification storm and a reset with a request queued. Each malformed
//! chain is completed with used length 0 and no status written; the
//! device serves on. Lines `hostile virtio-blk: ...`.

use core::mem::offset_of;

use super::hostile::report;
use super::virtio_blk::{
    BASE, BUFFERS, Buffers, CASE, NAME, S_OK, S_UNWRITTEN, SECTOR, T_IN, T_OUT,
    buffer_addr, fill_read, negotiate, read_mismatches, read_pattern, stage,
};
use super::virtio_case::{F_VERSION_1, Stop};
use super::virtq::{DESC_F_NEXT, DESC_F_WRITE, Desc, STATUS_DEVICE_NEEDS_RESET, Virtq, reg};

/// `VIRTQ_DESC_F_INDIRECT` and the feature that would allow it.
const DESC_F_INDIRECT: u16 = 4;
const F_INDIRECT_DESC: u64 = 1 << 28;
/// Notifications of the storm, and the queue indices among them.
const STORM: usize = 1000;
const STORM_QUEUES: [u32; 5] = [0, 1, 2, 0xffff, u32::MAX];
/// The sector the write dropped by a reset was aimed at (never written).
const DROPPED_SECTOR: u64 = 9;
/// A 512-byte buffer in the distributor's window.
const GICD: u64 = 0x0800_0000;

pub(super) fn run(q: &mut Virtq) -> Result<(), Stop> {
    longer_than_queue(q)?;
    let read = buffer_addr(offset_of!(Buffers, read));
    let data = |addr: u64, len: u32| Desc {
        addr,
        len,
        flags: DESC_F_NEXT | DESC_F_WRITE,
        next: 2,
    };
    let cases = [
        (
            "a zero-length data buffer is completed with used length 0, no status written",
            data(read, 0),
        ),
        (
            "a data buffer of 0xfffffe00 bytes is completed with used length 0, no status written",
            data(read, 0xffff_fe00),
        ),
        (
            "a data buffer in the distributor is completed with used length 0, no status written",
            data(GICD, SECTOR as u32),
        ),
        (
            "a data buffer in the device's own window is completed with used length 0, no status written",
            data(BASE as u64, SECTOR as u32),
        ),
    ];
    for (what, desc) in cases {
        stage(T_IN, 0);
        refused(q, what, &[header_desc(), desc, status_desc()])?;
    }
    indirect_not_offered(q)?;
    rings_in_own_window(q)?;
    notify_storm(q)?;
    reset_with_request_queued(q)?;
    let what = "the device still serves: sectors 1..=8 read back the pattern";
    let (ok, seen) = read_pattern(q, what)?;
    report(NAME, what, ok, seen);
    Ok(())
}

fn status_byte() -> u8 {
    // SAFETY: the device completed the request; raw-pointer read.
    unsafe { (&raw const (*BUFFERS.get()).status).read_volatile() }
}

fn header_desc() -> Desc {
    Desc {
        addr: buffer_addr(offset_of!(Buffers, header)),
        len: 16,
        flags: DESC_F_NEXT,
        next: 1,
    }
}

fn status_desc() -> Desc {
    Desc {
        addr: buffer_addr(offset_of!(Buffers, status)),
        len: 1,
        flags: DESC_F_WRITE,
        next: 0,
    }
}

/// `descs` (head 0) must be completed with used length 0 and no status
/// byte written; `what` says so.
fn refused(q: &mut Virtq, what: &str, descs: &[Desc]) -> Result<(), Stop> {
    let len = CASE.completed(what, q.submit_raw(descs))?;
    let status = status_byte();
    report(
        NAME,
        what,
        len == 0 && status == S_UNWRITTEN,
        u64::from(len) << 8 | u64::from(status),
    );
    Ok(())
}

/// All 8 descriptors readable, each NEXT to the following one and the
/// last back to the first: more buffers than the queue has entries.
fn longer_than_queue(q: &mut Virtq) -> Result<(), Stop> {
    stage(T_IN, 0);
    let header = buffer_addr(offset_of!(Buffers, header));
    let descs: [Desc; 8] = core::array::from_fn(|i| Desc {
        addr: header,
        len: 16,
        flags: DESC_F_NEXT,
        next: ((i + 1) % 8) as u16,
    });
    refused(
        q,
        "a chain through all 8 descriptors and on (longer than the queue) is completed with used length 0, no status written",
        &descs,
    )
}

/// An indirect table holding a well-formed read, though the feature is
/// not offered (so not negotiated).
fn indirect_not_offered(q: &mut Virtq) -> Result<(), Stop> {
    let offered = q.device().device_features();
    CASE.check(
        "INDIRECT_DESC is not offered",
        offered & F_INDIRECT_DESC == 0,
        offered,
    )?;
    stage(T_IN, 0);
    let table = [
        header_desc(),
        Desc {
            addr: buffer_addr(offset_of!(Buffers, read)),
            len: SECTOR as u32,
            flags: DESC_F_NEXT | DESC_F_WRITE,
            next: 2,
        },
        status_desc(),
    ];
    let buf = BUFFERS.get();
    // SAFETY: no request is in flight; raw-pointer write (see `Dma`).
    unsafe { (&raw mut (*buf).table).write_volatile(table) };
    let indirect = Desc {
        addr: buffer_addr(offset_of!(Buffers, table)),
        len: 48,
        flags: DESC_F_INDIRECT,
        next: 0,
    };
    refused(
        q,
        "an indirect descriptor (not negotiated) is completed with used length 0, no status written",
        &[indirect],
    )
}

/// A queue whose rings are all in the device's own window: QueueReady 1
/// is refused with DEVICE_NEEDS_RESET; a new negotiation recovers.
fn rings_in_own_window(q: &mut Virtq) -> Result<(), Stop> {
    let dev = q.device();
    let status = q.reset();
    CASE.offered_features(dev, status, false)?;
    CASE.accept_features(dev, F_VERSION_1, "FEATURES_OK reads back set", false)?;
    dev.write(reg::QUEUE_SEL, 0);
    dev.write(reg::QUEUE_NUM, 8);
    for low in [
        reg::QUEUE_DESC_LOW,
        reg::QUEUE_DRIVER_LOW,
        reg::QUEUE_DEVICE_LOW,
    ] {
        dev.write(low, BASE as u32 + 0x100);
        dev.write(low + 4, 0);
    }
    dev.write(reg::QUEUE_READY, 1);
    let ready = dev.read(reg::QUEUE_READY);
    let status = dev.read(reg::STATUS);
    report(
        NAME,
        "rings in the device's own window: DEVICE_NEEDS_RESET, the queue not ready",
        ready == 0 && status & STATUS_DEVICE_NEEDS_RESET != 0,
        u64::from(ready) << 8 | u64::from(status),
    );
    negotiate(q, false)
}

/// One read offered, then [`STORM`] notifications of queue 0 and of
/// queues that do not exist: served exactly once.
fn notify_storm(q: &mut Virtq) -> Result<(), Stop> {
    let what = "a read notified 1000 times (queues 0, 1, 2, 0xffff, 0xffffffff) is served once";
    stage(T_IN, 1);
    fill_read(SECTOR, 0);
    let read = buffer_addr(offset_of!(Buffers, read));
    let before = q.used_idx();
    let descs = [
        header_desc(),
        Desc {
            addr: read,
            len: SECTOR as u32,
            flags: DESC_F_NEXT | DESC_F_WRITE,
            next: 2,
        },
        status_desc(),
    ];
    q.post(&descs, &[0]);
    let dev = q.device();
    for i in 0..STORM {
        dev.write(reg::QUEUE_NOTIFY, STORM_QUEUES[i % STORM_QUEUES.len()]);
    }
    CASE.completed(what, q.wait_used())?;
    let used = q.used_idx().wrapping_sub(before);
    let wrong = read_mismatches(SECTOR, |i| super::virtio_blk::pattern(1, i));
    let status = dev.read(reg::STATUS);
    let ok =
        used == 1 && status_byte() == S_OK && wrong == 0 && status & STATUS_DEVICE_NEEDS_RESET == 0;
    report(NAME, what, ok, u64::from(used) << 8 | wrong);
    Ok(())
}

/// A write offered without a notification, then a reset: the device uses
/// nothing and the write never reaches the disk.
fn reset_with_request_queued(q: &mut Virtq) -> Result<(), Stop> {
    stage(T_OUT, DROPPED_SECTOR);
    let write = buffer_addr(offset_of!(Buffers, write));
    let before = q.used_idx();
    let descs = [
        header_desc(),
        Desc {
            addr: write,
            len: SECTOR as u32,
            flags: DESC_F_NEXT,
            next: 2,
        },
        status_desc(),
    ];
    q.post(&descs, &[0]);
    let dev = q.device();
    let status = dev.set_status(0);
    dev.write(reg::QUEUE_NOTIFY, 0);
    let used = q.used_idx();
    report(
        NAME,
        "a reset with a write queued: nothing used, no status written",
        status == 0 && used == before && status_byte() == S_UNWRITTEN,
        u64::from(used.wrapping_sub(before)) << 8 | u64::from(status_byte()),
    );
    negotiate(q, false)?;
    let what = "the dropped write never reached the disk: sector 9 reads as zero";
    fill_read(SECTOR, 0xa5);
    let read = buffer_addr(offset_of!(Buffers, read));
    let reply = super::virtio_blk::request(
        q,
        what,
        T_IN,
        DROPPED_SECTOR,
        super::virtio_blk::Data::FromDevice(read, SECTOR as u32),
    )?;
    let nonzero = read_mismatches(SECTOR, |_| 0);
    report(NAME, what, reply.status == S_OK && nonzero == 0, nonzero);
    Ok(())
}
