//! One vCPU: its VS-level CSRs, entering the guest, and turning the trap
//! that ended the run into an [`Exit`].

use crate::csr::{self, read, write};
use crate::insn;
use crate::switch::{Context, rvh_run_guest};
use crate::Exit;

const SSTATUS_SIE: u64 = 1 << 1;
const SSTATUS_SPP: u64 = 1 << 8;
const SSTATUS_FS_DIRTY: u64 = 3 << 13;
const HSTATUS_SPV: u64 = 1 << 7;
const HSTATUS_SPVP: u64 = 1 << 8;
const HSTATUS_VTW: u64 = 1 << 21;
const HGATP_SV39X4: u64 = 8 << 60;
const HENVCFG_STCE: u64 = 1 << 63;
const INTERRUPT: u64 = 1 << 63;

/// Exception causes the guest raises into HS-mode.
mod cause {
    pub const ECALL_FROM_VS: u64 = 10;
    pub const FETCH_GUEST_PAGE_FAULT: u64 = 20;
    pub const LOAD_GUEST_PAGE_FAULT: u64 = 21;
    pub const STORE_GUEST_PAGE_FAULT: u64 = 23;
}

/// Exceptions handed straight to the guest: misaligned fetch, illegal
/// instruction, breakpoint, misaligned load/store, ecall from VU, and
/// page faults of the guest's own page tables.
const DELEGATED_EXCEPTIONS: u64 = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 6) | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15);
/// VS software, timer and external interrupts go to the guest.
const DELEGATED_INTERRUPTS: u64 = (1 << 2) | (1 << 6) | (1 << 10);

/// Sets up this hart's delegation and counters for guests; fails without
/// Sstc (the guest timer is the hardware `vstimecmp`).
pub fn enable_this_hart() -> Result<(), &'static str> {
    write!("0x602", DELEGATED_EXCEPTIONS);
    write!("0x603", DELEGATED_INTERRUPTS);
    write!("0x606", u64::from(u32::MAX)); // hcounteren: time and counters readable
    write!("0x645", 0); // hvip
    write!("0x680", 0); // hgatp
    write!("0x60A", HENVCFG_STCE);
    if read!("0x60A") & HENVCFG_STCE == 0 {
        return Err("the hart lacks Sstc: guest timers need vstimecmp");
    }
    Ok(())
}

/// The VS-level CSRs a vCPU owns while it is bound to a hart.
#[derive(Default)]
struct VsState {
    vsstatus: u64,
    vsie: u64,
    vstvec: u64,
    vsscratch: u64,
    vsepc: u64,
    vscause: u64,
    vstval: u64,
    hvip: u64,
    vsatp: u64,
    vstimecmp: u64,
}

/// A guest hart.
pub struct Vcpu {
    ctx: Context,
    vs: VsState,
    hgatp: u64,
    /// The MMIO load of the last exit, until its value is written back.
    pending_read: Option<insn::Access>,
}

impl Vcpu {
    /// A hart that starts at `entry` with `a0 = hart_id`, translating
    /// guest-physical addresses with the stage-2 table at `stage2_root`.
    pub fn new(hart_id: u64, entry: u64, stage2_root: u64) -> Self {
        let mut ctx = Context::default();
        ctx.gpr[10] = hart_id;
        ctx.sepc = entry;
        ctx.sstatus = SSTATUS_SPP | SSTATUS_FS_DIRTY;
        ctx.hstatus = (read!("0x600") | HSTATUS_SPV | HSTATUS_SPVP) & !HSTATUS_VTW;
        let vs = VsState { vstimecmp: u64::MAX, ..Default::default() };
        Self { ctx, vs, hgatp: HGATP_SV39X4 | (stage2_root >> 12), pending_read: None }
    }

    /// Puts the hart in the state SBI HSM `hart_start` (and a reset) gives:
    /// at `entry` with `a0 = hart_id`, `a1 = opaque`, every other register
    /// and VS-level CSR cleared (`vsatp` = 0: no translation; interrupts
    /// off). The stage-2 table stays.
    pub fn reset(&mut self, hart_id: u64, entry: u64, opaque: u64) {
        let hgatp = self.hgatp;
        *self = Self { hgatp, ..Self::new(hart_id, entry, 0) };
        self.ctx.gpr[11] = opaque;
    }

    /// Sets general-purpose register `x{index}` (x0 stays zero). When it
    /// is the destination of the MMIO load that ended the last run, `value`
    /// is what the load read: it is sign- or zero-extended as the
    /// instruction says.
    pub fn set_gpr(&mut self, index: usize, value: u64) {
        let value = match self.pending_read.take() {
            Some(access) if access.reg == index => insn::extend(value, &access),
            other => {
                self.pending_read = other;
                value
            }
        };
        if (1..32).contains(&index) {
            self.ctx.gpr[index] = value;
        }
    }

    /// Reads general-purpose register `x{index}`.
    pub fn gpr(&self, index: usize) -> u64 {
        self.ctx.gpr.get(index).copied().unwrap_or(0)
    }

    /// Loads this vCPU's VS state and stage-2 table onto the current hart.
    pub fn bind(&mut self) {
        let vs = &self.vs;
        write!("0x200", vs.vsstatus);
        write!("0x204", vs.vsie);
        write!("0x205", vs.vstvec);
        write!("0x240", vs.vsscratch);
        write!("0x241", vs.vsepc);
        write!("0x242", vs.vscause);
        write!("0x243", vs.vstval);
        write!("0x645", vs.hvip);
        write!("0x280", vs.vsatp);
        write!("0x24D", vs.vstimecmp);
        write!("0x605", 0); // htimedelta: the guest sees the host's time
        write!("0x680", self.hgatp);
        csr::hfence_gvma();
        csr::hfence_vvma();
    }

