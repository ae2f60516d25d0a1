//! What the VMM does with each exit of a vCPU, independent of the
//! architecture and of the hypervisor's runtime, so that every decision
//! (answer or fault, which vCPU, which error) is unit-tested on the host.
//!
//! The arch layer turns the hardware's exit into an [`Exit`] (decoding
//! hypercall numbers, syndromes and CPU affinities); [`handle`] turns it
//! into an [`Action`] for the vCPU loop, through the two small traits the
//! VMM implements: [`GuestVm`] and [`GuestVcpu`].
//!
//! The guest is hostile: nothing here panics on guest input.
#![no_std]
#![deny(unsafe_code)]

mod action;
mod dispatch;
mod exit;
#[cfg(test)]
mod tests;

pub use action::{Action, Fault, FaultKind, StopReason};
pub use dispatch::{Emulated, GuestVcpu, GuestVm, handle};
pub use exit::{Access, Answer, CallError, CpuPower, DeviceAccess, DeviceError, Exit, GuestRequest, Ipi, MmioRead, Trap};
