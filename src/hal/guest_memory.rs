//! Host memory that backs a guest's RAM, zeroed and mapped into the
//! guest a chunk at a time.

use alloc::vec::Vec;
use core::ptr::NonNull;

use axalloc::{UsageKind, global_allocator};
use memory_addr::PAGE_SIZE_4K;

use axaddrspace::{GuestPhysAddr, HostPhysAddr, MappingFlags};
use axvm::{AxVM, AxVMHal};
use guest_ram::{CHUNK, Chunk, Chunks, RamMap, Rights};

use super::arch::{Arch, ArchOps};
use super::virt::VcpuHal;

/// Copies guest RAM at `gpa` into `buf` through `map`, without a lock: for
/// decoding a guest instruction on the exit path. False unless the range
/// lies in backed chunks of one region (memory the guest never touched
/// still holds what it held before the VM had it).
///
/// # Safety
/// `map` must come from [`GuestRam::map`] of a `GuestRam` that is still
/// alive (its blocks are what the map points into).
#[allow(dead_code, reason = "for architectures that decode guest instructions in software")]
pub unsafe fn read_mapped(map: &RamMap, gpa: u64, buf: &mut [u8]) -> bool {
    let Some(host) = map.host_address(gpa, buf.len() as u64) else { return false };
    for (i, byte) in buf.iter_mut().enumerate() {
        // SAFETY: `host_address` checked that the whole range lies in one
        // region's block (and in its backed, zeroed-before-use part), which
        // the caller guarantees is still allocated; a
        // volatile byte read is the access a concurrent guest store cannot
        // make undefined.
        *byte = unsafe { ((host + i) as *const u8).read_volatile() };
    }
    true
}

/// Copies of at least this many bytes (a device's data) are one block
/// copy; shorter ones (ring fields, headers) go a byte or a word at a time.
const BULK: usize = 64;

/// Copies `len` bytes from `src` to `dst`: 64 bytes per step as 128-bit
/// loads and stores (register pairs where the CPU has them) when both are
/// 16-byte aligned, as the buffers of a block device are; else `memcpy`.
///
/// # Safety
/// Both ranges are valid for `len` bytes and do not overlap.
unsafe fn copy_bulk(dst: *mut u8, src: *const u8, len: usize) {
    if !(dst as usize | src as usize).is_multiple_of(16) {
        // SAFETY: the caller's contract.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, len) };
        return;
    }
    let (s, d) = (src as *const u128, dst as *mut u128);
    let words = len / 16;
    let mut i = 0;
    while i + 4 <= words {
        // SAFETY: words `i..i + 4` lie inside both ranges (the caller's
        // contract, `i + 4 <= len / 16`), aligned to 16 (checked above).
        // Volatile: the compiler keeps them as wide accesses instead of
        // turning the loop back into a call to `memcpy`.
        unsafe {
            let (a, b) = (s.add(i).read_volatile(), s.add(i + 1).read_volatile());
            let (c, e) = (s.add(i + 2).read_volatile(), s.add(i + 3).read_volatile());
            d.add(i).write_volatile(a);
            d.add(i + 1).write_volatile(b);
            d.add(i + 2).write_volatile(c);
            d.add(i + 3).write_volatile(e);
        }
        i += 4;
    }
    // SAFETY: the rest of both ranges, `len - 16 * i` bytes.
    unsafe { core::ptr::copy_nonoverlapping(src.add(16 * i), dst.add(16 * i), len - 16 * i) };
}

/// One guest RAM region's host memory: allocated when the VM is created,
/// not zeroed here (the VMM zeroes each part before the guest may see
/// it), freed when dropped.
pub struct RamBlock {
    ptr: NonNull<u8>,
    pages: usize,
}

// SAFETY: the block is plain memory owned by this value; the VMM
// serialises the host's accesses to it (see `zero` and `fill`).
unsafe impl Send for RamBlock {}
// SAFETY: as for `Send`; `&self` methods read no memory of the block.
unsafe impl Sync for RamBlock {}

impl RamBlock {
    /// Allocates `size` bytes (whole pages) aligned to `align`, from the
    /// host's page allocator, which answers "no" rather than panicking
    /// when it has no such block; `None` then, or for a zero size.
    pub fn alloc(size: usize, align: usize) -> Option<Self> {
        let pages = size.div_ceil(PAGE_SIZE_4K);
        if pages == 0 || !align.is_power_of_two() {
            return None;
        }
        let addr = global_allocator().alloc_pages(pages, align.max(PAGE_SIZE_4K), UsageKind::VirtMem).ok()?;
        Some(Self { ptr: NonNull::new(addr as *mut u8)?, pages })
    }

