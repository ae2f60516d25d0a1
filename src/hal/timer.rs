//! Deadline callbacks for the VM-management crates (`axvisor_api::time`):
//! kept in one ordered map and fired from the host timer tick on every CPU.

use alloc::{boxed::Box, collections::BTreeMap, vec::Vec};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

use kspin::SpinNoIrq;

type Callback = Box<dyn FnOnce(Duration) + Send + 'static>;

/// Pending timers keyed by (deadline in ns, token).
static TIMERS: SpinNoIrq<BTreeMap<(u64, usize), Callback>> = SpinNoIrq::new(BTreeMap::new());
/// Earliest deadline, so a tick with nothing due does not take the lock.
static EARLIEST: AtomicU64 = AtomicU64::new(u64::MAX);
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(1);

fn update_earliest(timers: &BTreeMap<(u64, usize), Callback>) {
    let next = timers.keys().next().map_or(u64::MAX, |(deadline, _)| *deadline);
    EARLIEST.store(next, Ordering::Release);
}

/// Registers `callback` to run at `deadline` (monotonic time); returns the
/// token that cancels it.
pub fn register(deadline: Duration, callback: Callback) -> usize {
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    let nanos = u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX);
    let mut timers = TIMERS.lock();
    timers.insert((nanos, token), callback);
    update_earliest(&timers);
    token
}

/// Cancels a timer; a token that already fired or is unknown is ignored.
pub fn cancel(token: usize) {
    let mut timers = TIMERS.lock();
    timers.retain(|(_, t), _| *t != token);
    update_earliest(&timers);
}

/// Runs every callback whose deadline has passed (outside the lock).
pub fn fire_expired() {
    let now = axhal::time::monotonic_time_nanos();
    if now < EARLIEST.load(Ordering::Acquire) {
        return;
    }
    let due: Vec<Callback> = {
        let mut timers = TIMERS.lock();
        let later = timers.split_off(&(now + 1, 0));
        let due = core::mem::replace(&mut *timers, later);
        update_earliest(&timers);
        due.into_values().collect()
    };
    let now = Duration::from_nanos(now);
    for callback in due {
        callback(now);
    }
}
