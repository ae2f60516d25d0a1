//! The vocabulary between the arch layer and the VMM: exits, guest
//! requests, and the answers to them.

use core::fmt;

/// Why a vCPU left the guest, as the arch layer decoded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The arch layer handled the exit; nothing for the VMM to do.
    Nothing,
    /// A physical interrupt arrived while the guest ran.
    HostInterrupt {
        /// Its host interrupt id.
        vector: usize,
    },
    /// A load from a guest-physical address that is not RAM.
    MmioRead(MmioRead),
    /// A store to a guest-physical address that is not RAM.
    MmioWrite {
        /// Guest-physical address.
        addr: u64,
        /// Access size in bytes (1, 2, 4 or 8).
        width: u8,
        /// The value stored.
        value: u64,
    },
    /// A read of a trapped system register.
    SysRegRead {
        /// The register's encoding.
        id: u64,
        /// General-purpose register that receives the value.
        reg: usize,
    },
    /// A write of a trapped system register.
    SysRegWrite {
        /// The register's encoding.
        id: u64,
        /// The value written.
        value: u64,
    },
    /// An input from an I/O port.
    PortRead {
        /// Port number.
        port: u16,
        /// Access size in bytes.
        width: u8,
        /// General-purpose register that receives the value.
        reg: usize,
    },
    /// An output to an I/O port.
    PortWrite {
        /// Port number.
        port: u16,
        /// Access size in bytes.
        width: u8,
        /// The value written.
        value: u64,
    },
    /// A call to the hypervisor or firmware (hypercall, PSCI, SBI).
    Call(GuestRequest),
    /// An inter-processor interrupt raised through a trapped register (no
    /// call to answer).
    SendIpi(Ipi),
    /// The vCPU waits for an interrupt.
    Halt,
    /// The vCPU waits for another to make progress (a spin-wait hint such
    /// as WFE): it gives up its CPU for a turn.
    Yield,
    /// A guest access to its own RAM where the hypervisor has not backed
    /// it yet (RAM is zeroed and mapped on first touch); the access is
    /// retried once it is.
    RamMiss {
        /// Guest-physical address.
        addr: u64,
        /// What the guest tried to do there.
        access: Access,
    },
    /// An access the stage-2 tables do not map and no device claims.
    PageFault {
        /// Guest-physical address.
        addr: u64,
        /// What the guest tried to do there.
        access: Access,
    },
    /// A trap the guest may not continue from.
    Unhandled(Trap),
}

/// A trap the guest may not continue from, as the arch layer names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trap {
    /// What it was ("instruction abort from a lower level", "SError", ...).
    pub what: &'static str,
    /// Names of the arch registers that describe it (syndrome, fault
    /// address, pc); an empty name leaves its value out.
    pub names: &'static [&'static str; 4],
    /// Their values.
    pub values: [u64; 4],
}

impl Trap {
    /// No register names: a trap described by `what` alone.
    pub const NO_NAMES: &'static [&'static str; 4] = &["", "", "", ""];
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)?;
        let mut sep = " (";
        for (name, value) in self.names.iter().zip(self.values).filter(|(name, _)| !name.is_empty()) {
            write!(f, "{sep}{name} {value:#x}")?;
            sep = ", ";
        }
        if sep == ", " { f.write_str(")") } else { Ok(()) }
    }
}

/// A load from emulated memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioRead {
    /// Guest-physical address.
    pub addr: u64,
    /// Access size in bytes (1, 2, 4 or 8).
    pub width: u8,
    /// General-purpose register that receives the value.
    pub reg: usize,
    /// Whether the register is 64 bits wide (else 32: the upper half is 0).
    pub reg_64: bool,
    /// Whether the value is sign-extended to the register width.
    pub signed: bool,
}

/// What a guest did at an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Execute => "instruction fetch",
        })
    }
}

