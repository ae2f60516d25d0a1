//! The root of a VM's stage-2 (G-stage) tables. `hgatp` mode Sv39x4
//! walks from a 16 KiB root, 16 KiB-aligned, indexed by guest-physical
//! bits 40..30; axaddrspace 0.1.5 builds Sv39 tables, whose 4 KiB root
//! covers bits 38..30 only. So each VM's root is the first page of a
//! zeroed 16 KiB block of its own: axaddrspace fills that page as usual,
//! the other 12 KiB stay zero, and every guest-physical address with bit
//! 39 or 40 set takes a guest-page fault instead of a walk through host
//! memory. (Addresses above bit 40 fault in hardware.)
//!
//! axaddrspace asks for the root as the first frame of a new table,
//! through the `PagingHandler` axvm is given ([`Stage2Frames`]);
//! [`new_address_space`] marks that frame as a root, on this CPU with
//! preemption off, so that no other table's frame takes its place.

use alloc::vec::Vec;

use axaddrspace::HostPhysAddr;
use axhal::paging::PagingHandlerImpl as Frames;
use kspin::SpinNoPreempt;
use memory_addr::VirtAddr;
use page_table_multiarch::PagingHandler;

/// Frames of an Sv39x4 root (16 KiB), which is also its alignment.
const ROOT_FRAMES: usize = 4;
const ROOT_BYTES: usize = ROOT_FRAMES * 0x1000;

/// Set while `new_address_space` waits for its root on this CPU.
#[percpu::def_percpu]
static ROOT_WANTED: bool = false;

/// The roots handed out and not yet freed (first-page addresses).
static ROOTS: SpinNoPreempt<Vec<usize>> = SpinNoPreempt::new(Vec::new());
/// Held while a root is being created: keeps this task on its CPU.
static CREATING: SpinNoPreempt<()> = SpinNoPreempt::new(());

/// The frames of stage-2 tables: the runtime's, except that a root is the
/// first page of a zeroed, aligned 16 KiB block.
pub struct Stage2Frames;

impl PagingHandler for Stage2Frames {
    fn alloc_frame() -> Option<HostPhysAddr> {
        if ROOT_WANTED.read_current() {
            ROOT_WANTED.write_current(false);
            return alloc_root();
        }
        Frames::alloc_frame()
    }

    fn alloc_frames(num: usize, align: usize) -> Option<HostPhysAddr> {
        Frames::alloc_frames(num, align)
    }

    fn dealloc_frame(paddr: HostPhysAddr) {
        let mut roots = ROOTS.lock();
        if let Some(i) = roots.iter().position(|&root| root == paddr.as_usize()) {
            roots.swap_remove(i);
            drop(roots);
            Frames::dealloc_frames(paddr, ROOT_FRAMES);
        } else {
            drop(roots);
            Frames::dealloc_frame(paddr);
        }
    }

    fn dealloc_frames(paddr: HostPhysAddr, num: usize) {
        Frames::dealloc_frames(paddr, num)
    }

    fn phys_to_virt(paddr: HostPhysAddr) -> VirtAddr {
        Frames::phys_to_virt(paddr)
    }
}

fn alloc_root() -> Option<HostPhysAddr> {
    let root = Frames::alloc_frames(ROOT_FRAMES, ROOT_BYTES)?;
    // SAFETY: the allocator just gave us these 16 KiB, mapped at
    // `phys_to_virt`; nothing else refers to them yet.
    unsafe { core::ptr::write_bytes(Frames::phys_to_virt(root).as_mut_ptr(), 0, ROOT_BYTES) };
    ROOTS.lock().push(root.as_usize());
    Some(root)
}

/// Runs `create` (axvm's `AxVM::new`, whose first frame allocation is its
/// stage-2 root) so that the root it gets is an Sv39x4 one.
pub fn new_address_space<R>(create: impl FnOnce() -> R) -> R {
    let _creating = CREATING.lock();
    ROOT_WANTED.write_current(true);
    let created = create();
    ROOT_WANTED.write_current(false);
    created
}

/// Whether `root` is a root made here (16 KiB, aligned, upper 12 KiB
/// zero), as `hgatp` in mode Sv39x4 needs.
pub fn is_sv39x4_root(root: HostPhysAddr) -> bool {
    ROOTS.lock().contains(&root.as_usize())
}
