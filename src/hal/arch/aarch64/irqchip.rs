//! A VM's virtual GICv2: the distributor emulated with the `vgic-v2`
//! register model, and the host's virtual CPU interface (GICV) mapped at
//! the guest's GICC address, so acknowledge and EOI never exit.
//!
//! Config: an `emu_devices` entry of type 0x1 (interrupt controller):
//! `["vgic-v2", GICD_GPA, 0x1000, 0, 0x1, [GICC_GPA]]`.

use axaddrspace::HostPhysAddr;
use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
use exit_dispatch::Ipi;
use kspin::SpinNoIrq;
use vgic_v2::{Distributor, offset::FRAME_SIZE};

use core::ops::Range;

use super::irq;
use super::vgic_state::{self, StateReg, StateWrite, state_reg};
use crate::hal::IrqChipError;
use crate::hal::arch::{DeviceWindow, IrqChipOps};

/// Interrupt ids the virtual distributor offers (SGIs, PPIs and 224 SPIs).
const VIRQS: usize = 256;
/// SGIs are queued with their sender: vector `SGI_FROM + 8 * id + source`.
const SGI_FROM: usize = VIRQS;

/// The (interrupt id, sending vCPU) a queued vector stands for.
pub fn decode_vector(vector: usize) -> (usize, usize) {
    match vector.checked_sub(SGI_FROM) {
        Some(sgi) => (sgi / 8, sgi % 8),
        None => (vector, 0),
    }
}

/// The virtual GICv2 of one VM. Its lock is taken by the device-interrupt
/// forwarding handler too, so it keeps interrupts off while held.
pub struct VirtualGic {
    gicd_base: u64,
    gicd_size: u64,
    gicc: usize,
    vm: usize,
    vcpus: usize,
    dist: SpinNoIrq<Distributor>,
}

/// The queue vectors interrupt `intid` may sit under: an SGI under each
/// sender, anything else under its id.
fn queue_vectors(intid: usize) -> Range<usize> {
    let sgi = intid < 16;
    let (first, count) = if sgi { (SGI_FROM + 8 * intid, 8) } else { (intid, 1) };
    first..first + count
}

impl IrqChipOps for VirtualGic {
    fn is_irqchip(dev: &EmulatedDeviceConfig) -> bool {
        dev.emu_type == EmulatedDeviceType::InterruptController
    }

    fn create(dev: &EmulatedDeviceConfig, vm: usize, vcpus: usize) -> Result<Self, IrqChipError> {
        let gicc = *dev.cfg_list.first().ok_or(IrqChipError::Config {
            field: "cfg_list",
            what: "needs the guest GICC address as its first value",
        })?;
        if dev.length < FRAME_SIZE {
            return Err(IrqChipError::Config { field: "size", what: "a GICv2 distributor frame is 0x1000 bytes" });
        }
        let dist = Distributor::new(vcpus, VIRQS, irq::host_iidr())
            .map_err(|_| IrqChipError::Config { field: "vCPU count", what: "a GICv2 serves 1 to 8 vCPUs" })?;
        Ok(Self { gicd_base: dev.base_gpa as u64, gicd_size: dev.length as u64, gicc, vm, vcpus, dist: SpinNoIrq::new(dist) })
    }

    fn reset(&self) {
        // `create` built a distributor with these parameters already.
        if let Ok(fresh) = Distributor::new(self.vcpus, VIRQS, irq::host_iidr()) {
            *self.dist.lock() = fresh;
        }
    }

    fn guest_window(&self) -> Option<DeviceWindow> {
        Some(DeviceWindow { gpa: self.gicc, hpa: HostPhysAddr::from(irq::gicv_base()), size: irq::GICV_SIZE })
    }

    fn offset_of(&self, gpa: u64) -> Option<usize> {
        let offset = gpa.checked_sub(self.gicd_base)?;
        (offset < self.gicd_size).then_some(offset as usize)
    }

    fn read(&self, vcpu: usize, offset: usize, width: u8) -> u64 {
        if let Some((reg, word)) = state_reg(offset, width) {
            return u64::from(self.read_state(reg, word));
        }
        u64::from(self.dist.lock().read(vcpu, offset, usize::from(width)))
    }

    fn write(&self, vcpu: usize, offset: usize, width: u8, value: u64) -> Option<Ipi> {
        if let Some((reg, word)) = state_reg(offset, width) {
            self.write_state(vcpu, reg, word, value as u32);
            return None;
        }
        let sgi = self.dist.lock().write(vcpu, offset, usize::from(width), value as u32)?;
        // A GICv2 serves at most 8 vCPUs, so the sender fits in 3 bits.
        Some(Ipi { vector: SGI_FROM + 8 * usize::from(sgi.id) + (vcpu & 7), targets: u64::from(sgi.targets) })
    }

    /// The guest's chosen target, or vCPU 0 until it chose one; a
    /// forwarded SPI keeps its id in the guest.
    fn device_irq_route(&self, irq: usize) -> Option<(usize, usize)> {
        Some((self.dist.lock().spi_target(irq).unwrap_or(0), irq))
    }

    fn deliverable(&self, vcpu: usize, vector: usize) -> Option<u8> {
        let (intid, _) = decode_vector(vector);
        let dist = self.dist.lock();
        dist.deliverable(vcpu, intid).then(|| dist.priority(vcpu, intid))
    }
}

impl VirtualGic {
    fn read_state(&self, reg: StateReg, word: usize) -> u32 {
        vgic_state::read(reg, word, queue_vectors)
    }

    /// GICD_ISPENDR makes an SGI pending for nobody (GICD_SPENDSGIR sets
    /// those), a PPI for the writer, an SPI for its target.
    fn write_state(&self, vcpu: usize, reg: StateReg, word: usize, value: u32) {
        let model = StateWrite {
            vm: self.vm,
            writer: vcpu,
            irqs: VIRQS,
            vectors: queue_vectors,
            priority: |intid| self.dist.lock().priority(vcpu, intid),
            target: |intid| match intid {
                0..16 => None,
                16..32 => Some(vcpu),
                _ => Some(self.dist.lock().spi_target(intid).unwrap_or(0)),
            },
        };
        vgic_state::write(reg, word, value, model);
    }
}
