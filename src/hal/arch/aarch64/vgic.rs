//! A VM's virtual GICv2: the distributor emulated with the `vgic-v2`
//! register model, and the host's virtual CPU interface (GICV) mapped at
//! the guest's GICC address, so acknowledge and EOI never exit.
//!
//! Config: an `emu_devices` entry of type 0x1 (interrupt controller):
//! `["vgic-v2", GICD_GPA, 0x1000, 0, 0x1, [GICC_GPA]]`.

use axaddrspace::{GuestPhysAddr, HostPhysAddr, MappingFlags};
use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
use spin::Mutex;
use vgic_v2::{Distributor, offset::FRAME_SIZE};

use super::gic;
use crate::hal::{IrqChipError, Ipi};
use crate::vmm::vm::Vm;

/// Interrupt ids the virtual distributor offers (SGIs, PPIs and 224 SPIs).
const VIRQS: usize = 256;

/// The virtual interrupt controller of one VM.
pub struct VirtualIrqChip {
    gicd_base: usize,
    gicd_size: usize,
    dist: Mutex<Distributor>,
}

/// Whether an emulated-device entry is this VM's interrupt controller.
pub fn is_irqchip(dev: &EmulatedDeviceConfig) -> bool {
    dev.emu_type == EmulatedDeviceType::InterruptController
}

impl VirtualIrqChip {
    /// Builds the controller an `emu_devices` entry describes and maps the
    /// virtual CPU interface into `vm`.
    pub fn create(dev: &EmulatedDeviceConfig, vm: &Vm) -> Result<Self, IrqChipError> {
        let gicc = *dev.cfg_list.first().ok_or(IrqChipError::Config {
            field: "cfg_list",
            what: "needs the guest GICC address as its first value",
        })?;
        if dev.length < FRAME_SIZE {
            return Err(IrqChipError::Config { field: "size", what: "a GICv2 distributor frame is 0x1000 bytes" });
        }
        let dist = Distributor::new(vm.vcpu_num(), VIRQS, gic::host_iidr())
            .map_err(|_| IrqChipError::Config { field: "vCPU count", what: "a GICv2 serves 1 to 8 vCPUs" })?;
        let flags = MappingFlags::DEVICE | MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER;
        vm.map_region(GuestPhysAddr::from(gicc), HostPhysAddr::from(gic::gicv_base()), gic::GICV_SIZE, flags)
            .map_err(IrqChipError::Map)?;
        Ok(Self { gicd_base: dev.base_gpa, gicd_size: dev.length, dist: Mutex::new(dist) })
    }

    /// The distributor offset of `gpa`, if the controller decodes it.
    pub fn offset_of(&self, gpa: usize) -> Option<usize> {
        let offset = gpa.checked_sub(self.gicd_base)?;
        (offset < self.gicd_size).then_some(offset)
    }

    /// A guest read at distributor `offset`.
    pub fn read(&self, vcpu: usize, offset: usize, size: usize) -> usize {
        self.dist.lock().read(vcpu, offset, size) as usize
    }

    /// A guest write at distributor `offset`; an SGI it raises comes back.
    pub fn write(&self, vcpu: usize, offset: usize, size: usize, value: usize) -> Option<Ipi> {
        let sgi = self.dist.lock().write(vcpu, offset, size, value as u32)?;
        Some(Ipi { vector: usize::from(sgi.id), targets: u64::from(sgi.targets) })
    }

    /// The vCPU a device interrupt goes to: the guest's chosen target, or
    /// vCPU 0 until it chose one.
    pub fn device_irq_target(&self, irq: usize) -> usize {
        self.dist.lock().spi_target(irq).unwrap_or(0)
    }

    /// The priority to inject `vector` at on `vcpu`, or `None` while the
    /// guest keeps it disabled.
    pub fn deliverable(&self, vcpu: usize, vector: usize) -> Option<u8> {
        let dist = self.dist.lock();
        dist.deliverable(vcpu, vector).then(|| dist.priority(vcpu, vector))
    }
}
