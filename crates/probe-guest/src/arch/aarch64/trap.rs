//! Synchronous exceptions the probe takes at EL1 (current EL, SP_EL1): an
//! UNDEFINED one (unknown reason) while a hostile case expects it is
//! counted and stepped over; any other is unexpected and ends the run.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static EXPECTING: AtomicBool = AtomicBool::new(false);
static UNDEFINED: AtomicU64 = AtomicU64::new(0);

/// Runs `f` with UNDEFINED exceptions stepped over; how many it took.
pub fn undefined_taken_by(f: impl FnOnce()) -> u64 {
    let before = UNDEFINED.load(Ordering::Relaxed);
    EXPECTING.store(true, Ordering::Relaxed);
    f();
    EXPECTING.store(false, Ordering::Relaxed);
    UNDEFINED.load(Ordering::Relaxed) - before
}

#[unsafe(no_mangle)]
extern "C" fn sync_exception() {
    let (esr, elr, far): (u64, u64, u64);
    // SAFETY: reading this exception's syndrome registers.
    unsafe {
        asm!("mrs {0}, esr_el1", "mrs {1}, elr_el1", "mrs {2}, far_el1", out(reg) esr, out(reg) elr, out(reg) far, options(nomem, nostack));
    }
    if esr >> 26 != 0 || !EXPECTING.load(Ordering::Relaxed) {
        crate::unexpected(4, esr, elr, far);
    }
    UNDEFINED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: returning past the 4-byte instruction that was UNDEFINED.
    unsafe { asm!("msr elr_el1, {0}", in(reg) elr + 4, options(nomem, nostack)) };
}
