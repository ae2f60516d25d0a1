//! x86_64 emulates no interrupt controller yet: no config entry is one,
//! and the type has no values.

use axvmconfig::EmulatedDeviceConfig;
use exit_dispatch::Ipi;

use crate::hal::IrqChipError;
use crate::hal::arch::{DeviceWindow, IrqChipOps};

/// No virtual interrupt controller: this type has no values.
pub enum NoIrqChip {}

impl IrqChipOps for NoIrqChip {
    fn is_irqchip(_dev: &EmulatedDeviceConfig) -> bool {
        false
    }

    fn create(_dev: &EmulatedDeviceConfig, _vm: usize, _vcpus: usize) -> Result<Self, IrqChipError> {
        Err(IrqChipError::Config { field: "type", what: "no interrupt controller is emulated on this architecture" })
    }

    fn reset(&self) {
        match *self {}
    }

    fn guest_window(&self) -> Option<DeviceWindow> {
        match *self {}
    }

    fn offset_of(&self, _gpa: u64) -> Option<usize> {
        match *self {}
    }

    fn read(&self, _vcpu: usize, _offset: usize, _width: u8) -> u64 {
        match *self {}
    }

    fn write(&self, _vcpu: usize, _offset: usize, _width: u8, _value: u64) -> Option<Ipi> {
        match *self {}
    }

    fn device_irq_target(&self, _irq: usize) -> usize {
        match *self {}
    }

    fn device_irq_vector(&self, _irq: usize) -> usize {
        match *self {}
    }

    fn deliverable(&self, _vcpu: usize, _vector: usize) -> Option<u8> {
        match *self {}
    }
}
