//! The `virtio-blk` case: a minimal polling driver (see `virtq`) drives
//! the hypervisor's own virtio-blk device model at [`BASE`] (a zeroed RAM
//! disk of [`CAPACITY`] sectors): identification, negotiation, a write, a
//! flush, reads, GET_ID, errors; then hostile requests (a descriptor loop,
//! a buffer outside RAM, and those of `virtio_blk_hostile`) after which
//! the device must still serve. Lines
//! `hostile virtio-blk: ...` through the hostile cases' `report`.

use core::mem::offset_of;

use super::hostile::{finish, report};
use super::virtio_case::{Case, F_VERSION_1, OUTSIDE_RAM, Stop};
use super::virtq::{DESC_F_NEXT, Desc, Device, Dma, QUEUE_SIZE, Virtq, reg};

pub(super) const NAME: &str = "virtio-blk";
pub(super) const CASE: Case = Case(NAME);
/// The device window the case's config gives the VM.
pub(super) const BASE: usize = 0x0a00_0000;
/// The disk's size in sectors.
const CAPACITY: u64 = 2048;
const BLOCK_DEVICE: u32 = 2;
pub(super) const SECTOR: usize = 512;

// Features (virtio 1.x §5.2.3, §6).
const F_SEG_MAX: u64 = 1 << 2;
const F_BLK_SIZE: u64 = 1 << 6;
const F_FLUSH: u64 = 1 << 9;

// Request types and status values (virtio 1.x §5.2.6).
pub(super) const T_IN: u32 = 0;
pub(super) const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const T_UNKNOWN: u32 = 0x55;
pub(super) const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;
/// Status preset before each request, to see whether it was written.
pub(super) const S_UNWRITTEN: u8 = 0xff;

/// The sectors written and read back: 1..=8, one page.
const FIRST_SECTOR: u64 = 1;
const DATA_BYTES: usize = 8 * SECTOR;
const ID_BYTES: usize = 20;

#[repr(C)]
pub(super) struct Header {
    pub kind: u32,
    pub reserved: u32,
    pub sector: u64,
}

/// The request buffers, beside the rings of `virtq`.
#[repr(C, align(4096))]
pub(super) struct Buffers {
    pub write: [u8; DATA_BYTES],
    pub read: [u8; DATA_BYTES],
    pub header: Header,
    pub status: u8,
    pub id: [u8; ID_BYTES],
    /// An indirect descriptor table (16-byte aligned).
    pub table: [Desc; 3],
}

pub(super) static BUFFERS: Dma<Buffers> = Dma::new(Buffers {
    write: [0; DATA_BYTES],
    read: [0; DATA_BYTES],
    header: Header {
        kind: 0,
        reserved: 0,
        sector: 0,
    },
    status: 0,
    id: [0; ID_BYTES],
    table: [Desc {
        addr: 0,
        len: 0,
        flags: 0,
        next: 0,
    }; 3],
});

/// A request's data buffer: none, the write buffer (`len` bytes the
/// device reads) or `len` bytes at an address the device writes.
#[derive(Clone, Copy)]
pub(super) enum Data {
    None,
    ToDevice(u32),
    FromDevice(u64, u32),
}

/// A completed request: its status byte and the used length.
pub(super) struct Reply {
    pub status: u8,
    pub used_len: u32,
}

/// Runs the case and ends it.
pub fn run() {
    let _ = steps();
    finish();
}

fn steps() -> Result<(), Stop> {
    let mut q = Virtq::new(Device::new(BASE));
    identify(q.device())?;
    negotiate(&mut q, true)?;
    requests(&mut q)?;
    descriptor_loop(&mut q)?;
    outside_ram(&mut q)?;
    super::virtio_blk_hostile::run(&mut q)
}

fn identify(dev: Device) -> Result<(), Stop> {
    CASE.identify(dev, BLOCK_DEVICE, "DeviceID is 2 (block)")?;
    let capacity = dev.config_u64(0);
    CASE.check("capacity is 2048 sectors", capacity == CAPACITY, capacity)
}

