//! A VM's virtual PLIC (crate `vplic`) and its external-interrupt line to
//! each hart (VSEIP).
//!
//! Config: an `emu_devices` entry of type 0x1 (interrupt controller):
//! `["vplic", 0x0c00_0000, 0x60_0000, 0, 0x1, []]`.

use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
use exit_dispatch::Ipi;
use kspin::SpinNoIrq;
use vplic::{Effect, Plic};

use super::irq;
use crate::hal::IrqChipError;
use crate::hal::arch::{DeviceWindow, IrqChipOps};

/// The `hvip` bit of the VS external interrupt.
pub const VSEI_VECTOR: usize = 10;
/// The `hvip` bit of the VS software interrupt: what an SBI IPI raises.
pub const IPI_VECTOR: usize = 2;
const HVIP_VSEIP: u64 = 1 << VSEI_VECTOR;

/// The virtual PLIC of one VM. Its lock is taken by the device-interrupt
/// forwarding handler too, so it keeps interrupts off while held.
pub struct VirtualPlic {
    base: u64,
    size: u64,
    harts: usize,
    /// The VM it belongs to: only its own forwarded sources are let in
    /// again at the host when its guest completes them.
    vm: usize,
    plic: SpinNoIrq<Plic>,
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

impl IrqChipOps for VirtualPlic {
    fn is_irqchip(dev: &EmulatedDeviceConfig) -> bool {
        dev.emu_type == EmulatedDeviceType::InterruptController
    }

    fn create(dev: &EmulatedDeviceConfig, vm: usize, harts: usize) -> Result<Self, IrqChipError> {
        if harts > vplic::MAX_HARTS {
            return Err(IrqChipError::Config { field: "vCPU count", what: "the virtual PLIC serves at most 8 harts" });
        }
        if dev.length < vplic::offset::CONTEXT + 0x2000 * harts {
            return Err(IrqChipError::Config { field: "size", what: "too small for the VM's harts' contexts" });
        }
        Ok(Self { base: dev.base_gpa as u64, size: dev.length as u64, harts, vm, plic: SpinNoIrq::new(Plic::new(harts)) })
    }

    fn reset(&self) {
        *self.plic.lock() = Plic::new(self.harts);
    }

    fn guest_window(&self) -> Option<DeviceWindow> {
        None
    }

    fn offset_of(&self, gpa: u64) -> Option<usize> {
        let offset = gpa.checked_sub(self.base)?;
        (offset < self.size).then_some(offset as usize)
    }

    /// A claim lowers the hart's line when nothing is left.
    fn read(&self, vcpu: usize, offset: usize, width: u8) -> u64 {
        if width != 4 {
            return 0;
        }
        let mut plic = self.plic.lock();
        let value = plic.read(offset);
        set_vseip(plic.line(vcpu));
        u64::from(value)
    }

    /// Completing a source forwarded to this VM lets the device's
    /// interrupt in again at the host (another VM's source never is).
    fn write(&self, vcpu: usize, offset: usize, width: u8, value: u64) -> Option<Ipi> {
        if width != 4 {
            return None;
        }
        let mut plic = self.plic.lock();
        if let Effect::Completed(source) = plic.write(offset, value as u32) {
            let source = source as usize;
            if irq::is_forwarded_to(source, self.vm) {
                axhal::irq::set_enable(source, true);
            }
        }
        set_vseip(plic.line(vcpu));
        None
    }

    /// The first hart whose context line the source raises, else hart
    /// 0; a device interrupt reaches a hart as its external interrupt.
    fn device_irq_route(&self, irq: usize) -> Option<(usize, usize)> {
        let mut plic = self.plic.lock();
        plic.raise(irq);
        Some(((0..vplic::MAX_HARTS).find(|&hart| plic.line(hart)).unwrap_or(0), VSEI_VECTOR))
    }

    /// VSEIP is injected while the hart's line is up.
    fn deliverable(&self, vcpu: usize, vector: usize) -> Option<u8> {
        (vector != VSEI_VECTOR || self.plic.lock().line(vcpu)).then_some(0)
    }
}
