//! What the virtio fuzzer hands the devices: the fuzz VM's layout, the
//! scratch RAM its rings and buffers live in, and random addresses,
//! lengths, ring places and queue sizes, right and wrong. No value made
//! here names RAM outside [`SCRATCH`] that a device could write.

use core::mem::{align_of, size_of};

use super::fuzz::Rng;
use super::virtq::{Desc, Device};

/// The devices of the fuzz VM's config, each a 0x200-byte window.
pub(super) const BLK_BASE: usize = 0x0a00_0000;
pub(super) const CONSOLE_BASE: usize = 0x0a00_0200;
pub(super) const WINDOW: u64 = 0x200;
/// The disk's sectors (the config's `cfg_list`).
pub(super) const CAPACITY: u64 = 2048;

/// The fuzz VM's RAM.
pub(super) const RAM_START: u64 = 0x4000_0000;
pub(super) const RAM_END: u64 = 0x4040_0000;
/// The RAM the devices are given: below the parameter block (0x4010_0000)
/// and the probe's image (0x4020_0000).
pub(super) const SCRATCH: u64 = 0x4000_0000;
pub(super) const SCRATCH_END: u64 = 0x4010_0000;
/// Each fuzzed queue's home rings in SCRATCH: the descriptor table, the
/// avail ring at +[`AVAIL_AT`], the used ring at +[`USED_AT`], room for
/// [`HOME_ENTRIES`] entries.
pub(super) const HOME_BYTES: u64 = 0x2000;
pub(super) const AVAIL_AT: u64 = 0x800;
pub(super) const USED_AT: u64 = 0x1000;
pub(super) const HOME_ENTRIES: u64 = 128;
/// Buffers: the rest of SCRATCH; the first [`WELL_FORMED_BYTES`] hold the
/// well-formed requests.
pub(super) const DATA: u64 = SCRATCH + 4 * HOME_BYTES;
pub(super) const WELL_FORMED_BYTES: u64 = 0x4000;
/// Random rings in SCRATCH start below this, so that a used ring of 128
/// entries ends inside it.
pub(super) const RING_LIMIT: u64 = SCRATCH_END - 0x1000;

pub(super) const DESC_F_INDIRECT: u16 = 4;
pub(super) const F_INDIRECT_DESC: u64 = 1 << 28;
pub(super) const F_EVENT_IDX: u64 = 1 << 29;
pub(super) const T_IN: u32 = 0;
pub(super) const T_OUT: u32 = 1;

/// The fuzzed queues: (device 0 block / 1 console, queue index).
pub(super) const QUEUES: [(usize, u16); 3] = [(0, 0), (1, 0), (1, 1)];
pub(super) const NAMES: [&str; 2] = ["blk", "console"];

pub(super) fn device(d: usize) -> Device {
    Device::new(if d == 0 { BLK_BASE } else { CONSOLE_BASE })
}

pub(super) fn home(q: usize) -> u64 {
    SCRATCH + q as u64 * HOME_BYTES
}

/// A pointer to a `T` at `addr`, if it lies aligned in SCRATCH.
pub(super) fn scratch<T>(addr: u64) -> Option<*mut T> {
    let end = addr.checked_add(size_of::<T>() as u64)?;
    let fits = addr >= SCRATCH && end <= SCRATCH_END && addr.is_multiple_of(align_of::<T>() as u64);
    fits.then_some(addr as *mut T)
}

pub(super) fn put<T>(addr: u64, value: T) {
    if let Some(p) = scratch::<T>(addr) {
        // SAFETY: SCRATCH is this VM's RAM and holds no Rust object (the
        // probe's image starts at 0x4020_0000); `p` is aligned inside it.
        unsafe { p.write_volatile(value) }
    }
}

pub(super) fn get_u16(addr: u64) -> u16 {
    // SAFETY: as in `put`; the devices may write it at any notification,
    // hence the volatile read.
    scratch::<u16>(addr).map_or(0, |p| unsafe { p.read_volatile() })
}

/// Writes a descriptor byte by byte (`addr` may be unaligned).
pub(super) fn put_desc(addr: u64, d: Desc) {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&d.addr.to_le_bytes());
    bytes[8..12].copy_from_slice(&d.len.to_le_bytes());
    bytes[12..14].copy_from_slice(&d.flags.to_le_bytes());
    bytes[14..].copy_from_slice(&d.next.to_le_bytes());
    for (i, b) in bytes.into_iter().enumerate() {
        put(addr + i as u64, b);
    }
}

/// A length over the VM's RAM (4 MiB) that never reads as a RAM address.
pub(super) fn huge_len(rng: &mut Rng) -> u32 {
    match rng.below(3) {
        0 => u32::MAX,
        1 => 0x8000_0000 + rng.below(0x8000_0000) as u32,
        _ => 0x40_0001 + rng.below(0x100_0000) as u32,
    }
}

