//! The channel modes' arch part on riscv64: the doorbell and status calls
//! (the hypervisor's SBI extension), the doorbell interrupt (a PLIC source
//! for the boot hart), a reset, and the call error codes (SBI's).

use core::sync::atomic::{AtomicU32, Ordering};

use super::{SIE_SEIE, enable_interrupt, plic_context, plic_write, sbi, timer_disable};

/// SBI_ERR_NOT_SUPPORTED.
pub const NOT_SUPPORTED: u64 = (-2i64) as u64;
/// SBI_ERR_INVALID_PARAM.
pub const INVALID_PARAMETERS: u64 = (-3i64) as u64;

/// The doorbell of each channel role's VM (its config's `irq_id`), by
/// mode - 40: PLIC sources; the outsider has none.
pub const IRQS: [u32; 7] = [40, 41, 0, 42, 43, 44, 45];

/// The doorbell's PLIC source (0: none yet).
static SOURCE: AtomicU32 = AtomicU32::new(0);

/// The answer of hypervisor call `fid`: the value, or the error code.
fn call(fid: u64, index: u64) -> u64 {
    sbi::call(sbi::EID_HYPERVISOR, fid, [index, 0, 0]).unwrap_or_else(|e| e)
}

/// Rings channel `index`: how many peers were rung, or the error code.
#[inline(always)]
pub fn ring(index: u64) -> u64 {
    call(4, index)
}

/// Channel `index`'s status, or the error code.
pub fn status(index: u64) -> u64 {
    call(5, index)
}

/// Takes doorbell source `source` on the boot hart.
pub fn enable(source: u32) {
    SOURCE.store(source, Ordering::Relaxed);
    let source = source as usize;
    plic_write(4 * source, 1);
    let enable = 0x2000 + 0x80 * plic_context() + 4 * (source / 32);
    plic_write(enable, super::plic_read(enable) | 1 << (source % 32));
    plic_write(0x20_0000 + 0x1000 * plic_context(), 0);
    enable_interrupt(SIE_SEIE);
}

/// Whether PLIC source `source` is the doorbell.
pub fn is_doorbell(source: u32) -> bool {
    source != 0 && source == SOURCE.load(Ordering::Relaxed)
}

/// SBI system reset (cold reboot); returns only if it failed.
pub fn system_reset() {
    let _ = sbi::call(sbi::EID_SRST, 0, [1, 0, 0]);
}

/// How many times this VM has booted.
pub fn boots() -> u64 {
    call(3, 0)
}

/// Turns the timer off (a wait without a deadline).
pub fn timer_off() {
    timer_disable();
}
