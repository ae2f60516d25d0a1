//! Which vCPU runs on this CPU, and the interrupt queue of each vCPU:
//! interrupt handlers queue a guest's interrupt here without a lock or a
//! VM lookup, and the vCPU task drains the queue before it enters the
//! guest.

use axtask::WaitQueue;
use irq_routing::{PendingSet, Queued};

use super::arch::{Arch, ArchOps};

/// Interrupt vectors the queue holds: interrupt ids 0..256, and room for
/// an architecture to encode more (an SGI with its sender on aarch64).
const VECTORS: usize = 384;

/// The interrupts waiting for one vCPU, and where its task waits.
pub struct IrqQueue {
    pending: PendingSet<{ VECTORS / 64 }>,
    wake: WaitQueue,
}

impl Default for IrqQueue {
    fn default() -> Self {
        Self { pending: Default::default(), wake: WaitQueue::new() }
    }
}

impl IrqQueue {
    /// Queues `vector` and wakes the task if it waits; `None` if the vector
    /// is out of range. One queued already was told to the vCPU when it
    /// was queued: [`Queued::Already`], no wake (and the caller sends no
    /// kick). Lock-free: callable from interrupt handlers.
    pub fn push(&self, vector: usize) -> Option<Queued> {
        let queued = self.pending.insert(vector)?;
        if queued.needs_kick() {
            self.wake.notify_one(false);
        }
        Some(queued)
    }

    /// Whether `vector` is queued.
    pub fn contains(&self, vector: usize) -> bool {
        self.pending.contains(vector)
    }

    /// Takes `vector` out of the queue.
    pub fn remove(&self, vector: usize) {
        self.pending.remove(vector);
    }

    /// Drops everything queued.
    pub fn clear(&self) {
        self.pending.clear();
    }

    /// Whether any interrupt is queued.
    pub fn has_pending(&self) -> bool {
        self.pending.any()
    }

    /// Offers every queued vector to `deliver`, lowest first; those it
    /// refuses (returns false for) stay queued.
    pub fn drain(&self, deliver: impl FnMut(usize) -> bool) {
        self.pending.drain(deliver);
    }

    /// Blocks the calling task until `ready` holds; re-checked on every
    /// [`push`](Self::push) and [`wake`](Self::wake).
    pub fn wait_until(&self, ready: impl Fn() -> bool) {
        self.wake.wait_until(ready);
    }

    /// Wakes the task waiting on this queue, if any.
    pub fn wake(&self) {
        self.wake.notify_all(false);
    }
}

/// The queue of the vCPU running on this CPU (0: none).
#[percpu::def_percpu]
static QUEUE: usize = 0;
#[percpu::def_percpu]
static VM_ID: usize = 0;
#[percpu::def_percpu]
static VCPU_ID: usize = 0;
/// Set when the interrupt being handled was only for a guest.
#[percpu::def_percpu]
static GUEST_ONLY: bool = false;

/// The vCPU recorded as running on this CPU for the length of a
/// [`run_here`] call.
pub struct Here<'a> {
    vm: usize,
    vcpu: usize,
    queue: &'a IrqQueue,
}

impl Here<'_> {
    /// Records this vCPU again, after another task may have run here.
    pub fn reclaim(&self) {
        VM_ID.write_current(self.vm);
        VCPU_ID.write_current(self.vcpu);
        QUEUE.write_current(self.queue as *const IrqQueue as usize);
    }
}

/// Runs `body` with vCPU `vcpu` of VM `vm`, whose queue is `queue`,
/// recorded as the one on this CPU; the record is cleared when `body`
/// returns, so it never outlives `queue`. The caller is pinned here.
pub fn run_here<R>(vm: usize, vcpu: usize, queue: &IrqQueue, body: impl FnOnce(&Here<'_>) -> R) -> R {
    let here = Here { vm, vcpu, queue };
    let running = RUNNING_HERE.read_current() + 1;
    RUNNING_HERE.write_current(running);
    if running == 2 {
        Arch::cpu_shared(true);
    }
    here.reclaim();
    let result = body(&here);
    QUEUE.write_current(0);
    let running = RUNNING_HERE.read_current() - 1;
    RUNNING_HERE.write_current(running);
    if running == 1 {
        Arch::cpu_shared(false);
    }
    result
}

/// vCPUs inside `run_here` on this CPU (their tasks are pinned here):
/// when more than one takes turns, one that waits for an interrupt gives
/// the CPU up instead of idling in it (`ArchOps::cpu_shared`).
#[percpu::def_percpu]
static RUNNING_HERE: usize = 0;

/// Whether vCPUs take turns on this CPU (more than one is inside
/// [`run_here`] here).
pub fn cpu_shared() -> bool {
    RUNNING_HERE.read_current() > 1
}

/// (VM id, vCPU id) of the vCPU whose exit this CPU handles.
pub fn ids() -> (usize, usize) {
    (VM_ID.read_current(), VCPU_ID.read_current())
}

/// Runs `body`, which may block the calling vCPU task (another task may
/// then run on this CPU and record its own vCPU), and records this CPU's
/// vCPU again after it, as [`Here::reclaim`] does.
pub fn may_block<R>(body: impl FnOnce() -> R) -> R {
    let saved = (VM_ID.read_current(), VCPU_ID.read_current(), QUEUE.read_current());
    let result = body();
    VM_ID.write_current(saved.0);
    VCPU_ID.write_current(saved.1);
    QUEUE.write_current(saved.2);
    result
}

/// Runs `f` on the queue of the vCPU running on this CPU, if one does.
fn with_here<R>(f: impl FnOnce(&IrqQueue) -> R) -> Option<R> {
    let queue = QUEUE.read_current() as *const IrqQueue;
    // SAFETY: `run_here` stored this pointer from a reference that lives
    // for its whole call and clears it before returning; the vCPU task is
    // pinned to this CPU, and callers run on this CPU inside that call (an
    // interrupt handler, or the vCPU's own exit handling); the reference
    // does not leave `f`.
    unsafe { queue.as_ref() }.map(f)
}

/// Queues `vector` for the vCPU running on this CPU; false if none does.
/// For interrupt handlers: no lookup, no lock.
#[allow(dead_code, reason = "for architectures that forward private interrupts")]
pub fn queue_here(vector: usize) -> bool {
    with_here(|queue| {
        mark_guest_only();
        queue.push(vector).is_some()
    })
    .unwrap_or(false)
}

/// Whether `vector` is queued for the vCPU running on this CPU.
#[allow(dead_code, reason = "for architectures whose controller shows queued state")]
pub fn queued_here(vector: usize) -> bool {
    with_here(|queue| queue.contains(vector)).unwrap_or(false)
}

/// Takes `vector` out of the queue of the vCPU running on this CPU.
#[allow(dead_code, reason = "for architectures whose controller shows queued state")]
pub fn unqueue_here(vector: usize) {
    with_here(|queue| queue.remove(vector));
}

/// Marks the interrupt being handled as a guest's business only.
#[allow(dead_code, reason = "for architectures that forward interrupts")]
pub fn mark_guest_only() {
    GUEST_ONLY.write_current(true);
}

/// Hands a physical interrupt that made a vCPU exit to the host; true if
/// it only concerned guests (nothing for the host scheduler to do).
pub fn handle_host_irq(vector: usize) -> bool {
    GUEST_ONLY.write_current(false);
    Arch::handle_host_irq(vector);
    GUEST_ONLY.read_current()
}
