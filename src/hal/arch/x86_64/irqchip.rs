//! The x86_64 VM's interrupt controller: a virtual I/O APIC (crate
//! `vioapic`) at the address its `emu_devices` entry gives (0xFEC00000 on
//! a PC). A device pin's redirection entry names the vector and the
//! destination APIC id, which is the vCPU id in our VMs.

use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
use exit_dispatch::Ipi;
use kspin::SpinNoIrq;
use vioapic::IoApic;

use crate::hal::IrqChipError;
use crate::hal::arch::{DeviceWindow, IrqChipOps};

/// A VM's I/O APIC.
pub struct IoApicChip {
    base: u64,
    model: SpinNoIrq<IoApic>,
}

impl IrqChipOps for IoApicChip {
    fn is_irqchip(dev: &EmulatedDeviceConfig) -> bool {
        dev.emu_type == EmulatedDeviceType::InterruptController
    }

    fn create(dev: &EmulatedDeviceConfig, _vm: usize, vcpus: usize) -> Result<Self, IrqChipError> {
        if dev.length < vioapic::WINDOW {
            return Err(IrqChipError::Config { field: "length", what: "an I/O APIC needs a 0x1000-byte window" });
        }
        if vcpus > 255 {
            return Err(IrqChipError::Config { field: "base.cpu_num", what: "an I/O APIC addresses at most 255 vCPUs" });
        }
        Ok(Self { base: dev.base_gpa as u64, model: SpinNoIrq::new(IoApic::new()) })
    }

    fn reset(&self) {
        *self.model.lock() = IoApic::new();
    }

    /// Every register is emulated.
    fn guest_window(&self) -> Option<DeviceWindow> {
        None
    }

    #[inline]
    fn offset_of(&self, gpa: u64) -> Option<usize> {
        let offset = gpa.checked_sub(self.base)?;
        (offset < vioapic::WINDOW as u64).then_some(offset as usize)
    }

    fn read(&self, _vcpu: usize, offset: usize, width: u8) -> u64 {
        self.model.lock().read(offset, width)
    }

    fn write(&self, _vcpu: usize, offset: usize, width: u8, value: u64) -> Option<Ipi> {
        self.model.lock().write(offset, width, value);
        None
    }

    /// A masked (or unroutable) pin delivers nothing.
    fn device_irq_route(&self, irq: usize) -> Option<(usize, usize)> {
        let route = self.model.lock().route(irq)?;
        Some((usize::from(route.apic_id), usize::from(route.vector)))
    }

    /// The vCPU's own interrupt flag decides when it takes the vector.
    fn deliverable(&self, _vcpu: usize, _vector: usize) -> Option<u8> {
        Some(0)
    }
}
