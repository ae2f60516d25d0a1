//! Who may touch a physical interrupt, and when a queued one needs a kick.
//!
//! - [`OwnerTable`]: the VM each forwarded physical device interrupt
//!   belongs to. "No owner" is a state of its own, so no VM id (0
//!   included) stands for it; a VM's release and re-enable reach only the
//!   interrupts it owns. [`OwnerTable::owns`] is the one test every path
//!   that would act on the host's interrupt controller for a guest passes
//!   (a guest's pending, enable, active or completion of an interrupt it
//!   does not own changes its virtual state only).
//! - [`PendingSet`]: the interrupts queued for one vCPU; queueing one
//!   that is already queued says so ([`Queued::Already`]), and only a new
//!   one calls for a physical kick of the vCPU's CPU.
//!
//! Lock-free (atomics only), `no_std`, no hardware access: the hypervisor
//! registers interrupts with its host runtime around these.
#![no_std]
#![deny(unsafe_code)]

mod owners;
mod pending;

pub use owners::{ClaimError, OwnerTable};
pub use pending::{PendingSet, Queued};

#[cfg(test)]
mod tests;
