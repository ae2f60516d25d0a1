//! What the interrupt handlers record for the checks and benchmarks; the
//! arch module's handler calls these.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Counter value read by the first instructions of the interrupt vector.
#[unsafe(no_mangle)]
pub static IRQ_ENTRY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Timer interrupts taken (CPU 0).
pub static TIMER_IRQS: AtomicU32 = AtomicU32::new(0);
/// Counter value at the vector of the last timer interrupt.
pub static TIMER_ENTRY: AtomicU64 = AtomicU64::new(0);
/// Inter-processor interrupts taken, by any CPU.
pub static IPIS: AtomicU32 = AtomicU32::new(0);
/// Device interrupts taken, and the id of the last one.
pub static DEVICE_IRQS: AtomicU32 = AtomicU32::new(0);
/// Id of the last device interrupt.
pub static LAST_DEVICE: AtomicU64 = AtomicU64::new(0);
/// Interrupts other than the timer and IPIs (should stay 0).
pub static OTHER_IRQS: AtomicU32 = AtomicU32::new(0);
/// Id of the last unexpected interrupt.
pub static LAST_OTHER: AtomicU64 = AtomicU64::new(0);

/// A timer interrupt (the arch handler has silenced the timer).
pub fn on_timer() {
    TIMER_ENTRY.store(IRQ_ENTRY_COUNTER.load(Ordering::Relaxed), Ordering::Relaxed);
    TIMER_IRQS.fetch_add(1, Ordering::Release);
}

/// An inter-processor interrupt.
pub fn on_ipi() {
    IPIS.fetch_add(1, Ordering::Release);
}

/// A device interrupt (the arch handler has silenced the device).
pub fn on_device(id: u64) {
    LAST_DEVICE.store(id, Ordering::Relaxed);
    DEVICE_IRQS.fetch_add(1, Ordering::Release);
}

/// Any other interrupt, by its id.
pub fn on_other(id: u64) {
    LAST_OTHER.store(id, Ordering::Relaxed);
    OTHER_IRQS.fetch_add(1, Ordering::Release);
}
