//! A virtual GICv2 distributor as the guest sees it (Arm IHI 0048B, ch. 4):
//! enable, priority, target, configuration and group state per interrupt,
//! banked per vCPU for SGIs and PPIs, and SGI generation through GICD_SGIR.
//!
//! Pure register logic, no hardware access: the hypervisor asks it whether
//! an interrupt may be injected and at what priority, and turns the
//! [`SgiRequest`]s it returns into injections. Pending and active state are
//! not modelled here: they live in the GIC list registers.
//!
//! Accesses the architecture does not define (reserved offsets, a
//! halfword or doubleword, a misaligned word, byte access to a word-only
//! register) read as zero and ignore writes, like real distributors; they
//! never fail.
#![no_std]
#![deny(unsafe_code)]

mod regs;

pub use regs::offset;

/// vCPUs one distributor serves (GICv2 has 8 CPU interfaces).
pub const MAX_VCPUS: usize = 8;
/// Interrupt ids modelled: SGIs 0-15, PPIs 16-31, SPIs 32-255.
pub const MAX_IRQS: usize = 256;
/// Interrupts private to each vCPU (SGIs and PPIs).
pub const PRIVATE_IRQS: usize = 32;
/// Number of SGIs.
pub const SGIS: usize = 16;

/// An SGI the guest asked for by writing GICD_SGIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SgiRequest {
    /// SGI id, 0-15.
    pub id: u8,
    /// Target vCPUs, one bit per vCPU id.
    pub targets: u8,
}

#[derive(Clone, Copy)]
struct Bank {
    enabled: u32,
    group: u32,
    priority: [u8; PRIVATE_IRQS],
    config: [u32; 2],
}

const EMPTY_BANK: Bank = Bank {
    enabled: (1 << SGIS) - 1,
    group: 0,
    priority: [0; PRIVATE_IRQS],
    // SGIs are edge-triggered (0b10 per interrupt), PPIs level.
    config: [0xaaaa_aaaa, 0],
};

const SPIS: usize = MAX_IRQS - PRIVATE_IRQS;

/// The distributor of one VM.
pub struct Distributor {
    vcpus: usize,
    irqs: usize,
    iidr: u32,
    enabled: bool,
    banks: [Bank; MAX_VCPUS],
    spi_enabled: [u32; SPIS / 32],
    spi_group: [u32; SPIS / 32],
    spi_priority: [u8; SPIS],
    spi_targets: [u8; SPIS],
    spi_config: [u32; SPIS / 16],
}

/// Why a distributor could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// vCPU count outside 1..=8.
    VcpuCount(usize),
    /// Interrupt count not a multiple of 32 in 32..=256.
    IrqCount(usize),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::VcpuCount(n) => write!(f, "a GICv2 serves 1 to {MAX_VCPUS} vCPUs, not {n}"),
            Self::IrqCount(n) => write!(f, "interrupt count {n} is not a multiple of 32 in 32..={MAX_IRQS}"),
        }
    }
}

