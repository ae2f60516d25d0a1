//! The world switch. `a64_run_guest` saves the host's callee-saved
//! registers, SP_EL0 and VBAR_EL2 into the context, installs this crate's
//! vectors, points SP_EL2 at the context and `eret`s into the guest. A
//! trap from the guest lands in a lower-EL vector entry, which stores the
//! guest's registers through SP_EL2, puts the host back, and returns from
//! `a64_run_guest` with the kind of exit. Interrupts stay masked: the host
//! handles a pending one explicitly after the exit.

use crate::context::{ELR, ESR, HOST_REGS, HOST_SP, HOST_SP_EL0, HOST_VBAR, SP_EL0, SPSR};

/// The exit was a synchronous exception (ESR_EL2 says which).
pub const EXIT_SYNC: u64 = 0;
/// A physical IRQ arrived.
pub const EXIT_IRQ: u64 = 1;
/// A physical FIQ arrived.
pub const EXIT_FIQ: u64 = 2;
/// An SError arrived.
pub const EXIT_SERROR: u64 = 3;
/// An exception from AArch32 (never allowed: SPSR is always AArch64).
pub const EXIT_AARCH32: u64 = 4;

unsafe extern "C" {
    /// Runs the guest whose registers are in `ctx` until its next trap,
    /// and returns the `EXIT_*` kind.
    ///
    /// # Safety
    /// `ctx` points to a `Context` that nothing else touches until this
    /// returns; the guest's EL1 and stage-2 state are loaded on this CPU.
    pub fn a64_run_guest(ctx: *mut crate::context::Context) -> u64;
}

macro_rules! save_guest {
    ($kind:expr) => {
        concat!(
            ".balign 0x80\n",
            "stp x0, x1, [sp, #0]\n",
            "stp x2, x3, [sp, #16]\n",
            "stp x4, x5, [sp, #32]\n",
            "stp x6, x7, [sp, #48]\n",
            "stp x8, x9, [sp, #64]\n",
            "stp x10, x11, [sp, #80]\n",
            "stp x12, x13, [sp, #96]\n",
            "stp x14, x15, [sp, #112]\n",
            "stp x16, x17, [sp, #128]\n",
            "stp x18, x19, [sp, #144]\n",
            "stp x20, x21, [sp, #160]\n",
            "stp x22, x23, [sp, #176]\n",
            "stp x24, x25, [sp, #192]\n",
            "stp x26, x27, [sp, #208]\n",
            "stp x28, x29, [sp, #224]\n",
            "mrs x0, sp_el0\n",
            "stp x30, x0, [sp, #240]\n",
            "mov x0, #",
            $kind,
            "\n",
            "b a64_guest_exit\n"
        )
    };
}

macro_rules! hang {
    () => {
        ".balign 0x80\nb .\n"
    };
}

core::arch::global_asm!(
    ".pushsection .text.a64_vcpu, \"ax\"",
    // Exception vectors while a guest runs. The current-EL entries cannot
    // be reached: the switch keeps interrupts masked until `eret`.
    ".balign 0x800",
    ".global a64_vectors",
    "a64_vectors:",
    hang!(),
    hang!(),
    hang!(),
    hang!(),
    hang!(),
    hang!(),
    hang!(),
    hang!(),
    save_guest!("0"),
    save_guest!("1"),
    save_guest!("2"),
    save_guest!("3"),
    save_guest!("4"),
    save_guest!("4"),
    save_guest!("4"),
    save_guest!("4"),
    // x0 = exit kind, SP_EL2 = the context, guest x0..x30 and SP_EL0 saved.
    "a64_guest_exit:",
    "mrs x1, elr_el2",
    "mrs x2, spsr_el2",
    "stp x1, x2, [sp, #{elr}]",
    "mrs x1, esr_el2",
    "str x1, [sp, #{esr}]",
    "ldp x1, x2, [sp, #{host_sp_el0}]",
    "msr sp_el0, x1",
    "msr vbar_el2, x2",
    "isb",
    "ldr x1, [sp, #{host_sp}]",
    "add x2, sp, #{host_regs}",
    "mov sp, x1",
    "ldp x19, x20, [x2, #0]",
    "ldp x21, x22, [x2, #16]",
    "ldp x23, x24, [x2, #32]",
    "ldp x25, x26, [x2, #48]",
    "ldp x27, x28, [x2, #64]",
    "ldp x29, x30, [x2, #80]",
    "ret",
    // a64_run_guest(ctx: x0) -> exit kind
    ".balign 4",
    ".global a64_run_guest",
    "a64_run_guest:",
    "msr daifset, #0xf",
    "add x1, x0, #{host_regs}",
    "stp x19, x20, [x1, #0]",
    "stp x21, x22, [x1, #16]",
    "stp x23, x24, [x1, #32]",
    "stp x25, x26, [x1, #48]",
    "stp x27, x28, [x1, #64]",
    "stp x29, x30, [x1, #80]",
    "mov x2, sp",
    "str x2, [x0, #{host_sp}]",
    "mrs x2, sp_el0",
    "mrs x3, vbar_el2",
    "stp x2, x3, [x0, #{host_sp_el0}]",
    "adrp x2, a64_vectors",
    "add x2, x2, :lo12:a64_vectors",
    "msr vbar_el2, x2",
    "ldp x2, x3, [x0, #{elr}]",
    "msr elr_el2, x2",
    "msr spsr_el2, x3",
    "ldr x2, [x0, #{sp_el0}]",
    "msr sp_el0, x2",
    "mov sp, x0",
    "ldp x2, x3, [sp, #16]",
    "ldp x4, x5, [sp, #32]",
    "ldp x6, x7, [sp, #48]",
    "ldp x8, x9, [sp, #64]",
    "ldp x10, x11, [sp, #80]",
    "ldp x12, x13, [sp, #96]",
    "ldp x14, x15, [sp, #112]",
    "ldp x16, x17, [sp, #128]",
    "ldp x18, x19, [sp, #144]",
    "ldp x20, x21, [sp, #160]",
    "ldp x22, x23, [sp, #176]",
    "ldp x24, x25, [sp, #192]",
    "ldp x26, x27, [sp, #208]",
    "ldp x28, x29, [sp, #224]",
    "ldr x30, [sp, #240]",
    "ldp x0, x1, [sp, #0]",
    "eret",
    ".popsection",
    elr = const ELR,
    esr = const ESR,
    sp_el0 = const SP_EL0,
    host_regs = const HOST_REGS,
    host_sp = const HOST_SP,
    host_sp_el0 = const HOST_SP_EL0,
);

// The vector code stores x30 and SP_EL0 as one pair at 240, which is where
// the layout puts them; `HOST_VBAR` follows `HOST_SP_EL0` for one `ldp`.
const _: () = assert!(SP_EL0 == 248 && SPSR == ELR + 8 && HOST_VBAR == HOST_SP_EL0 + 8);
