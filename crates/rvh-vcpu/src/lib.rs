//! A RISC-V vCPU on the H extension, written for this hypervisor because
//! riscv_vcpu 0.2.2 answers TIME and IPI calls with NOT_SUPPORTED, shares
//! the firmware timer between host and guest, and panics on several guest
//! traps (instruction guest-page faults, HSM status, host IPIs).
//!
//! - [`insn`]: decoding of the load/store that faulted on emulated MMIO
//!   (pure, host-tested);
//! - [`walk`]: guest-virtual to guest-physical translation in software
//!   (pure, host-tested);
//! - [`wake`]: when a waiting (suspended, WFI) hart resumes (pure,
//!   host-tested);
//! - `Vcpu` (riscv64 only): the world switch and trap decoding. SBI calls
//!   come out as [`Exit::Ecall`] for the hypervisor to answer; the guest's
//!   timer is its own `vstimecmp` (Sstc), so it fires with no exit.
#![no_std]

pub mod insn;
pub mod wake;
pub mod walk;

#[cfg(target_arch = "riscv64")]
mod csr;
#[cfg(target_arch = "riscv64")]
mod switch;
#[cfg(target_arch = "riscv64")]
mod vcpu;

#[cfg(target_arch = "riscv64")]
pub use vcpu::{Vcpu, enable_this_hart};

/// Reads guest-physical memory for the vCPU's software translations:
/// fills the buffer from the address, false if that is not guest RAM.
pub type ReadGuest<'a> = &'a dyn Fn(u64, &mut [u8]) -> bool;

/// Flushes this hart's guest-virtual (VS-stage) translations.
#[cfg(target_arch = "riscv64")]
pub fn flush_guest_tlb() {
    csr::hfence_vvma();
}

/// Orders stage-2 (G-stage) table writes before this hart's next guest
/// access and drops its cached guest-physical translations (all VMIDs).
#[cfg(target_arch = "riscv64")]
pub fn flush_stage2() {
    // SAFETY: a fence only orders memory accesses.
    unsafe { core::arch::asm!("fence rw, rw", options(nostack)) };
    csr::hfence_gvma();
}

/// Why the guest stopped running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// An SBI call (`ecall` from VS-mode): extension, function, `a0..a5`.
    /// The pc is already past the `ecall`.
    Ecall {
        /// `a7`.
        eid: u64,
        /// `a6`.
        fid: u64,
        /// `a0..a5`.
        args: [u64; 6],
    },
    /// A load or store at a guest-physical address stage 2 does not map
    /// (pc unchanged). The host either maps RAM there and runs the guest
    /// again, or calls `Vcpu::emulate_access` to treat it as emulated
    /// memory.
    DataMiss {
        /// Guest-physical address.
        addr: u64,
        /// A store (else a load).
        store: bool,
    },
    /// A load from guest-physical `addr` that is not RAM (pc advanced).
    MmioRead {
        /// Guest-physical address.
        addr: u64,
        /// The decoded access.
        access: insn::Access,
    },
    /// A store to guest-physical `addr` that is not RAM (pc advanced).
    MmioWrite {
        /// Guest-physical address.
        addr: u64,
        /// The decoded access.
        access: insn::Access,
        /// The value stored (already truncated to the access width).
        value: u64,
    },
    /// The guest executed WFI while it traps (pc advanced).
    Wfi,
    /// A virtual-instruction trap: `bits` is the instruction if the hart
    /// reported it (else 0); `Vcpu::virtual_instruction` resolves it.
    VirtualInstruction {
        /// `stval`.
        bits: u64,
        /// Guest pc.
        pc: u64,
    },
    /// A trap the guest's own handler takes instead, as on a hart without
    /// what it tried (a counter it may not read: an illegal instruction);
    /// the guest resumes there.
    Reflected {
        /// The exception cause the guest sees.
        cause: u64,
    },
    /// A host interrupt arrived (`scause`); it is still pending, with
    /// interrupts masked, for the host to handle.
    Interrupt(u64),
    /// An instruction fetch from guest-physical `addr`, which is not RAM.
    FetchFault {
        /// Guest-physical address.
        addr: u64,
        /// Guest pc.
        pc: u64,
    },
    /// Any other trap the guest cannot be allowed to continue from: an
    /// access the decoder does not know, an access fault, a virtual
    /// instruction.
    Fault {
        /// `scause`.
        cause: u64,
        /// Guest pc.
        pc: u64,
    },
}
