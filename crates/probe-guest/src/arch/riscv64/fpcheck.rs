//! The floating-point registers of the floating-point isolation check
//! (`crate::fpcheck`): f0..f31.

use core::arch::asm;

/// The check's name in its output lines.
pub const FP_CHECK: &str = "fp";

/// sstatus.FS = Dirty: S-mode may use the floating-point registers.
pub fn fp_enable() {
    // SAFETY: only sstatus.FS changes.
    unsafe { asm!("li {t}, 0x6000", "csrs sstatus, {t}", t = out(reg) _, options(nomem, nostack)) };
}

/// Fills f0..f31 with `base + register number`.
pub fn fp_fill(base: u64) {
    // SAFETY: FP is enabled; only floating-point registers are written,
    // and the compiler keeps nothing of its own in them across this.
    unsafe {
        asm!(
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "addi {t}, {b}, \\r",
            "fmv.d.x f\\r, {t}",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            options(nomem, nostack),
        );
    }
}

/// How many of f0..f31 differ from what `fp_fill(base)` wrote.
pub fn fp_count_wrong(base: u64) -> u64 {
    let wrong: u64;
    // SAFETY: FP is enabled; floating-point registers are only read.
    unsafe {
        asm!(
            "li {w}, 0",
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "addi {t}, {b}, \\r",
            "fmv.x.d {v}, f\\r",
            "xor {v}, {v}, {t}",
            "snez {v}, {v}",
            "add {w}, {w}, {v}",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            v = out(reg) _,
            w = out(reg) wrong,
            options(nomem, nostack),
        );
    }
    wrong
}
