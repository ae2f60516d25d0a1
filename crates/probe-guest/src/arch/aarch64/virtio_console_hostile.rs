//! The `virtio-console` case's hostile transmit chains after its working
//! ones: a chain longer than the queue, zero and huge lengths, buffers in
//! MMIO (the distributor, the device's own window), an indirect
//! descriptor though INDIRECT_DESC is not offered, a notification storm
//! and a reset with a line queued. Every malformed chain carries the line
//! [`REFUSED`], which must never reach the VM's console (the test checks);
//! each is completed with used length 0 and the device transmits on.
//! Lines `hostile virtio-console: ...`.

use core::mem::offset_of;

use super::hostile::report;
use super::virtio_case::Stop;
use super::virtio_console::{
    BASE, BUFFERS, Buffers, CASE, Console, NAME, buffer_addr, negotiate, send_line, stage,
};
use super::virtq::{DESC_F_NEXT, Desc, STATUS_DEVICE_NEEDS_RESET, reg};

/// What every refused chain would have printed.
const REFUSED: &[u8] = b"virtio-console: refused chain, must not appear\n";
const ONCE: &[u8] = b"virtio-console: sent once despite 1000 notifications\n";
const DROPPED: &[u8] = b"virtio-console: queued before a reset, must not appear\n";
const AFTER: &[u8] = b"virtio-console: after a reset with a line queued\n";
const TRANSMITQ: u32 = 1;
const DESC_F_INDIRECT: u16 = 4;
const F_INDIRECT_DESC: u64 = 1 << 28;
const STORM: usize = 1000;
const STORM_QUEUES: [u32; 5] = [TRANSMITQ, 0, 2, 0xffff, u32::MAX];
const GICD: u64 = 0x0800_0000;

pub(super) fn run(c: &mut Console) -> Result<(), Stop> {
    longer_than_queue(c)?;
    let text = stage(offset_of!(Buffers, tx), REFUSED);
    let line = Desc {
        addr: text,
        len: REFUSED.len() as u32,
        flags: DESC_F_NEXT,
        next: 1,
    };
    let tail = |addr: u64, len: u32| Desc {
        addr,
        len,
        flags: 0,
        next: 0,
    };
    let tx2 = buffer_addr(offset_of!(Buffers, tx2));
    let cases = [
        (
            "a line followed by a zero-length buffer is completed with used length 0",
            tail(tx2, 0),
        ),
        (
            "a line followed by a buffer of 0xfffffff0 bytes is completed with used length 0",
            tail(tx2, 0xffff_fff0),
        ),
        (
            "a line followed by a buffer in the distributor is completed with used length 0",
            tail(GICD, 16),
        ),
        (
            "a line followed by a buffer in the device's own window is completed with used length 0",
            tail(BASE as u64, 16),
        ),
    ];
    for (what, desc) in cases {
        refused(c, what, &[line, desc])?;
    }
    indirect_not_offered(c)?;
    notify_storm(c)?;
    reset_with_line_queued(c)
}

/// `descs` (head 0) must be completed with used length 0 and no
/// DEVICE_NEEDS_RESET; `what` says so.
fn refused(c: &mut Console, what: &str, descs: &[Desc]) -> Result<(), Stop> {
    let len = CASE.completed(what, c.tx.submit_raw(descs))?;
    let status = c.tx.device().read(reg::STATUS);
    report(
        NAME,
        what,
        len == 0 && status & STATUS_DEVICE_NEEDS_RESET == 0,
        u64::from(len) << 8 | u64::from(status),
    );
    Ok(())
}

/// All 8 descriptors the line, each NEXT to the following one and the
/// last back to the first: more buffers than the queue has entries.
fn longer_than_queue(c: &mut Console) -> Result<(), Stop> {
    let text = stage(offset_of!(Buffers, tx), REFUSED);
    let descs: [Desc; 8] = core::array::from_fn(|i| Desc {
        addr: text,
        len: REFUSED.len() as u32,
        flags: DESC_F_NEXT,
        next: ((i + 1) % 8) as u16,
    });
    refused(
        c,
        "a chain through all 8 descriptors and on (longer than the queue) is completed with used length 0",
        &descs,
    )
}

/// An indirect table holding the line, though the feature is not offered.
fn indirect_not_offered(c: &mut Console) -> Result<(), Stop> {
    let offered = c.tx.device().device_features();
    CASE.check(
        "INDIRECT_DESC is not offered",
        offered & F_INDIRECT_DESC == 0,
        offered,
    )?;
    let text = stage(offset_of!(Buffers, tx), REFUSED);
    let table = [Desc {
        addr: text,
        len: REFUSED.len() as u32,
        flags: 0,
        next: 0,
    }];
    // SAFETY: no chain is in flight; raw-pointer write (see `Dma`).
    unsafe { (&raw mut (*BUFFERS.get()).table).write_volatile(table) };
    let indirect = Desc {
        addr: buffer_addr(offset_of!(Buffers, table)),
        len: 16,
        flags: DESC_F_INDIRECT,
        next: 0,
    };
    refused(
        c,
        "an indirect descriptor (not negotiated) is completed with used length 0",
        &[indirect],
    )
}

/// One line offered, then [`STORM`] notifications of the transmit queue,
/// the receive queue and queues that do not exist: sent exactly once.
fn notify_storm(c: &mut Console) -> Result<(), Stop> {
    let what = "a line notified 1000 times (queues 1, 0, 2, 0xffff, 0xffffffff) is used once";
    let text = stage(offset_of!(Buffers, tx), ONCE);
    let before = c.tx.used_idx();
    let desc = Desc {
        addr: text,
        len: ONCE.len() as u32,
        flags: 0,
        next: 0,
    };
    c.tx.post(&[desc], &[0]);
    let dev = c.tx.device();
    for i in 0..STORM {
        dev.write(reg::QUEUE_NOTIFY, STORM_QUEUES[i % STORM_QUEUES.len()]);
    }
    CASE.completed(what, c.tx.wait_used())?;
    let used = c.tx.used_idx().wrapping_sub(before);
    let status = dev.read(reg::STATUS);
    report(
        NAME,
        what,
        used == 1 && status & STATUS_DEVICE_NEEDS_RESET == 0,
        u64::from(used) << 8 | u64::from(status),
    );
    Ok(())
}

/// A line offered without a notification, then a reset: nothing used,
/// nothing printed; after a new negotiation a line goes out.
fn reset_with_line_queued(c: &mut Console) -> Result<(), Stop> {
    let text = stage(offset_of!(Buffers, tx), DROPPED);
    let before = c.tx.used_idx();
    let desc = Desc {
        addr: text,
        len: DROPPED.len() as u32,
        flags: 0,
        next: 0,
    };
    c.tx.post(&[desc], &[0]);
    let dev = c.tx.device();
    let status = dev.set_status(0);
    dev.write(reg::QUEUE_NOTIFY, TRANSMITQ);
    let used = c.tx.used_idx();
    report(
        NAME,
        "a reset with a line queued: nothing used",
        status == 0 && used == before,
        u64::from(used.wrapping_sub(before)) << 8 | u64::from(status),
    );
    negotiate(c, false)?;
    send_line(
        c,
        "after a reset with a line queued, a line completes (saw: used length)",
        AFTER,
    )
}
