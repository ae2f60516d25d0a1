//! The host interrupt controller on x86_64: nothing is forwarded to guests
//! and no cross-CPU kick exists yet (a vCPU sees its queue at its next
//! exit).

use crate::hal::ForwardError;

/// Device interrupts are not forwarded here yet.
pub fn forward(_vm: usize, _irq: usize) -> Result<(), ForwardError> {
    Err(ForwardError::Unsupported)
}