    /// Allocates the `size` bytes (whole pages) of host memory at
    /// host-physical `hpa` exactly, for identity-mapped guest RAM; `None`
    /// if the host allocator does not place it there. The allocator takes
    /// no address, so the block is asked for with the largest alignment
    /// `hpa` has (up to 1 GiB): the first such address in free memory is,
    /// on a host whose RAM below `hpa` is in use or smaller than that, `hpa`.
    pub fn alloc_at(hpa: u64, size: usize) -> Option<Self> {
        const MAX_ALIGN: u64 = 1 << 30;
        if hpa == 0 || !hpa.is_multiple_of(PAGE_SIZE_4K as u64) {
            return None;
        }
        let align = (1u64 << hpa.trailing_zeros()).min(MAX_ALIGN) as usize;
        let block = Self::alloc(size, align)?;
        (block.hpa(0).as_usize() as u64 == hpa).then_some(block)
    }

    /// The block's size in bytes.
    pub fn len(&self) -> usize {
        self.pages * PAGE_SIZE_4K
    }

    /// Host-physical address of byte `offset`.
    pub fn hpa(&self, offset: usize) -> HostPhysAddr {
        axhal::mem::virt_to_phys((self.ptr.as_ptr() as usize + offset).into())
    }

    /// The bytes `[offset, offset + len)`, if inside the block.
    ///
    /// # Safety
    /// No guest may access these bytes while the slice lives: they are
    /// not mapped in any stage-2 table yet, or no vCPU of the VM runs.
    unsafe fn bytes(&mut self, offset: usize, len: usize) -> Option<&mut [u8]> {
        let end = offset.checked_add(len)?;
        if end > self.len() {
            return None;
        }
        // SAFETY: the range lies inside our allocation (checked above), we
        // hold `&mut self`, and the caller guarantees no guest access.
        Some(unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr().add(offset), len) })
    }

    /// Copies `[offset, offset + buf.len())` into `buf`, if inside the
    /// block. The guest may be writing those bytes meanwhile: the copy
    /// then holds some old and some new bytes, as a device's read would.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Option<()> {
        let end = offset.checked_add(buf.len())?;
        if end > self.len() {
            return None;
        }
        let at = self.ptr.as_ptr() as usize + offset;
        // An aligned 2-, 4- or 8-byte value is read as one load: a ring
        // index the guest is updating is never seen half old, half new.
        match (buf.len(), at % buf.len().max(1)) {
            // SAFETY: inside our allocation (checked above) and aligned to
            // its width; a volatile load of plain memory.
            (2, 0) => buf.copy_from_slice(&unsafe { (at as *const u16).read_volatile() }.to_ne_bytes()),
            // SAFETY: as above.
            (4, 0) => buf.copy_from_slice(&unsafe { (at as *const u32).read_volatile() }.to_ne_bytes()),
            // SAFETY: as above.
            (8, 0) => buf.copy_from_slice(&unsafe { (at as *const u64).read_volatile() }.to_ne_bytes()),
            // A descriptor or a request header: two word loads.
            (16, _) if at.is_multiple_of(8) => {
                // SAFETY: as above, both words inside and aligned.
                let (lo, hi) = unsafe { ((at as *const u64).read_volatile(), ((at + 8) as *const u64).read_volatile()) };
                buf[..8].copy_from_slice(&lo.to_ne_bytes());
                buf[8..].copy_from_slice(&hi.to_ne_bytes());
            }
            _ => self.read_bytes(offset, buf),
        }
        Some(())
    }

    /// [`Self::read`] of any other length; the range is checked.
    fn read_bytes(&self, offset: usize, buf: &mut [u8]) {
        if buf.len() >= BULK {
            // SAFETY: `[offset, offset + len)` lies inside our allocation
            // (checked by the caller) and cannot overlap `buf`, a host
            // buffer. The guest may store to these bytes meanwhile: they
            // are plain bytes with no invariant, and a copy that then
            // holds some old and some new ones is what a device's DMA
            // read would get. No reference to guest memory is made.
            unsafe { copy_bulk(buf.as_mut_ptr(), self.ptr.as_ptr().add(offset), buf.len()) };
            return;
        }
        for (i, byte) in buf.iter_mut().enumerate() {
            // SAFETY: `offset + i` lies inside our allocation (checked
            // above); a volatile byte read is the access a concurrent
            // guest store cannot make undefined.
            *byte = unsafe { self.ptr.as_ptr().add(offset + i).read_volatile() };
        }
    }

    /// Stores `data` at `offset`, if inside the block: a device of the VM
    /// writing guest memory while the guest may be using it. An aligned 2-
    /// or 4-byte value is one store.
    pub fn write(&self, offset: usize, data: &[u8]) -> Option<()> {
        let end = offset.checked_add(data.len())?;
        if end > self.len() {
            return None;
        }
        let at = self.ptr.as_ptr() as usize + offset;
        match (data, at % data.len().max(1)) {
            // SAFETY: inside our allocation (checked above) and aligned to
            // its width; the block is plain memory the guest shares, and a
            // volatile store is what its concurrent accesses cannot make
            // undefined.
            (&[a, b], 0) => unsafe { (at as *mut u16).write_volatile(u16::from_ne_bytes([a, b])) },
            // SAFETY: as above.
            (&[a, b, c, d], 0) => unsafe { (at as *mut u32).write_volatile(u32::from_ne_bytes([a, b, c, d])) },
            // SAFETY: inside our allocation (checked above), not
            // overlapping `data` (a host buffer); the guest may use these
            // bytes meanwhile, as with a device's DMA write (see
            // `read_bytes`).
            _ if data.len() >= BULK => unsafe { copy_bulk(at as *mut u8, data.as_ptr(), data.len()) },
            _ => {
                for (i, &byte) in data.iter().enumerate() {
                    // SAFETY: `at + i` is inside our allocation (checked
                    // above); a volatile byte store, as above.
                    unsafe { ((at + i) as *mut u8).write_volatile(byte) };
                }
            }
        }
        Some(())
    }

    /// Zeroes `[offset, offset + len)`, visible to a guest that runs with
    /// its caches off. Call it before the range is mapped into a guest.
    pub fn zero(&mut self, offset: usize, len: usize) -> Option<()> {
        // SAFETY: the contract of this method: the range is not mapped in
        // any guest yet.
        let bytes = unsafe { self.bytes(offset, len) }?;
        Arch::zero_ram(bytes);
        Some(())
    }

    /// Lets `fill` write `[offset, offset + len)`, then makes the bytes
    /// visible to a guest that starts with its caches off. Call it only
    /// while no vCPU of the VM runs (creation or reset).
    pub fn fill<R>(
        &mut self,
        offset: usize,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> R,
    ) -> Option<R> {
        // SAFETY: the contract of this method: no vCPU of the VM runs.
        let bytes = unsafe { self.bytes(offset, len) }?;
        let result = fill(bytes);
        Arch::clean_dcache(bytes);
        Some(result)
    }
}

