//! One vCPU: its VS-level CSRs, entering the guest, and turning the trap
//! that ended the run into an [`Exit`].

use crate::csr::{self, read, write};
use crate::switch::{Context, rvh_run_guest};
use crate::{Exit, ReadGuest};
use crate::{insn, wake, walk};

const SSTATUS_SIE: u64 = 1 << 1;
const SSTATUS_SPP: u64 = 1 << 8;
const SSTATUS_FS_DIRTY: u64 = 3 << 13;
const HSTATUS_SPV: u64 = 1 << 7;
const HSTATUS_SPVP: u64 = 1 << 8;
const HSTATUS_VTW: u64 = 1 << 21;
const HGATP_SV39X4: u64 = 8 << 60;
const HENVCFG_STCE: u64 = 1 << 63;
const INTERRUPT: u64 = 1 << 63;

/// `hcounteren.TM`: the guest reads `time` (the host's time base);
/// `cycle`, `instret` and the `hpmcounter`s count the host too and are
/// not switched, so they are absent to guests.
const HCOUNTEREN_TM: u64 = 1 << 1;
/// `scounteren.TM`: U-mode reads `time` (a vCPU's value at start and reset).
const SCOUNTEREN_TM: u64 = 1 << 1;

/// Exception causes the guest raises into HS-mode.
mod cause {
    pub const ILLEGAL_INSTRUCTION: u64 = 2;
    pub const ECALL_FROM_VS: u64 = 10;
    pub const VIRTUAL_INSTRUCTION: u64 = 22;
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
    write!("0x606", HCOUNTEREN_TM); // hcounteren
    // The S-level CSRs a guest in VS-mode uses directly (the H extension
    // has no VS copy of them): each vCPU's own while bound (`bind`); the
    // host, which runs no U-mode, leaves them cleared.
    write!("0x106", 0); // scounteren
    write!("0x10A", 0); // senvcfg
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
    /// `scounteren` and `senvcfg`: the guest writes the hart's own.
    scounteren: u64,
    senvcfg: u64,
    /// f0..f31 and fcsr: the guest's floating point, which the hart keeps
    /// across exits while this vCPU is bound.
    fp: FpState,
}

/// Floating-point registers and `fcsr`.
#[derive(Default)]
#[repr(C)]
struct FpState {
    f: [u64; 32],
    fcsr: u64,
}

impl FpState {
    /// Copies the hart's floating-point registers into `self`.
    fn save(&mut self) {
        let area = self as *mut FpState;
        // SAFETY: `area` points to 33 writable words (repr(C)); sstatus.FS
        // is turned on for the copy and its previous value put back.
        unsafe {
            core::arch::asm!(
                "li {tmp}, 0x6000",
                "csrrs {fs}, sstatus, {tmp}",
                "fsd f0, 0({a})", "fsd f1, 8({a})", "fsd f2, 16({a})", "fsd f3, 24({a})",
                "fsd f4, 32({a})", "fsd f5, 40({a})", "fsd f6, 48({a})", "fsd f7, 56({a})",
                "fsd f8, 64({a})", "fsd f9, 72({a})", "fsd f10, 80({a})", "fsd f11, 88({a})",
                "fsd f12, 96({a})", "fsd f13, 104({a})", "fsd f14, 112({a})", "fsd f15, 120({a})",
                "fsd f16, 128({a})", "fsd f17, 136({a})", "fsd f18, 144({a})", "fsd f19, 152({a})",
                "fsd f20, 160({a})", "fsd f21, 168({a})", "fsd f22, 176({a})", "fsd f23, 184({a})",
                "fsd f24, 192({a})", "fsd f25, 200({a})", "fsd f26, 208({a})", "fsd f27, 216({a})",
                "fsd f28, 224({a})", "fsd f29, 232({a})", "fsd f30, 240({a})", "fsd f31, 248({a})",
                "frcsr {tmp2}",
                "sd {tmp2}, 256({a})",
                "csrc sstatus, {tmp}",
                "and {fs}, {fs}, {tmp}",
                "csrs sstatus, {fs}",
                a = in(reg) area, tmp = out(reg) _, tmp2 = out(reg) _, fs = out(reg) _,
                options(nostack),
            );
        }
    }

