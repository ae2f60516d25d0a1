//! An Armv8-A vCPU at EL1 under a non-VHE EL2 hypervisor, written for this
//! hypervisor because arm_vcpu 0.2.2 panics on guest-reachable exception
//! classes, forwards unknown SMCs to the firmware, treats every data abort
//! as if it had a valid syndrome, does not switch FP/SIMD state, and
//! restores all EL1 registers and flushes the TLB on every entry.
//!
//! - [`esr`], [`insn`]: decoding of exception syndromes and of the
//!   faulting load/store when the syndrome has none (pure, host-tested);
//! - [`sysreg`]: the PMU, debug, trace and ID registers as guests see
//!   them, MDCR_EL2, and the UNDEFINED exception injected for an absent
//!   register (pure, host-tested);
//! - `Vcpu` (aarch64 only): the world switch (`switch`, layout checked in
//!   `context`), the lazy state (`state`: EL1 registers, timers, FP/SIMD,
//!   switched only when another vCPU takes the CPU), and exit decoding
//!   that never panics: every exception class maps to an [`Exit`].
#![no_std]

pub mod esr;
pub mod insn;
pub mod sysreg;

#[cfg(target_arch = "aarch64")]
mod context;
#[cfg(target_arch = "aarch64")]
mod state;
#[cfg(target_arch = "aarch64")]
mod switch;
#[cfg(target_arch = "aarch64")]
mod vcpu;

#[cfg(target_arch = "aarch64")]
pub use vcpu::{Vcpu, VcpuConfig, enable_this_cpu, trap_wfi};

#[cfg(test)]
mod tests;

/// A load or store to emulated memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioAccess {
    /// A store (else a load).
    pub write: bool,
    /// Access size in bytes.
    pub width: u8,
    /// The transferred register (31: the zero register).
    pub rt: usize,
    /// A load sign-extends.
    pub signed: bool,
    /// The register is 64 bits wide.
    pub reg64: bool,
}

/// Why the guest stopped running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Handled in the vCPU (the guest may go on).
    Nothing,
    /// HVC or SMC, answered alike: the function id and arguments are in
    /// x0..x7 (see `Vcpu::gpr`); the pc is past the instruction.
    Call,
    /// An access to guest RAM that stage 2 does not map yet (pc
    /// unchanged): the host backs it and runs the guest again.
    RamMiss {
        /// Guest-physical address.
        ipa: u64,
        /// A store (else a load or a fetch).
        write: bool,
        /// An instruction fetch.
        fetch: bool,
    },
    /// A load from guest-physical `addr` that is not RAM (pc advanced).
    MmioRead {
        /// Guest-physical address.
        addr: u64,
        /// The access.
        access: MmioAccess,
    },
    /// A store to guest-physical `addr` that is not RAM (pc advanced).
    MmioWrite {
        /// Guest-physical address.
        addr: u64,
        /// Access size in bytes.
        width: u8,
        /// The value stored, truncated to the width.
        value: u64,
    },
    /// MRS of a trapped register (pc advanced).
    SysRegRead {
        /// op0/op1/CRn/CRm/op2 as ESR's ISS packs them.
        encoding: u32,
        /// The destination register.
        rt: usize,
    },
    /// MSR of a trapped register (pc advanced).
    SysRegWrite {
        /// As for `SysRegRead`.
        encoding: u32,
        /// The value written.
        value: u64,
    },
    /// WFI (pc advanced).
    Wfi,
    /// WFE (pc advanced), trapped while the CPU is shared.
    Wfe,
    /// A physical IRQ is pending for the host (interrupts masked).
    Interrupt,
    /// An instruction fetch from a guest-physical address with no mapping.
    FetchFault {
        /// Guest-physical address.
        ipa: u64,
        /// Guest pc.
        pc: u64,
    },
    /// A trap the guest may not continue from.
    Fault {
        /// What it was.
        what: &'static str,
        /// ESR_EL2.
        esr: u64,
        /// FAR_EL2.
        far: u64,
        /// HPFAR_EL2.
        hpfar: u64,
        /// Guest pc.
        pc: u64,
    },
}
