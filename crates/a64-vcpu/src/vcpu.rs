//! A guest CPU at EL1 under our EL2: per-CPU setup, loading and saving the
//! lazy state, running to the next exit, and decoding that exit.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::context::Context;
use crate::esr::{self, DataAbort, FaultStatus, Trap};
use crate::insn;
use crate::state::El1State;
use crate::switch::{self, a64_run_guest};
use crate::sysreg::{self, EntryFeatures, Policy};
use crate::{Exit, MmioAccess};

/// SPSR of a vCPU that starts: EL1h with D, A, I and F masked.
const SPSR_EL1H_MASKED: u64 = 0x3c5;
/// HCR_EL2: VM, SWIO, FMO, IMO, AMO, FB, BSU = inner shareable, TID3 (ID
/// registers, see `sysreg`), TSC, RW.
const HCR: u64 =
    (1 << 0) | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 9) | (1 << 10) | (1 << 18) | (1 << 19) | (1 << 31);
/// CPTR_EL2 (non-VHE): RES1 bits, TZ and TTA (trace registers) set;
/// FP/SIMD not trapped.
const CPTR: u64 = 0x33ff | (1 << 20);
/// CNTHCTL_EL2: EL1 may read the physical counter and use its timer.
const CNTHCTL: u64 = 0b11;

/// How the host reads guest memory by physical address.
static PHYS_TO_VIRT: AtomicUsize = AtomicUsize::new(0);

/// Sets this CPU up to run guests: trap configuration, stage-2 format,
/// timer access. `phys_to_virt` maps a host-physical address to the
/// host's linear mapping (for reading a faulting instruction).
pub fn enable_this_cpu(phys_to_virt: fn(u64) -> u64) {
    PHYS_TO_VIRT.store(phys_to_virt as usize, Ordering::Relaxed);
    let dfr0: u64;
    // SAFETY: an ID register read.
    unsafe { core::arch::asm!("mrs {0}, id_aa64dfr0_el1", out(reg) dfr0, options(nomem, nostack)) };
    let mut counters = 0;
    if sysreg::has_pmuv3(dfr0) {
        let pmcr: u64;
        // SAFETY: PMCR_EL0 exists (PMUv3); reading it has no side effects.
        unsafe { core::arch::asm!("mrs {0}, pmcr_el0", out(reg) pmcr, options(nomem, nostack)) };
        counters = (pmcr >> 11) & 0x1f;
    }
    // SAFETY: EL2 configuration registers; the host (non-VHE, EL2) is not
    // affected by stage-2, EL1 traps or EL1 timer access rights.
    unsafe {
        core::arch::asm!(
            "msr hcr_el2, {hcr}",
            "msr vtcr_el2, {vtcr}",
            "msr cptr_el2, {cptr}",
            "msr mdcr_el2, {mdcr}",
            "msr cnthctl_el2, {cnthctl}",
            "msr cntvoff_el2, xzr",
            "isb",
            hcr = in(reg) HCR,
            vtcr = in(reg) vtcr(),
            cptr = in(reg) CPTR,
            mdcr = in(reg) sysreg::mdcr_el2(dfr0, counters),
            cnthctl = in(reg) CNTHCTL,
            options(nostack),
        );
    }
}

/// HCR_EL2.TWI and TWE: WFI and WFE trap to EL2.
const HCR_TWI: u64 = 1 << 13;
const HCR_TWE: u64 = 1 << 14;

/// Makes WFI and WFE trap to the host (when another vCPU waits for this
/// CPU) or run in the guest (when this CPU is the vCPU's alone).
pub fn trap_wfi(on: bool) {
    let hcr = if on { HCR | HCR_TWI | HCR_TWE } else { HCR };
    // SAFETY: HCR_EL2 with the same configuration `enable_this_cpu` set,
    // TWI and TWE aside; it takes effect at the next guest entry.
    unsafe { core::arch::asm!("msr hcr_el2, {0}", "isb", in(reg) hcr, options(nostack)) };
}

