//! The `virtio-console` case: the polling driver of `virtq` drives the
//! hypervisor's own virtio console at [`BASE`] (receiveq 0, transmitq 1):
//! identification, negotiation, receive buffers posted, lines transmitted
//! in one and in two buffers (the host prints them as the VM's console
//! output); then hostile chains (a descriptor loop, a buffer outside RAM,
//! and those of `virtio_console_hostile`) after which the device must
//! still transmit; no input ever arrives.
//! Lines `hostile virtio-console: ...` through the hostile cases' `report`.

use core::mem::offset_of;

use super::hostile::{finish, report};
use super::virtio_case::{Case, F_VERSION_1, OUTSIDE_RAM, STATUS_ALL, Stop};
use super::virtq::{
    DESC_F_NEXT, DESC_F_WRITE, Desc, Device, Dma, QUEUE_SIZE, Rings, STATUS_DEVICE_NEEDS_RESET,
    Virtq, reg,
};
use crate::console::println;

pub(super) const NAME: &str = "virtio-console";
pub(super) const CASE: Case = Case(NAME);
/// The device window the case's config gives the VM.
pub(super) const BASE: usize = 0x0a00_0200;
const CONSOLE_DEVICE: u32 = 3;
const RECEIVEQ: u16 = 0;
const TRANSMITQ: u16 = 1;
/// Receive buffers posted, and the bytes of each.
const RX_BUFFERS: usize = 4;
const RX_BYTES: usize = 64;
/// Bytes of each of the two transmit buffers.
pub(super) const TX_BYTES: usize = 128;

const HELLO: &[u8] = b"virtio-console: hello from the guest\n";
const SECOND: &[u8] = b"virtio-console: second line in two buffers\n";
/// Where [`SECOND`] is split between its two buffers.
const SECOND_SPLIT: usize = 28;
const AFTER_RESET: &[u8] = b"virtio-console: after the reset\n";
const STILL_HERE: &[u8] = b"virtio-console: still here\n";

static RX_RINGS: Dma<Rings> = Dma::new(Rings::EMPTY);
static TX_RINGS: Dma<Rings> = Dma::new(Rings::EMPTY);

/// The buffers, beside the rings.
#[repr(C, align(4096))]
pub(super) struct Buffers {
    rx: [[u8; RX_BYTES]; RX_BUFFERS],
    pub tx: [u8; TX_BYTES],
    pub tx2: [u8; TX_BYTES],
    /// An indirect descriptor table.
    pub table: [Desc; 1],
}

pub(super) static BUFFERS: Dma<Buffers> = Dma::new(Buffers {
    rx: [[0; RX_BYTES]; RX_BUFFERS],
    tx: [0; TX_BYTES],
    tx2: [0; TX_BYTES],
    table: [Desc {
        addr: 0,
        len: 0,
        flags: 0,
        next: 0,
    }],
});

/// The device's two queues.
pub(super) struct Console {
    pub rx: Virtq,
    pub tx: Virtq,
}

/// Runs the case and ends it.
pub fn run() {
    let _ = steps();
    finish();
}

fn steps() -> Result<(), Stop> {
    let dev = Device::new(BASE);
    CASE.identify(dev, CONSOLE_DEVICE, "DeviceID is 3 (console)")?;
    let mut c = Console {
        rx: Virtq::on(dev, RECEIVEQ, &RX_RINGS),
        tx: Virtq::on(dev, TRANSMITQ, &TX_RINGS),
    };
    negotiate(&mut c, true)?;
    transmit(&mut c)?;
    descriptor_loop(&mut c)?;
    outside_ram(&mut c)?;
    super::virtio_console_hostile::run(&mut c)?;
    let used = c.rx.used_idx();
    report(
        NAME,
        "no input arrived: the receive queue's used idx is still 0",
        used == 0,
        used.into(),
    );
    Ok(())
}

/// Resets the device, brings it to DRIVER_OK with both queues set up and
/// posts the receive buffers; `verbose` reports every step, else only a
/// wrong one.
pub(super) fn negotiate(c: &mut Console, verbose: bool) -> Result<(), Stop> {
    let dev = c.rx.device();
    let status = c.rx.reset();
    c.tx.reset_rings();
    CASE.offered_features(dev, status, verbose)?;
    CASE.accept_features(
        dev,
        F_VERSION_1,
        "FEATURES_OK reads back set (VERSION_1 only)",
        verbose,
    )?;
    for (q, name) in [
        (&mut c.rx, "queue 0 (receiveq)"),
        (&mut c.tx, "queue 1 (transmitq)"),
    ] {
        let setup = q.setup();
        let ok = setup.ready_before == 0
            && setup.num_max >= u32::from(QUEUE_SIZE)
            && setup.ready_after == 1;
        if verbose || !ok {
            println!(
                "hostile {NAME}: {name}: QueueReady {} before, QueueNumMax {}, QueueReady {} after",
                setup.ready_before, setup.num_max, setup.ready_after
            );
        }
        CASE.step(verbose, name, ok, setup.ready_after.into())?;
    }
    CASE.driver_ok(dev, verbose)?;
    post_receive_buffers(&mut c.rx);
    let status = dev.read(reg::STATUS);
    let used = c.rx.used_idx();
    CASE.step(
        verbose,
        "4 writable 64-byte receive buffers posted; none used",
        status == STATUS_ALL && used == 0,
        u64::from(used) << 8 | u64::from(status),
    )
}

