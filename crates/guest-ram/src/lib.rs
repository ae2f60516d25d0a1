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

use alloc::{sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicU64, Ordering};

#[cfg(test)]
mod tests;

/// The unit of backing: 2 MiB, one stage-2 block where the region's guest
/// and host addresses are both aligned to it.
pub const CHUNK: u64 = 0x20_0000;

/// Which chunks of a region are backed, one bit each: shared by the
/// region's [`Chunks`] (which changes it) and the VM's [`RamMap`] (which
/// reads it without a lock).
type BackedBits = Arc<[AtomicU64]>;

fn bit_is_set(bits: &[AtomicU64], index: usize) -> bool {
    bits.get(index / 64)
        .is_some_and(|word| word.load(Ordering::Acquire) & (1 << (index % 64)) != 0)
}

/// One region of a [`RamMap`].
#[derive(Debug, Clone)]
struct MapRange {
    start: u64,
    end: u64,
    /// Host address of `start`.
    host: usize,
    backed: BackedBits,
    rights: Rights,
    resets: Arc<AtomicU64>,
}

/// What a guest may do with a region besides reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    /// Stores.
    pub write: bool,
    /// Instruction fetches.
    pub execute: bool,
}

impl Rights {
    /// Reads, writes and instruction fetches.
    pub const ALL: Self = Self { write: true, execute: true };
}

/// A backed chunk as [`RamMap::backed_chunk`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackedChunk {
    /// Guest-physical start.
    pub gpa: u64,
    /// Length in bytes.
    pub len: u64,
    /// Host address of `gpa`.
    pub host: usize,
    /// Its region's rights.
    pub rights: Rights,
}

/// The guest-physical ranges of a VM's RAM, the host address each starts
/// at, and which of their chunks are backed.
#[derive(Debug, Clone, Default)]
pub struct RamMap {
    ranges: Vec<MapRange>,
}

impl RamMap {
    /// A map of regions, each given by its chunks and the host address of
    /// its start, all with every right.
    pub fn new<'a>(regions: impl IntoIterator<Item = (&'a Chunks, usize)>) -> Self {
        Self::with_rights(regions.into_iter().map(|(chunks, host)| (chunks, host, Rights::ALL)))
    }

    /// A map of regions, each given by its chunks, the host address of its
    /// start and what the guest may do there.
    pub fn with_rights<'a>(regions: impl IntoIterator<Item = (&'a Chunks, usize, Rights)>) -> Self {
        Self {
            ranges: regions
                .into_iter()
                .map(|(chunks, host, rights)| MapRange {
                    start: chunks.gpa,
                    end: chunks.gpa.saturating_add(chunks.size),
                    host,
                    backed: chunks.backed.clone(),
                    rights,
                    resets: chunks.resets.clone(),
                })
                .collect(),
        }
    }

    /// Whether `gpa` is in the VM's RAM.
    #[inline]
    pub fn contains(&self, gpa: u64) -> bool {
        self.ranges.iter().any(|r| r.start <= gpa && gpa < r.end)
    }

    /// The host address of `[gpa, gpa + len)` if it lies in one region and
    /// in backed chunks only (an unbacked chunk's host memory still holds
    /// whatever it held before the VM had it).
    pub fn host_address(&self, gpa: u64, len: u64) -> Option<usize> {
        let end = gpa.checked_add(len)?;
        let r = self.ranges.iter().find(|r| r.start <= gpa && end <= r.end)?;
        let index = |addr: u64| (addr / CHUNK - r.start / CHUNK) as usize;
        let last = end.saturating_sub(1).max(gpa);
        if !(index(gpa)..=index(last)).all(|i| bit_is_set(&r.backed, i)) {
            return None;
        }
        r.host.checked_add(usize::try_from(gpa - r.start).ok()?)
    }
}

impl RamMap {
    /// Changes each time chunks of the map are unbacked (a VM reset):
    /// translations made before then may name memory that is no longer
    /// what the guest sees.
    pub fn generation(&self) -> u64 {
        self.ranges.iter().fold(0, |sum, r| sum.wrapping_add(r.resets.load(Ordering::Acquire)))
    }

    /// The backed chunk holding `gpa`; `None` outside RAM or in an
    /// unbacked chunk. For translation tables filled on demand, a chunk at
    /// a time.
    pub fn backed_chunk(&self, gpa: u64) -> Option<BackedChunk> {
        let r = self.ranges.iter().find(|r| r.start <= gpa && gpa < r.end)?;
        let index = (gpa / CHUNK - r.start / CHUNK) as usize;
        if !bit_is_set(&r.backed, index) {
            return None;
        }
        let start = (gpa / CHUNK * CHUNK).max(r.start);
        let end = (gpa / CHUNK * CHUNK).saturating_add(CHUNK).min(r.end);
        let host = r.host.checked_add(usize::try_from(start - r.start).ok()?)?;
        Some(BackedChunk { gpa: start, len: end - start, host, rights: r.rights })
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
#[derive(Debug)]
pub struct Chunks {
    gpa: u64,
    size: u64,
    backed: BackedBits,
    /// How many times chunks were unbacked.
    resets: Arc<AtomicU64>,
}

impl Chunks {
    /// A region of `size` bytes at `gpa`, nothing backed.
    pub fn new(gpa: u64, size: u64) -> Self {
        let mut chunks = Self {
            gpa,
            size,
            backed: Arc::new([]),
            resets: Arc::new(AtomicU64::new(0)),
        };
        let words = chunks.count().div_ceil(64);
        chunks.backed = (0..words).map(|_| AtomicU64::new(0)).collect();
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
        let last = self.gpa.saturating_add(self.size - 1) / CHUNK;
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

    /// Whether `[gpa, gpa + len)` (not empty) lies in the region within
    /// one chunk, and that chunk is backed: a device's common access, told
    /// without making a [`Chunk`].
    pub fn backed_within(&self, gpa: u64, len: u64) -> bool {
        let Some(last) = gpa.checked_add(len).and_then(|end| end.checked_sub(1)) else {
            return false;
        };
        len > 0
            && self.contains(gpa)
            && self.contains(last)
            && gpa / CHUNK == last / CHUNK
            && self.is_backed((gpa / CHUNK - self.gpa / CHUNK) as usize)
    }

    /// Whether chunk `index` is backed.
    pub fn is_backed(&self, index: usize) -> bool {
        bit_is_set(&self.backed, index)
    }

    /// Records that chunk `index` is backed (after it was zeroed: a
    /// [`RamMap`] may read it from then on).
    pub fn set_backed(&mut self, index: usize) {
        if let Some(word) = self.backed.get(index / 64) {
            word.fetch_or(1 << (index % 64), Ordering::Release);
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
        for word in self.backed.iter() {
            word.store(0, Ordering::Release);
        }
        self.resets.fetch_add(1, Ordering::AcqRel);
        backed
    }
}
