//! Cache geometry, cleaning to the point of coherency, and zeroing by
//! cache block (`DC ZVA`).

/// The smallest data-cache line of any cache the CPU has (CTR_EL0.DminLine).
pub fn dcache_line() -> usize {
    let ctr: u64;
    // SAFETY: an ID register read.
    unsafe { core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    4 << ((ctr >> 16) & 0xf)
}

/// The block `DC ZVA` zeroes, or `None` where it is prohibited.
fn zva_block() -> Option<usize> {
    let dczid: u64;
    // SAFETY: an ID register read.
    unsafe { core::arch::asm!("mrs {0}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags)) };
    (dczid & 0x10 == 0).then(|| 4 << (dczid & 0xf))
}

/// Writes the lines holding `bytes` back to the point of coherency.
pub fn clean(bytes: &[u8]) {
    let line = dcache_line();
    let start = bytes.as_ptr() as usize;
    for line in (start & !(line - 1)..start + bytes.len()).step_by(line) {
        // SAFETY: `dc cvac` only writes back a cache line; the range lies
        // in memory the hypervisor owns and has mapped.
        unsafe { core::arch::asm!("dc cvac, {0}", in(reg) line, options(nostack, preserves_flags)) };
    }
    // SAFETY: a barrier has no memory-safety preconditions.
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Zeroes `bytes` (normal cacheable memory) and writes the zeroes back to
/// the point of coherency, so that a guest reading with its caches off
/// sees them too. Where `DC ZVA` zeroes exactly a cache line, one pass does
/// both, sixteen lines per loop turn.
pub fn zero_to_poc(bytes: &mut [u8]) {
    let line = dcache_line();
    let Some(block) = zva_block().filter(|&b| b == line) else {
        bytes.fill(0);
        clean(bytes);
        return;
    };
    let (head, body, tail) = super::super::split_for_blocks(bytes, block, 16 * block);
    if !body.is_empty() {
        let base = body.as_mut_ptr() as usize;
        // SAFETY: `[base, base + body.len())` is block-aligned, a multiple
        // of sixteen blocks, and lies in `body`, which we borrow mutably; each
        // DC ZVA zeroes one block of it and each DC CVAC writes that block
        // back, nothing else.
        unsafe {
            core::arch::asm!(
                "2:",
                ".rept 16",
                "dc zva, {p}", "dc cvac, {p}", "add {p}, {p}, {b}",
                ".endr",
                "cmp {p}, {end}",
                "b.lo 2b",
                "dsb sy",
                p = inout(reg) base => _,
                b = in(reg) block,
                end = in(reg) base + body.len(),
                options(nostack),
            );
        }
    }
    for edge in [head, tail] {
        edge.fill(0);
        clean(edge);
    }
}
