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

    /// How many more bytes it takes.
    pub fn room(&self) -> usize {
        N - self.len
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
    /// How many more bytes of input the receive FIFO takes.
    fn input_room(&self) -> usize;
    /// The interrupt line.
    fn irq(&self) -> bool;
}

/// Input typed faster than the guest reads it: held by the host and fed
/// into the UART's receive FIFO as the guest drains it, so that a pasted
/// line is not cut at the FIFO's size. Bounded: beyond `capacity` bytes,
/// input is refused.
#[derive(Debug, Clone)]
pub struct InputBacklog {
    bytes: alloc::collections::VecDeque<u8>,
    capacity: usize,
}

impl InputBacklog {
    /// An empty backlog of at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self { bytes: alloc::collections::VecDeque::new(), capacity }
    }

    /// Queues as much of `input` as there is room for; how much that was.
    pub fn push(&mut self, input: &[u8]) -> usize {
        let taken = input.len().min(self.capacity - self.bytes.len());
        self.bytes.extend(&input[..taken]);
        taken
    }

    /// Moves what the UART's FIFO has room for into it; whether that
    /// raised its interrupt line.
    pub fn feed(&mut self, uart: &mut impl Uart) -> bool {
        let mut raised = false;
        for _ in 0..uart.input_room() {
            let Some(byte) = self.bytes.pop_front() else { break };
            raised |= uart.push_input(byte);
        }
        raised
    }

    /// Bytes still waiting.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}
