//! NS16550A-compatible UART with byte-wide registers one byte apart (QEMU
//! virt's `ns16550a`), as the PC16550D data sheet gives them.

use crate::{Effect, RxFifo, Uart};

const RBR_THR_DLL: usize = 0;
const IER_DLM: usize = 1;
const IIR_FCR: usize = 2;
const LCR: usize = 3;
const MCR: usize = 4;
const LSR: usize = 5;
const MSR: usize = 6;
const SCR: usize = 7;

const IER_RX: u8 = 1 << 0;
const IER_THRE: u8 = 1 << 1;
const LCR_DLAB: u8 = 1 << 7;
/// IIR values: nothing pending, transmitter empty, data available.
const IIR_NONE: u8 = 0x01;
const IIR_THRE: u8 = 0x02;
const IIR_RX: u8 = 0x04;
/// IIR bits 7:6 while the FIFOs are enabled.
const IIR_FIFOS: u8 = 0xc0;
/// LSR: data ready, transmit holding register and transmitter empty.
const LSR_DR: u8 = 1 << 0;
const LSR_THRE_TEMT: u8 = 0x60;
/// The 16550's FIFO depth.
const RX_FIFO: usize = 16;

/// An NS16550A's registers.
#[derive(Debug, Clone, Default)]
pub struct Ns16550 {
    rx: RxFifo<RX_FIFO>,
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    fifos: bool,
    /// The "transmitter empty" interrupt is pending (set when the guest
    /// writes a byte or enables it; cleared by reading IIR).
    thre: bool,
}

impl Ns16550 {
    /// A UART after reset.
    pub fn new() -> Self {
        Self::default()
    }

    fn dlab(&self) -> bool {
        self.lcr & LCR_DLAB != 0
    }

    /// The highest-priority pending source, as IIR encodes it.
    fn pending(&self) -> u8 {
        if self.ier & IER_RX != 0 && !self.rx.is_empty() {
            IIR_RX
        } else if self.ier & IER_THRE != 0 && self.thre {
            IIR_THRE
        } else {
            IIR_NONE
        }
    }

    fn effect(&self, tx: Option<u8>) -> Effect {
        Effect { tx, irq: self.irq() }
    }
}

impl Uart for Ns16550 {
    fn read(&mut self, offset: usize, _width: u8) -> (u64, Effect) {
        let value = match offset {
            RBR_THR_DLL if self.dlab() => self.dll,
            RBR_THR_DLL => self.rx.pop().unwrap_or(0),
            IER_DLM if self.dlab() => self.dlm,
            IER_DLM => self.ier,
            IIR_FCR => {
                let iir = self.pending();
                if iir == IIR_THRE {
                    self.thre = false;
                }
                iir | if self.fifos { IIR_FIFOS } else { 0 }
            }
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => LSR_THRE_TEMT | if self.rx.is_empty() { 0 } else { LSR_DR },
            // Carrier detect, data set ready and clear to send asserted.
            MSR => 0xb0,
            SCR => self.scr,
            _ => 0,
        };
        (u64::from(value), self.effect(None))
    }

    fn write(&mut self, offset: usize, _width: u8, value: u64) -> Effect {
        let value = value as u8;
        let mut tx = None;
        match offset {
            RBR_THR_DLL if self.dlab() => self.dll = value,
            RBR_THR_DLL => {
                tx = Some(value);
                self.thre = true;
            }
            IER_DLM if self.dlab() => self.dlm = value,
            IER_DLM => {
                if value & IER_THRE != 0 && self.ier & IER_THRE == 0 {
                    self.thre = true;
                }
                self.ier = value & 0x0f;
            }
            IIR_FCR => {
                self.fifos = value & 1 != 0;
                if value & 0x02 != 0 {
                    self.rx.clear();
                }
            }
            LCR => self.lcr = value,
            MCR => self.mcr = value & 0x1f,
            SCR => self.scr = value,
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
        self.pending() != IIR_NONE
    }
}
