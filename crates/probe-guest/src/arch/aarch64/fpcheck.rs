//! The FP/SIMD registers of the floating-point isolation check
//! (`crate::fpcheck`): V0..V31, both halves.

use core::arch::asm;

/// The check's name in its output lines.
pub const FP_CHECK: &str = "fp-simd";

/// Lets EL1 use FP/SIMD (CPACR_EL1.FPEN = 0b11).
pub fn fp_enable() {
    // SAFETY: CPACR_EL1.FPEN = 0b11 lets EL1 use FP/SIMD; nothing else.
    unsafe { asm!("mrs {t}, cpacr_el1", "orr {t}, {t}, #(3 << 20)", "msr cpacr_el1, {t}", "isb", t = out(reg) _, options(nomem, nostack)) };
}

/// Fills V0..V31 with `base + register number` in both halves.
pub fn fp_fill(base: u64) {
    // SAFETY: FP/SIMD is enabled; only vector registers are written.
    unsafe {
        asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "add {t}, {b}, #\\r",
            "fmov d\\r, {t}",
            "fmov v\\r\\().d[1], {t}",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            options(nomem, nostack),
        );
    }
}

/// How many of V0..V31 differ from what `fp_fill(base)` wrote.
pub fn fp_count_wrong(base: u64) -> u64 {
    let wrong: u64;
    // SAFETY: FP/SIMD is enabled; vector registers are only read.
    unsafe {
        asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "mov {w}, #0",
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "add {t}, {b}, #\\r",
            "fmov {lo}, d\\r",
            "mov {hi}, v\\r\\().d[1]",
            "cmp {lo}, {t}",
            "ccmp {hi}, {t}, #0, eq",
            "cinc {w}, {w}, ne",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            lo = out(reg) _,
            hi = out(reg) _,
            w = out(reg) wrong,
            options(nomem, nostack),
        );
    }
    wrong
}
