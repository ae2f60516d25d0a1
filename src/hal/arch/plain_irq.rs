//! The arch contract's interrupt-controller part for architectures where
//! the hypervisor emulates no interrupt controller yet (riscv64, x86_64).

use axvmconfig::EmulatedDeviceConfig;

use crate::hal::{IrqChipError, Ipi};
use crate::vmm::vm::Vm;

/// No interrupt controller is emulated here; this type has no values.
pub enum VirtualIrqChip {}

/// No config entry names an emulated interrupt controller here.
pub fn is_irqchip(_dev: &EmulatedDeviceConfig) -> bool {
    false
}

impl VirtualIrqChip {
    /// Never called: `is_irqchip` accepts no entry.
    pub fn create(_dev: &EmulatedDeviceConfig, _vm: &Vm) -> Result<Self, IrqChipError> {
        Err(IrqChipError::Config { field: "type", what: "no interrupt controller is emulated on this architecture" })
    }

    /// See the aarch64 controller.
    pub fn offset_of(&self, _gpa: usize) -> Option<usize> {
        match *self {}
    }

    /// See the aarch64 controller.
    pub fn read(&self, _vcpu: usize, _offset: usize, _size: usize) -> usize {
        match *self {}
    }

    /// See the aarch64 controller.
    pub fn write(&self, _vcpu: usize, _offset: usize, _size: usize, _value: usize) -> Option<Ipi> {
        match *self {}
    }

    /// See the aarch64 controller.
    pub fn device_irq_target(&self, _irq: usize) -> usize {
        match *self {}
    }

    /// See the aarch64 controller.
    pub fn deliverable(&self, _vcpu: usize, _vector: usize) -> Option<u8> {
        match *self {}
    }
}

/// Nothing to set up on the host.
pub fn init_host_interrupts() -> Result<(), &'static str> {
    Ok(())
}




/// Device interrupts are not forwarded here yet.
pub fn forward_device_irq(_vm_id: usize, _irq: usize) -> Result<(), &'static str> {
    Err("forwarding device interrupts is not supported on this architecture yet")
}

/// Nothing was forwarded.
pub fn release_device_irqs(_vm_id: usize) {}

/// Generated device trees are Arm-only so far.
pub fn generate_dtb(
    _config: &axvmconfig::AxVMCrateConfig,
    _ramdisk_size: Option<usize>,
) -> Result<alloc::vec::Vec<u8>, &'static str> {
    Err("generating a device tree is not supported on this architecture")
}

/// No cross-CPU kick yet: the target sees its queue at its next exit.
pub fn kick_cpu(_pcpu: usize) {}

