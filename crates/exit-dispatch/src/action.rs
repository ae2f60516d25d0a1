//! What the vCPU loop does after an exit, and why a VM stops.

use core::fmt;

use crate::exit::{Access, DeviceError, Trap};

/// What the vCPU loop does after an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Re-enter the guest.
    Continue,
    /// Hand this physical interrupt to the host, then re-enter the guest.
    HostInterrupt(usize),
    /// Idle until an interrupt is queued for this vCPU.
    WaitForInterrupt,
    /// Let the other tasks of this CPU run, then re-enter the guest.
    Yield,
    /// Idle until an interrupt is pending for this vCPU (its own timer
    /// included), then go on, or restart at `(entry, arg)` if given.
    Suspend {
        /// Where the vCPU resumes afresh, and its argument.
        resume: Option<(u64, u64)>,
    },
    /// The vCPU turned itself off.
    CpuOff,
    /// Stop the whole VM.
    Stop(StopReason),
}

/// Why a VM stops, as the guest caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The guest powered off.
    PowerOff,
    /// The guest asked for a reset.
    Reset,
    /// The guest did something the hypervisor cannot allow or handle.
    Fault(Fault),
}

/// A guest fault that stops its VM: which vCPU, and what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// VM id.
    pub vm: usize,
    /// vCPU id.
    pub vcpu: usize,
    /// What happened.
    pub kind: FaultKind,
}

/// What a guest did that stops its VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An access to guest-physical memory that is neither RAM nor a device.
    Unmapped {
        /// Load, store or fetch.
        access: Access,
        /// Access size in bytes, where the exit gives it.
        width: Option<u8>,
        /// Guest-physical address.
        addr: u64,
    },
    /// An access to guest RAM that the hypervisor could not back.
    RamNotBacked {
        /// Load, store or fetch.
        access: Access,
        /// Guest-physical address.
        addr: u64,
    },
    /// An emulated device refused an access.
    Device {
        /// Load or store.
        access: Access,
        /// Guest-physical address.
        addr: u64,
        /// Why.
        error: DeviceError,
    },
    /// A trap the guest may not continue from.
    Trap(Trap),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VM[{}] vCPU[{}]: {}", self.vm, self.vcpu, self.kind)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Unmapped { access, width: Some(width), addr } => {
                write!(f, "{access} of {width} bytes at unmapped guest-physical address {addr:#x}")
            }
            Self::Unmapped { access, width: None, addr } => {
                write!(f, "{access} at unmapped guest-physical address {addr:#x}")
            }
            Self::RamNotBacked { access, addr } => {
                write!(f, "{access} at guest-physical address {addr:#x}: its RAM could not be mapped")
            }
            Self::Device { access, addr, error } => {
                write!(f, "emulated device {access} at guest-physical address {addr:#x} failed: {error}")
            }
            Self::Trap(trap) => write!(f, "{trap}"),
        }
    }
}
