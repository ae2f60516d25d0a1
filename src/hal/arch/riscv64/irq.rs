//! The host PLIC as the hypervisor drives it: device sources forwarded to
//! guests, and the SBI IPI that kicks another hart.

use super::super::irq_owners::IrqOwners;
use crate::hal::{ForwardError, IrqSetupError, current, upcalls};

/// The VM that owns each physical PLIC source forwarded to a guest.
static SOURCE_OWNERS: IrqOwners<{ vplic::SOURCES }> = IrqOwners::new(1);

/// Registers the hook that forwards device interrupts.
pub fn init() -> Result<(), IrqSetupError> {
    if axhal::irq::register_irq_hook(forward_source) {
        Ok(())
    } else {
        Err(IrqSetupError::Handler("the host's IRQ hook is taken: device interrupts cannot be forwarded"))
    }
}

/// Hands physical PLIC source `irq` to VM `vm_id`.
pub fn forward_source_to(irq: usize, vm_id: usize) -> Result<(), ForwardError> {
    SOURCE_OWNERS.claim(irq, vm_id)
}

/// Enables at the host every source forwarded to `vm_id` (a forwarded
/// source is held off from its arrival until the guest completes it).
pub fn reenable_sources_of(vm_id: usize) {
    for source in SOURCE_OWNERS.owned_by(vm_id) {
        axhal::irq::set_enable(source, true);
    }
}

/// Takes back every source forwarded to `vm_id`.
pub fn release_sources_of(vm_id: usize) {
    SOURCE_OWNERS.release_all(vm_id);
}

/// Whether `source` is forwarded to VM `vm_id`.
pub fn is_forwarded_to(source: usize, vm_id: usize) -> bool {
    SOURCE_OWNERS.owns(source, vm_id)
}

/// Runs after every host interrupt with its id: a forwarded source is held
/// off at the host PLIC until the guest completes it, and raised in the
/// guest's PLIC.
fn forward_source(irq: usize) {
    let Some(vm_id) = SOURCE_OWNERS.owner(irq) else { return };
    axhal::irq::set_enable(irq, false);
    current::mark_guest_only();
    if !upcalls::services().is_some_and(|vmm| vmm.device_interrupt(vm_id, irq)) {
        debug!("PLIC source {irq} for VM[{vm_id}] dropped: the VM is gone");
    }
}

/// Interrupts physical hart `pcpu` (an SBI IPI the host takes as a
/// software interrupt) so that a vCPU running there exits and sees what
/// was queued for it.
pub fn kick_hart(pcpu: usize) {
    let (eid, mask) = (sbi_calls::eid::IPI, 1u64 << (pcpu % 64));
    // SAFETY: an SBI call from HS-mode to the firmware; it clobbers a0, a1.
    unsafe {
        core::arch::asm!("ecall", inlateout("a0") mask => _, inlateout("a1") 0u64 => _,
            in("a6") 0u64, in("a7") eid, options(nostack));
    }
}
