//! A virtual GICv3 as the guest sees it (Arm IHI 0069): the distributor
//! with affinity routing always on, one redistributor per vCPU (SGI and
//! PPI enables, priorities and configuration, power state), and SGIs
//! from the guest's ICC_SGI1R_EL1 writes, which the hypervisor traps.
//!
//! Pure register logic, no hardware access, like `vgic-v2`: pending and
//! active state live in the GIC list registers, not here. There is one
//! security state and every interrupt is Group 1 (IGROUPR reads as all
//! ones), as Linux and the other guests use them; there are no LPIs.
//!
//! GICR_WAKER is the guest's own state, as KVM presents it: ProcessorSleep
//! is stored (set at reset, as on hardware), ChildrenAsleep mirrors it at
//! once, and delivery never depends on it, so a guest that never wakes its
//! redistributor still takes interrupts (KVM and QEMU deliver regardless).
//!
//! Accesses the architecture does not define (reserved offsets, a wrong
//! size, a misaligned access) read as zero and ignore writes; they never
//! fail.
#![no_std]
#![deny(unsafe_code)]

mod regs;
mod sgi;

pub use regs::{gicd, gicr};
pub use sgi::{SgiRequest, sgi_request};

/// vCPUs one GIC serves here (ICC_SGI1R's target list names 16).
pub const MAX_VCPUS: usize = 16;
/// Interrupt ids modelled: SGIs 0-15, PPIs 16-31, SPIs 32-255.
pub const MAX_IRQS: usize = 256;
/// Interrupts private to each vCPU (SGIs and PPIs).
pub const PRIVATE_IRQS: usize = 32;
const SPIS: usize = MAX_IRQS - PRIVATE_IRQS;

/// GICD_CTLR: EnableGrp1, ARE (fixed on), DS (fixed on).
const CTLR_ENABLE_GRP1: u32 = 1 << 1;
const CTLR_FIXED: u32 = (1 << 4) | (1 << 6);
/// GICD_IROUTER: the affinity fields and Interrupt Routing Mode.
const ROUTE_MASK: u64 = 0xff_80ff_ffff;
const ROUTE_ANY: u64 = 1 << 31;
/// GICR_WAKER.ProcessorSleep and ChildrenAsleep (which mirrors it).
const WAKER_SLEEP: u32 = 1 << 1;
const WAKER_ASLEEP: u32 = 1 << 2;
/// Peripheral ID 2: ArchRev 3, a GICv3.
const PIDR2_V3: u32 = 0x3B;
/// SGIs edge-triggered (0b10 each), fixed.
const SGI_CONFIG: u32 = 0xaaaa_aaaa;

#[derive(Clone, Copy)]
struct Redistributor {
    enabled: u32,
    priority: [u8; PRIVATE_IRQS],
    ppi_config: u32,
    /// GICR_WAKER.ProcessorSleep: stored, without effect on delivery.
    sleep: bool,
}

const RESET_REDIST: Redistributor = Redistributor { enabled: 0, priority: [0; PRIVATE_IRQS], ppi_config: 0, sleep: true };

/// The distributor and redistributors of one VM.
pub struct Gic {
    vcpus: usize,
    irqs: usize,
    iidr: u32,
    grp1_enabled: bool,
    redists: [Redistributor; MAX_VCPUS],
    spi_enabled: [u32; SPIS / 32],
    spi_priority: [u8; SPIS],
    spi_route: [u64; SPIS],
    spi_config: [u32; SPIS / 16],
}

/// Why a GIC could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// vCPU count outside 1..=16.
    VcpuCount(usize),
    /// Interrupt count not a multiple of 32 in 32..=256.
    IrqCount(usize),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::VcpuCount(n) => write!(f, "this GICv3 serves 1 to {MAX_VCPUS} vCPUs, not {n}"),
            Self::IrqCount(n) => write!(f, "interrupt count {n} is not a multiple of 32 in 32..={MAX_IRQS}"),
        }
    }
}

/// The affinity a vCPU reports in MPIDR_EL1 and GICR_TYPER: its id in
/// Aff0.
pub const fn affinity(vcpu: usize) -> u64 {
    vcpu as u64 & 0xff
}

impl Gic {
    /// A GIC for `vcpus` vCPUs and `irqs` interrupt ids, reporting `iidr`
    /// as its implementer, in its reset state.
    pub fn new(vcpus: usize, irqs: usize, iidr: u32) -> Result<Self, Error> {
        if !(1..=MAX_VCPUS).contains(&vcpus) {
            return Err(Error::VcpuCount(vcpus));
        }
        if !irqs.is_multiple_of(32) || !(32..=MAX_IRQS).contains(&irqs) {
            return Err(Error::IrqCount(irqs));
        }
        Ok(Self {
            vcpus,
            irqs,
            iidr,
            grp1_enabled: false,
            redists: [RESET_REDIST; MAX_VCPUS],
            spi_enabled: [0; SPIS / 32],
            spi_priority: [0; SPIS],
            spi_route: [0; SPIS],
            spi_config: [0; SPIS / 16],
        })
    }

