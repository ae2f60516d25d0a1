//! The floating-point registers of the floating-point isolation check
//! (`crate::fpcheck`) on x86_64: XMM0..XMM15.

use core::arch::asm;

/// The check's name in its output lines.
pub const FP_CHECK: &str = "sse";

/// CR4.OSFXSR and OSXMMEXCPT, CR0.MP set and CR0.EM clear: SSE may be used.
pub fn fp_enable() {
    // SAFETY: only the SSE enable bits of CR0 and CR4 change.
    unsafe {
        asm!(
            "mov {t}, cr4",
            "or {t}, 0x600",
            "mov cr4, {t}",
            "mov {t}, cr0",
            "and {t}, ~4",
            "or {t}, 2",
            "mov cr0, {t}",
            t = out(reg) _,
            options(nomem, nostack),
        )
    };
}

/// Fills XMM0..XMM15 with `base + register number` (low quadword).
pub fn fp_fill(base: u64) {
    // SAFETY: SSE is enabled; only XMM registers are written, and the
    // compiler (soft-float target) keeps nothing of its own in them.
    unsafe {
        asm!(
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            "lea {t}, [{b} + \\r]",
            "movq xmm\\r, {t}",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            options(nomem, nostack),
        );
    }
}

/// How many of XMM0..XMM15 differ from what `fp_fill(base)` wrote.
pub fn fp_count_wrong(base: u64) -> u64 {
    let wrong: u64;
    // SAFETY: SSE is enabled; XMM registers are only read.
    unsafe {
        asm!(
            "xor {w}, {w}",
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
            "lea {t}, [{b} + \\r]",
            "movq {v}, xmm\\r",
            "cmp {v}, {t}",
            "setne {c}",
            "movzx {t:e}, {c}",
            "add {w}, {t}",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            v = out(reg) _,
            c = out(reg_byte) _,
            w = out(reg) wrong,
            options(nomem, nostack),
        );
    }
    wrong
}