/// A length for a buffer the devices may not reach anyway.
pub(super) fn any_len(rng: &mut Rng) -> u32 {
    match rng.below(4) {
        0 => 0,
        1 => 1 + rng.below(0x1000) as u32,
        2 => 512,
        _ => huge_len(rng),
    }
}

/// An address outside RAM: a hole, past its end, above 4 GiB, anywhere.
pub(super) fn outside_ram(rng: &mut Rng) -> u64 {
    let addr = match rng.below(6) {
        0 => 0,
        1 => 0x3f00_0000 + rng.below(0x1000),
        2 => 0x7000_0000,
        3 => RAM_END + rng.below(0x10_0000),
        4 => 0x1_0000_0000 + rng.below(0x1_0000_0000),
        _ => rng.next(),
    };
    if (RAM_START..RAM_END).contains(&addr) {
        RAM_END
    } else {
        addr
    }
}

/// An address in one of the VM's MMIO windows: the distributor, the GIC
/// CPU interface, the UART, the virtio windows themselves.
pub(super) fn in_mmio(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => 0x0800_0000 + rng.below(0x1_0000),
        1 => 0x0801_0000 + rng.below(0x2000),
        2 => 0x0900_0000 + rng.below(0x1000),
        _ => BLK_BASE as u64 + rng.below(2 * WINDOW),
    }
}

/// A buffer: mostly in SCRATCH (any alignment, `cap` bytes at most, never
/// past its end), else outside RAM, in MMIO, at the top of the address
/// space, across either end of RAM, or huge.
pub(super) fn buffer(rng: &mut Rng, cap: u64) -> (u64, u32) {
    match rng.below(10) {
        0..=4 => {
            let addr = DATA + rng.below(SCRATCH_END - DATA);
            let len = match rng.below(6) {
                0 => 0,
                1 => 1,
                2 => 16,
                3 => 512,
                4 => 1 + rng.below(cap),
                _ => 512 * (1 + rng.below(16)),
            };
            (addr, len.min(SCRATCH_END - addr) as u32)
        }
        5 => (outside_ram(rng), any_len(rng)),
        6 => (in_mmio(rng), any_len(rng)),
        7 => (u64::MAX - rng.below(0x1000), any_len(rng)),
        8 => {
            let back = 1 + rng.below(0x100);
            let len = (back + 1 + rng.below(0x1000)) as u32;
            let at = if rng.below(2) == 0 {
                RAM_END
            } else {
                RAM_START
            };
            (at - back, len)
        }
        _ => (DATA + rng.below(SCRATCH_END - DATA), huge_len(rng)),
    }
}

/// A ring address: in SCRATCH (possibly misaligned) or anywhere but RAM.
pub(super) fn ring_addr(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0..=2 => (SCRATCH + rng.below(RING_LIMIT - SCRATCH)) & !(rng.below(2) * 0xf),
        3 => outside_ram(rng),
        4 => in_mmio(rng),
        _ => u64::MAX - rng.below(0x1000),
    }
}

/// A queue size as a driver might write it, right or wrong.
pub(super) fn queue_size(rng: &mut Rng) -> u32 {
    match rng.below(8) {
        0 => rng.next() as u32,
        1 => 0,
        2 => 3 + rng.below(100) as u32,
        3 => 256,
        _ => 1 << rng.below(8),
    }
}

/// A random descriptor of a table of `entries`.
pub(super) fn random_desc(rng: &mut Rng, entries: u64, cap: u64) -> Desc {
    let (addr, len) = buffer(rng, cap);
    let flags = match rng.below(8) {
        0 => rng.next() as u16,
        1 => DESC_F_INDIRECT | rng.below(4) as u16,
        _ => rng.below(4) as u16,
    };
    let next = if rng.below(4) == 0 {
        rng.next() as u16
    } else {
        rng.below(entries) as u16
    };
    // An indirect table in SCRATCH is read on descriptor boundaries only:
    // never half of one field and half of the next, which could add up
    // to an address in the probe.
    let in_scratch = (SCRATCH..SCRATCH_END).contains(&addr);
    let addr = if flags & DESC_F_INDIRECT != 0 && in_scratch {
        addr & !0xf
    } else {
        addr
    };
    Desc {
        addr,
        len,
        flags,
        next,
    }
}

/// A queue index to notify: `index` mostly, else another or none.
pub(super) fn notify_value(rng: &mut Rng, index: u16) -> u32 {
    match rng.below(8) {
        0 => rng.next() as u32,
        1 => 2 + rng.below(4) as u32,
        2 => 0xffff,
        _ => index.into(),
    }
}