impl Distributor {
    /// A distributor for `vcpus` vCPUs and `irqs` interrupt ids, reporting
    /// `iidr` as its implementer. Everything starts disabled, as at reset.
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
            enabled: false,
            banks: [EMPTY_BANK; MAX_VCPUS],
            spi_enabled: [0; SPIS / 32],
            spi_group: [0; SPIS / 32],
            spi_priority: [0; SPIS],
            spi_targets: [0; SPIS],
            spi_config: [0; SPIS / 16],
        })
    }

    /// Whether `irq` may be signalled to `vcpu`: the distributor is on, the
    /// interrupt is enabled and (for an SPI) targets that vCPU.
    pub fn deliverable(&self, vcpu: usize, irq: usize) -> bool {
        if !self.enabled || vcpu >= self.vcpus || irq >= self.irqs {
            return false;
        }
        if irq < PRIVATE_IRQS {
            self.banks[vcpu].enabled & (1 << irq) != 0
        } else {
            let spi = irq - PRIVATE_IRQS;
            self.spi_enabled[spi / 32] & (1 << (spi % 32)) != 0 && self.spi_targets[spi] & (1 << vcpu) != 0
        }
    }

    /// The priority the guest gave `irq` on `vcpu` (0 if out of range).
    pub fn priority(&self, vcpu: usize, irq: usize) -> u8 {
        match irq {
            _ if vcpu >= self.vcpus || irq >= self.irqs => 0,
            0..PRIVATE_IRQS => self.banks[vcpu].priority[irq],
            _ => self.spi_priority[irq - PRIVATE_IRQS],
        }
    }

    /// The lowest vCPU an SPI targets, if it targets any.
    pub fn spi_target(&self, irq: usize) -> Option<usize> {
        let targets = *self.spi_targets.get(irq.checked_sub(PRIVATE_IRQS)?)?;
        (targets != 0).then(|| targets.trailing_zeros() as usize)
    }

    /// A guest read of `size` bytes at `offset` by `vcpu`.
    pub fn read(&self, vcpu: usize, offset: usize, size: usize) -> u32 {
        if vcpu >= self.vcpus || !regs::access_ok(offset, size) {
            return 0;
        }
        if size == 1 {
            let word = self.read_word(vcpu, offset & !3);
            return (word >> (8 * (offset & 3))) & 0xff;
        }
        self.read_word(vcpu, offset)
    }

    /// A guest write of `size` bytes at `offset` by `vcpu`; returns the SGI
    /// to send when the write was to GICD_SGIR.
    pub fn write(&mut self, vcpu: usize, offset: usize, size: usize, value: u32) -> Option<SgiRequest> {
        if vcpu >= self.vcpus || !regs::access_ok(offset, size) {
            return None;
        }
        if size == 1 {
            let shift = 8 * (offset & 3);
            let word = offset & !3;
            let merged = (self.read_word(vcpu, word) & !(0xff << shift)) | ((value & 0xff) << shift);
            self.write_word(vcpu, word, merged);
            return None;
        }
        if offset == offset::SGIR {
            return self.sgi(vcpu, value);
        }
        self.write_word(vcpu, offset, value);
        None
    }

    fn typer(&self) -> u32 {
        (((self.vcpus - 1) as u32) << 5) | ((self.irqs / 32 - 1) as u32)
    }

    /// Mask of vCPU bits that exist.
    fn vcpu_mask(&self) -> u8 {
        ((1u16 << self.vcpus) - 1) as u8
    }

    fn sgi(&self, vcpu: usize, value: u32) -> Option<SgiRequest> {
        let id = (value & 0xf) as u8;
        let listed = ((value >> 16) & 0xff) as u8;
        let me = 1u8 << vcpu;
        let targets = match (value >> 24) & 0x3 {
            0 => listed,
            1 => !me,
            2 => me,
            _ => 0,
        } & self.vcpu_mask();
        (targets != 0).then_some(SgiRequest { id, targets })
    }

    /// Bits of a 1-bit-per-interrupt register word `index` (0 = private).
    fn bit_word(&self, vcpu: usize, index: usize, field: fn(&Bank) -> u32, spi: &[u32]) -> u32 {
        if index == 0 {
            field(&self.banks[vcpu])
        } else if index < self.irqs / 32 {
            spi[index - 1]
        } else {
            0
        }
    }

    fn read_word(&self, vcpu: usize, offset: usize) -> u32 {
        use regs::Reg;
        match regs::decode(offset) {
            Reg::Ctlr => u32::from(self.enabled),
            Reg::Typer => self.typer(),
            Reg::Iidr => self.iidr,
            Reg::Group(i) => self.bit_word(vcpu, i, |b| b.group, &self.spi_group),
            Reg::SetEnable(i) | Reg::ClearEnable(i) => self.bit_word(vcpu, i, |b| b.enabled, &self.spi_enabled),
            Reg::Priority(i) => u32::from_le_bytes(core::array::from_fn(|k| self.priority(vcpu, 4 * i + k))),
            Reg::Targets(i) => u32::from_le_bytes(core::array::from_fn(|k| self.target(vcpu, 4 * i + k))),
            Reg::Config(i) => match i {
                0 | 1 => self.banks[vcpu].config[i],
                _ if i < self.irqs / 16 => self.spi_config[i - 2],
                _ => 0,
            },
            // ArchRev 2: a GICv2.
            Reg::Icpidr2 => 0x2B,
            Reg::Sgir | Reg::Unmodelled => 0,
        }
    }

    fn target(&self, vcpu: usize, irq: usize) -> u8 {
        match irq {
            _ if irq >= self.irqs => 0,
            0..PRIVATE_IRQS => 1 << vcpu,
            _ => self.spi_targets[irq - PRIVATE_IRQS],
        }
    }

    fn write_word(&mut self, vcpu: usize, offset: usize, value: u32) {
        use regs::Reg;
        let words = self.irqs / 32;
        match regs::decode(offset) {
            Reg::Ctlr => self.enabled = value & 1 != 0,
            Reg::Group(0) => self.banks[vcpu].group = value,
            Reg::Group(i) if i < words => self.spi_group[i - 1] = value,
            // SGIs are always enabled (their enable bits are RAO/WI).
            Reg::SetEnable(0) => self.banks[vcpu].enabled |= value,
            Reg::ClearEnable(0) => self.banks[vcpu].enabled &= !value | ((1 << SGIS) - 1),
            Reg::SetEnable(i) if i < words => self.spi_enabled[i - 1] |= value,
            Reg::ClearEnable(i) if i < words => self.spi_enabled[i - 1] &= !value,
            Reg::Priority(i) => {
                for (k, byte) in value.to_le_bytes().into_iter().enumerate() {
                    match 4 * i + k {
                        irq if irq < PRIVATE_IRQS => self.banks[vcpu].priority[irq] = byte,
                        irq if irq < self.irqs => self.spi_priority[irq - PRIVATE_IRQS] = byte,
                        _ => {}
                    }
                }
            }
            Reg::Targets(i) => {
                let mask = self.vcpu_mask();
                for (k, byte) in value.to_le_bytes().into_iter().enumerate() {
                    let irq = 4 * i + k;
                    if (PRIVATE_IRQS..self.irqs).contains(&irq) {
                        self.spi_targets[irq - PRIVATE_IRQS] = byte & mask;
                    }
                }
            }
            // SGI configuration is fixed (edge); PPI and SPI fields store.
            Reg::Config(1) => self.banks[vcpu].config[1] = value,
            Reg::Config(i) if i >= 2 && i < self.irqs / 16 => self.spi_config[i - 2] = value,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
