//! Guest RAM layout, kept apart from the memory itself so that it can be
//! tested on the host.
//!
//! The hypervisor backs a guest's RAM on first touch: a region's host
//! memory is allocated when the VM is created, but each [`CHUNK`] of it is
//! zeroed and mapped into the guest only when the guest (or an image
//! load) first reaches it. [`RamMap`] answers "is this guest-physical
//! address RAM?" on the exit path; [`Chunks`] does the chunk arithmetic
//! and remembers which chunks are backed.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;

#[cfg(test)]
mod tests;

/// The unit of backing: 2 MiB, one stage-2 block where the region's guest
/// and host addresses are both aligned to it.
pub const CHUNK: u64 = 0x20_0000;

/// The guest-physical ranges of a VM's RAM, and the host address each
/// starts at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RamMap {
    /// `(start, end, host address of start)`.
    ranges: Vec<(u64, u64, usize)>,
}

impl RamMap {
    /// A map of `(start, size, host address)` regions.
    pub fn new(regions: impl IntoIterator<Item = (u64, u64, usize)>) -> Self {
        Self {
            ranges: regions
                .into_iter()
                .map(|(start, size, host)| (start, start.saturating_add(size), host))
                .collect(),
        }
    }

    /// Whether `gpa` is in the VM's RAM.
    #[inline]
    pub fn contains(&self, gpa: u64) -> bool {
        self.ranges
            .iter()
            .any(|&(start, end, _)| start <= gpa && gpa < end)
    }

    /// The host address of `[gpa, gpa + len)` if it lies in one region.
    pub fn host_address(&self, gpa: u64, len: u64) -> Option<usize> {
        let end = gpa.checked_add(len)?;
        let &(start, _, host) = self
            .ranges
            .iter()
            .find(|&&(start, region_end, _)| start <= gpa && end <= region_end)?;
        host.checked_add(usize::try_from(gpa - start).ok()?)
    }
}

/// A part of a region that is backed as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Its index in the region.
    pub index: usize,
    /// Guest-physical start (the region's start for the first chunk).
    pub gpa: u64,
    /// Length in bytes (shorter than [`CHUNK`] at an unaligned edge).
    pub len: u64,
    /// Offset of `gpa` from the region's start.
    pub offset: u64,
}

/// One RAM region cut into [`CHUNK`]-aligned chunks (aligned in guest
/// physical space), each backed or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunks {
    gpa: u64,
    size: u64,
    backed: Vec<u64>,
}

impl Chunks {
    /// A region of `size` bytes at `gpa`, nothing backed.
    pub fn new(gpa: u64, size: u64) -> Self {
        let mut chunks = Self {
            gpa,
            size,
            backed: Vec::new(),
        };
        let count = chunks.count();
        chunks.backed.resize(count.div_ceil(64), 0);
        chunks
    }

    /// Guest-physical start of the region.
    pub fn gpa(&self) -> u64 {
        self.gpa
    }

    /// Size of the region in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether `gpa` lies in the region.
    pub fn contains(&self, gpa: u64) -> bool {
        gpa.checked_sub(self.gpa)
            .is_some_and(|offset| offset < self.size)
    }

    /// How many chunks the region has.
    pub fn count(&self) -> usize {
        if self.size == 0 {
            return 0;
        }
        let first = self.gpa / CHUNK;
        let last = (self.gpa + (self.size - 1)) / CHUNK;
        (last - first + 1) as usize
    }

    /// Chunk `index`, if the region has it.
    pub fn chunk(&self, index: usize) -> Option<Chunk> {
        if index >= self.count() {
            return None;
        }
        let window = (self.gpa / CHUNK + index as u64) * CHUNK;
        let start = window.max(self.gpa);
        let end = (window + CHUNK).min(self.gpa + self.size);
        Some(Chunk {
            index,
            gpa: start,
            len: end - start,
            offset: start - self.gpa,
        })
    }

    /// The chunk that holds `gpa`, if it is in the region.
    pub fn chunk_of(&self, gpa: u64) -> Option<Chunk> {
        if !self.contains(gpa) {
            return None;
        }
        self.chunk((gpa / CHUNK - self.gpa / CHUNK) as usize)
    }

    /// The chunks `[gpa, gpa + len)` touches, if the whole range lies in
    /// the region (an empty range touches none).
    pub fn chunks_in(&self, gpa: u64, len: u64) -> Option<impl Iterator<Item = Chunk> + '_> {
        let end = gpa.checked_add(len)?;
        if len > 0 && !(self.contains(gpa) && self.contains(end - 1)) {
            return None;
        }
        let range = if len == 0 {
            0..0
        } else {
            let first = (gpa / CHUNK - self.gpa / CHUNK) as usize;
            let last = ((end - 1) / CHUNK - self.gpa / CHUNK) as usize;
            first..last + 1
        };
        Some(range.filter_map(|index| self.chunk(index)))
    }

    /// Whether chunk `index` is backed.
    pub fn is_backed(&self, index: usize) -> bool {
        self.backed
            .get(index / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    /// Records that chunk `index` is backed.
    pub fn set_backed(&mut self, index: usize) {
        if let Some(word) = self.backed.get_mut(index / 64) {
            *word |= 1 << (index % 64);
        }
    }

    /// Bytes of the region that are backed.
    pub fn backed_bytes(&self) -> u64 {
        (0..self.count())
            .filter(|&i| self.is_backed(i))
            .filter_map(|i| self.chunk(i))
            .map(|c| c.len)
            .sum()
    }

    /// Forgets every backed chunk and returns them (to be unmapped).
    pub fn take_backed(&mut self) -> Vec<Chunk> {
        let backed = (0..self.count())
            .filter(|&i| self.is_backed(i))
            .filter_map(|i| self.chunk(i))
            .collect();
        self.backed.fill(0);
        backed
    }
}
