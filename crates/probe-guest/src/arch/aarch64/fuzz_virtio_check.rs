//! The virtio fuzzer's closing check: each device reset and set up by
//! the book on the probe's own rings must serve a well-formed request (a
//! block write and a read back that agree, a console line).

use core::mem::offset_of;

use super::fuzz_virtio_gen::{BLK_BASE, CONSOLE_BASE, T_IN, T_OUT};
use super::virtio_case::{F_VERSION_1, STATUS_ALL};
use super::virtq::{
    Completion, Device, Dma, Rings, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_FEATURES_OK, Virtq,
};
use crate::console::println;

/// Prints `fuzz: ok: ...` or `not ok fuzz: ...` for each device; the
/// block check writes and reads `sector`.
pub(super) fn still_serves(sector: u64) {
    match blk_round_trip(sector) {
        Ok(()) => println!(
            "fuzz: ok: virtio-blk after a reset: a write and a read back of sector {sector} agree"
        ),
        Err(why) => println!("not ok fuzz: virtio-blk after a reset: {why}"),
    }
    match console_line() {
        Ok(()) => println!("fuzz: ok: virtio-console after a reset: a line was transmitted"),
        Err(why) => println!("not ok fuzz: virtio-console after a reset: {why}"),
    }
}

/// Buffers of the closing check, in the probe's own memory.
#[repr(C, align(4096))]
struct Check {
    write: [u8; 512],
    read: [u8; 512],
    header: [u32; 4],
    status: u8,
}

static CHECK: Dma<Check> = Dma::new(Check {
    write: [0; 512],
    read: [0; 512],
    header: [0; 4],
    status: 0,
});
static CONSOLE_TX: Dma<Rings> = Dma::new(Rings::EMPTY);
const LINE: &[u8] = b"fuzz: virtio-console: this line went out after the fuzzing\n";

/// Reset, negotiation and queue set-ups by the book on the probe's rings.
fn bring_up(queues: &mut [&mut Virtq]) -> Result<(), &'static str> {
    let dev = queues.first().ok_or("no queue")?.device();
    for q in queues.iter_mut() {
        q.reset();
    }
    dev.set_status(STATUS_ACKNOWLEDGE);
    dev.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    dev.set_driver_features(dev.device_features() & F_VERSION_1);
    let status = dev.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    if status & STATUS_FEATURES_OK == 0 {
        return Err("FEATURES_OK did not read back");
    }
    for q in queues.iter_mut() {
        if q.setup().ready_after != 1 {
            return Err("a queue did not read back ready");
        }
    }
    if dev.set_status(STATUS_ALL) != STATUS_ALL {
        return Err("DRIVER_OK did not read back");
    }
    Ok(())
}

fn check_addr(offset: usize) -> u64 {
    CHECK.get() as u64 + offset as u64
}

/// One block request of `kind` on `sector` with the 512-byte buffer at
/// `data`; its status byte.
fn blk_request(q: &mut Virtq, kind: u32, sector: u64, data: u64) -> Result<u8, &'static str> {
    let c = CHECK.get();
    // SAFETY: no request is in flight; raw-pointer writes (see `Dma`).
    unsafe {
        (&raw mut (*c).header).write_volatile([kind, 0, sector as u32, (sector >> 32) as u32]);
        (&raw mut (*c).status).write_volatile(0xff);
    }
    let chain = [
        (check_addr(offset_of!(Check, header)), 16, false),
        (data, 512, kind == T_IN),
        (check_addr(offset_of!(Check, status)), 1, true),
    ];
    match q.submit(&chain) {
        // SAFETY: the device completed the request.
        Completion::Used { .. } => Ok(unsafe { (&raw const (*c).status).read_volatile() }),
        Completion::NeedsReset(_) => Err("DEVICE_NEEDS_RESET instead of a completion"),
        Completion::TimedOut => Err("no completion"),
    }
}

fn blk_round_trip(sector: u64) -> Result<(), &'static str> {
    let mut q = Virtq::new(Device::new(BLK_BASE));
    bring_up(&mut [&mut q])?;
    let c = CHECK.get();
    for i in 0..512 {
        let byte = (sector as usize * 13 + i) as u8;
        // SAFETY: no request is in flight; raw-pointer writes (see `Dma`).
        unsafe {
            (&raw mut (*c).write[i]).write_volatile(byte);
            (&raw mut (*c).read[i]).write_volatile(!byte);
        }
    }
    if blk_request(&mut q, T_OUT, sector, check_addr(offset_of!(Check, write)))? != 0 {
        return Err("the write's status is not OK");
    }
    if blk_request(&mut q, T_IN, sector, check_addr(offset_of!(Check, read)))? != 0 {
        return Err("the read's status is not OK");
    }
    // SAFETY: the device completed both requests; raw-pointer reads.
    let same = (0..512).all(|i| unsafe {
        (&raw const (*c).read[i]).read_volatile() == (&raw const (*c).write[i]).read_volatile()
    });
    if same {
        Ok(())
    } else {
        Err("the data read back differs")
    }
}

fn console_line() -> Result<(), &'static str> {
    let mut tx = Virtq::on(Device::new(CONSOLE_BASE), 1, &CONSOLE_TX);
    bring_up(&mut [&mut tx])?;
    let c = CHECK.get() as *mut u8;
    for (i, &b) in LINE.iter().take(512).enumerate() {
        // SAFETY: the write buffer of CHECK (512 bytes, `i` below); no
        // request is in flight.
        unsafe { c.add(offset_of!(Check, write) + i).write_volatile(b) };
    }
    match tx.submit(&[(
        check_addr(offset_of!(Check, write)),
        LINE.len() as u32,
        false,
    )]) {
        Completion::Used { .. } => Ok(()),
        Completion::NeedsReset(_) => Err("DEVICE_NEEDS_RESET instead of a completion"),
        Completion::TimedOut => Err("no completion"),
    }
}
