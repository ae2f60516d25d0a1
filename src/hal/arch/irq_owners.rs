//! Which VM owns each physical device interrupt forwarded to a guest: one
//! VM per interrupt, registered with the host so that it is enabled and
//! its occurrences reach the forwarding hook. The table itself is
//! `irq_routing::OwnerTable` (host-tested): "no owner" is not a VM id, and
//! a VM's release touches only what it owns.

use irq_routing::{ClaimError, OwnerTable};

use crate::hal::ForwardError;

/// Owners of interrupt ids `FIRST..N`.
pub struct IrqOwners<const N: usize> {
    table: OwnerTable<N>,
}

/// The handler registered for forwarded interrupts; the forwarding hook,
/// which sees the interrupt id, does the work.
fn forwarded() {}

impl<const N: usize> IrqOwners<N> {
    /// A table for interrupt ids `first..N`.
    pub const fn new(first: usize) -> Self {
        Self {
            table: OwnerTable::new(first),
        }
    }

    /// The VM that owns `irq`, if it is forwarded.
    pub fn owner(&self, irq: usize) -> Option<usize> {
        self.table.owner(irq)
    }

    /// Whether VM `vm_id` owns `irq`: only then may what its guest does
    /// reach the host's copy of `irq`.
    #[allow(
        dead_code,
        reason = "for architectures whose guests complete interrupts at the host"
    )]
    pub fn owns(&self, irq: usize, vm_id: usize) -> bool {
        self.table.owns(irq, vm_id)
    }

    /// Gives `irq` to VM `vm_id` and has the host enable it.
    pub fn claim(&self, irq: usize, vm_id: usize) -> Result<(), ForwardError> {
        self.table.claim(irq, vm_id).map_err(|e| match e {
            ClaimError::Taken => ForwardError::OwnedByAnotherVm,
            ClaimError::NotForwardable | ClaimError::BadVmId => ForwardError::NotForwardable,
        })?;
        if !axhal::irq::register(irq, forwarded) {
            self.table.unclaim(irq, vm_id);
            return Err(ForwardError::UsedByHost);
        }
        Ok(())
    }

    /// The interrupts VM `vm_id` owns.
    pub fn owned_by(&self, vm_id: usize) -> impl Iterator<Item = usize> + '_ {
        self.table.owned_by(vm_id)
    }

    /// Takes back every interrupt VM `vm_id` owns (and no other).
    pub fn release_all(&self, vm_id: usize) {
        self.table.release_all(vm_id, |irq| {
            let _ = axhal::irq::unregister(irq);
        });
    }
}
