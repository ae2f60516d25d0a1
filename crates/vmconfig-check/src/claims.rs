//! Host devices passed through to VMs: a device belongs to one VM at a
//! time. The host's console UART is the exception: a VM that asks for it
//! while another VM has it gets a virtual UART in its place.

use alloc::{string::String, vec::Vec};
use core::fmt;

use axvmconfig::PassThroughDeviceConfig;

use crate::Span;

/// A host range a running VM was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The VM that has it.
    pub vm: usize,
    /// Its host-physical range.
    pub range: Span,
}

/// What becomes of each passthrough device of a new VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The VM gets the host device.
    Host,
    /// The host's console UART, already another VM's: the VM gets a
    /// virtual UART at the same guest address and interrupt instead.
    VirtualConsole,
}

/// A passthrough device another VM already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTaken {
    /// Index in `devices.passthrough_devices`.
    pub index: usize,
    /// The device's name.
    pub name: String,
    /// Its host range.
    pub range: Span,
    /// The VM that has it.
    pub owner: usize,
}

impl fmt::Display for DeviceTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "devices.passthrough_devices[{}] = \"{}\" at host {}: already passed through to VM[{}]; a device goes to one VM at a time",
            self.index, self.name, self.range, self.owner
        )
    }
}

impl core::error::Error for DeviceTaken {}

/// The host range of a passthrough device (empty ones cover nothing).
pub fn host_range(dev: &PassThroughDeviceConfig) -> Span {
    Span { start: dev.base_hpa, end: dev.base_hpa.saturating_add(dev.length) }
}

/// Decides, for each of `devices`, whether the VM gets it, given what
/// running VMs hold (`taken`) and where the host's console UART is
/// (`console`, asked only when a device is taken). A device overlapping
/// another VM's is refused, unless it is the console.
pub fn grant(
    devices: &[PassThroughDeviceConfig],
    taken: &[Claim],
    console: impl Fn() -> Option<Span>,
) -> Result<Vec<Grant>, DeviceTaken> {
    devices
        .iter()
        .enumerate()
        .map(|(index, dev)| {
            let range = host_range(dev);
            let Some(owner) = taken.iter().find(|claim| claim.range.overlaps(&range)) else {
                return Ok(Grant::Host);
            };
            if console().is_some_and(|uart| uart.overlaps(&range)) {
                return Ok(Grant::VirtualConsole);
            }
            Err(DeviceTaken { index, name: dev.name.clone(), range, owner: owner.vm })
        })
        .collect()
}