/// VTCR_EL2 for axaddrspace's 4-level tables: 48-bit IPA, 4 KiB granule,
/// start at level 0, write-back inner-shareable walks, PS from the CPU.
fn vtcr() -> u64 {
    let mmfr0: u64;
    // SAFETY: an ID register read.
    unsafe { core::arch::asm!("mrs {0}, id_aa64mmfr0_el1", out(reg) mmfr0, options(nomem, nostack)) };
    let ps = (mmfr0 & 0xf).min(5);
    (1 << 31) | (ps << 16) | (3 << 12) | (1 << 10) | (1 << 8) | (2 << 6) | 16
}

/// How to start a vCPU.
#[derive(Debug, Clone, Copy)]
pub struct VcpuConfig {
    /// Guest-physical entry point.
    pub entry: u64,
    /// Value of x0 at entry (the device tree for a boot vCPU).
    pub x0: u64,
    /// MPIDR_EL1 the guest reads.
    pub mpidr: u64,
    /// Root of the VM's stage-2 tables.
    pub stage2_root: u64,
    /// The VM's VMID (tags its TLB entries).
    pub vmid: u16,
}

/// A guest CPU.
pub struct Vcpu {
    ctx: Context,
    el1: El1State,
    vttbr: u64,
    vmpidr: u64,
}

impl Vcpu {
    /// A vCPU that starts at `config.entry`.
    pub fn new(config: VcpuConfig) -> Self {
        let mut vcpu = Self {
            ctx: Context::default(),
            el1: El1State::default(),
            vttbr: (u64::from(config.vmid & 0xff) << 48) | (config.stage2_root & 0x0000_ffff_ffff_fffe),
            vmpidr: (1 << 31) | (config.mpidr & 0xff_00ff_ffff),
        };
        vcpu.reset(config.entry, config.x0);
        vcpu
    }

    /// Puts the vCPU in its reset state at `entry` with `x0` (PSCI
    /// CPU_ON): registers cleared, MMU off, interrupts masked. Takes effect
    /// in the CPU at the next [`load`](Self::load).
    pub fn reset(&mut self, entry: u64, x0: u64) {
        self.ctx = Context::default();
        self.ctx.x[0] = x0;
        self.ctx.elr = entry;
        self.ctx.spsr = SPSR_EL1H_MASKED;
        self.el1 = El1State::default();
    }

    /// Loads the vCPU's lazy state into this CPU.
    pub fn load(&mut self) {
        // SAFETY: VTTBR/VMPIDR belong to the guest about to run; the TLB and
        // instruction-cache maintenance only drops stale entries of this
        // VMID (a VMID's first run on a CPU, or a CPU_ON reset).
        unsafe {
            core::arch::asm!(
                "msr vttbr_el2, {vttbr}",
                "msr vmpidr_el2, {vmpidr}",
                "isb",
                "tlbi vmalls12e1is",
                "ic ialluis",
                "dsb ish",
                "isb",
                vttbr = in(reg) self.vttbr,
                vmpidr = in(reg) self.vmpidr,
                options(nostack),
            );
        }
        self.el1.load();
    }

    /// The earliest deadline (counter value) of the guest's enabled,
    /// unmasked timers, from this CPU's registers when the vCPU is loaded
    /// here, else from its saved state.
    pub fn timer_deadline(&self, loaded: bool) -> Option<u64> {
        self.el1.timer_deadline(loaded)
    }

    /// Saves the vCPU's lazy state out of this CPU (its timers silenced).
    pub fn save(&mut self) {
        self.el1.save();
    }

    /// General-purpose register `reg` (31 reads as zero).
    #[inline]
    pub fn gpr(&self, reg: usize) -> u64 {
        self.ctx.x.get(reg).copied().unwrap_or(0)
    }

    /// Sets general-purpose register `reg` (31, the zero register, is left).
    #[inline]
    pub fn set_gpr(&mut self, reg: usize, value: u64) {
        if let Some(x) = self.ctx.x.get_mut(reg) {
            *x = value;
        }
    }