    /// Loads `self` into the hart's floating-point registers.
    fn load(&self) {
        let area = self as *const FpState;
        // SAFETY: `area` points to 33 readable words (repr(C)); sstatus.FS
        // is turned on for the copy and its previous value put back; the
        // registers it overwrites are declared clobbered.
        unsafe {
            core::arch::asm!(
                "li {tmp}, 0x6000",
                "csrrs {fs}, sstatus, {tmp}",
                "fld f0, 0({a})", "fld f1, 8({a})", "fld f2, 16({a})", "fld f3, 24({a})",
                "fld f4, 32({a})", "fld f5, 40({a})", "fld f6, 48({a})", "fld f7, 56({a})",
                "fld f8, 64({a})", "fld f9, 72({a})", "fld f10, 80({a})", "fld f11, 88({a})",
                "fld f12, 96({a})", "fld f13, 104({a})", "fld f14, 112({a})", "fld f15, 120({a})",
                "fld f16, 128({a})", "fld f17, 136({a})", "fld f18, 144({a})", "fld f19, 152({a})",
                "fld f20, 160({a})", "fld f21, 168({a})", "fld f22, 176({a})", "fld f23, 184({a})",
                "fld f24, 192({a})", "fld f25, 200({a})", "fld f26, 208({a})", "fld f27, 216({a})",
                "fld f28, 224({a})", "fld f29, 232({a})", "fld f30, 240({a})", "fld f31, 248({a})",
                "ld {tmp2}, 256({a})",
                "fscsr {tmp2}",
                "csrc sstatus, {tmp}",
                "and {fs}, {fs}, {tmp}",
                "csrs sstatus, {fs}",
                a = in(reg) area, tmp = out(reg) _, tmp2 = out(reg) _, fs = out(reg) _,
                // The guest's values replace whatever the host had there.
                out("f0") _, out("f1") _, out("f2") _, out("f3") _, out("f4") _, out("f5") _, out("f6") _, out("f7") _,
                out("f8") _, out("f9") _, out("f10") _, out("f11") _, out("f12") _, out("f13") _, out("f14") _, out("f15") _,
                out("f16") _, out("f17") _, out("f18") _, out("f19") _, out("f20") _, out("f21") _, out("f22") _, out("f23") _,
                out("f24") _, out("f25") _, out("f26") _, out("f27") _, out("f28") _, out("f29") _, out("f30") _, out("f31") _,
                options(nostack, readonly),
            );
        }
    }
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
        // `scounteren.TM` as SBI firmware leaves it (OpenSBI sets it):
        // Linux without the SBI PMU never sets it, and its vDSO reads `time`.
        let vs = VsState { vstimecmp: u64::MAX, scounteren: SCOUNTEREN_TM, ..Default::default() };
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
        write!("0x106", vs.scounteren);
        write!("0x10A", vs.senvcfg);
        vs.fp.load();
        write!("0x605", 0); // htimedelta: the guest sees the host's time
        write!("0x680", self.hgatp);
        csr::hfence_gvma();
        csr::hfence_vvma();
    }

    /// Saves the VS state off the current hart and leaves it with no guest.
    pub fn unbind(&mut self) {
        self.vs.fp.save();
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
            scounteren: read!("0x106"),
            senvcfg: read!("0x10A"),
            fp: core::mem::take(&mut self.vs.fp),
        };
        write!("0x24D", u64::MAX);
        write!("0x106", 0);
        write!("0x10A", 0);
        write!("0x645", 0);
        write!("0x680", 0);
        csr::hfence_gvma();
    }

    /// The guest's timer deadline (`vstimecmp`; all ones: none): the
    /// hart's while the vCPU is bound to it (`bound`), else the saved one.
    pub fn timer_deadline(&self, bound: bool) -> u64 {
        if bound { read!("0x24D") } else { self.vs.vstimecmp }
    }

    /// What decides whether the hart, waiting, resumes ([`wake`]): from
    /// the hart while the vCPU is bound to it (`bound`), else the saved
    /// state.
    pub fn interrupts(&self, bound: bool) -> wake::HartInterrupts {
        let time = read!("time");
        if bound {
            wake::HartInterrupts { hvip: read!("0x645"), vsie: read!("0x204"), vstimecmp: read!("0x24D"), time }
        } else {
            let vs = &self.vs;
            wake::HartInterrupts { hvip: vs.hvip, vsie: vs.vsie, vstimecmp: vs.vstimecmp, time }
        }
    }

    /// Makes the bound hart's VSTIP agree with `time >= vstimecmp` before
    /// the guest resumes: an emulated hart (QEMU) raises it from a host
    /// timer that may run late, and compares at once when `vstimecmp` is
    /// written.
    pub fn settle_timer(&mut self) {
        write!("0x24D", read!("0x24D"));
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

    /// Makes the guest's WFI trap (`Exit::Wfi`) or run in the guest, from
    /// the next run on.
    pub fn trap_wfi(&mut self, on: bool) {
        if on {
            self.ctx.hstatus |= HSTATUS_VTW;
        } else {
            self.ctx.hstatus &= !HSTATUS_VTW;
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
            // WFI traps while `hstatus.VTW` is set (`trap_wfi`); stval
            // holds the instruction, or 0 where the hart does not say.
            cause::VIRTUAL_INSTRUCTION => Exit::VirtualInstruction { bits: read!("stval"), pc },
            _ => Exit::Fault { cause: scause, pc },
        }
    }

    /// Treats the access of an [`Exit::DataMiss`] (the last exit) as one to
    /// emulated memory: decodes it (read through `read`), steps over the
    /// instruction, and returns the load or store to emulate.
    #[inline(always)]
    pub fn emulate_access(&mut self, addr: u64, store: bool, read: ReadGuest<'_>) -> Exit {
        let pc = self.ctx.sepc;
        let scause = if store { cause::STORE_GUEST_PAGE_FAULT } else { cause::LOAD_GUEST_PAGE_FAULT };
        let Some(access) = self.instruction(read).and_then(insn::decode) else {
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

    /// Resolves an [`Exit::VirtualInstruction`] (the last exit): a WFI
    /// (its `bits` as the hart reported them, else read through `read`) is
    /// stepped over and becomes [`Exit::Wfi`]; anything else (a counter
    /// the guest may not read, a hypervisor instruction, a fence the
    /// guest's configuration withholds) is an illegal instruction to the
    /// guest, as on a hart without what it asked for.
    pub fn virtual_instruction(&mut self, bits: u64, read: ReadGuest<'_>) -> Exit {
        let insn = if bits != 0 { u32::try_from(bits).ok() } else { self.instruction(read) };
        if insn == Some(insn::WFI) {
            self.ctx.sepc += 4;
            Exit::Wfi
        } else {
            self.reflect(cause::ILLEGAL_INSTRUCTION, u64::from(insn.unwrap_or(0)));
            Exit::Reflected { cause: cause::ILLEGAL_INSTRUCTION }
        }
    }

    /// Takes exception `cause` (with `stval` = `tval`) into the guest's
    /// own trap handler, as the hart does for a delegated one: `vsepc`,
    /// `vscause`, `vstval` and `vsstatus` (SPP, SPIE, SIE) set, the guest
    /// resumed in VS-mode at its `vstvec` base. The vCPU must be bound.
    fn reflect(&mut self, cause: u64, tval: u64) {
        const SIE: u64 = 1 << 1;
        const SPIE: u64 = 1 << 5;
        let from_vs = self.ctx.sstatus & SSTATUS_SPP != 0;
        let vsstatus = read!("0x200");
        let mut next = vsstatus & !(SIE | SPIE | SSTATUS_SPP);
        if vsstatus & SIE != 0 {
            next |= SPIE;
        }
        if from_vs {
            next |= SSTATUS_SPP;
        }
        write!("0x200", next);
        write!("0x241", self.ctx.sepc);
        write!("0x242", cause);
        write!("0x243", tval);
        self.ctx.sepc = read!("0x205") & !3;
        self.ctx.sstatus |= SSTATUS_SPP;
        self.ctx.hstatus |= HSTATUS_SPVP;
    }

    /// The instruction at the guest pc (16 or 32 bits), translated through
    /// the guest's page tables in software and read through `read`: a page
    /// the guest unmapped meanwhile makes it `None`, never a host fault.
    fn instruction(&self, read: ReadGuest<'_>) -> Option<u32> {
        let vsatp = read!("0x280");
        let gpa_of = |va: u64| {
            let word = |gpa: u64| {
                let mut bytes = [0u8; 8];
                read(gpa, &mut bytes).then(|| u64::from_le_bytes(bytes))
            };
            walk::translate(vsatp, va, word)
        };
        let pc = self.ctx.sepc;
        let gpa = gpa_of(pc)?;
        // Both halves at once unless the instruction may cross a page.
        if pc & 0xfff <= 0xffc {
            let mut bytes = [0u8; 4];
            if read(gpa, &mut bytes) {
                let word = u32::from_le_bytes(bytes);
                return Some(if word & 0b11 == 0b11 { word } else { word & 0xffff });
            }
        }
        let mut half = [0u8; 2];
        read(gpa, &mut half).then_some(())?;
        let low = u32::from(u16::from_le_bytes(half));
        if low & 0b11 != 0b11 {
            return Some(low);
        }
        // The second half lies on the next page.
        read(gpa_of(pc.wrapping_add(2))?, &mut half).then_some(())?;
        Some(low | (u32::from(u16::from_le_bytes(half)) << 16))
    }
}
