//! Host ranges passed through to VMs: a host page belongs to one VM at a
//! time. The host's console UART is the exception: a VM that asks for it
//! while another VM has it gets a virtual UART in its place.

use alloc::{string::String, vec::Vec};
use core::fmt;

use crate::{Mapped, MappedKind, Span};

/// Host pages a running VM was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The VM that has it.
    pub vm: usize,
    /// Its host-physical pages.
    pub range: Span,
}

/// What becomes of each passthrough range of a new VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The VM gets the host range.
    Host,
    /// The host's console UART, already another VM's: the VM gets a
    /// virtual UART at the same guest address and interrupt instead.
    VirtualConsole,
}

/// A passthrough range that shares a page with another VM's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTaken {
    /// The config entry.
    pub kind: MappedKind,
    /// The device's name ("" for an address range).
    pub name: String,
    /// Its host pages.
    pub range: Span,
    /// The VM that has them.
    pub owner: usize,
}

impl fmt::Display for DeviceTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if !self.name.is_empty() {
            write!(f, " = \"{}\"", self.name)?;
        }
        write!(
            f,
            " at host {}: already passed through to VM[{}]; a host page goes to one VM at a time",
            self.range, self.owner
        )
    }
}

impl core::error::Error for DeviceTaken {}

/// Decides, for each of `mapped` (a new VM's passthrough ranges, see
/// [`crate::mapped_ranges`]), whether the VM gets it, given what running
/// VMs hold (`taken`) and where the host's console UART is (`console`,
/// asked only when a range is taken). A range sharing a page with another
/// VM's is refused, unless it is a device on the console's pages.
pub fn grant(mapped: &[Mapped], taken: &[Claim], console: impl Fn() -> Option<Span>) -> Result<Vec<Grant>, DeviceTaken> {
    mapped
        .iter()
        .map(|m| {
            let Some(owner) = taken.iter().find(|claim| claim.range.overlaps(&m.range)) else {
                return Ok(Grant::Host);
            };
            let is_device = matches!(m.kind, MappedKind::Device(_));
            if is_device && console().is_some_and(|uart| uart.overlaps(&m.range)) {
                return Ok(Grant::VirtualConsole);
            }
            Err(DeviceTaken { kind: m.kind, name: m.name.clone(), range: m.range, owner: owner.vm })
        })
        .collect()
}
