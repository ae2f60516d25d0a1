//! Deadline callbacks for the VMM and the VM-management crates
//! (`axvisor_api::time`): kept in one ordered map and fired from the host
//! timer interrupt on every CPU.
//!
//! A deadline sooner than the next host tick is not left to wait for it:
//! the CPU that registered it arms its one-shot timer for it, so a vCPU's
//! timer, a time slice or a wake-up happens when it is due. Only deadlines
//! before the runtime's next tick are armed, and the runtime re-arms its
//! tick from every timer interrupt, so ticks keep coming at least once a
//! period.

use alloc::{boxed::Box, collections::BTreeMap, vec::Vec};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

use kspin::SpinNoIrq;

type Callback = Box<dyn FnOnce(Duration) + Send + 'static>;

/// A registered deadline: what to run, and the CPU that waits for it.
struct Pending {
    cpu: usize,
    callback: Callback,
}

/// Pending timers keyed by (deadline in ns, token).
static TIMERS: SpinNoIrq<BTreeMap<(u64, usize), Pending>> = SpinNoIrq::new(BTreeMap::new());
/// Earliest deadline, so a tick with nothing due does not take the lock.
static EARLIEST: AtomicU64 = AtomicU64::new(u64::MAX);
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(1);

/// The host tick's period.
const TICK_NANOS: u64 = axhal::time::NANOS_PER_SEC / axconfig::TICKS_PER_SEC as u64;

fn update_earliest(timers: &BTreeMap<(u64, usize), Pending>) {
    let next = timers.keys().next().map_or(u64::MAX, |(deadline, _)| *deadline);
    EARLIEST.store(next, Ordering::Release);
}

/// When this CPU's timer interrupt last came: the runtime's next tick is
/// due no later than one period after it.
#[percpu::def_percpu]
static LAST_INTERRUPT: u64 = 0;

/// Arms this CPU's one-shot timer for the earliest deadline it waits for,
/// if that comes before the runtime's next tick surely does (so a tick is
/// never pushed later, however often deadlines are registered). Called
/// with `timers` locked (interrupts off), so the timer interrupt cannot
/// re-arm in between.
fn arm_this_cpu(timers: &BTreeMap<(u64, usize), Pending>, now: u64) {
    let cpu = super::this_cpu();
    let next_tick = LAST_INTERRUPT.read_current().saturating_add(TICK_NANOS);
    let own = timers.iter().find(|(_, pending)| pending.cpu == cpu).map(|((deadline, _), _)| *deadline);
    if let Some(deadline) = own.filter(|&deadline| deadline < next_tick) {
        axhal::time::set_oneshot_timer(deadline.max(now));
    }
}

/// Registers `callback` to run at `deadline` (monotonic time); returns the
/// token that cancels it. This CPU's timer interrupt comes at the deadline.
pub fn register(deadline: Duration, callback: Callback) -> usize {
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    let nanos = u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX);
    let mut timers = TIMERS.lock();
    timers.insert((nanos, token), Pending { cpu: super::this_cpu(), callback });
    update_earliest(&timers);
    arm_this_cpu(&timers, axhal::time::monotonic_time_nanos());
    token
}

/// Cancels a timer; a token that already fired or is unknown is ignored.
pub fn cancel(token: usize) {
    let mut timers = TIMERS.lock();
    timers.retain(|(_, t), _| *t != token);
    update_earliest(&timers);
}

/// Runs every callback whose deadline has passed (outside the lock), then
/// arms this CPU's timer for the next deadline it waits for.
pub fn fire_expired() {
    let now = axhal::time::monotonic_time_nanos();
    LAST_INTERRUPT.write_current(now);
    // Nothing due, and nothing due before the next tick to arm for.
    if now.saturating_add(TICK_NANOS) <= EARLIEST.load(Ordering::Acquire) {
        return;
    }
    let due: Vec<Callback> = {
        let mut timers = TIMERS.lock();
        let later = timers.split_off(&(now + 1, 0));
        let due = core::mem::replace(&mut *timers, later);
        update_earliest(&timers);
        arm_this_cpu(&timers, now);
        due.into_values().map(|pending| pending.callback).collect()
    };
    let now = Duration::from_nanos(now);
    for callback in due {
        callback(now);
    }
}
