//! The parts of an AMD SVM vCPU that are pure logic, host-tested here, for
//! the x86_64 backend of issue 15 (QEMU's TCG emulates SVM with nested
//! paging, without next-RIP saving or decode assists):
//!
//! - [`vmcb`]: the Virtual Machine Control Block's layout (AMD64 APM
//!   vol. 2, appendix B), its intercept bits and segment encoding;
//! - [`exit`]: `#VMEXIT` decoding from EXITCODE/EXITINFO1/EXITINFO2 that
//!   never panics on what a guest can cause;
//! - [`npt`]: nested page tables in the x86-64 long-mode format (axaddrspace
//!   builds Intel EPT tables only);
//! - [`insn`]: the MOV forms a guest uses on emulated memory, decoded from
//!   its instruction bytes (TCG gives no decode assist);
//! - [`setup`]: a VMCB made ready for a guest's first VMRUN (intercepts,
//!   nested paging, a multiboot kernel's 32-bit entry state) and the MSR
//!   permission map;
//! - [`cpuid`]: what the guest's CPUID shows;
//! - [`event`]: exceptions injected into the guest; [`absent`]: the
//!   PMU and trace MSRs the guest does not have;
//! - [`x2apic`]: the vCPU's local APIC, reached through MSRs;
//! - [`walk`]: guest page-table walks, to fetch an instruction by its
//!   guest-virtual address.
//!
//! The world switch (VMRUN) and the VMM's side live in the hypervisor's
//! x86_64 arch module.
#![no_std]
#![deny(unsafe_code)]

pub mod absent;
pub mod cpuid;
pub mod event;
pub mod exit;
pub mod insn;
pub mod npt;
pub mod setup;
pub mod vmcb;
pub mod walk;
pub mod x2apic;

#[cfg(test)]
mod tests;
#[cfg(test)]
extern crate std;
#[cfg(test)]
mod tests_apic;
#[cfg(test)]
mod tests_guard;
#[cfg(test)]
mod tests_walk;
