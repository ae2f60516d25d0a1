//! Arm PrimeCell UART (PL011) r1p5, as the Technical Reference Manual
//! (DDI 0183) gives its registers.

use crate::{Effect, RxFifo, Uart};

mod reg {
    pub const DR: usize = 0x000;
    pub const RSR: usize = 0x004;
    pub const FR: usize = 0x018;
    pub const ILPR: usize = 0x020;
    pub const IBRD: usize = 0x024;
    pub const FBRD: usize = 0x028;
    pub const LCR_H: usize = 0x02c;
    pub const CR: usize = 0x030;
    pub const IFLS: usize = 0x034;
    pub const IMSC: usize = 0x038;
    pub const RIS: usize = 0x03c;
    pub const MIS: usize = 0x040;
    pub const ICR: usize = 0x044;
    pub const DMACR: usize = 0x048;
    /// UARTPeriphID0..3 and UARTPCellID0..3.
    pub const ID: usize = 0xfe0;
}

/// FR: receive FIFO empty, transmit FIFO empty.
const FR_RXFE: u32 = 1 << 4;
const FR_TXFE: u32 = 1 << 7;
/// Interrupt bits: receive, transmit.
const INT_RX: u32 = 1 << 4;
const INT_TX: u32 = 1 << 5;
/// The 11 interrupt bits.
const INT_ALL: u32 = 0x7ff;
/// PeriphID (PL011 r1p5) then PrimeCell ID, one byte per word.
const IDS: [u32; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];
/// How much input is kept (the PL011's FIFO holds 32).
const RX_FIFO: usize = 32;

/// A PL011's registers.
#[derive(Debug, Clone, Default)]
pub struct Pl011 {
    rx: RxFifo<RX_FIFO>,
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    imsc: u32,
    dmacr: u32,
    /// Interrupts cleared by ICR that have not been raised again.
    cleared: u32,
}

impl Pl011 {
    /// A UART after reset: enabled for transmit and receive (CR = 0x300 |
    /// UARTEN), as firmware leaves it for the OS.
    pub fn new() -> Self {
        Self { cr: 0x301, ifls: 0x12, ..Self::default() }
    }

    fn raw(&self) -> u32 {
        // The transmit FIFO is always empty: the transmit interrupt is
        // raised until ICR clears it (and again by the next byte written).
        let mut ris = INT_TX & !self.cleared;
        if !self.rx.is_empty() {
            ris |= INT_RX;
        }
        ris
    }

    fn effect(&self, tx: Option<u8>) -> Effect {
        Effect { tx, irq: self.irq() }
    }
}

impl Uart for Pl011 {
    fn read(&mut self, offset: usize, _width: u8) -> (u64, Effect) {
        let value = match offset {
            reg::DR => self.rx.pop().map_or(0, u32::from),
            reg::RSR => 0,
            reg::FR => FR_TXFE | if self.rx.is_empty() { FR_RXFE } else { 0 },
            reg::ILPR => self.ilpr,
            reg::IBRD => self.ibrd,
            reg::FBRD => self.fbrd,
            reg::LCR_H => self.lcr_h,
            reg::CR => self.cr,
            reg::IFLS => self.ifls,
            reg::IMSC => self.imsc,
            reg::RIS => self.raw(),
            reg::MIS => self.raw() & self.imsc,
            reg::DMACR => self.dmacr,
            o if (reg::ID..reg::ID + 0x20).contains(&o) && o % 4 == 0 => IDS[(o - reg::ID) / 4],
            _ => 0,
        };
        (u64::from(value), self.effect(None))
    }

    fn write(&mut self, offset: usize, _width: u8, value: u64) -> Effect {
        let value = value as u32;
        let mut tx = None;
        match offset {
            reg::DR => {
                tx = Some(value as u8);
                self.cleared &= !INT_TX;
            }
            reg::ILPR => self.ilpr = value & 0xff,
            reg::IBRD => self.ibrd = value & 0xffff,
            reg::FBRD => self.fbrd = value & 0x3f,
            reg::LCR_H => self.lcr_h = value & 0xff,
            reg::CR => self.cr = value & 0xff87,
            reg::IFLS => self.ifls = value & 0x3f,
            reg::IMSC => self.imsc = value & INT_ALL,
            reg::ICR => self.cleared |= value & INT_ALL,
            reg::DMACR => self.dmacr = value & 0x7,
            // RSR/ECR writes clear errors (none are kept); the rest is
            // read-only or reserved.
            _ => {}
        }
        self.effect(tx)
    }

    fn push_input(&mut self, byte: u8) -> bool {
        self.rx.push(byte);
        self.irq()
    }

    fn input_room(&self) -> usize {
        self.rx.room()
    }

    fn irq(&self) -> bool {
        self.raw() & self.imsc != 0
    }
}