impl Drop for RamBlock {
    fn drop(&mut self) {
        // These pages came from `alloc_pages` with this count and go back
        // once, here.
        global_allocator().dealloc_pages(self.ptr.as_ptr() as usize, self.pages, UsageKind::VirtMem);
    }
}

/// Why guest RAM could not be set up or reached.
#[derive(Debug)]
pub enum RamError {
    /// The host has no free block for a region.
    NoMemory {
        /// The region's guest-physical start.
        gpa: u64,
        /// Its size.
        size: u64,
    },
    /// A range is not inside one RAM region.
    NotRam {
        /// Guest-physical start.
        gpa: u64,
        /// Length.
        len: u64,
    },
    /// Mapping or unmapping a chunk in the stage-2 tables failed.
    Map {
        /// The chunk's guest-physical start.
        gpa: u64,
        /// What axvm said.
        error: axerrno::AxError,
    },
}

impl core::fmt::Display for RamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoMemory { gpa, size } => {
                write!(
                    f,
                    "no free host memory for the {size:#x}-byte RAM region at {gpa:#x}"
                )
            }
            Self::NotRam { gpa, len } => {
                write!(f, "[{gpa:#x}, +{len:#x}) is not inside one RAM region")
            }
            Self::Map { gpa, error } => {
                write!(f, "mapping guest RAM at {gpa:#x} failed: {error:?}")
            }
        }
    }
}

struct Region {
    chunks: Chunks,
    block: RamBlock,
    flags: MappingFlags,
}

/// A VM's RAM: per region, its host memory and which chunks of it are
/// backed. A chunk is zeroed before it is mapped, so the guest never sees
/// what the memory held before (another guest's data, the host's).
pub struct GuestRam {
    regions: Vec<Region>,
}