    /// Runs the guest until its next exit. The vCPU must be loaded on
    /// this CPU. A stage-2 miss at an address `is_ram` accepts is a
    /// [`Exit::RamMiss`]; any other is decoded as an emulated access.
    #[inline]
    pub fn run(&mut self, is_ram: impl Fn(u64) -> bool) -> Exit {
        // SAFETY: `ctx` is ours for the call; the caller loaded our EL1 and
        // stage-2 state on this CPU.
        let kind = unsafe { a64_run_guest(&mut self.ctx) };
        match kind {
            switch::EXIT_SYNC => self.sync_exit(is_ram),
            switch::EXIT_IRQ => Exit::Interrupt,
            switch::EXIT_FIQ => self.fault("FIQ"),
            switch::EXIT_SERROR => self.fault("SError"),
            switch::EXIT_AARCH32 => self.fault("exception from AArch32"),
            _ => self.fault("unknown exit kind"),
        }
    }

    fn fault(&self, what: &'static str) -> Exit {
        let (far, hpfar) = fault_regs();
        Exit::Fault { what, esr: self.ctx.esr, far, hpfar, pc: self.ctx.elr }
    }

    fn skip(&mut self) {
        self.ctx.elr = self.ctx.elr.wrapping_add(4);
    }

    #[inline(always)]
    fn sync_exit(&mut self, is_ram: impl Fn(u64) -> bool) -> Exit {
        match esr::decode(self.ctx.esr) {
            Trap::Hvc => Exit::Call,
            Trap::DataAbort(abort) => self.data_abort(abort, is_ram),
            Trap::Smc => {
                // A trapped SMC returns to itself: step over it.
                self.skip();
                Exit::Call
            }
            Trap::SysReg(access) => {
                match sysreg::policy(access.encoding) {
                    Some(Policy::Undefined) => {
                        self.inject_undefined();
                        return Exit::Nothing;
                    }
                    Some(Policy::RazWi) => {
                        if access.read {
                            self.set_gpr(access.rt, sysreg::raz_value(access.encoding));
                        }
                        self.skip();
                        return Exit::Nothing;
                    }
                    Some(Policy::IdRegister) => {
                        if access.read {
                            let hw = read_id_register(access.encoding);
                            self.set_gpr(access.rt, sysreg::guest_id_value(access.encoding, hw));
                        }
                        self.skip();
                        return Exit::Nothing;
                    }
                    None => {}
                }
                self.skip();
                if access.read {
                    Exit::SysRegRead { encoding: access.encoding, rt: access.rt }
                } else {
                    Exit::SysRegWrite { encoding: access.encoding, value: self.gpr(access.rt) }
                }
            }
            Trap::Wfx { wfe } => {
                self.skip();
                if wfe { Exit::Wfe } else { Exit::Wfi }
            }
            Trap::InstructionAbort { ifsc, s1ptw } => match FaultStatus::of(ifsc) {
                FaultStatus::Translation | FaultStatus::AccessFlag if !s1ptw => {
                    let ipa = fault_ipa();
                    if is_ram(ipa) {
                        Exit::RamMiss { ipa, write: false, fetch: true }
                    } else {
                        Exit::FetchFault { ipa, pc: self.ctx.elr }
                    }
                }
                FaultStatus::Permission => self.fault("instruction fetch from a no-execute region"),
                _ if s1ptw => self.fault("stage-1 table walk outside guest RAM"),
                _ => self.fault(esr::class_name(0x20)),
            },
            Trap::Other { ec } => self.fault(esr::class_name(ec)),
        }
    }