/// Resets the device and brings it to DRIVER_OK with queue 0 set up;
/// `verbose` reports every step, else only a wrong one.
pub(super) fn negotiate(q: &mut Virtq, verbose: bool) -> Result<(), Stop> {
    let dev = q.device();
    let status = q.reset();
    let offered = CASE.offered_features(dev, status, verbose)?;
    let accepted = F_VERSION_1 | (offered & (F_FLUSH | F_SEG_MAX | F_BLK_SIZE));
    CASE.accept_features(dev, accepted, "FEATURES_OK reads back set", verbose)?;
    let setup = q.setup();
    let step = |what: &str, ok: bool, seen: u32| CASE.step(verbose, what, ok, seen.into());
    step(
        "queue 0 is not ready before its setup",
        setup.ready_before == 0,
        setup.ready_before,
    )?;
    step(
        "QueueNumMax is at least 8",
        setup.num_max >= u32::from(QUEUE_SIZE),
        setup.num_max,
    )?;
    step(
        "queue 0 reads back ready with 8 entries",
        setup.ready_after == 1,
        setup.ready_after,
    )?;
    CASE.driver_ok(dev, verbose)
}

/// Writes a request header and presets the status byte, to see whether
/// the device wrote it.
pub(super) fn stage(kind: u32, sector: u64) {
    let buf = BUFFERS.get();
    // SAFETY: the device has completed every earlier request, so only this
    // vCPU touches the buffers; raw-pointer writes (see `Dma`).
    unsafe {
        (&raw mut (*buf).header).write_volatile(Header {
            kind,
            reserved: 0,
            sector,
        });
        (&raw mut (*buf).status).write_volatile(S_UNWRITTEN);
    }
}

/// One request: header, the data buffer if any, status byte; `Stop`
/// (reported) if it timed out or the device broke.
pub(super) fn request(
    q: &mut Virtq,
    what: &str,
    kind: u32,
    sector: u64,
    data: Data,
) -> Result<Reply, Stop> {
    let buf = BUFFERS.get();
    stage(kind, sector);
    let header = buffer_addr(offset_of!(Buffers, header));
    let status = buffer_addr(offset_of!(Buffers, status));
    let data = match data {
        Data::None => None,
        Data::ToDevice(len) => Some((buffer_addr(offset_of!(Buffers, write)), len, false)),
        Data::FromDevice(addr, len) => Some((addr, len, true)),
    };
    let completion = match data {
        None => q.submit(&[(header, 16, false), (status, 1, true)]),
        Some(d) => q.submit(&[(header, 16, false), d, (status, 1, true)]),
    };
    let used_len = CASE.completed(what, completion)?;
    // SAFETY: the device completed the request (barrier in `Virtq::wait`).
    let status = unsafe { (&raw const (*buf).status).read_volatile() };
    Ok(Reply { status, used_len })
}

/// Address of a field of [`BUFFERS`].
pub(super) fn buffer_addr(offset: usize) -> u64 {
    BUFFERS.get() as u64 + offset as u64
}

/// Byte `i` of sector `s` of the pattern.
pub(super) fn pattern(s: u64, i: usize) -> u8 {
    (s as usize * 7 + i) as u8
}

/// Fills the first `len` bytes of the read buffer with `byte`.
pub(super) fn fill_read(len: usize, byte: u8) {
    let buf = BUFFERS.get();
    for i in 0..len.min(DATA_BYTES) {
        // SAFETY: no request is in flight; raw-pointer writes (see `Dma`).
        unsafe { (&raw mut (*buf).read[i]).write_volatile(byte) };
    }
}

