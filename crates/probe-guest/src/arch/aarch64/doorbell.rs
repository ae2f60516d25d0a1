//! The channel modes' arch part on aarch64: the doorbell and status calls
//! (`hvc`, the hypervisor's vendor range), the doorbell interrupt (an SPI
//! routed to CPU 0), a reset, and the call error codes (PSCI's).

use core::sync::atomic::{AtomicU32, Ordering};

use super::{calls, cpu, gic};

/// PSCI NOT_SUPPORTED.
pub const NOT_SUPPORTED: u64 = psci::ret::NOT_SUPPORTED;
/// PSCI INVALID_PARAMETERS.
pub const INVALID_PARAMETERS: u64 = psci::ret::INVALID_PARAMETERS;

/// The doorbell of each channel role's VM (its config's `irq_id`), by
/// mode - 40: interrupt ids (SPIs 48 to 53); the outsider has none.
pub const IRQS: [u32; 7] = [80, 81, 0, 82, 83, 84, 85];

/// The doorbell's interrupt id (0: none yet).
static IRQ: AtomicU32 = AtomicU32::new(0);

/// Rings channel `index`: the raw answer in `x0`.
#[inline(always)]
pub fn ring(index: u64) -> u64 {
    calls::hvc(psci::HV_CALL_DOORBELL, index, 0, 0)
}

/// Channel `index`'s status: the raw answer in `x0`.
pub fn status(index: u64) -> u64 {
    calls::hvc(psci::HV_CALL_CHANNEL_STATUS, index, 0, 0)
}

/// Takes doorbell interrupt `irq` (and the virtual timer, for deadlines)
/// on this CPU.
pub fn enable(irq: u32) {
    IRQ.store(irq, Ordering::Relaxed);
    gic::init_cpu(gic::VTIMER_PPI);
    gic::route_spi(irq);
}

/// Whether interrupt `id` is the doorbell.
pub fn is_doorbell(id: u32) -> bool {
    id != 0 && id == IRQ.load(Ordering::Relaxed)
}

/// PSCI SYSTEM_RESET; returns only if it failed.
pub fn system_reset() {
    calls::hvc(0x8400_0009, 0, 0, 0);
}

/// How many times this VM has booted.
pub fn boots() -> u64 {
    calls::hvc(psci::HV_CALL_BOOTS, 0, 0, 0)
}

/// Turns the virtual timer off (a wait without a deadline).
pub fn timer_off() {
    cpu::timer_disable();
}
