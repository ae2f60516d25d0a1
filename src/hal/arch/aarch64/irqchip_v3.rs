//! A VM's virtual GICv3: distributor and redistributors emulated with the
//! `vgic-v3` register model, the guest's CPU interface through the host's
//! ICH list registers (ICC_* system registers run native), and SGIs from
//! trapped ICC_SGI1R_EL1 writes.
//!
//! Config: an `emu_devices` entry of type 0x1 (interrupt controller):
//! `["vgic", GICD_GPA, 0x10000, 0, 0x1, [GICC_GPA, GICR_GPA]]`; a GICv3
//! host reads the second value, where the redistributors start (one
//! 0x20000-byte redistributor per vCPU).

use core::ops::Range;

use a64_vcpu::esr::SysRegAccess;
use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
use exit_dispatch::Ipi;
use kspin::SpinNoIrq;
use vgic_v3::{Gic, gicd, gicr};

use super::irq;
use super::vgic_state::{self, StateReg, StateWrite, state_reg};
use crate::hal::arch::{DeviceWindow, IrqChipOps};
use crate::hal::IrqChipError;

/// Interrupt ids the virtual GIC offers (SGIs, PPIs and 224 SPIs).
const VIRQS: usize = 256;
/// Offsets at or above this one are in the redistributors.
const REDIST: usize = 1 << 40;
/// ICC_SGI1R_EL1, ICC_ASGI1R_EL1 and ICC_SGI0R_EL1 as the trap reports
/// them.
const SGI_REGS: [u32; 3] =
    [SysRegAccess::encode(3, 0, 12, 11, 5), SysRegAccess::encode(3, 0, 12, 11, 6), SysRegAccess::encode(3, 0, 12, 11, 7)];

/// The (interrupt id, sending vCPU) a queued vector stands for: a GICv3
/// does not tell the guest an SGI's sender, so the vector is the id.
pub fn decode_vector(vector: usize) -> (usize, usize) {
    (vector, 0)
}

/// An interrupt id is queued under itself.
fn queue_vectors(intid: usize) -> Range<usize> {
    intid..intid + 1
}

/// The virtual GICv3 of one VM. Its lock is taken by the device-interrupt
/// forwarding handler too, so it keeps interrupts off while held.
pub struct VirtualGic {
    gicd: (u64, u64),
    gicr: (u64, u64),
    vm: usize,
    vcpus: usize,
    gic: SpinNoIrq<Gic>,
}

impl IrqChipOps for VirtualGic {
    fn is_irqchip(dev: &EmulatedDeviceConfig) -> bool {
        dev.emu_type == EmulatedDeviceType::InterruptController
    }

    fn create(dev: &EmulatedDeviceConfig, vm: usize, vcpus: usize) -> Result<Self, IrqChipError> {
        let gicr = *dev.cfg_list.get(1).ok_or(IrqChipError::Config {
            field: "cfg_list",
            what: "a GICv3 host needs the redistributors' guest address as the second value",
        })?;
        if dev.length < gicd::SIZE {
            return Err(IrqChipError::Config { field: "size", what: "a GICv3 distributor is 0x10000 bytes" });
        }
        let gic = Gic::new(vcpus, VIRQS, irq::host_iidr())
            .map_err(|_| IrqChipError::Config { field: "vCPU count", what: "this GICv3 serves 1 to 16 vCPUs" })?;
        let gicd = (dev.base_gpa as u64, dev.length as u64);
        let gicr = (gicr as u64, (vcpus * gicr::STRIDE) as u64);
        if gicr.0 < gicd.0 + gicd.1 && gicd.0 < gicr.0 + gicr.1 {
            return Err(IrqChipError::Config { field: "cfg_list", what: "the redistributors overlap the distributor" });
        }
        Ok(Self { gicd, gicr, vm, vcpus, gic: SpinNoIrq::new(gic) })
    }

    fn reset(&self) {
        // `create` built a GIC with these parameters already.
        if let Ok(fresh) = Gic::new(self.vcpus, VIRQS, irq::host_iidr()) {
            *self.gic.lock() = fresh;
        }
    }