    /// Saves the VS state off the current hart and leaves it with no guest.
    pub fn unbind(&mut self) {
        self.vs = VsState {
            vsstatus: read!("0x200"),
            vsie: read!("0x204"),
            vstvec: read!("0x205"),
            vsscratch: read!("0x240"),
            vsepc: read!("0x241"),
            vscause: read!("0x242"),
            vstval: read!("0x243"),
            hvip: read!("0x645"),
            vsatp: read!("0x280"),
            vstimecmp: read!("0x24D"),
        };
        write!("0x24D", u64::MAX);
        write!("0x645", 0);
        write!("0x680", 0);
        csr::hfence_gvma();
    }

    /// The guest's timer deadline (`vstimecmp`; all ones: none). The vCPU
    /// must be bound here.
    pub fn timer_deadline(&self) -> u64 {
        read!("0x24D")
    }

    /// Programs the guest's timer (the SBI TIME call): VSTIP follows
    /// `time >= deadline` in hardware. The vCPU must be bound here.
    pub fn set_timer(&mut self, deadline: u64) {
        write!("0x24D", deadline);
    }

    /// Clears VS interrupt `bit` of `hvip` on the bound vCPU (legacy SBI
    /// clear_ipi: bit 2).
    pub fn clear_interrupt(&mut self, bit: usize) {
        if DELEGATED_INTERRUPTS & (1 << bit) != 0 {
            write!("0x645", read!("0x645") & !(1 << bit));
        }
    }

    /// The guest's `vsatp` (its page-table root and mode); the vCPU must be
    /// bound here.
    pub fn vsatp(&self) -> u64 {
        read!("0x280")
    }

    /// Raises VS interrupt `bit` of `hvip` (2 software, 6 timer, 10
    /// external) on the bound vCPU.
    pub fn raise_interrupt(&mut self, bit: usize) {
        if DELEGATED_INTERRUPTS & (1 << bit) != 0 {
            write!("0x645", read!("0x645") | (1 << bit));
        }
    }

    /// Runs the guest until it traps. On [`Exit::Interrupt`] host
    /// interrupts stay masked (the host handles the pending one, then
    /// unmasks); after any other exit they are unmasked again.
    pub fn run(&mut self) -> Exit {
        self.pending_read = None;
        // SAFETY: masking interrupts at HS-mode is always allowed.
        unsafe { core::arch::asm!("csrc sstatus, {0}", in(reg) SSTATUS_SIE, options(nomem, nostack)) };
        // SAFETY: the context is ours (&mut self); interrupts are masked so
        // nothing runs between the stvec swap and `sret`; `bind` loaded
        // this vCPU's stage-2 table and VS CSRs on this hart.
        unsafe { rvh_run_guest(&mut self.ctx) };
        let scause = read!("scause");
        let exit = if scause & INTERRUPT != 0 { Exit::Interrupt(scause) } else { self.exception(scause) };
        if !matches!(exit, Exit::Interrupt(_)) {
            // SAFETY: unmasking restores the host's normal state.
            unsafe { core::arch::asm!("csrs sstatus, {0}", in(reg) SSTATUS_SIE, options(nomem, nostack)) };
        }
        exit
    }

    fn exception(&mut self, scause: u64) -> Exit {
        let pc = self.ctx.sepc;
        // The faulting guest-physical address (htval holds it >> 2).
        let gpa = || (read!("0x643") << 2) | (read!("stval") & 3);
        match scause {
            cause::ECALL_FROM_VS => {
                self.ctx.sepc += 4;
                let g = &self.ctx.gpr;
                Exit::Ecall { eid: g[17], fid: g[16], args: [g[10], g[11], g[12], g[13], g[14], g[15]] }
            }
            cause::LOAD_GUEST_PAGE_FAULT | cause::STORE_GUEST_PAGE_FAULT => {
                Exit::DataMiss { addr: gpa(), store: scause == cause::STORE_GUEST_PAGE_FAULT }
            }
            cause::FETCH_GUEST_PAGE_FAULT => Exit::FetchFault { addr: gpa(), pc },
            _ => Exit::Fault { cause: scause, pc },
        }
    }

    /// Treats the access of an [`Exit::DataMiss`] (the last exit) as one to
    /// emulated memory: decodes it, steps over the instruction, and returns
    /// the load or store to emulate.
    #[inline(always)]
    pub fn emulate_access(&mut self, addr: u64, store: bool) -> Exit {
        let pc = self.ctx.sepc;
        let scause = if store { cause::STORE_GUEST_PAGE_FAULT } else { cause::LOAD_GUEST_PAGE_FAULT };
        let Some(access) = self.faulting_access() else {
            return Exit::Fault { cause: scause, pc };
        };
        if access.store != store {
            return Exit::Fault { cause: scause, pc };
        }
        self.ctx.sepc += access.len as u64;
        if access.store {
            let bits = access.width * 8;
            let value = self.gpr(access.reg) & if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
            Exit::MmioWrite { addr, access, value }
        } else {
            self.pending_read = Some(access);
            Exit::MmioRead { addr, access }
        }
    }

    /// The load or store at the guest pc, read with the guest's own
    /// translation.
    fn faulting_access(&self) -> Option<insn::Access> {
        let pc = self.ctx.sepc;
        // SAFETY: the guest was executing at `pc`, so its page is mapped.
        let low = unsafe { csr::guest_fetch_u16(pc) };
        let word = if low & 0b11 == 0b11 {
            // SAFETY: a 32-bit instruction at `pc` was fetched whole; its
            // second half may start a new page only if that page is mapped.
            let high = unsafe { csr::guest_fetch_u16(pc + 2) };
            u32::from(low) | (u32::from(high) << 16)
        } else {
            u32::from(low)
        };
        insn::decode(word)
    }
}
