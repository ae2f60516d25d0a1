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

pub use lines::{History, LineBuffer, MAX_LINE};
pub use ns16550::Ns16550;
pub use pl011::Pl011;

#[cfg(test)]
mod tests;

/// A UART's receive FIFO of `N` bytes: input beyond it is dropped, as a
/// real UART overruns.
#[derive(Debug, Clone)]
pub struct RxFifo<const N: usize> {
    bytes: [u8; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Default for RxFifo<N> {
    fn default() -> Self {
        Self { bytes: [0; N], head: 0, len: 0 }
    }
}

impl<const N: usize> RxFifo<N> {
    /// Queues `byte` unless the FIFO is full.
    pub fn push(&mut self, byte: u8) {
        if self.len < N {
            self.bytes[(self.head + self.len) % N] = byte;
            self.len += 1;
        }
    }

    /// The oldest byte, if any.
    pub fn pop(&mut self) -> Option<u8> {
        (self.len > 0).then(|| {
            let byte = self.bytes[self.head];
            self.head = (self.head + 1) % N;
            self.len -= 1;
            byte
        })
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

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
