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
    /// Reserved, or architected but not modelled (pending, active, IDs):
    /// reads as zero, writes ignored.
    Unmodelled,
}

/// Decodes a word-aligned offset.
pub(crate) fn decode(offset: usize) -> Reg {
    let in_array = |base: usize, bytes: usize| (base..base + bytes).contains(&offset).then(|| (offset - base) / 4);
    if let Some(i) = in_array(IGROUPR, 0x80) {
        Reg::Group(i)
    } else if let Some(i) = in_array(ISENABLER, 0x80) {
        Reg::SetEnable(i)
    } else if let Some(i) = in_array(ICENABLER, 0x80) {
        Reg::ClearEnable(i)
    } else if let Some(i) = in_array(IPRIORITYR, 0x400) {
        Reg::Priority(i)
    } else if let Some(i) = in_array(ITARGETSR, 0x400) {
        Reg::Targets(i)
    } else if let Some(i) = in_array(ICFGR, 0x100) {
        Reg::Config(i)
    } else {
        match offset {
            CTLR => Reg::Ctlr,
            TYPER => Reg::Typer,
            IIDR => Reg::Iidr,
            SGIR => Reg::Sgir,
            _ => Reg::Unmodelled,
        }
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
