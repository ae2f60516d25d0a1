//! A cyclic test on the EL1 *physical* timer (CNTP, PPI 30), as small
//! teaching kernels of the NimbOS class drive it: a 1 kHz tick, re-armed
//! from the interrupt handler, alternately through CNTP_CVAL_EL0 (an
//! absolute deadline one period after the last one) and CNTP_TVAL_EL0 (one
//! period from now). It records how late each interrupt reached the vector.
//!
//! Deadlines are physical-counter values; the vector's timestamp is the
//! virtual counter, which equals the physical one here (CNTVOFF is 0
//! bare, and the hypervisor keeps it 0).

use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::{cpu, gic};
use crate::hist::Histogram;
use crate::irq::IRQ_ENTRY_COUNTER;

/// The physical timer's interrupt.
pub const PPI: u32 = 30;

/// Ticks still to take.
static LEFT: AtomicU32 = AtomicU32::new(0);
/// Ticks taken.
static TAKEN: AtomicU32 = AtomicU32::new(0);
/// The period in counter ticks.
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// The deadline of the tick being waited for.
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Sum, minimum and maximum of the latencies (counter ticks).
static SUM: AtomicU64 = AtomicU64::new(0);
static MIN: AtomicU64 = AtomicU64::new(u64::MAX);
static MAX: AtomicU64 = AtomicU64::new(0);
/// Interrupts taken before their deadline (must stay 0).
static EARLY: AtomicU32 = AtomicU32::new(0);
/// The latencies' distribution (counter ticks).
pub static LATENCIES: Histogram = Histogram::new();

fn physical_count() -> u64 {
    let v: u64;
    // SAFETY: `isb` and reading CNTPCT_EL0 have no side effects.
    unsafe { asm!("isb", "mrs {}, cntpct_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Arms the physical timer for absolute `deadline` (CVAL).
fn arm_cval(deadline: u64) {
    // SAFETY: programming the EL1 physical timer only affects when PPI 30
    // becomes pending.
    unsafe { asm!("msr cntp_cval_el0, {0}", "msr cntp_ctl_el0, {1}", "isb", in(reg) deadline, in(reg) 1u64, options(nomem, nostack)) };
}

/// Arms the physical timer `ticks` from now (TVAL); returns the deadline.
fn arm_tval(ticks: u64) -> u64 {
    // SAFETY: as for `arm_cval`.
    unsafe { asm!("msr cntp_tval_el0, {0}", "msr cntp_ctl_el0, {1}", "isb", in(reg) ticks, in(reg) 1u64, options(nomem, nostack)) };
    // A TVAL write sets CVAL to the counter at the write plus TVAL.
    let cval: u64;
    // SAFETY: reading the timer's compare value has no side effects.
    unsafe { asm!("mrs {0}, cntp_cval_el0", out(reg) cval, options(nomem, nostack)) };
    cval
}

fn disable() {
    // SAFETY: turning the physical timer off only deasserts PPI 30.
    unsafe { asm!("msr cntp_ctl_el0, xzr", "isb", options(nomem, nostack)) };
}

/// The PPI 30 handler: records the tick's latency and re-arms, by CVAL on
/// even ticks and TVAL on odd ones, until the run's ticks are taken.
pub fn on_tick() {
    let entry = IRQ_ENTRY_COUNTER.load(Ordering::Relaxed);
    let deadline = DEADLINE.load(Ordering::Relaxed);
    if entry < deadline {
        EARLY.fetch_add(1, Ordering::Relaxed);
    }
    let latency = entry.saturating_sub(deadline);
    SUM.fetch_add(latency, Ordering::Relaxed);
    MIN.fetch_min(latency, Ordering::Relaxed);
    MAX.fetch_max(latency, Ordering::Relaxed);
    LATENCIES.record(latency);
    let taken = TAKEN.fetch_add(1, Ordering::Relaxed) + 1;
    if LEFT.fetch_sub(1, Ordering::Release) == 1 {
        disable();
        return;
    }
    let period = PERIOD.load(Ordering::Relaxed);
    let next = if taken.is_multiple_of(2) {
        let next = deadline + period;
        arm_cval(next);
        next
    } else {
        arm_tval(period)
    };
    DEADLINE.store(next, Ordering::Relaxed);
}

/// What a run measured (counter ticks).
pub struct Stats {
    /// Interrupts taken.
    pub taken: u32,
    /// Interrupts taken before their deadline.
    pub early: u32,
    /// Mean, minimum and maximum latency, deadline -> vector.
    pub mean: u64,
    /// See `mean`.
    pub min: u64,
    /// See `mean`.
    pub max: u64,
    /// Counter ticks the whole run took.
    pub elapsed: u64,
}

/// Takes `ticks` physical-timer interrupts at `hz`, idling in WFI between
/// them (interrupts masked around the check, so that none is missed
/// between the check and the WFI); gives up after twice the run's length
/// plus a second, which the virtual timer bounds even if no tick comes.
pub fn run(ticks: u32, hz: u64) -> Stats {
    let period = cpu::counter_hz() / hz;
    for counter in [&SUM, &MAX] {
        counter.store(0, Ordering::Relaxed);
    }
    MIN.store(u64::MAX, Ordering::Relaxed);
    LATENCIES.clear();
    TAKEN.store(0, Ordering::Relaxed);
    EARLY.store(0, Ordering::Relaxed);
    PERIOD.store(period, Ordering::Relaxed);
    LEFT.store(ticks, Ordering::Release);
    gic::init_cpu(PPI);
    let start = physical_count();
    let limit = period * u64::from(ticks) * 2 + cpu::counter_hz();
    gic::init_cpu(gic::VTIMER_PPI);
    cpu::timer_arm(cpu::now() + limit);
    DEADLINE.store(start + period, Ordering::Relaxed);
    arm_cval(start + period);
    loop {
        cpu::irq_disable();
        if LEFT.load(Ordering::Acquire) == 0 || physical_count() - start >= limit {
            break;
        }
        cpu::wfi();
        cpu::irq_enable();
    }
    disable();
    cpu::timer_disable();
    let taken = TAKEN.load(Ordering::Relaxed);
    Stats {
        taken,
        early: EARLY.load(Ordering::Relaxed),
        mean: SUM.load(Ordering::Relaxed) / u64::from(taken.max(1)),
        min: if taken == 0 { 0 } else { MIN.load(Ordering::Relaxed) },
        max: MAX.load(Ordering::Relaxed),
        elapsed: physical_count() - start,
    }
}
