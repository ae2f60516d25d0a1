//! The IRQ handler and what it records for the checks and benchmarks.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::{cpu, gic};

/// Counter value read by the second instruction of the IRQ vector.
#[unsafe(no_mangle)]
pub static IRQ_ENTRY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Timer interrupts taken (CPU 0).
pub static TIMER_IRQS: AtomicU32 = AtomicU32::new(0);
/// Counter value at the vector of the last timer interrupt.
pub static TIMER_ENTRY: AtomicU64 = AtomicU64::new(0);
/// SGIs taken, by any CPU.
pub static SGIS: AtomicU32 = AtomicU32::new(0);
/// Interrupts other than the timer and SGIs (should stay 0).
pub static OTHER_IRQS: AtomicU32 = AtomicU32::new(0);
/// Id of the last unexpected interrupt.
pub static LAST_OTHER: AtomicU32 = AtomicU32::new(0);

#[unsafe(no_mangle)]
extern "C" fn irq_handler() {
    let iar = gic::ack();
    let id = iar & 0x3ff;
    match id {
        gic::VTIMER_PPI => {
            // The timer stays asserted until disabled or re-armed.
            cpu::timer_disable();
            TIMER_ENTRY.store(IRQ_ENTRY_COUNTER.load(Ordering::Relaxed), Ordering::Relaxed);
            TIMER_IRQS.fetch_add(1, Ordering::Release);
        }
        0..16 => {
            SGIS.fetch_add(1, Ordering::Release);
        }
        gic::SPURIOUS => return,
        other => {
            LAST_OTHER.store(other, Ordering::Relaxed);
            OTHER_IRQS.fetch_add(1, Ordering::Release);
        }
    }
    gic::eoi(iar);
}