impl GuestRam {
    /// Allocates the host memory of `(gpa, size, flags, identity)`
    /// regions (flags as the config gives them; an identity region gets
    /// the host memory at its own address); nothing is mapped yet.
    pub fn new(
        regions: impl IntoIterator<Item = (u64, u64, MappingFlags, bool)>,
    ) -> Result<Self, RamError> {
        let mut ram = Self {
            regions: Vec::new(),
        };
        for (gpa, size, flags, identity) in regions {
            let exact = if identity { RamBlock::alloc_at(gpa, size as usize) } else { None };
            let block = match exact {
                Some(block) => block,
                None => RamBlock::alloc(size as usize, CHUNK as usize).ok_or(RamError::NoMemory { gpa, size })?,
            };
            let kept = MappingFlags::READ
                | MappingFlags::WRITE
                | MappingFlags::EXECUTE
                | MappingFlags::DEVICE;
            let flags = (flags & kept) | MappingFlags::USER;
            ram.regions.push(Region {
                chunks: Chunks::new(gpa, size),
                block,
                flags,
            });
        }
        Ok(ram)
    }

    /// Where the RAM is, for the exit path.
    pub fn map(&self) -> RamMap {
        RamMap::with_rights(self.regions.iter().map(|r| {
            let rights = Rights {
                write: r.flags.contains(MappingFlags::WRITE),
                execute: r.flags.contains(MappingFlags::EXECUTE),
            };
            (&r.chunks, r.block.ptr.as_ptr() as usize, rights)
        }))
    }

    /// For each region, whether its host memory is at its own guest
    /// address (identity-mapped).
    pub fn identity_mapped(&self) -> impl Iterator<Item = bool> + '_ {
        self.regions.iter().map(|r| r.block.hpa(0).as_usize() as u64 == r.chunks.gpa())
    }

    /// Bytes of RAM the VM has.
    pub fn size(&self) -> u64 {
        self.regions.iter().map(|r| r.chunks.size()).sum()
    }

    /// Bytes of RAM backed so far.
    pub fn backed_bytes(&self) -> u64 {
        self.regions.iter().map(|r| r.chunks.backed_bytes()).sum()
    }

    /// Backs the chunk that holds `gpa` (nothing to do if it is backed).
    pub fn back<H: AxVMHal>(&mut self, vm: &AxVM<H, VcpuHal>, gpa: u64) -> Result<(), RamError> {
        let region = self
            .regions
            .iter_mut()
            .find(|r| r.chunks.contains(gpa))
            .ok_or(RamError::NotRam { gpa, len: 1 })?;
        let chunk = region
            .chunks
            .chunk_of(gpa)
            .ok_or(RamError::NotRam { gpa, len: 1 })?;
        region.back(vm, chunk)
    }

    /// Backs all of the RAM (for vCPUs that cannot report a first touch).
    pub fn back_all<H: AxVMHal>(&mut self, vm: &AxVM<H, VcpuHal>) -> Result<(), RamError> {
        for region in &mut self.regions {
            for index in 0..region.chunks.count() {
                if let Some(chunk) = region.chunks.chunk(index) {
                    region.back(vm, chunk)?;
                }
            }
        }
        Ok(())
    }

    /// Backs `[gpa, gpa + len)` and lets `fill` write it. Call it only
    /// while no vCPU of the VM runs (creation, reset).
    pub fn load<H: AxVMHal, R>(
        &mut self,
        vm: &AxVM<H, VcpuHal>,
        gpa: u64,
        len: u64,
        fill: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, RamError> {
        let not_ram = RamError::NotRam { gpa, len };
        let region = self
            .regions
            .iter_mut()
            .find(|r| r.chunks.contains(gpa))
            .ok_or(RamError::NotRam { gpa, len })?;
        let touched: Vec<Chunk> = region
            .chunks
            .chunks_in(gpa, len)
            .ok_or(RamError::NotRam { gpa, len })?
            .collect();
        for chunk in touched {
            region.back(vm, chunk)?;
        }
        let offset = gpa - region.chunks.gpa();
        region
            .block
            .fill(offset as usize, len as usize, fill)
            .ok_or(not_ram)
    }

    /// Copies guest RAM at `gpa` into `buf` (a guest call's argument);
    /// RAM the guest has not touched yet reads as zeros.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), RamError> {
        let len = buf.len() as u64;
        let not_ram = || RamError::NotRam { gpa, len };
        let region = self.regions.iter().find(|r| r.chunks.contains(gpa)).ok_or_else(not_ram)?;
        let offset = (gpa - region.chunks.gpa()) as usize;
        // The common case, a device reading a ring field, a descriptor or
        // a buffer: one chunk, backed.
        if region.chunks.backed_within(gpa, len) {
            return region.block.read(offset, buf).ok_or_else(not_ram);
        }
        for chunk in region.chunks.chunks_in(gpa, len).ok_or_else(not_ram)? {
            let start = chunk.gpa.max(gpa);
            let end = (chunk.gpa + chunk.len).min(gpa + len);
            let part = &mut buf[(start - gpa) as usize..(end - gpa) as usize];
            if region.chunks.is_backed(chunk.index) {
                region.block.read((start - region.chunks.gpa()) as usize, part).ok_or_else(not_ram)?;
            } else {
                part.fill(0);
            }
        }
        Ok(())
    }

    /// Whether `[gpa, gpa + len)` lies in one RAM region (backed or not).
    pub fn holds(&self, gpa: u64, len: u64) -> bool {
        self.regions.iter().any(|r| r.chunks.contains(gpa) && r.chunks.chunks_in(gpa, len).is_some())
    }

    /// Stores `data` at `gpa` for a device of the VM (the guest runs
    /// meanwhile): the chunks it touches are backed first, as on the
    /// guest's own first touch; a region without WRITE is refused as the
    /// guest's own store would be.
    pub fn device_write<H: AxVMHal>(&mut self, vm: &AxVM<H, VcpuHal>, gpa: u64, data: &[u8]) -> Result<(), RamError> {
        let len = data.len() as u64;
        let not_ram = RamError::NotRam { gpa, len };
        let region = self.regions.iter_mut().find(|r| r.chunks.contains(gpa)).ok_or(not_ram)?;
        if !region.flags.contains(MappingFlags::WRITE) {
            return Err(RamError::NotRam { gpa, len });
        }
        let offset = gpa - region.chunks.gpa();
        // The common case: one chunk, backed.
        if region.chunks.backed_within(gpa, len) {
            return region.block.write(offset as usize, data).ok_or(RamError::NotRam { gpa, len });
        }
        // Back each touched chunk the guest has not (no allocation: this is
        // every device write's path).
        loop {
            let chunks = &region.chunks;
            let unbacked = chunks.chunks_in(gpa, len).ok_or(RamError::NotRam { gpa, len })?.find(|c| !chunks.is_backed(c.index));
            let Some(chunk) = unbacked else { break };
            region.back(vm, chunk)?;
        }
        region.block.write(offset as usize, data).ok_or(RamError::NotRam { gpa, len })
    }

    /// Marks every chunk unbacked (the guest's next touch finds zeroed
    /// memory again) and returns those that were backed, which the caller
    /// unmaps with [`unmap_chunks`] before backing any chunk again. Quick
    /// (a walk of the chunk bitmap): the stage-2 work needs no RAM lock.
    /// Call it only while no vCPU of the VM runs (reset).
    pub fn take_backed(&mut self) -> Vec<Chunk> {
        self.regions.iter_mut().flat_map(|region| region.chunks.take_backed()).collect()
    }
}

