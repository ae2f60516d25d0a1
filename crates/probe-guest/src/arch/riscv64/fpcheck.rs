//! The registers of the floating-point isolation check
//! (`crate::fpcheck`): f0..f31, and the S-level CSRs a guest writes on
//! the hart itself (the H extension has no VS copy of them), `scounteren`
//! and `senvcfg`: each vCPU gives them values of its own, which must stay
//! its own across switches.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// Per vCPU: `scounteren` and `senvcfg` as read back after `fp_fill`
/// wrote them (they keep only the bits the hart implements).
static CSRS: [[AtomicU64; 2]; 2] = [const { [const { AtomicU64::new(0) }; 2] }; 2];

/// The vCPU a pattern belongs to (`crate::fpcheck`: bit 40).
fn vcpu_of(base: u64) -> usize {
    ((base >> 40) & 1) as usize
}

fn write_csrs(scounteren: u64, senvcfg: u64) -> [u64; 2] {
    let read: [u64; 2];
    // SAFETY: scounteren and senvcfg only shape what U-mode may do; the
    // probe runs no U-mode.
    unsafe {
        let (a, b): (u64, u64);
        asm!(
            "csrw scounteren, {s}", "csrw senvcfg, {e}",
            "csrr {a}, scounteren", "csrr {b}, senvcfg",
            s = in(reg) scounteren, e = in(reg) senvcfg, a = out(reg) a, b = out(reg) b,
            options(nomem, nostack),
        );
        read = [a, b];
    }
    read
}

fn read_csrs() -> [u64; 2] {
    let (a, b): (u64, u64);
    // SAFETY: reading CSRs has no side effects.
    unsafe {
        asm!("csrr {a}, scounteren", "csrr {b}, senvcfg", a = out(reg) a, b = out(reg) b, options(nomem, nostack))
    };
    [a, b]
}

/// The check's name in its output lines.
pub const FP_CHECK: &str = "fp";

/// sstatus.FS = Dirty: S-mode may use the floating-point registers.
pub fn fp_enable() {
    // SAFETY: only sstatus.FS changes.
    unsafe { asm!("li {t}, 0x6000", "csrs sstatus, {t}", t = out(reg) _, options(nomem, nostack)) };
}

/// Fills f0..f31 with `base + register number`, and `scounteren` and
/// `senvcfg` with values of the pattern's vCPU (CY, IR and nothing for
/// the first; TM and FIOM for the second).
pub fn fp_fill(base: u64) {
    let vcpu = vcpu_of(base);
    let kept = if vcpu == 0 { write_csrs(0b101, 0) } else { write_csrs(0b010, 1) };
    for (slot, value) in CSRS[vcpu].iter().zip(kept) {
        slot.store(value, Ordering::Release);
    }
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

/// How many of f0..f31, `scounteren` and `senvcfg` differ from what
/// `fp_fill(base)` wrote.
pub fn fp_count_wrong(base: u64) -> u64 {
    let kept = CSRS[vcpu_of(base)].iter().map(|slot| slot.load(Ordering::Acquire));
    let csrs_wrong = read_csrs().into_iter().zip(kept).filter(|(now, then)| now != then).count() as u64;
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
    wrong + csrs_wrong
}
