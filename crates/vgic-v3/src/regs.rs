//! Register maps of the distributor (GICD) and of one redistributor
//! (GICR: the RD_base frame, then the SGI_base frame), and which access
//! sizes each register allows.

/// Offsets of the distributor registers.
pub mod gicd {
    /// Distributor control.
    pub const CTLR: usize = 0x0000;
    /// Interrupt controller type.
    pub const TYPER: usize = 0x0004;
    /// Implementer identification.
    pub const IIDR: usize = 0x0008;
    /// Interrupt group, 1 bit per interrupt.
    pub const IGROUPR: usize = 0x0080;
    /// Set-enable, 1 bit per interrupt.
    pub const ISENABLER: usize = 0x0100;
    /// Clear-enable, 1 bit per interrupt.
    pub const ICENABLER: usize = 0x0180;
    /// Priority, 1 byte per interrupt.
    pub const IPRIORITYR: usize = 0x0400;
    /// Configuration, 2 bits per interrupt.
    pub const ICFGR: usize = 0x0C00;
    /// Routing of SPI n, 64 bits each, at `IROUTER + 8 * n`.
    pub const IROUTER: usize = 0x6000;
    /// Peripheral ID 2: the architecture revision in bits 7:4.
    pub const PIDR2: usize = 0xFFE8;
    /// Size of the distributor's register space.
    pub const SIZE: usize = 0x1_0000;
}

/// Offsets in one redistributor's two frames.
pub mod gicr {
    /// Redistributor control (RD_base).
    pub const CTLR: usize = 0x0000;
    /// Implementer identification.
    pub const IIDR: usize = 0x0004;
    /// Redistributor type, 64 bits: affinity, processor number, last.
    pub const TYPER: usize = 0x0008;
    /// Power management: ProcessorSleep (bit 1), ChildrenAsleep (bit 2).
    pub const WAKER: usize = 0x0014;
    /// Peripheral ID 2 (RD_base).
    pub const PIDR2: usize = 0xFFE8;
    /// Start of the SGI_base frame.
    pub const SGI_BASE: usize = 0x1_0000;
    /// Group of SGIs and PPIs (SGI_base).
    pub const IGROUPR0: usize = SGI_BASE + 0x0080;
    /// Set-enable of SGIs and PPIs.
    pub const ISENABLER0: usize = SGI_BASE + 0x0100;
    /// Clear-enable of SGIs and PPIs.
    pub const ICENABLER0: usize = SGI_BASE + 0x0180;
    /// Priorities of SGIs and PPIs, 1 byte each.
    pub const IPRIORITYR: usize = SGI_BASE + 0x0400;
    /// Configuration of SGIs (word 0) and PPIs (word 1).
    pub const ICFGR0: usize = SGI_BASE + 0x0C00;
    /// Size of one redistributor (its two 64 KiB frames).
    pub const STRIDE: usize = 0x2_0000;
}

/// A decoded distributor register; the index is its number in its array.
pub(crate) enum DistReg {
    Ctlr,
    Typer,
    Iidr,
    Group(usize),
    SetEnable(usize),
    ClearEnable(usize),
    Priority(usize),
    Config(usize),
    /// SPI `n`'s routing; `high` names bits 63:32 of a 32-bit access.
    Route { n: usize, high: bool },
    Pidr2,
    /// Reserved, or architected but not modelled here (pending, active,
    /// group modifier, IDs): reads as zero, writes ignored.
    Unmodelled,
}

pub(crate) fn decode_dist(offset: usize) -> DistReg {
    let index = |base: usize| (offset - base) / 4;
    match offset {
        gicd::CTLR => DistReg::Ctlr,
        gicd::TYPER => DistReg::Typer,
        gicd::IIDR => DistReg::Iidr,
        gicd::PIDR2 => DistReg::Pidr2,
        0x0080..0x0100 => DistReg::Group(index(gicd::IGROUPR)),
        0x0100..0x0180 => DistReg::SetEnable(index(gicd::ISENABLER)),
        0x0180..0x0200 => DistReg::ClearEnable(index(gicd::ICENABLER)),
        0x0400..0x0800 => DistReg::Priority(index(gicd::IPRIORITYR)),
        0x0C00..0x0D00 => DistReg::Config(index(gicd::ICFGR)),
        0x6000..0x8000 => DistReg::Route { n: (offset - gicd::IROUTER) / 8, high: offset & 4 != 0 },
        _ => DistReg::Unmodelled,
    }
}

/// Whether a distributor access of `size` bytes at `offset` is
/// architected: aligned words, bytes to the priorities, doublewords to
/// the routing registers.
pub(crate) fn dist_access_ok(offset: usize, size: usize) -> bool {
    offset < gicd::SIZE
        && match size {
            4 => offset.is_multiple_of(4),
            1 => (gicd::IPRIORITYR..gicd::ICFGR).contains(&offset),
            8 => (gicd::IROUTER..0x8000).contains(&offset) && offset.is_multiple_of(8),
            _ => false,
        }
}

/// A decoded redistributor register.
pub(crate) enum RedistReg {
    Ctlr,
    Iidr,
    /// `high`: bits 63:32 by a 32-bit access.
    Typer { high: bool },
    Waker,
    Pidr2,
    Group,
    SetEnable,
    ClearEnable,
    Priority(usize),
    Config(usize),
    Unmodelled,
}

pub(crate) fn decode_redist(offset: usize) -> RedistReg {
    match offset {
        gicr::CTLR => RedistReg::Ctlr,
        gicr::IIDR => RedistReg::Iidr,
        0x0008 | 0x000C => RedistReg::Typer { high: offset == 0x000C },
        gicr::WAKER => RedistReg::Waker,
        gicr::PIDR2 => RedistReg::Pidr2,
        gicr::IGROUPR0 => RedistReg::Group,
        gicr::ISENABLER0 => RedistReg::SetEnable,
        gicr::ICENABLER0 => RedistReg::ClearEnable,
        0x1_0400..0x1_0420 => RedistReg::Priority((offset - gicr::IPRIORITYR) / 4),
        0x1_0C00 | 0x1_0C04 => RedistReg::Config((offset - gicr::ICFGR0) / 4),
        _ => RedistReg::Unmodelled,
    }
}

/// Whether a redistributor access of `size` bytes at `offset` (inside one
/// redistributor) is architected.
pub(crate) fn redist_access_ok(offset: usize, size: usize) -> bool {
    offset < gicr::STRIDE
        && match size {
            4 => offset.is_multiple_of(4),
            1 => (gicr::IPRIORITYR..gicr::IPRIORITYR + 0x20).contains(&offset),
            8 => offset == gicr::TYPER,
            _ => false,
        }
}