    /// Nothing is mapped: the CPU interface is system registers.
    fn guest_window(&self) -> Option<DeviceWindow> {
        None
    }

    fn offset_of(&self, gpa: u64) -> Option<usize> {
        let inside = |(base, size): (u64, u64)| gpa.checked_sub(base).filter(|offset| *offset < size);
        if let Some(offset) = inside(self.gicd) {
            return Some(offset as usize);
        }
        inside(self.gicr).map(|offset| REDIST | offset as usize)
    }

    fn read(&self, vcpu: usize, offset: usize, width: u8) -> u64 {
        let Some(redist) = offset.checked_sub(REDIST) else {
            if let Some((reg, word)) = state_reg(offset, width).filter(|(_, word)| *word > 0) {
                return u64::from(vgic_state::read(reg, word, queue_vectors));
            }
            return self.gic.lock().read_dist(offset, usize::from(width));
        };
        let (owner, offset) = (redist / gicr::STRIDE, redist % gicr::STRIDE);
        if let Some((reg, _)) = offset.checked_sub(gicr::SGI_BASE).and_then(|o| state_reg(o, width)) {
            // A vCPU sees the state of its own redistributor only.
            return if owner == vcpu { u64::from(vgic_state::read(reg, 0, queue_vectors)) } else { 0 };
        }
        self.gic.lock().read_redist(owner, offset, usize::from(width))
    }

    fn write(&self, vcpu: usize, offset: usize, width: u8, value: u64) -> Option<Ipi> {
        let Some(redist) = offset.checked_sub(REDIST) else {
            match state_reg(offset, width) {
                Some((reg, word)) if word > 0 => self.write_state(vcpu, reg, word, value as u32),
                Some(_) => {}
                None => self.gic.lock().write_dist(offset, usize::from(width), value),
            }
            return None;
        };
        let (owner, offset) = (redist / gicr::STRIDE, redist % gicr::STRIDE);
        match offset.checked_sub(gicr::SGI_BASE).and_then(|o| state_reg(o, width)) {
            Some((reg, _)) if owner == vcpu => self.write_state(vcpu, reg, 0, value as u32),
            Some(_) => {}
            None => self.gic.lock().write_redist(owner, offset, usize::from(width), value),
        }
        None
    }

    /// ICC_SGI1R_EL1 (and the other two SGI registers).
    fn sysreg_write(&self, vcpu: usize, encoding: u64, value: u64) -> Option<Option<Ipi>> {
        if !SGI_REGS.iter().any(|&reg| u64::from(reg) == encoding) {
            return None;
        }
        let sgi = vgic_v3::sgi_request(vcpu, self.vcpus, value);
        Some(sgi.map(|sgi| Ipi { vector: usize::from(sgi.id), targets: u64::from(sgi.targets) }))
    }

    /// The vCPU the guest routed it to, or vCPU 0; a forwarded SPI keeps
    /// its id in the guest.
    fn device_irq_route(&self, irq: usize) -> Option<(usize, usize)> {
        Some((self.gic.lock().spi_target(irq).unwrap_or(0), irq))
    }

    fn deliverable(&self, vcpu: usize, vector: usize) -> Option<u8> {
        let gic = self.gic.lock();
        gic.deliverable(vcpu, vector).then(|| gic.priority(vcpu, vector))
    }
}

impl VirtualGic {
    /// I[SC]PENDR: an SGI or PPI becomes pending for the writer (its own
    /// redistributor), an SPI for its target.
    fn write_state(&self, vcpu: usize, reg: StateReg, word: usize, value: u32) {
        let model = StateWrite {
            vm: self.vm,
            writer: vcpu,
            irqs: VIRQS,
            vectors: queue_vectors,
            priority: |intid| self.gic.lock().priority(vcpu, intid),
            target: |intid| Some(if intid < 32 { vcpu } else { self.gic.lock().spi_target(intid).unwrap_or(0) }),
        };
        vgic_state::write(reg, word, value, model);
    }
}