/// Offers [`RX_BUFFERS`] chains of one writable buffer each.
fn post_receive_buffers(rx: &mut Virtq) {
    let mut descs = [Desc {
        addr: 0,
        len: 0,
        flags: 0,
        next: 0,
    }; RX_BUFFERS];
    let mut heads = [0u16; RX_BUFFERS];
    for (i, d) in descs.iter_mut().enumerate() {
        *d = Desc {
            addr: buffer_addr(offset_of!(Buffers, rx) + i * RX_BYTES),
            len: RX_BYTES as u32,
            flags: DESC_F_WRITE,
            next: 0,
        };
        heads[i] = i as u16;
    }
    rx.offer(&descs, &heads);
}

/// Address of a byte of [`BUFFERS`].
pub(super) fn buffer_addr(offset: usize) -> u64 {
    BUFFERS.get() as u64 + offset as u64
}

/// Copies `text` into the transmit buffer at `offset` (`tx` or `tx2`);
/// its address.
pub(super) fn stage(offset: usize, text: &[u8]) -> u64 {
    let bytes = BUFFERS.get() as *mut u8;
    for (i, &b) in text.iter().take(TX_BYTES).enumerate() {
        // SAFETY: `offset` is that of `tx` or `tx2`, `i` below their size;
        // no transmit chain is in flight; raw-pointer writes (see `Dma`).
        unsafe { bytes.add(offset + i).write_volatile(b) };
    }
    buffer_addr(offset)
}

/// Transmits `text` in one readable buffer; reports the used length.
pub(super) fn send_line(c: &mut Console, what: &str, text: &[u8]) -> Result<(), Stop> {
    let addr = stage(offset_of!(Buffers, tx), text);
    let len = CASE.completed(what, c.tx.submit(&[(addr, text.len() as u32, false)]))?;
    report(NAME, what, true, len.into());
    Ok(())
}

fn transmit(c: &mut Console) -> Result<(), Stop> {
    send_line(
        c,
        "one line in one buffer completes (saw: used length)",
        HELLO,
    )?;
    let pending = c.tx.last_interrupt;
    let after_ack = c.tx.device().read(reg::INTERRUPT_STATUS);
    report(
        NAME,
        "InterruptStatus showed the used buffer; InterruptACK cleared it",
        pending & 1 != 0 && after_ack == 0,
        u64::from(pending) | u64::from(after_ack) << 8,
    );
    let what = "one line in a chain of two buffers completes (saw: used length)";
    let (head, tail) = SECOND.split_at(SECOND_SPLIT);
    let first = stage(offset_of!(Buffers, tx), head);
    let second = stage(offset_of!(Buffers, tx2), tail);
    let chain = [
        (first, head.len() as u32, false),
        (second, tail.len() as u32, false),
    ];
    let len = CASE.completed(what, c.tx.submit(&chain))?;
    report(NAME, what, true, len.into());
    Ok(())
}

/// Descriptor 0 -> 1 -> 0 on the transmit queue, both readable: completed
/// with used length 0 or DEVICE_NEEDS_RESET, never a hang; after a reset
/// and a new negotiation a line still goes out.
fn descriptor_loop(c: &mut Console) -> Result<(), Stop> {
    let addr = stage(offset_of!(Buffers, tx), b"loop\n");
    let descs = [
        Desc {
            addr,
            len: 5,
            flags: DESC_F_NEXT,
            next: 1,
        },
        Desc {
            addr,
            len: 5,
            flags: DESC_F_NEXT,
            next: 0,
        },
    ];
    CASE.descriptor_loop(c.tx.submit_raw(&descs))?;
    negotiate(c, false)?;
    report(
        NAME,
        "reset and negotiated again",
        true,
        c.tx.device().read(reg::STATUS).into(),
    );
    send_line(
        c,
        "after the reset a line completes (saw: used length)",
        AFTER_RESET,
    )
}

/// A transmit buffer outside RAM: completed with used length 0; the
/// device goes on transmitting.
fn outside_ram(c: &mut Console) -> Result<(), Stop> {
    let what = "a buffer outside RAM is completed with used length 0";
    let len = CASE.completed(what, c.tx.submit(&[(OUTSIDE_RAM, 16, false)]))?;
    report(NAME, what, len == 0, len.into());
    let status = c.tx.device().read(reg::STATUS);
    CASE.check(
        "no DEVICE_NEEDS_RESET after it",
        status & STATUS_DEVICE_NEEDS_RESET == 0,
        status.into(),
    )?;
    send_line(
        c,
        "the device still works: a line completes (saw: used length)",
        STILL_HERE,
    )
}