/// Unmaps `chunks` (from [`GuestRam::take_backed`]) from the VM's stage 2,
/// one chunk at a time; the first failure is returned once all are tried.
pub fn unmap_chunks<H: AxVMHal>(vm: &AxVM<H, VcpuHal>, chunks: &[Chunk]) -> Result<(), RamError> {
    let mut result = Ok(());
    for chunk in chunks {
        if let Err(error) = vm.unmap_region(GuestPhysAddr::from(chunk.gpa as usize), chunk.len as usize)
            && result.is_ok()
        {
            result = Err(RamError::Map { gpa: chunk.gpa, error });
        }
    }
    Arch::stage2_removed();
    result
}

impl Region {
    /// Zeroes `chunk`, then maps it with the region's access rights.
    fn back<H: AxVMHal>(&mut self, vm: &AxVM<H, VcpuHal>, chunk: Chunk) -> Result<(), RamError> {
        if self.chunks.is_backed(chunk.index) {
            return Ok(());
        }
        let map_err = |error| RamError::Map {
            gpa: chunk.gpa,
            error,
        };
        let (offset, len) = (chunk.offset as usize, chunk.len as usize);
        self.block.zero(offset, len).ok_or(RamError::NotRam {
            gpa: chunk.gpa,
            len: chunk.len,
        })?;
        let gpa = GuestPhysAddr::from(chunk.gpa as usize);
        vm.map_region(gpa, self.block.hpa(offset), len, self.flags)
            .map_err(map_err)?;
        self.chunks.set_backed(chunk.index);
        if self.flags.contains(MappingFlags::EXECUTE) {
            Arch::stage2_added();
        } else {
            let partial = Arch::forbid_execute(vm.ept_root(), chunk.gpa as usize, len);
            if partial != 0 {
                warn!(
                    "VM[{}]: {partial} mapping(s) straddle the no-execute RAM at {:#x}",
                    vm.id(),
                    chunk.gpa
                );
            }
            // Another vCPU may have cached the entry before XN was set.
            Arch::stage2_removed();
        }
        Ok(())
    }
}
