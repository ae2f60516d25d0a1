//! The hypervisor's virtio console (virtio 1.x §5.3): one port, no
//! multiport, no size, no emergency write. A
//! [`VirtioDevice`](virtio_core::VirtioDevice) for
//! [`MmioTransport`](virtio_core::MmioTransport).
//!
//! - Guest output (transmitq, queue 1): the readable bytes of each chain go
//!   to a [`ConsoleSink`] (the VM's console), at most
//!   [`ConsoleConfig::max_tx_chains`] chains and
//!   [`ConsoleConfig::max_tx_bytes`] bytes per chain per notification.
//! - Host input (receiveq, queue 0): [`push_input`] queues bytes in a
//!   bounded FIFO (excess dropped and counted) and moves what fits into
//!   the guest's receive buffers, raising the used-buffer interrupt; what
//!   does not fit waits for the guest to post buffers (its notification of
//!   queue 0 drains the FIFO).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod device;

pub use device::{
    ConsoleConfig, ConsoleSink, ConsoleStats, DEVICE_ID, RECEIVEQ, TRANSMITQ, VirtioConsole,
    push_input,
};