    #[inline(always)]
    fn data_abort(&mut self, abort: DataAbort, is_ram: impl Fn(u64) -> bool) -> Exit {
        if abort.s1ptw {
            return self.fault("stage-1 table walk outside guest RAM");
        }
        match FaultStatus::of(abort.dfsc) {
            FaultStatus::Translation | FaultStatus::AccessFlag => {}
            FaultStatus::Permission if abort.write => return self.fault("write to a read-only region"),
            FaultStatus::Permission => return self.fault("read of a region without read access"),
            FaultStatus::Alignment => return self.fault("unaligned access to emulated memory"),
            FaultStatus::Other => return self.fault("external abort or other data fault"),
        }
        let addr = fault_ipa();
        if is_ram(addr) {
            // Retried once the host has backed it (a cache maintenance
            // instruction included).
            return Exit::RamMiss { ipa: addr, write: abort.write, fetch: false };
        }
        if abort.cache_maintenance {
            // Cache maintenance by address on emulated memory does nothing.
            self.skip();
            return Exit::Nothing;
        }
        let access = if abort.isv {
            MmioAccess {
                write: abort.write,
                width: abort.width,
                rt: abort.rt,
                signed: abort.sign_extend,
                reg64: abort.reg64,
            }
        } else {
            match self.decode_faulting_insn() {
                Ok(access) => access,
                Err(what) => return self.fault(what),
            }
        };
        self.skip();
        if access.write {
            let value = self.gpr(access.rt);
            let value = if access.width >= 8 { value } else { value & ((1 << (8 * access.width)) - 1) };
            Exit::MmioWrite { addr, width: access.width, value }
        } else {
            Exit::MmioRead { addr, access }
        }
    }

    /// Takes the guest to its EL1 UNDEFINED exception vector for the
    /// instruction at its pc (an access to a register it does not have).
    fn inject_undefined(&mut self) {
        let (vbar, sctlr, mmfr1, pfr1): (u64, u64, u64, u64);
        // SAFETY: reads of the loaded guest's EL1 registers and of ID
        // registers; no side effects.
        unsafe {
            core::arch::asm!(
                "mrs {0}, vbar_el1",
                "mrs {1}, sctlr_el1",
                "mrs {2}, id_aa64mmfr1_el1",
                "mrs {3}, id_aa64pfr1_el1",
                out(reg) vbar, out(reg) sctlr, out(reg) mmfr1, out(reg) pfr1,
                options(nomem, nostack),
            );
        }
        let features = EntryFeatures { pan: (mmfr1 >> 20) & 0xf != 0, ssbs: (pfr1 >> 4) & 0xf != 0 };
        let entry = sysreg::undefined_entry(self.ctx.spsr, vbar, sctlr, features);
        // SAFETY: the exception registers of the loaded guest's EL1, written
        // as the CPU would on taking the exception there.
        unsafe {
            core::arch::asm!(
                "msr elr_el1, {elr}",
                "msr spsr_el1, {spsr}",
                "msr esr_el1, {esr}",
                elr = in(reg) self.ctx.elr,
                spsr = in(reg) self.ctx.spsr,
                esr = in(reg) entry.esr,
                options(nomem, nostack),
            );
        }
        self.ctx.elr = entry.pc;
        self.ctx.spsr = entry.pstate;
    }

