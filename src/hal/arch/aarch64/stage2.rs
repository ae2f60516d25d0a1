//! Stage-2 descriptors that the page-table crate leaves incomplete: it
//! maps every region executable, so the VM's no-execute regions get their
//! XN bit here, by walking the VM's 4-level tables (4 KiB granule, start
//! level 0) before any of its vCPUs runs.

/// Valid descriptor; at levels 0-2, a table (else a block); at level 3, a page.
const VALID: u64 = 1 << 0;
const TABLE: u64 = 1 << 1;
/// Stage-2 execute-never (XN[1]).
const XN: u64 = 1 << 54;
const ADDR: u64 = 0x0000_ffff_ffff_f000;

fn entries(table_pa: u64) -> *mut u64 {
    axhal::mem::phys_to_virt((table_pa as usize).into()).as_mut_ptr() as *mut u64
}

/// Sets XN on every leaf inside `[gpa, gpa + size)`; returns how many
/// leaves only partly inside were left as they are.
pub fn forbid_execute(root: u64, gpa: u64, size: u64) -> usize {
    let end = gpa.saturating_add(size);
    walk(root & ADDR, 0, 0, gpa, end)
}

fn walk(table: u64, level: u32, base: u64, start: u64, end: u64) -> usize {
    let span = 1u64 << (39 - 9 * level);
    let mut partial = 0;
    for index in 0..512u64 {
        let lo = base + index * span;
        let hi = lo + span;
        if hi <= start || lo >= end {
            continue;
        }
        // SAFETY: `table` is a stage-2 table of this VM (the root, or one a
        // valid table descriptor points to), 512 entries in host RAM mapped
        // linearly; no vCPU of the VM runs yet, so nothing walks it now.
        let slot = unsafe { &mut *entries(table).add(index as usize) };
        let desc = *slot;
        if desc & VALID == 0 {
            continue;
        }
        if level < 3 && desc & TABLE != 0 {
            partial += walk(desc & ADDR, level + 1, lo, start, end);
        } else if lo >= start && hi <= end {
            *slot = desc | XN;
        } else {
            partial += 1;
        }
    }
    partial
}
