//! A virtual I/O APIC (82093AA-style, version 0x20, 24 pins): the
//! IOREGSEL/IOWIN register window at offsets 0x00 and 0x10, the ID,
//! version and arbitration registers, and the redirection table that
//! routes a pin to a vector on a local APIC. Pure register logic: the
//! hypervisor wraps it in a lock and turns a route into an injection.
#![no_std]
#![deny(unsafe_code)]

#[cfg(test)]
mod tests;

/// Pins (redirection entries).
pub const PINS: usize = 24;
/// The register window's size.
pub const WINDOW: usize = 0x1000;

/// Window offsets.
const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const EOI: usize = 0x40;

/// Indirect registers.
const REG_ID: u32 = 0x00;
const REG_VERSION: u32 = 0x01;
const REG_ARBITRATION: u32 = 0x02;
const REG_TABLE: u32 = 0x10;

/// Version register: version 0x20, maximum redirection entry 23.
const VERSION: u32 = 0x20 | ((PINS as u32 - 1) << 16);

/// Redirection entry bits.
const MASKED: u64 = 1 << 16;
const LEVEL: u64 = 1 << 15;
const REMOTE_IRR: u64 = 1 << 14;
const DELIVERY_STATUS: u64 = 1 << 12;
const LOGICAL: u64 = 1 << 11;
/// Bits a guest may write: vector, delivery mode, destination mode,
/// polarity, trigger mode, mask, destination.
const WRITABLE: u64 = 0xFF00_0000_0001_AFFF;

/// Where an unmasked pin delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The vector.
    pub vector: u8,
    /// Destination APIC id (physical mode).
    pub apic_id: u8,
}

/// One I/O APIC.
#[derive(Debug, Clone)]
pub struct IoApic {
    id: u32,
    select: u32,
    table: [u64; PINS],
}

impl Default for IoApic {
    fn default() -> Self {
        Self::new()
    }
}

impl IoApic {
    /// The reset state: every pin masked.
    pub const fn new() -> Self {
        Self { id: 0, select: 0, table: [MASKED; PINS] }
    }

    /// A read of `width` bytes at window offset `offset`: only 32-bit
    /// accesses to IOREGSEL and IOWIN mean anything; the rest read 0.
    pub fn read(&self, offset: usize, width: u8) -> u64 {
        if width != 4 {
            return 0;
        }
        match offset {
            IOREGSEL => u64::from(self.select),
            IOWIN => u64::from(self.indirect(self.select)),
            _ => 0,
        }
    }

    /// A write of `width` bytes at window offset `offset` (others ignored).
    pub fn write(&mut self, offset: usize, width: u8, value: u64) {
        if width != 4 {
            return;
        }
        let value = value as u32;
        match offset {
            IOREGSEL => self.select = value & 0xFF,
            IOWIN => self.set_indirect(self.select, value),
            EOI => self.eoi(value as u8),
            _ => {}
        }
    }

    fn indirect(&self, reg: u32) -> u32 {
        match reg {
            REG_ID => self.id,
            REG_VERSION => VERSION,
            REG_ARBITRATION => self.id,
            _ => match self.entry_of(reg) {
                Some((pin, high)) => {
                    let entry = self.table[pin];
                    if high { (entry >> 32) as u32 } else { entry as u32 }
                }
                None => 0,
            },
        }
    }

    fn set_indirect(&mut self, reg: u32, value: u32) {
        if reg == REG_ID {
            self.id = value & 0x0F00_0000;
            return;
        }
        let Some((pin, high)) = self.entry_of(reg) else { return };
        let old = self.table[pin];
        let new = if high {
            (old & 0xFFFF_FFFF) | (u64::from(value) << 32)
        } else {
            (old & !0xFFFF_FFFF) | u64::from(value)
        };
        self.table[pin] = (new & WRITABLE) | (old & (REMOTE_IRR | DELIVERY_STATUS));
    }

    /// The pin and half a redirection-table register names.
    fn entry_of(&self, reg: u32) -> Option<(usize, bool)> {
        let index = reg.checked_sub(REG_TABLE)? as usize;
        (index < 2 * PINS).then_some((index / 2, index % 2 == 1))
    }

    /// End of interrupt for `vector`: clears remote IRR of the
    /// level-triggered pins that deliver it.
    pub fn eoi(&mut self, vector: u8) {
        for entry in self.table.iter_mut().filter(|e| **e as u8 == vector && **e & LEVEL != 0) {
            *entry &= !REMOTE_IRR;
        }
    }

    /// Where pin `pin` delivers now: `None` if it is masked, out of
    /// range, logically addressed (not emulated) or names a reserved
    /// vector (below 16).
    pub fn route(&self, pin: usize) -> Option<Route> {
        let entry = *self.table.get(pin)?;
        if entry & (MASKED | LOGICAL) != 0 || (entry as u8) < 16 {
            return None;
        }
        Some(Route { vector: entry as u8, apic_id: (entry >> 56) as u8 })
    }
}
