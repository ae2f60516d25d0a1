//! A VM's own console: the register model of the UART it sees (an Arm
//! PL011 or an NS16550A, whichever its architecture's guests expect) and
//! what becomes of the bytes it writes: whole lines, prefixed with the VM,
//! and a bounded history of them.
//!
//! Transmission is instant: the transmit FIFO is always empty, so a guest
//! that polls never waits and one that uses the transmit interrupt gets it
//! whenever it enables it. Input bytes are queued by the host.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

mod lines;
mod ns16550;
mod pl011;

pub use lines::{History, LineBuffer};
pub use ns16550::Ns16550;
pub use pl011::Pl011;

#[cfg(test)]
mod tests;

/// What a guest access to a UART did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effect {
    /// A byte the guest transmitted.
    pub tx: Option<u8>,
    /// The UART's interrupt line after the access.
    pub irq: bool,
}

/// A UART register model.
pub trait Uart {
    /// A guest read of `width` bytes at `offset`.
    fn read(&mut self, offset: usize, width: u8) -> (u64, Effect);
    /// A guest write.
    fn write(&mut self, offset: usize, width: u8, value: u64) -> Effect;
    /// Queues a byte of input; the interrupt line after it.
    fn push_input(&mut self, byte: u8) -> bool;
    /// The interrupt line.
    fn irq(&self) -> bool;
}
