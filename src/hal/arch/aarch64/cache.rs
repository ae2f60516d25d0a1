//! Cache geometry and zeroing by cache block (`DC ZVA`).

/// The smallest data-cache line of any cache the CPU has (CTR_EL0.DminLine).
pub fn dcache_line() -> usize {
    let ctr: u64;
    // SAFETY: an ID register read.
    unsafe {
        core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags))
    };
    4 << ((ctr >> 16) & 0xf)
}

/// The block `DC ZVA` zeroes, or `None` where it is prohibited.
fn zva_block() -> Option<usize> {
    let dczid: u64;
    // SAFETY: an ID register read.
    unsafe {
        core::arch::asm!("mrs {0}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags))
    };
    (dczid & 0x10 == 0).then(|| 4 << (dczid & 0xf))
}

/// Zeroes `bytes` (normal cacheable memory), a block per instruction
/// where the CPU allows it.
pub fn zero(bytes: &mut [u8]) {
    let Some(block) = zva_block() else {
        bytes.fill(0);
        return;
    };
    let start = bytes.as_ptr() as usize;
    let head = (start.next_multiple_of(block) - start).min(bytes.len());
    let (head, rest) = bytes.split_at_mut(head);
    head.fill(0);
    let body = rest.len() / block * block;
    let (body, tail) = rest.split_at_mut(body);
    let base = body.as_mut_ptr() as usize;
    for addr in (base..base + body.len()).step_by(block) {
        // SAFETY: `addr` is a block-aligned address inside `body`, which we
        // borrow mutably; DC ZVA writes zeroes to exactly that block.
        unsafe { core::arch::asm!("dc zva, {0}", in(reg) addr, options(nostack, preserves_flags)) };
    }
    tail.fill(0);
}
