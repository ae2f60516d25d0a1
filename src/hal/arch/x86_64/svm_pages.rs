//! Host pages an SVM vCPU hands the CPU by physical address (VMCB,
//! permission maps, nested page tables), freed when dropped.

use alloc::vec::Vec;

use axalloc::{UsageKind, global_allocator};
use memory_addr::PAGE_SIZE_4K;
use svm_vcpu::npt::Frames;

/// Zeroed, physically contiguous host pages.
pub struct Pages {
    va: usize,
    count: usize,
}

impl Pages {
    /// `count` zeroed pages, or `None` if the host has no such block.
    pub fn new(count: usize) -> Option<Self> {
        let va = global_allocator().alloc_pages(count, PAGE_SIZE_4K, UsageKind::VirtMem).ok()?;
        // SAFETY: the allocator just gave us these `count` pages; nothing
        // else references them.
        unsafe { core::ptr::write_bytes(va as *mut u8, 0, count * PAGE_SIZE_4K) };
        Some(Self { va, count })
    }

    /// Their physical address.
    pub fn pa(&self) -> u64 {
        axhal::mem::virt_to_phys(self.va.into()).as_usize() as u64
    }

    /// Their bytes.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the pages are ours until dropped, and `&mut self` makes
        // this the only reference the host holds.
        unsafe { core::slice::from_raw_parts_mut(self.va as *mut u8, self.count * PAGE_SIZE_4K) }
    }

    /// The first page as `T` (a 4 KiB plain-bytes type such as a VMCB).
    pub fn first_page_as<T>(&mut self) -> &mut T {
        const { assert!(size_of::<T>() <= PAGE_SIZE_4K && align_of::<T>() <= PAGE_SIZE_4K) };
        // SAFETY: the page is ours, page aligned, zero-initialised and at
        // least as large as `T`; the callers' `T`s are byte arrays, valid
        // for any contents.
        unsafe { &mut *(self.va as *mut T) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        global_allocator().dealloc_pages(self.va, self.count, UsageKind::VirtMem);
    }
}

/// Table frames for nested page tables, freed with the tables.
#[derive(Default)]
pub struct NptFrames {
    /// Each frame with its physical address.
    frames: Vec<(u64, Pages)>,
}

impl Frames for NptFrames {
    fn alloc(&mut self) -> Option<u64> {
        let page = Pages::new(1)?;
        let pa = page.pa();
        self.frames.push((pa, page));
        Some(pa)
    }

    fn table(&mut self, phys: u64) -> Option<&mut [u64; 512]> {
        // Only frames this source gave out are tables.
        let (_, page) = self.frames.iter_mut().find(|(pa, _)| *pa == phys)?;
        Some(page.first_page_as())
    }
}
