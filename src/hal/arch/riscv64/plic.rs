//! A VM's virtual PLIC (crate `vplic`), its external-interrupt line to
//! each hart (VSEIP), and the physical device interrupts forwarded to it.
//!
//! Config: an `emu_devices` entry of type 0x1 (interrupt controller):
//! `["vplic", 0x0c00_0000, 0x60_0000, 0, 0x1, []]`.

use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
use spin::Mutex;
use vplic::{Effect, Plic};

use super::irq_owners::IrqOwners;
use crate::hal::{Ipi, IrqChipError};
use crate::vmm::vm::Vm;

/// The `hvip` bit of the VS external interrupt.
pub const VSEI_VECTOR: usize = 10;
const HVIP_VSEIP: u64 = 1 << VSEI_VECTOR;

/// The VM that owns each physical PLIC source forwarded to a guest.
static SOURCE_OWNERS: IrqOwners<{ vplic::SOURCES }> = IrqOwners::new(1);

/// The virtual interrupt controller of one VM.
pub struct VirtualIrqChip {
    base: usize,
    size: usize,
    plic: Mutex<Plic>,
}

/// Whether an emulated-device entry is this VM's interrupt controller.
pub fn is_irqchip(dev: &EmulatedDeviceConfig) -> bool {
    dev.emu_type == EmulatedDeviceType::InterruptController
}

fn set_vseip(on: bool) {
    // SAFETY: hvip belongs to the vCPU bound on this hart (the one whose
    // access is being handled); VSEIP only affects its pending interrupts.
    unsafe {
        if on {
            core::arch::asm!("csrs 0x645, {0}", in(reg) HVIP_VSEIP, options(nomem, nostack));
        } else {
            core::arch::asm!("csrc 0x645, {0}", in(reg) HVIP_VSEIP, options(nomem, nostack));
        }
    }
}

impl VirtualIrqChip {
    /// Builds the controller an `emu_devices` entry describes.
    pub fn create(dev: &EmulatedDeviceConfig, vm: &Vm) -> Result<Self, IrqChipError> {
        let harts = vm.vcpu_num();
        if harts > vplic::MAX_HARTS {
            return Err(IrqChipError::Config { field: "vCPU count", what: "the virtual PLIC serves at most 8 harts" });
        }
        if dev.length < vplic::offset::CONTEXT + 0x2000 * harts {
            return Err(IrqChipError::Config { field: "size", what: "too small for the VM's harts' contexts" });
        }
        Ok(Self { base: dev.base_gpa, size: dev.length, plic: Mutex::new(Plic::new(harts)) })
    }

    /// The controller offset of `gpa`, if it decodes it.
    pub fn offset_of(&self, gpa: usize) -> Option<usize> {
        let offset = gpa.checked_sub(self.base)?;
        (offset < self.size).then_some(offset)
    }

    /// A guest read; a claim lowers the hart's line when nothing is left.
    pub fn read(&self, vcpu: usize, offset: usize, size: usize) -> usize {
        if size != 4 {
            return 0;
        }
        let mut plic = self.plic.lock();
        let value = plic.read(offset);
        set_vseip(plic.line(vcpu));
        value as usize
    }

    /// A guest write; completing a forwarded source lets the device's
    /// interrupt in again at the host.
    pub fn write(&self, vcpu: usize, offset: usize, size: usize, value: usize) -> Option<Ipi> {
        if size != 4 {
            return None;
        }
        let mut plic = self.plic.lock();
        if let Effect::Completed(source) = plic.write(offset, value as u32) {
            let source = source as usize;
            if SOURCE_OWNERS.owner(source).is_some() {
                axhal::irq::set_enable(source, true);
            }
        }
        set_vseip(plic.line(vcpu));
        None
    }

    /// The hart a device interrupt is offered to: the first one whose
    /// context line it raises, else hart 0.
    pub fn device_irq_target(&self, irq: usize) -> usize {
        let mut plic = self.plic.lock();
        plic.raise(irq);
        (0..vplic::MAX_HARTS).find(|&hart| plic.line(hart)).unwrap_or(0)
    }

    /// VSEIP is injected while the hart's line is up.
    pub fn deliverable(&self, vcpu: usize, vector: usize) -> Option<u8> {
        (vector != VSEI_VECTOR || self.plic.lock().line(vcpu)).then_some(0)
    }
}

/// Registers the hook that forwards device interrupts.
pub fn init_host_interrupts() -> Result<(), &'static str> {
    if axhal::irq::register_irq_hook(forward_source) {
        Ok(())
    } else {
        Err("the host's IRQ hook is taken: device interrupts cannot be forwarded")
    }
}

/// Hands physical PLIC source `irq` to VM `vm_id`.
pub fn forward_device_irq(vm_id: usize, irq: usize) -> Result<(), &'static str> {
    SOURCE_OWNERS.claim(irq, vm_id)
}

/// Takes back every source forwarded to `vm_id`.
pub fn release_device_irqs(vm_id: usize) {
    SOURCE_OWNERS.release_all(vm_id);
}

/// Runs after every host interrupt with its id: a forwarded source is held
/// off at the host PLIC until the guest completes it, and raised in the
/// guest's PLIC.
fn forward_source(irq: usize) {
    let Some(vm_id) = SOURCE_OWNERS.owner(irq) else { return };
    axhal::irq::set_enable(irq, false);
    crate::vmm::note_guest_interrupt();
    if crate::vmm::queue_device_interrupt(vm_id, irq, VSEI_VECTOR).is_err() {
        debug!("PLIC source {irq} for VM[{vm_id}] dropped: the VM is gone");
    }
}
