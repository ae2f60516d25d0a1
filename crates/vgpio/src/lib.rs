//! A VM's power button: the register model of an Arm PrimeCell GPIO
//! controller (PL061, Technical Reference Manual DDI 0190), wired as on
//! QEMU's `virt` machine, where pin [`POWER_BUTTON_PIN`] drives a
//! gpio-keys node with KEY_POWER.
//!
//! Eight pins, each an input or an output. Only input pins interrupt:
//! the host drives them with [`Pl061::set_input`], which latches the
//! edges the guest asked for; level interrupts follow the input for as
//! long as it holds. Output pins just latch what the guest writes.
//!
//! Registers are 8 bits wide, one per word. An access of 1, 2 or 4 bytes
//! at a word-aligned offset in the 4 KiB window reaches the register
//! (bits above 7 read as 0 and are dropped on write). Any other access
//! (other widths, unaligned, reserved or outside the window) reads 0 and
//! is ignored; none fails.
#![no_std]
#![deny(unsafe_code)]

#[cfg(test)]
mod tests;

/// The pin QEMU's virt machine (and we) wire to the power key.
pub const POWER_BUTTON_PIN: u8 = 3;

const PINS: u8 = 8;
const WINDOW: usize = 0x1000;

mod reg {
    /// GPIODATA spans 0x000..=0x3fc: address bits [9:2] select the pins.
    pub const DATA_END: usize = 0x3fc;
    pub const DIR: usize = 0x400;
    pub const IS: usize = 0x404;
    pub const IBE: usize = 0x408;
    pub const IEV: usize = 0x40c;
    pub const IE: usize = 0x410;
    pub const RIS: usize = 0x414;
    pub const MIS: usize = 0x418;
    pub const IC: usize = 0x41c;
    pub const AFSEL: usize = 0x420;
    /// GPIOPeriphID0..3 then GPIOPCellID0..3.
    pub const ID: usize = 0xfe0;
    pub const ID_END: usize = 0xffc;
}

/// PeriphID (PL061 r0p0) then PrimeCell ID, one byte per word.
const IDS: [u8; 8] = [0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// A PL061's registers and the levels driven onto its pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pl061 {
    /// GPIODIR: 1 = output.
    dir: u8,
    /// GPIOIS: 1 = level-sensitive, 0 = edge.
    is: u8,
    /// GPIOIBE: 1 = both edges.
    ibe: u8,
    /// GPIOIEV: 1 = rising edge or high level.
    iev: u8,
    /// GPIOIE: 1 = interrupt enabled.
    ie: u8,
    afsel: u8,
    /// What the guest wrote to GPIODATA for its output pins.
    out: u8,
    /// Levels driven onto the pins from outside.
    input: u8,
    /// Edges detected and not yet cleared through GPIOIC.
    edges: u8,
}

impl Default for Pl061 {
    fn default() -> Self {
        Self::new()
    }
}

/// The pins a GPIODATA access at `offset` selects.
fn data_mask(offset: usize) -> u8 {
    ((offset >> 2) & 0xff) as u8
}

/// Whether an access reaches a register (see the crate docs).
fn reaches_register(offset: usize, width: u8) -> bool {
    matches!(width, 1 | 2 | 4) && offset.is_multiple_of(4) && offset < WINDOW
}

impl Pl061 {
    /// A controller after reset: all pins inputs at level 0, interrupts
    /// edge-triggered and masked.
    pub const fn new() -> Self {
        Self { dir: 0, is: 0, ibe: 0, iev: 0, ie: 0, afsel: 0, out: 0, input: 0, edges: 0 }
    }

    /// A guest read of `width` bytes (1, 2 or 4) at `offset` in the 4 KiB window.
    pub fn read(&self, offset: usize, width: u8) -> u64 {
        if !reaches_register(offset, width) {
            return 0;
        }
        let value = match offset {
            0..=reg::DATA_END => self.pins() & data_mask(offset),
            reg::DIR => self.dir,
            reg::IS => self.is,
            reg::IBE => self.ibe,
            reg::IEV => self.iev,
            reg::IE => self.ie,
            reg::RIS => self.raw(),
            reg::MIS => self.raw() & self.ie,
            reg::AFSEL => self.afsel,
            reg::ID..=reg::ID_END => IDS[(offset - reg::ID) / 4],
            // GPIOIC is write-only; the rest is reserved.
            _ => 0,
        };
        u64::from(value)
    }

    /// A guest write; returns the level of the interrupt line afterwards.
    pub fn write(&mut self, offset: usize, width: u8, value: u64) -> bool {
        if reaches_register(offset, width) {
            let value = (value & 0xff) as u8;
            match offset {
                0..=reg::DATA_END => {
                    let mask = data_mask(offset) & self.dir;
                    self.out = (self.out & !mask) | (value & mask);
                }
                reg::DIR => self.dir = value,
                reg::IS => {
                    self.is = value;
                    // Level-sensitive pins report their level, not old edges.
                    self.edges &= !value;
                }
                reg::IBE => self.ibe = value,
                reg::IEV => self.iev = value,
                reg::IE => self.ie = value,
                reg::IC => self.edges &= !value,
                reg::AFSEL => self.afsel = value,
                // RIS, MIS and the IDs are read-only; the rest is reserved.
                _ => {}
            }
        }
        self.irq_line()
    }

    /// The outside world drives input `pin` (0..8) to `high`; returns the
    /// interrupt line level afterwards. Other pins are ignored.
    pub fn set_input(&mut self, pin: u8, high: bool) -> bool {
        if pin < PINS {
            let bit = 1u8 << pin;
            let changed = (self.input & bit != 0) != high;
            if high {
                self.input |= bit;
            } else {
                self.input &= !bit;
            }
            let edge_input = bit & !self.dir & !self.is != 0;
            let wanted = self.ibe & bit != 0 || (self.iev & bit != 0) == high;
            if changed && edge_input && wanted {
                self.edges |= bit;
            }
        }
        self.irq_line()
    }

    /// Whether the interrupt line is raised (any bit of RIS & IE).
    pub fn irq_line(&self) -> bool {
        self.raw() & self.ie != 0
    }

    /// The pin levels GPIODATA reads: outputs from the latch, inputs from outside.
    fn pins(&self) -> u8 {
        (self.out & self.dir) | (self.input & !self.dir)
    }

    /// GPIORIS: latched edges, and level-sensitive inputs at their active level.
    fn raw(&self) -> u8 {
        let active_level = !(self.input ^ self.iev);
        self.edges | (active_level & self.is & !self.dir)
    }
}
