//! What the world switch saves and loads on every exit and entry: the
//! guest's general-purpose registers and exception state, and the host's
//! callee-saved registers. The assembly reaches the fields through the
//! offsets below, which the compiler checks against the layout.

use core::mem::offset_of;

/// Host state the switch keeps while the guest runs.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct HostState {
    /// x19..x30.
    pub x19_x30: [u64; 12],
    /// Stack pointer.
    pub sp: u64,
    /// SP_EL0 (the runtime's current-task pointer).
    pub sp_el0: u64,
    /// The host's exception vectors.
    pub vbar: u64,
}

/// Guest registers saved on exit and loaded on entry.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Context {
    /// x0..x30.
    pub x: [u64; 31],
    /// The guest's SP_EL0.
    pub sp_el0: u64,
    /// Guest pc (ELR_EL2).
    pub elr: u64,
    /// Guest PSTATE (SPSR_EL2).
    pub spsr: u64,
    /// ESR_EL2 of the last exit.
    pub esr: u64,
    /// The host while the guest runs.
    pub host: HostState,
}

pub(crate) const X: usize = offset_of!(Context, x);
pub(crate) const SP_EL0: usize = offset_of!(Context, sp_el0);
pub(crate) const ELR: usize = offset_of!(Context, elr);
pub(crate) const SPSR: usize = offset_of!(Context, spsr);
pub(crate) const ESR: usize = offset_of!(Context, esr);
pub(crate) const HOST_REGS: usize = offset_of!(Context, host) + offset_of!(HostState, x19_x30);
pub(crate) const HOST_SP: usize = offset_of!(Context, host) + offset_of!(HostState, sp);
pub(crate) const HOST_SP_EL0: usize = offset_of!(Context, host) + offset_of!(HostState, sp_el0);
pub(crate) const HOST_VBAR: usize = offset_of!(Context, host) + offset_of!(HostState, vbar);

// The assembly stores pairs: x0/x1 .. x28/x29 then x30/SP_EL0, ELR/SPSR.
const _: () = assert!(X == 0 && SP_EL0 == 31 * 8 && ELR == SP_EL0 + 8 && SPSR == ELR + 8);
const _: () = assert!(HOST_SP == HOST_REGS + 12 * 8 && HOST_VBAR == HOST_SP_EL0 + 8);
// `ldp`/`stp` immediates reach 504 bytes from the base.
const _: () = assert!(HOST_VBAR < 504);
