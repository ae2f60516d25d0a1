//! Distributor register map: which register an offset names and which
//! access sizes it allows.

/// Offsets of the distributor registers.
pub mod offset {
    /// Distributor control.
    pub const CTLR: usize = 0x000;
    /// Interrupt controller type.
    pub const TYPER: usize = 0x004;
    /// Implementer identification.
    pub const IIDR: usize = 0x008;
    /// Interrupt group, 1 bit per interrupt.
    pub const IGROUPR: usize = 0x080;
    /// Set-enable, 1 bit per interrupt.
    pub const ISENABLER: usize = 0x100;
    /// Clear-enable, 1 bit per interrupt.
    pub const ICENABLER: usize = 0x180;
    /// Priority, 1 byte per interrupt.
    pub const IPRIORITYR: usize = 0x400;
    /// CPU targets, 1 byte per interrupt.
    pub const ITARGETSR: usize = 0x800;
    /// Configuration, 2 bits per interrupt.
    pub const ICFGR: usize = 0xC00;
    /// Software-generated interrupt.
    pub const SGIR: usize = 0xF00;
    /// Peripheral ID 2: the architecture revision in bits 7:4.
    pub const ICPIDR2: usize = 0xFE8;
    /// Size of the distributor's register frame.
    pub const FRAME_SIZE: usize = 0x1000;
}

use offset::*;

/// A decoded register; the index is the register's number in its array.
pub(crate) enum Reg {
    Ctlr,
    Typer,
    Iidr,
    Group(usize),
    SetEnable(usize),
    ClearEnable(usize),
    Priority(usize),
    Targets(usize),
    Config(usize),
    Sgir,
    Icpidr2,
    /// Reserved, or architected but not modelled (pending, active, IDs):
    /// reads as zero, writes ignored.
    Unmodelled,
}

/// Decodes a word-aligned offset.
pub(crate) fn decode(offset: usize) -> Reg {
    let index = |base: usize| (offset - base) / 4;
    match offset {
        CTLR => Reg::Ctlr,
        TYPER => Reg::Typer,
        IIDR => Reg::Iidr,
        SGIR => Reg::Sgir,
        ICPIDR2 => Reg::Icpidr2,
        0x080..0x100 => Reg::Group(index(IGROUPR)),
        0x100..0x180 => Reg::SetEnable(index(ISENABLER)),
        0x180..0x200 => Reg::ClearEnable(index(ICENABLER)),
        0x400..0x800 => Reg::Priority(index(IPRIORITYR)),
        0x800..0xC00 => Reg::Targets(index(ITARGETSR)),
        0xC00..0xD00 => Reg::Config(index(ICFGR)),
        _ => Reg::Unmodelled,
    }
}

/// Whether an access of `size` bytes at `offset` is architected: aligned
/// words anywhere in the frame, single bytes only to the byte-per-interrupt
/// arrays.
pub(crate) fn access_ok(offset: usize, size: usize) -> bool {
    if offset >= FRAME_SIZE {
        return false;
    }
    match size {
        4 => offset.is_multiple_of(4),
        1 => (IPRIORITYR..ICFGR).contains(&offset),
        _ => false,
    }
}
