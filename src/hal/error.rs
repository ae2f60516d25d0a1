//! Errors of the hardware-abstraction layer, one enum per operation.

// Each architecture constructs the variants its hardware can fail with.
#![allow(dead_code)]

use core::fmt;

use axerrno::{AxError, AxErrorKind};

/// Why this machine cannot host VMs.
#[derive(Debug, Clone, Copy)]
pub enum HardwareError {
    /// The CPU lacks the virtualization extension (or runs below it).
    NoVirtualization(&'static str),
    /// The CPU lacks a feature the stage-2 tables need.
    MissingFeature(&'static str),
}

impl fmt::Display for HardwareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoVirtualization(what) => write!(f, "no hardware virtualization: {what}"),
            Self::MissingFeature(what) => write!(f, "missing CPU feature: {what}"),
        }
    }
}

/// Why the host interrupt controller could not be set up for guests.
#[derive(Debug, Clone, Copy)]
pub enum IrqSetupError {
    /// The host device tree lacks or misdescribes the controller.
    DeviceTree(&'static str),
    /// The runtime's driver does not map the controller where expected.
    Driver(&'static str),
    /// An interrupt handler or hook could not be installed.
    Handler(&'static str),
}

impl fmt::Display for IrqSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeviceTree(what) => write!(f, "host device tree: {what}"),
            Self::Driver(what) => write!(f, "interrupt-controller driver: {what}"),
            Self::Handler(what) => write!(f, "interrupt handler: {what}"),
        }
    }
}

/// Why the hypervisor cannot start hosting VMs.
#[derive(Debug, Clone, Copy)]
pub enum StartError {
    /// This CPU cannot virtualize.
    Hardware(HardwareError),
    /// The host interrupt controller cannot be virtualized.
    Interrupts(IrqSetupError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hardware(why) => write!(f, "this machine cannot host VMs: {why}"),
            Self::Interrupts(why) => write!(f, "cannot virtualize the host interrupt controller: {why}"),
        }
    }
}

/// Why a device interrupt could not be forwarded to a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardError {
    /// The id is not one a device interrupt can have.
    NotForwardable,
    /// Another VM owns it.
    OwnedByAnotherVm,
    /// The host itself handles it.
    UsedByHost,
    /// This architecture forwards no device interrupts yet.
    #[allow(dead_code, reason = "only architectures without forwarding return it")]
    Unsupported,
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotForwardable => "not an interrupt id that can be forwarded",
            Self::OwnedByAnotherVm => "already forwarded to another VM",
            Self::UsedByHost => "the host already handles this interrupt",
            Self::Unsupported => "forwarding device interrupts is not supported on this architecture yet",
        })
    }
}

/// Why a VM's virtual interrupt controller could not be set up.
#[derive(Debug, Clone, Copy)]
pub enum IrqChipError {
    /// The config entry is wrong.
    Config {
        /// Which part of the entry.
        field: &'static str,
        /// What is wrong with it.
        what: &'static str,
    },
    /// Mapping the controller's interface into the guest failed.
    Map(AxError),
}

impl fmt::Display for IrqChipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config { field, what } => write!(f, "interrupt controller {field}: {what}"),
            Self::Map(e) => write!(f, "mapping the interrupt controller into the guest failed: {e:?}"),
        }
    }
}

/// Why a device tree could not be generated.
#[derive(Debug)]
pub enum DtbError {
    /// The config is not one a device tree can be built from.
    Build(guest_fdt::FdtError),
    /// The boot information the architecture builds in place of a device
    /// tree cannot go at `kernel.dtb_load_addr` (why).
    #[allow(dead_code, reason = "only architectures that build other boot information return it")]
    Placement(alloc::string::String),
    /// This architecture generates no device trees yet.
    #[allow(dead_code, reason = "only architectures without generated device trees return it")]
    Unsupported,
}

impl fmt::Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Build(e) => write!(f, "device tree: {e}"),
            Self::Placement(why) => write!(f, "kernel.dtb_load_addr: {why}"),
            Self::Unsupported => f.write_str("device tree: generating a device tree is not supported on this architecture yet"),
        }
    }
}

/// Why a vCPU operation failed.
#[derive(Debug, Clone, Copy)]
pub enum VcpuError {
    /// Loading it onto this CPU failed.
    Bind(AxErrorKind),
    /// Taking it off this CPU failed.
    Unbind(AxErrorKind),
    /// Entering the guest failed.
    Enter(AxErrorKind),
    /// Setting its entry point failed.
    Entry(AxErrorKind),
    /// Creating it failed.
    Create(AxErrorKind),
}

impl fmt::Display for VcpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "cannot be bound to this CPU: {e:?}"),
            Self::Unbind(e) => write!(f, "cannot be unbound from this CPU: {e:?}"),
            Self::Enter(e) => write!(f, "could not enter the guest: {e:?}"),
            Self::Entry(e) => write!(f, "cannot set the entry point: {e:?}"),
            Self::Create(e) => write!(f, "cannot be created: {e:?}"),
        }
    }
}