    /// How many vCPUs (and redistributors) the GIC has.
    pub fn vcpus(&self) -> usize {
        self.vcpus
    }

    /// Whether `irq` may be signalled to `vcpu`: Group 1 is enabled, the
    /// interrupt is enabled and (for an SPI) routed to that vCPU. The
    /// redistributor's GICR_WAKER plays no part.
    pub fn deliverable(&self, vcpu: usize, irq: usize) -> bool {
        if !self.grp1_enabled || vcpu >= self.vcpus || irq >= self.irqs {
            return false;
        }
        if irq < PRIVATE_IRQS {
            return self.redists[vcpu].enabled & (1 << irq) != 0;
        }
        let spi = irq - PRIVATE_IRQS;
        self.spi_enabled[spi / 32] & (1 << (spi % 32)) != 0 && self.spi_target(irq) == Some(vcpu)
    }

    /// The priority the guest gave `irq` on `vcpu` (0 if out of range).
    pub fn priority(&self, vcpu: usize, irq: usize) -> u8 {
        match irq {
            _ if vcpu >= self.vcpus || irq >= self.irqs => 0,
            0..PRIVATE_IRQS => self.redists[vcpu].priority[irq],
            _ => self.spi_priority[irq - PRIVATE_IRQS],
        }
    }

    /// The vCPU an SPI is routed to: the one its GICD_IROUTER names, or
    /// vCPU 0 for "any"; `None` for an affinity no vCPU has.
    pub fn spi_target(&self, irq: usize) -> Option<usize> {
        let route = *self.spi_route.get(irq.checked_sub(PRIVATE_IRQS)?)?;
        if route & ROUTE_ANY != 0 {
            return Some(0);
        }
        (0..self.vcpus).find(|&vcpu| affinity(vcpu) == route)
    }

    /// A guest read of `size` bytes at `offset` in the distributor.
    pub fn read_dist(&self, offset: usize, size: usize) -> u64 {
        if !regs::dist_access_ok(offset, size) {
            return 0;
        }
        match size {
            1 => u64::from((self.dist_word(offset & !3) >> (8 * (offset & 3))) & 0xff),
            8 => self.spi_route_of(offset).map_or(0, |n| self.spi_route[n]),
            _ => u64::from(self.dist_word(offset)),
        }
    }

    /// A guest write of `size` bytes at `offset` in the distributor.
    pub fn write_dist(&mut self, offset: usize, size: usize, value: u64) {
        if !regs::dist_access_ok(offset, size) {
            return;
        }
        match size {
            1 => {
                let (word, shift) = (offset & !3, 8 * (offset & 3));
                let merged = (self.dist_word(word) & !(0xff << shift)) | ((value as u32 & 0xff) << shift);
                self.write_dist_word(word, merged);
            }
            8 => {
                if let Some(n) = self.spi_route_of(offset) {
                    self.spi_route[n] = value & ROUTE_MASK;
                }
            }
            _ => self.write_dist_word(offset, value as u32),
        }
    }

    /// A guest read of `size` bytes at `offset` in vCPU `owner`'s
    /// redistributor.
    pub fn read_redist(&self, owner: usize, offset: usize, size: usize) -> u64 {
        if owner >= self.vcpus || !regs::redist_access_ok(offset, size) {
            return 0;
        }
        if size == 8 {
            return self.redist_typer(owner);
        }
        let word = self.redist_word(owner, offset & !3);
        if size == 1 { u64::from((word >> (8 * (offset & 3))) & 0xff) } else { u64::from(word) }
    }

    /// A guest write of `size` bytes at `offset` in vCPU `owner`'s
    /// redistributor.
    pub fn write_redist(&mut self, owner: usize, offset: usize, size: usize, value: u64) {
        if owner >= self.vcpus || !regs::redist_access_ok(offset, size) || size == 8 {
            return;
        }
        let value = if size == 1 {
            let (word, shift) = (offset & !3, 8 * (offset & 3));
            (self.redist_word(owner, word) & !(0xff << shift)) | ((value as u32 & 0xff) << shift)
        } else {
            value as u32
        };
        self.write_redist_word(owner, offset & !3, value);
    }

    /// The SPI index a routing-register offset names, if the GIC has it.
    fn spi_route_of(&self, offset: usize) -> Option<usize> {
        let irq = (offset - gicd::IROUTER) / 8;
        (PRIVATE_IRQS..self.irqs).contains(&irq).then(|| irq - PRIVATE_IRQS)
    }

    fn typer(&self) -> u32 {
        // IDbits 9 (10-bit ids) and ITLinesNumber; CPUNumber counts the
        // PEs without affinity routing, which is always on: 0.
        (9 << 19) | ((self.irqs / 32 - 1) as u32)
    }

