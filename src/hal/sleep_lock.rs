//! [`SleepLock`]: a lock whose waiters sleep, for device state that a
//! vCPU's exit handling may hold across a blocking call (a write to the
//! boot disk). Taking and giving back an unheld lock is one atomic each;
//! the wait queue is touched only when another task waited.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU8, Ordering};

use axtask::WaitQueue;

const FREE: u8 = 0;
const HELD: u8 = 1;
/// Held, and a task may be waiting for it.
const CONTENDED: u8 = 2;

/// A lock that puts waiting tasks to sleep.
pub struct SleepLock<T> {
    state: AtomicU8,
    waiters: WaitQueue,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and `state` lets one
// guard exist at a time; `T: Send` because the holder may be any task.
unsafe impl<T: Send> Sync for SleepLock<T> {}
// SAFETY: the lock owns its value.
unsafe impl<T: Send> Send for SleepLock<T> {}

impl<T> SleepLock<T> {
    /// An unheld lock around `value`.
    pub fn new(value: T) -> Self {
        Self { state: AtomicU8::new(FREE), waiters: WaitQueue::new(), value: UnsafeCell::new(value) }
    }

    /// Takes the lock, sleeping while another task holds it.
    pub fn lock(&self) -> SleepGuard<'_, T> {
        if self.state.compare_exchange(FREE, HELD, Ordering::Acquire, Ordering::Relaxed).is_err() {
            // Mark it contended; whoever finds it free this way holds it
            // (still marked contended, so its release wakes the next).
            // Sleep only while the mark stands: a woken waiter that finds
            // the lock retaken on the fast path (HELD, unmarked) must mark
            // it again, or that holder's release would wake nobody.
            while self.state.swap(CONTENDED, Ordering::Acquire) != FREE {
                self.waiters.wait_until(|| self.state.load(Ordering::Relaxed) != CONTENDED);
            }
        }
        SleepGuard { lock: self }
    }
}

/// The held lock; dropping it gives the lock back.
pub struct SleepGuard<'a, T> {
    lock: &'a SleepLock<T>,
}

impl<T> Deref for SleepGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `lock`), so no `&mut`
        // to the value exists elsewhere.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SleepGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; `&mut self` makes this borrow unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SleepGuard<'_, T> {
    fn drop(&mut self) {
        if self.lock.state.swap(FREE, Ordering::Release) == CONTENDED {
            self.lock.waiters.notify_one(false);
        }
    }
}
