//! Guest page-table walks, for fetching the instruction behind an exit
//! when the CPU gives no decode assist: a guest-virtual address becomes
//! guest-physical through the guest's own tables, in whichever paging
//! mode the guest is in (none, 32-bit, PAE, 4-level long mode). Table
//! entries are read through a callback, so the walk runs on the host in
//! tests and over guest RAM in the hypervisor.

/// The control state a walk depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// CR0 (PG).
    pub cr0: u64,
    /// CR3 (the root).
    pub cr3: u64,
    /// CR4 (PAE, PSE).
    pub cr4: u64,
    /// EFER (LMA).
    pub efer: u64,
}

const CR0_PG: u64 = 1 << 31;
const CR4_PSE: u64 = 1 << 4;
const CR4_PAE: u64 = 1 << 5;
const EFER_LMA: u64 = 1 << 10;
const PRESENT: u64 = 1;
const LARGE: u64 = 1 << 7;
/// Address bits of a PAE / long-mode entry (up to 52-bit physical).
const ADDR: u64 = 0x000F_FFFF_FFFF_F000;

/// Where `gva` points in guest-physical memory, or `None` if a table
/// entry on the way is not present or cannot be read (`read` gives the
/// 8 bytes at a guest-physical address; 32-bit tables use the low 4).
pub fn translate(paging: Paging, gva: u64, mut read: impl FnMut(u64) -> Option<u64>) -> Option<u64> {
    if paging.cr0 & CR0_PG == 0 {
        return Some(gva);
    }
    if paging.efer & EFER_LMA != 0 {
        return walk_64(paging.cr3 & ADDR, gva, 4, &mut read);
    }
    if paging.cr4 & CR4_PAE != 0 {
        let gva = gva & 0xFFFF_FFFF;
        let pdpte = read((paging.cr3 & 0xFFFF_FFE0) + 8 * (gva >> 30))?;
        if pdpte & PRESENT == 0 {
            return None;
        }
        return walk_64(pdpte & ADDR, gva, 2, &mut read);
    }
    let gva = gva & 0xFFFF_FFFF;
    let pde = read((paging.cr3 & 0xFFFF_F000) + 4 * (gva >> 22))? & 0xFFFF_FFFF;
    if pde & PRESENT == 0 {
        return None;
    }
    if pde & LARGE != 0 && paging.cr4 & CR4_PSE != 0 {
        // A 4 MiB page: bits 13-20 hold physical address bits 32-39.
        let high = ((pde >> 13) & 0xFF) << 32;
        return Some(high | (pde & 0xFFC0_0000) | (gva & 0x3F_FFFF));
    }
    let pte = read((pde & 0xFFFF_F000) + 4 * ((gva >> 12) & 0x3FF))? & 0xFFFF_FFFF;
    (pte & PRESENT != 0).then_some((pte & 0xFFFF_F000) | (gva & 0xFFF))
}

/// A walk of `levels` 512-entry levels from `table` (4: PML4 down; 2: a
/// PAE page directory down). Large pages end it at the PDPT (1 GiB) or
/// the page directory (2 MiB).
fn walk_64(mut table: u64, gva: u64, levels: u32, read: &mut impl FnMut(u64) -> Option<u64>) -> Option<u64> {
    for level in (0..levels).rev() {
        let shift = 12 + 9 * level;
        let entry = read(table + 8 * ((gva >> shift) & 0x1FF))?;
        if entry & PRESENT == 0 {
            return None;
        }
        if level == 0 || (entry & LARGE != 0 && level <= 2) {
            let page = 1u64 << shift;
            return Some((entry & ADDR & !(page - 1)) | (gva & (page - 1)));
        }
        table = entry & ADDR;
    }
    None
}
