//! The owner of each forwarded physical interrupt.

use core::sync::atomic::{AtomicUsize, Ordering};

/// A slot holds 0 for "no owner", else the owner's VM id plus one: VM id 0
/// is an owner like any other.
const FREE: usize = 0;

fn slot_value(vm: usize) -> Option<usize> {
    vm.checked_add(1)
}

/// Why an interrupt cannot be given to a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimError {
    /// The id is below the first forwardable one or past the table.
    NotForwardable,
    /// Another VM (or this one) owns it already.
    Taken,
    /// The VM id cannot be recorded (`usize::MAX`).
    BadVmId,
}

/// Owners of interrupt ids `first..N`; ids below `first` are never owned.
pub struct OwnerTable<const N: usize> {
    slots: [AtomicUsize; N],
    first: usize,
}

impl<const N: usize> OwnerTable<N> {
    /// An empty table for interrupt ids `first..N`.
    pub const fn new(first: usize) -> Self {
        Self {
            slots: [const { AtomicUsize::new(FREE) }; N],
            first,
        }
    }

    /// The VM that owns `irq`, if any.
    pub fn owner(&self, irq: usize) -> Option<usize> {
        let value = self.slots.get(irq)?.load(Ordering::Acquire);
        value.checked_sub(1)
    }

    /// Whether VM `vm` owns `irq`: the only case in which something a
    /// guest of `vm` does may reach the host's copy of `irq`.
    pub fn owns(&self, irq: usize, vm: usize) -> bool {
        self.owner(irq) == Some(vm)
    }

    /// Gives `irq` to VM `vm` if nobody owns it.
    pub fn claim(&self, irq: usize, vm: usize) -> Result<(), ClaimError> {
        let value = slot_value(vm).ok_or(ClaimError::BadVmId)?;
        let slot = self
            .slots
            .get(irq)
            .filter(|_| irq >= self.first)
            .ok_or(ClaimError::NotForwardable)?;
        slot.compare_exchange(FREE, value, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| ClaimError::Taken)
    }

    /// Takes `irq` back from VM `vm`; false (and nothing changes) if `vm`
    /// does not own it.
    pub fn unclaim(&self, irq: usize, vm: usize) -> bool {
        let (Some(value), Some(slot)) = (slot_value(vm), self.slots.get(irq)) else {
            return false;
        };
        slot.compare_exchange(value, FREE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The interrupts VM `vm` owns, lowest first.
    pub fn owned_by(&self, vm: usize) -> impl Iterator<Item = usize> + '_ {
        let value = slot_value(vm);
        self.slots
            .iter()
            .enumerate()
            .filter(move |(_, slot)| value.is_some_and(|v| slot.load(Ordering::Acquire) == v))
            .map(|(irq, _)| irq)
    }

    /// Takes back every interrupt VM `vm` owns: `before_release` runs for
    /// each while `vm` still owns it (the host unregisters it there), so
    /// no other VM can claim it in between. Interrupts other VMs own and
    /// free ones are not touched.
    pub fn release_all(&self, vm: usize, mut before_release: impl FnMut(usize)) {
        for irq in self.owned_by(vm) {
            before_release(irq);
            self.unclaim(irq, vm);
        }
    }
}
