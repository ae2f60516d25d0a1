//! The CSRs the vCPU touches, by number (the assembler is not told about
//! the H extension), and the H-extension fences.

/// Reads CSR `$n`.
macro_rules! read {
    ($n:literal) => {{
        let value: u64;
        // SAFETY: reading a hypervisor or VS CSR at HS-mode has no side effects.
        unsafe { core::arch::asm!(concat!("csrr {0}, ", $n), out(reg) value, options(nomem, nostack)) };
        value
    }};
}

/// Writes `$v` to CSR `$n`.
macro_rules! write {
    ($n:literal, $v:expr) => {{
        let value: u64 = $v;
        // SAFETY: the callers write hypervisor and VS CSRs that only shape
        // how the guest runs; HS-mode owns them.
        unsafe { core::arch::asm!(concat!("csrw ", $n, ", {0}"), in(reg) value, options(nomem, nostack)) };
    }};
}

pub(crate) use {read, write};

/// Flushes guest-physical translations (all VMIDs).
pub fn hfence_gvma() {
    // SAFETY: hfence.gvma zero, zero only invalidates TLB entries.
    unsafe { core::arch::asm!(".word 0x62000073", options(nostack)) };
}

/// Flushes guest-virtual translations of the current VMID.
pub fn hfence_vvma() {
    // SAFETY: hfence.vvma zero, zero only invalidates TLB entries.
    unsafe { core::arch::asm!(".word 0x22000073", options(nostack)) };
}