    /// Reads and decodes the instruction at the guest pc; applies its base
    /// register writeback.
    fn decode_faulting_insn(&mut self) -> Result<MmioAccess, &'static str> {
        let word = self.read_insn()?;
        let ls = insn::decode(word).map_err(|insn::Unsupported(what)| what)?;
        if let Some((rn, offset)) = ls.writeback {
            let base = self.base_reg(rn);
            self.set_base_reg(rn, base.wrapping_add(offset as u64));
        }
        Ok(MmioAccess { write: !ls.load, width: ls.width, rt: ls.rt, signed: ls.signed, reg64: ls.reg64 })
    }

    /// The guest's stack pointer for register 31 in its current mode.
    fn base_reg(&self, rn: usize) -> u64 {
        if rn < 31 {
            return self.ctx.x[rn];
        }
        if self.ctx.spsr & 0xf == 0b0101 {
            let sp: u64;
            // SAFETY: SP_EL1 is the loaded guest's.
            unsafe { core::arch::asm!("mrs {0}, sp_el1", out(reg) sp, options(nomem, nostack)) };
            sp
        } else {
            self.ctx.sp_el0
        }
    }

    fn set_base_reg(&mut self, rn: usize, value: u64) {
        if rn < 31 {
            self.ctx.x[rn] = value;
        } else if self.ctx.spsr & 0xf == 0b0101 {
            // SAFETY: SP_EL1 is the loaded guest's.
            unsafe { core::arch::asm!("msr sp_el1, {0}", in(reg) value, options(nomem, nostack)) };
        } else {
            self.ctx.sp_el0 = value;
        }
    }

    /// The instruction word at the guest pc, through the guest's own
    /// translation and stage 2 (AT S12E1R), from normal memory only.
    fn read_insn(&self) -> Result<u32, &'static str> {
        let par: u64;
        // SAFETY: AT only writes PAR_EL1, which is restored to the guest's
        // value afterwards.
        unsafe {
            core::arch::asm!(
                "mrs {saved}, par_el1",
                "at s12e1r, {va}",
                "isb",
                "mrs {par}, par_el1",
                "msr par_el1, {saved}",
                saved = out(reg) _,
                par = out(reg) par,
                va = in(reg) self.ctx.elr,
                options(nostack),
            );
        }
        if par & 1 != 0 {
            return Err("the faulting instruction's address does not translate");
        }
        if par >> 60 == 0 {
            return Err("the faulting instruction is in device memory");
        }
        let pa = (par & 0x000f_ffff_ffff_f000) | (self.ctx.elr & 0xffc);
        let to_virt = PHYS_TO_VIRT.load(Ordering::Relaxed);
        if to_virt == 0 {
            return Err("guest memory is not readable here");
        }
        // SAFETY: the value was stored from a `fn(u64) -> u64` in
        // `enable_this_cpu`.
        let to_virt: fn(u64) -> u64 = unsafe { core::mem::transmute(to_virt) };
        let va = to_virt(pa) as *const u32;
        // SAFETY: `pa` is normal memory the guest's stage 2 maps, which is
        // host RAM in the host's linear mapping; the address is 4-aligned.
        Ok(unsafe { va.read_volatile() })
    }
}

/// Reads ID group 3 register `encoding` (op0 3, op1 0, CRn 0, CRm 1-7);
/// anything else reads as zero.
fn read_id_register(encoding: u32) -> u64 {
    macro_rules! id_regs {
        ($($crm:literal: $($op2:literal)*;)*) => {
            match sysreg::fields(encoding) {
                $($((3, 0, 0, $crm, $op2) => {
                    let value: u64;
                    // SAFETY: an ID register read (reserved encodings in
                    // this space read as zero); no side effects.
                    unsafe {
                        core::arch::asm!(
                            concat!("mrs {0}, s3_0_c0_c", stringify!($crm), "_", stringify!($op2)),
                            out(reg) value,
                            options(nomem, nostack),
                        );
                    }
                    value
                })*)*
                _ => 0,
            }
        };
    }
    id_regs! {
        1: 0 1 2 3 4 5 6 7;
        2: 0 1 2 3 4 5 6 7;
        3: 0 1 2 3 4 5 6 7;
        4: 0 1 2 3 4 5 6 7;
        5: 0 1 2 3 4 5 6 7;
        6: 0 1 2 3 4 5 6 7;
        7: 0 1 2 3 4 5 6 7;
    }
}

/// FAR_EL2 and HPFAR_EL2 of the current exit.
#[inline(always)]
fn fault_regs() -> (u64, u64) {
    let (far, hpfar): (u64, u64);
    // SAFETY: reading fault-address registers has no side effects.
    unsafe {
        core::arch::asm!("mrs {0}, far_el2", "mrs {1}, hpfar_el2", out(reg) far, out(reg) hpfar, options(nomem, nostack));
    }
    (far, hpfar)
}

/// The guest-physical address of the current stage-2 fault.
#[inline(always)]
fn fault_ipa() -> u64 {
    let (far, hpfar) = fault_regs();
    ((hpfar & 0x0000_0fff_ffff_fff0) << 8) | (far & 0xfff)
}
