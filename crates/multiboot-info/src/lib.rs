//! The Multiboot (version 1) information structure a kernel entered in
//! 32-bit protected mode with EAX = 0x2BADB002 finds at EBX: lower and
//! upper memory sizes, a memory map and, optionally, a command line.
//!
//! [`build`] lays it out as bytes for a given guest-physical address, so
//! the hypervisor loads it into guest RAM like any other image.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

#[cfg(test)]
mod tests;

/// EAX at a Multiboot kernel's entry.
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;

/// `flags` bits: `mem_lower`/`mem_upper` valid, `cmdline` valid, `mmap_*` valid.
const FLAG_MEM: u32 = 1 << 0;
const FLAG_CMDLINE: u32 = 1 << 2;
const FLAG_MMAP: u32 = 1 << 6;

/// Field offsets in the information structure.
const FLAGS: usize = 0;
const MEM_LOWER: usize = 4;
const MEM_UPPER: usize = 8;
const CMDLINE: usize = 16;
const MMAP_LENGTH: usize = 44;
const MMAP_ADDR: usize = 48;
/// Where the memory map starts (past every field of the structure).
const MMAP_OFFSET: usize = 0x80;
/// One memory-map entry: its `size` field (which does not count itself),
/// a 64-bit base, a 64-bit length and a type.
const ENTRY_BYTES: usize = 24;
/// Memory-map type of usable RAM.
const AVAILABLE: u32 = 1;

/// Where conventional memory ends and upper memory begins.
const LOWER_END: u64 = 0xA_0000;
const UPPER_START: u64 = 0x10_0000;

/// Why the information cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoError {
    /// The structure would not lie below 4 GiB (its pointers are 32 bits).
    Above4G {
        /// Where it was to go.
        at: u64,
    },
}

impl core::fmt::Display for InfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Above4G { at } => {
                write!(f, "the Multiboot information at {at:#x} would not lie below 4 GiB, where a 32-bit kernel can read it")
            }
        }
    }
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// KiB of RAM from `start` upward without a gap, below `limit`.
fn contiguous_kib(ram: &[(u64, u64)], start: u64, limit: u64) -> u32 {
    let mut end = start;
    while end < limit {
        let Some(&(base, size)) = ram.iter().find(|&&(base, size)| base <= end && end < base.saturating_add(size)) else {
            break;
        };
        end = base.saturating_add(size).min(limit);
    }
    u32::try_from((end - start) / 1024).unwrap_or(u32::MAX)
}

/// The information structure for a kernel whose RAM is `ram` (base, size
/// pairs), placed at guest-physical `at`, with `cmdline` (NUL added) if
/// given.
pub fn build(at: u64, ram: &[(u64, u64)], cmdline: Option<&[u8]>) -> Result<Vec<u8>, InfoError> {
    let mmap_len = ram.len() * ENTRY_BYTES;
    let cmdline_at = MMAP_OFFSET + mmap_len;
    let total = cmdline_at + cmdline.map_or(0, |c| c.len() + 1);
    let addr = |offset: usize| {
        at.checked_add(offset as u64)
            .and_then(|a| u32::try_from(a).ok())
            .ok_or(InfoError::Above4G { at })
    };
    addr(total)?;
    let mut bytes = alloc::vec![0u8; total];
    let mut flags = FLAG_MEM | FLAG_MMAP;
    put_u32(&mut bytes, MEM_LOWER, contiguous_kib(ram, 0, LOWER_END));
    put_u32(&mut bytes, MEM_UPPER, contiguous_kib(ram, UPPER_START, u64::from(u32::MAX) + 1));
    put_u32(&mut bytes, MMAP_LENGTH, mmap_len as u32);
    put_u32(&mut bytes, MMAP_ADDR, addr(MMAP_OFFSET)?);
    for (i, &(base, size)) in ram.iter().enumerate() {
        let entry = MMAP_OFFSET + i * ENTRY_BYTES;
        put_u32(&mut bytes, entry, (ENTRY_BYTES - 4) as u32);
        put_u64(&mut bytes, entry + 4, base);
        put_u64(&mut bytes, entry + 12, size);
        put_u32(&mut bytes, entry + 20, AVAILABLE);
    }
    if let Some(text) = cmdline {
        bytes[cmdline_at..cmdline_at + text.len()].copy_from_slice(text);
        put_u32(&mut bytes, CMDLINE, addr(cmdline_at)?);
        flags |= FLAG_CMDLINE;
    }
    put_u32(&mut bytes, FLAGS, flags);
    Ok(bytes)
}
