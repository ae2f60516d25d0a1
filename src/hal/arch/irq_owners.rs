//! Which VM owns each physical device interrupt forwarded to a guest: one
//! VM per interrupt, registered with the host so that it is enabled and
//! its occurrences reach the forwarding hook.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::hal::ForwardError;

/// Owners of interrupt ids `FIRST..N` (0: not forwarded).
pub struct IrqOwners<const N: usize> {
    owner: [AtomicUsize; N],
    first: usize,
}

/// The handler registered for forwarded interrupts; the forwarding hook,
/// which sees the interrupt id, does the work.
fn forwarded() {}

impl<const N: usize> IrqOwners<N> {
    /// A table for interrupt ids `first..N`.
    pub const fn new(first: usize) -> Self {
        Self { owner: [const { AtomicUsize::new(0) }; N], first }
    }

    /// The VM that owns `irq`, if it is forwarded.
    pub fn owner(&self, irq: usize) -> Option<usize> {
        self.owner.get(irq).map(|o| o.load(Ordering::Acquire)).filter(|&vm| vm != 0)
    }

    /// Gives `irq` to VM `vm_id` and has the host enable it.
    pub fn claim(&self, irq: usize, vm_id: usize) -> Result<(), ForwardError> {
        let owner = self.owner.get(irq).filter(|_| irq >= self.first).ok_or(ForwardError::NotForwardable)?;
        if owner.compare_exchange(0, vm_id, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(ForwardError::OwnedByAnotherVm);
        }
        if !axhal::irq::register(irq, forwarded) {
            owner.store(0, Ordering::Release);
            return Err(ForwardError::UsedByHost);
        }
        Ok(())
    }

    /// The interrupts VM `vm_id` owns.
    pub fn owned_by(&self, vm_id: usize) -> impl Iterator<Item = usize> + '_ {
        self.owner.iter().enumerate().filter(move |(_, o)| o.load(Ordering::Acquire) == vm_id).map(|(irq, _)| irq)
    }

    /// Takes back every interrupt VM `vm_id` owns.
    pub fn release_all(&self, vm_id: usize) {
        for (irq, owner) in self.owner.iter().enumerate().filter(|(_, o)| o.load(Ordering::Acquire) == vm_id) {
            let _ = axhal::irq::unregister(irq);
            owner.store(0, Ordering::Release);
        }
    }
}