/// A guest call, decoded by the arch layer from its calling convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestRequest {
    /// Answer with success and this value.
    Return(u64),
    /// Answer with this error.
    Fail(CallError),
    /// Program the calling vCPU's timer for this absolute time.
    SetTimer(u64),
    /// Raise an inter-processor interrupt; answered with success.
    SendIpi(Ipi),
    /// Start a vCPU of the same VM.
    CpuOn {
        /// The vCPU the call names, or `None` if it names none of this VM.
        target: Option<usize>,
        /// Guest-physical entry point.
        entry: u64,
        /// Value for the target's first argument register.
        arg: u64,
    },
    /// Report whether a vCPU is on.
    CpuStatus {
        /// The vCPU the call names, or `None` if it names none of this VM.
        target: Option<usize>,
    },
    /// Turn the calling vCPU off.
    CpuOff,
    /// Suspend the calling vCPU until an interrupt is pending for it; then
    /// either return from the call with success (`resume: None`) or start
    /// it afresh at `(entry, arg)` (a non-retentive suspend).
    Suspend {
        /// Where a non-retentive suspend resumes, and its argument.
        resume: Option<(u64, u64)>,
    },
    /// Power the VM off.
    SystemOff,
    /// Reset the VM.
    SystemReset,
    /// Answer with how many times the VM has booted.
    BootCount,
    /// Ring the doorbell of the VM's shared-memory channel `channel` (its
    /// index among the VM's channels): interrupt every other member.
    Doorbell {
        /// The channel's index, as the guest passed it.
        channel: u64,
    },
    /// Answer with the state of channel `channel`'s other members.
    ChannelStatus {
        /// The channel's index, as the guest passed it.
        channel: u64,
    },
}

/// An inter-processor interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipi {
    /// Interrupt vector to raise.
    pub vector: usize,
    /// Target vCPUs, one bit per vCPU id.
    pub targets: u64,
}

/// Why a guest call failed, in the terms every call interface has; the
/// arch layer encodes it (PSCI, SBI, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// The call is not implemented.
    NotSupported,
    /// A parameter (a CPU id, a mask) names nothing valid.
    InvalidParameters,
    /// An address parameter is outside the guest's memory.
    InvalidAddress,
    /// The target CPU is already on.
    AlreadyOn,
    /// The target CPU is being started.
    OnPending,
    /// The caller may not do this.
    Denied,
    /// The call failed for another reason.
    Failed,
}

/// The power state of a vCPU, as CPU status calls report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuPower {
    /// Running (or able to run).
    On,
    /// Turned off.
    Off,
    /// Started, not yet running.
    OnPending,
    /// On, suspended until an interrupt (PSCI reports it on).
    Suspended,
}

/// What a guest call returns to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Success with a value.
    Value(u64),
    /// Success with a CPU's power state.
    Status(CpuPower),
    /// Failure.
    Error(CallError),
}

/// An access to an emulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAccess {
    /// Memory-mapped I/O at a guest-physical address.
    Mmio {
        /// Guest-physical address.
        addr: u64,
        /// Access size in bytes.
        width: u8,
        /// The value, for a store; `None` for a load.
        write: Option<u64>,
    },
    /// A trapped system register.
    SysReg {
        /// The register's encoding.
        id: u64,
        /// The value, for a write; `None` for a read.
        write: Option<u64>,
    },
    /// An I/O port.
    Port {
        /// Port number.
        port: u16,
        /// Access size in bytes.
        width: u8,
        /// The value, for an output; `None` for an input.
        write: Option<u64>,
    },
}

/// Why an emulated device refused an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError {
    /// The device does not take accesses of this size.
    BadWidth,
    /// No register at this offset.
    BadOffset,
    /// The device failed.
    Failed,
    /// A store where the VM may only read (a read-only shared-memory
    /// channel, on architectures whose stage-2 fault reaches the VMM as
    /// an MMIO access).
    ReadOnly,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadWidth => "the device does not take accesses of this size",
            Self::BadOffset => "no register at this offset",
            Self::Failed => "the device failed",
            Self::ReadOnly => "a write to a read-only region",
        })
    }
}