    fn redist_typer(&self, owner: usize) -> u64 {
        let last = if owner + 1 == self.vcpus { 1 << 4 } else { 0 };
        (affinity(owner) << 32) | ((owner as u64) << 8) | last
    }

    /// Bits of a 1-bit-per-interrupt SPI register word (`index` 0 names
    /// the private interrupts, which live in the redistributors).
    fn spi_bits(&self, index: usize, words: &[u32]) -> u32 {
        if index == 0 || index >= self.irqs / 32 { 0 } else { words[index - 1] }
    }

    fn dist_word(&self, offset: usize) -> u32 {
        use regs::DistReg;
        match regs::decode_dist(offset) {
            DistReg::Ctlr => CTLR_FIXED | if self.grp1_enabled { CTLR_ENABLE_GRP1 } else { 0 },
            DistReg::Typer => self.typer(),
            DistReg::Iidr => self.iidr,
            DistReg::Pidr2 => PIDR2_V3,
            DistReg::Group(i) => if i == 0 || i >= self.irqs / 32 { 0 } else { u32::MAX },
            DistReg::SetEnable(i) | DistReg::ClearEnable(i) => self.spi_bits(i, &self.spi_enabled),
            DistReg::Priority(i) => u32::from_le_bytes(core::array::from_fn(|k| match 4 * i + k {
                irq if irq < PRIVATE_IRQS => 0,
                irq => self.priority(0, irq),
            })),
            DistReg::Config(i) if (2..self.irqs / 16).contains(&i) => self.spi_config[i - 2],
            DistReg::Route { n, high } => {
                let route = self.spi_route_of(gicd::IROUTER + 8 * n).map_or(0, |s| self.spi_route[s]);
                if high { (route >> 32) as u32 } else { route as u32 }
            }
            DistReg::Config(_) | DistReg::Unmodelled => 0,
        }
    }

    fn write_dist_word(&mut self, offset: usize, value: u32) {
        use regs::DistReg;
        let words = self.irqs / 32;
        match regs::decode_dist(offset) {
            DistReg::Ctlr => self.grp1_enabled = value & CTLR_ENABLE_GRP1 != 0,
            DistReg::SetEnable(i) if (1..words).contains(&i) => self.spi_enabled[i - 1] |= value,
            DistReg::ClearEnable(i) if (1..words).contains(&i) => self.spi_enabled[i - 1] &= !value,
            DistReg::Priority(i) => {
                for (k, byte) in value.to_le_bytes().into_iter().enumerate() {
                    if let Some(slot) = (4 * i + k).checked_sub(PRIVATE_IRQS).filter(|_| 4 * i + k < self.irqs) {
                        self.spi_priority[slot] = byte;
                    }
                }
            }
            DistReg::Config(i) if (2..self.irqs / 16).contains(&i) => self.spi_config[i - 2] = value,
            DistReg::Route { n, high } => {
                if let Some(s) = self.spi_route_of(gicd::IROUTER + 8 * n) {
                    let old = self.spi_route[s];
                    let new = if high {
                        (old & 0xffff_ffff) | (u64::from(value) << 32)
                    } else {
                        (old & !0xffff_ffff) | u64::from(value)
                    };
                    self.spi_route[s] = new & ROUTE_MASK;
                }
            }
            _ => {}
        }
    }

    fn redist_word(&self, owner: usize, offset: usize) -> u32 {
        use regs::RedistReg;
        let rd = &self.redists[owner];
        match regs::decode_redist(offset) {
            RedistReg::Iidr => self.iidr,
            RedistReg::Typer { high } => {
                let typer = self.redist_typer(owner);
                if high { (typer >> 32) as u32 } else { typer as u32 }
            }
            RedistReg::Waker => if rd.sleep { WAKER_SLEEP | WAKER_ASLEEP } else { 0 },
            RedistReg::Pidr2 => PIDR2_V3,
            RedistReg::Group => u32::MAX,
            RedistReg::SetEnable | RedistReg::ClearEnable => rd.enabled,
            RedistReg::Priority(i) => u32::from_le_bytes(core::array::from_fn(|k| rd.priority[4 * i + k])),
            RedistReg::Config(0) => SGI_CONFIG,
            RedistReg::Config(_) => rd.ppi_config,
            RedistReg::Ctlr | RedistReg::Unmodelled => 0,
        }
    }

    fn write_redist_word(&mut self, owner: usize, offset: usize, value: u32) {
        use regs::RedistReg;
        let rd = &mut self.redists[owner];
        match regs::decode_redist(offset) {
            RedistReg::Waker => rd.sleep = value & WAKER_SLEEP != 0,
            RedistReg::SetEnable => rd.enabled |= value,
            RedistReg::ClearEnable => rd.enabled &= !value,
            RedistReg::Priority(i) => rd.priority[4 * i..4 * i + 4].copy_from_slice(&value.to_le_bytes()),
            RedistReg::Config(1) => rd.ppi_config = value,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