/// How many of the first `len` bytes of the read buffer differ from
/// `expected(i)`.
pub(super) fn read_mismatches(len: usize, expected: impl Fn(usize) -> u8) -> u64 {
    let buf = BUFFERS.get();
    (0..len.min(DATA_BYTES))
        // SAFETY: the device completed the read; raw-pointer reads.
        .filter(|&i| unsafe { (&raw const (*buf).read[i]).read_volatile() } != expected(i))
        .count() as u64
}

/// Reads sectors 1..=8 into the zeroed read buffer; whether status OK,
/// the used length and the pattern all came back.
pub(super) fn read_pattern(q: &mut Virtq, what: &str) -> Result<(bool, u64), Stop> {
    fill_read(DATA_BYTES, 0);
    let read = buffer_addr(offset_of!(Buffers, read));
    let reply = request(
        q,
        what,
        T_IN,
        FIRST_SECTOR,
        Data::FromDevice(read, DATA_BYTES as u32),
    )?;
    let wrong = read_mismatches(DATA_BYTES, |i| {
        pattern(FIRST_SECTOR + (i / SECTOR) as u64, i % SECTOR)
    });
    let ok = reply.status == S_OK && reply.used_len == DATA_BYTES as u32 + 1 && wrong == 0;
    Ok((
        ok,
        if reply.status != S_OK {
            reply.status.into()
        } else {
            wrong
        },
    ))
}

fn requests(q: &mut Virtq) -> Result<(), Stop> {
    let buf = BUFFERS.get();
    for i in 0..DATA_BYTES {
        let value = pattern(FIRST_SECTOR + (i / SECTOR) as u64, i % SECTOR);
        // SAFETY: no request is in flight; raw-pointer writes (see `Dma`).
        unsafe { (&raw mut (*buf).write[i]).write_volatile(value) };
    }
    let what = "writing sectors 1..=8 in one request is OK";
    let reply = request(
        q,
        what,
        T_OUT,
        FIRST_SECTOR,
        Data::ToDevice(DATA_BYTES as u32),
    )?;
    report(NAME, what, reply.status == S_OK, reply.status.into());
    let pending = q.last_interrupt;
    let after_ack = q.device().read(reg::INTERRUPT_STATUS);
    let ok = pending & 1 != 0 && after_ack == 0;
    report(
        NAME,
        "InterruptStatus showed the used buffer; InterruptACK cleared it",
        ok,
        u64::from(pending) | u64::from(after_ack) << 8,
    );

    let what = "FLUSH is OK";
    let reply = request(q, what, T_FLUSH, 0, Data::None)?;
    report(NAME, what, reply.status == S_OK, reply.status.into());

    let what = "reading sectors 1..=8 in one request returns the pattern";
    let (ok, seen) = read_pattern(q, what)?;
    report(NAME, what, ok, seen);

    let what = "sector 0, never written, reads as zero";
    fill_read(SECTOR, 0xa5);
    let read = buffer_addr(offset_of!(Buffers, read));
    let reply = request(q, what, T_IN, 0, Data::FromDevice(read, SECTOR as u32))?;
    let nonzero = read_mismatches(SECTOR, |_| 0);
    report(
        NAME,
        what,
        reply.status == S_OK && nonzero == 0,
        if reply.status != S_OK {
            reply.status.into()
        } else {
            nonzero
        },
    );

    let what = "GET_ID writes 20 bytes and is OK";
    let id = buffer_addr(offset_of!(Buffers, id));
    let reply = request(q, what, T_GET_ID, 0, Data::FromDevice(id, ID_BYTES as u32))?;
    report(
        NAME,
        what,
        reply.status == S_OK && reply.used_len == ID_BYTES as u32 + 1,
        u64::from(reply.used_len) << 8 | u64::from(reply.status),
    );

    let what = "reading 2 sectors at 2047 (past the end) is IOERR";
    let reply = request(
        q,
        what,
        T_IN,
        CAPACITY - 1,
        Data::FromDevice(read, 2 * SECTOR as u32),
    )?;
    report(NAME, what, reply.status == S_IOERR, reply.status.into());

    let what = "request type 0x55 is UNSUPP";
    let reply = request(q, what, T_UNKNOWN, 0, Data::None)?;
    report(NAME, what, reply.status == S_UNSUPP, reply.status.into());
    Ok(())
}

