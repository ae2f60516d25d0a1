//! Host pages that several VMs map (the VMM's shared-memory channels):
//! zeroed, physically contiguous, from the host's page allocator, freed
//! when the value is dropped.

use axaddrspace::HostPhysAddr;
use memory_addr::PAGE_SIZE_4K;

use super::guest_memory::RamBlock;

/// Zeroed, contiguous host pages.
pub struct SharedPages {
    block: RamBlock,
}

impl SharedPages {
    /// `size` bytes (whole pages), zeroed; `None` if the host has no such
    /// block free or `size` is not whole pages.
    pub fn alloc(size: usize) -> Option<Self> {
        if size == 0 || !size.is_multiple_of(PAGE_SIZE_4K) {
            return None;
        }
        let mut block = RamBlock::alloc(size, PAGE_SIZE_4K)?;
        // Not mapped in any guest yet.
        block.zero(0, size)?;
        Some(Self { block })
    }

    /// Host-physical address of the first byte.
    pub fn hpa(&self) -> HostPhysAddr {
        self.block.hpa(0)
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.block.len()
    }
}