/// Descriptor 0 -> 1 -> 0, both device-readable (so that the cycle is the
/// only fault): the device completes the chain with used length 0 or sets
/// DEVICE_NEEDS_RESET, and does not hang; after a reset and a new
/// negotiation the pattern reads back.
fn descriptor_loop(q: &mut Virtq) -> Result<(), Stop> {
    let buf = BUFFERS.get();
    // SAFETY: no request is in flight; raw-pointer writes (see `Dma`).
    unsafe {
        (&raw mut (*buf).header).write_volatile(Header {
            kind: T_IN,
            reserved: 0,
            sector: 0,
        })
    };
    let header = buffer_addr(offset_of!(Buffers, header));
    let status = buffer_addr(offset_of!(Buffers, status));
    let descs = [
        Desc {
            addr: header,
            len: 16,
            flags: DESC_F_NEXT,
            next: 1,
        },
        Desc {
            addr: status,
            len: 1,
            flags: DESC_F_NEXT,
            next: 0,
        },
    ];
    CASE.descriptor_loop(q.submit_raw(&descs))?;
    negotiate(q, false)?;
    report(
        NAME,
        "reset and negotiated again",
        true,
        q.device().read(reg::STATUS).into(),
    );
    let what = "after the reset, sectors 1..=8 read back the pattern";
    let (ok, seen) = read_pattern(q, what)?;
    report(NAME, what, ok, seen);
    Ok(())
}

/// A read into memory outside the VM's RAM: used length 0 or IOERR; the
/// device goes on serving.
fn outside_ram(q: &mut Virtq) -> Result<(), Stop> {
    let what = "a buffer outside RAM is refused (used length 0 or IOERR)";
    let reply = request(
        q,
        what,
        T_IN,
        0,
        Data::FromDevice(OUTSIDE_RAM, SECTOR as u32),
    )?;
    let ok = reply.used_len == 0 || reply.status == S_IOERR;
    report(
        NAME,
        what,
        ok,
        u64::from(reply.used_len) << 8 | u64::from(reply.status),
    );
    let what = "the device still serves: reading sector 0 is OK";
    let read = buffer_addr(offset_of!(Buffers, read));
    let reply = request(q, what, T_IN, 0, Data::FromDevice(read, SECTOR as u32))?;
    report(NAME, what, reply.status == S_OK, reply.status.into());
    Ok(())
}

/// The benchmark: `iters` 4 KiB reads then `iters` 4 KiB writes, one
/// request at a time, each waited for by polling; (read ticks, write
/// ticks), or `None` when no block device answers at [`BASE`] (a bare
/// machine's empty slot) or a request fails.
pub fn bench(iters: u64) -> Option<(u64, u64)> {
    let dev = Device::new(BASE);
    if dev.read(reg::MAGIC_VALUE) != 0x7472_6976 || dev.read(reg::DEVICE_ID) != BLOCK_DEVICE {
        return None;
    }
    let mut q = Virtq::new(dev);
    negotiate(&mut q, false).ok()?;
    let read_to = buffer_addr(offset_of!(Buffers, read));
    let mut timed = |kind: u32, data: Data| -> Option<u64> {
        let start = super::cpu::now();
        for i in 0..iters {
            let sector = (i * 8) % (CAPACITY - 8);
            let reply = request(&mut q, "a benchmark request", kind, sector, data).ok()?;
            if reply.status != S_OK {
                return None;
            }
        }
        Some(super::cpu::now() - start)
    };
    let read = timed(T_IN, Data::FromDevice(read_to, DATA_BYTES as u32))?;
    let write = timed(T_OUT, Data::ToDevice(DATA_BYTES as u32))?;
    Some((read, write))
}
