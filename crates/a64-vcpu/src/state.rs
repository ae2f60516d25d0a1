//! The guest state that stays in the CPU between exits and is switched
//! only when another vCPU (or nobody) takes the CPU: EL1 system registers,
//! the EL1 virtual and physical timers, and FP/SIMD registers. The host at
//! EL2 (non-VHE) uses none of them: its timer is CNTHP, its per-CPU
//! pointer TPIDR_EL2, and it is built without FP.

/// EL1 state of a guest CPU.
#[repr(C, align(16))]
#[derive(Debug, Clone, Copy)]
pub struct El1State {
    /// V0..V31.
    pub fp: [u128; 32],
    /// FPCR, FPSR.
    pub fpcr: u64,
    /// See `fpcr`.
    pub fpsr: u64,
    sctlr: u64,
    cpacr: u64,
    ttbr0: u64,
    ttbr1: u64,
    tcr: u64,
    mair: u64,
    amair: u64,
    vbar: u64,
    contextidr: u64,
    tpidr_el1: u64,
    tpidr_el0: u64,
    tpidrro_el0: u64,
    sp_el1: u64,
    elr_el1: u64,
    spsr_el1: u64,
    esr_el1: u64,
    far_el1: u64,
    afsr0: u64,
    afsr1: u64,
    par: u64,
    csselr: u64,
    cntkctl: u64,
    mdscr: u64,
    /// The virtual timer: CNTV_CTL_EL0, CNTV_CVAL_EL0.
    pub cntv_ctl: u64,
    /// See `cntv_ctl`.
    pub cntv_cval: u64,
    /// The physical timer: CNTP_CTL_EL0, CNTP_CVAL_EL0.
    pub cntp_ctl: u64,
    /// See `cntp_ctl`.
    pub cntp_cval: u64,
}

/// SCTLR_EL1 out of reset: MMU and caches off, RES1 bits set.
const SCTLR_RESET: u64 = 0x30C5_0830;

impl Default for El1State {
    fn default() -> Self {
        Self {
            fp: [0; 32],
            fpcr: 0,
            fpsr: 0,
            sctlr: SCTLR_RESET,
            cpacr: 0,
            ttbr0: 0,
            ttbr1: 0,
            tcr: 0,
            mair: 0,
            amair: 0,
            vbar: 0,
            contextidr: 0,
            tpidr_el1: 0,
            tpidr_el0: 0,
            tpidrro_el0: 0,
            sp_el1: 0,
            elr_el1: 0,
            spsr_el1: 0,
            esr_el1: 0,
            far_el1: 0,
            afsr0: 0,
            afsr1: 0,
            par: 0,
            csselr: 0,
            cntkctl: 0,
            mdscr: 0,
            cntv_ctl: 0,
            cntv_cval: 0,
            cntp_ctl: 0,
            cntp_cval: 0,
        }
    }
}

macro_rules! sysregs {
    ($mac:ident, $s:expr) => {
        $mac!($s, sctlr, "sctlr_el1");
        $mac!($s, cpacr, "cpacr_el1");
        $mac!($s, ttbr0, "ttbr0_el1");
        $mac!($s, ttbr1, "ttbr1_el1");
        $mac!($s, tcr, "tcr_el1");
        $mac!($s, mair, "mair_el1");
        $mac!($s, amair, "amair_el1");
        $mac!($s, vbar, "vbar_el1");
        $mac!($s, contextidr, "contextidr_el1");
        $mac!($s, tpidr_el1, "tpidr_el1");
        $mac!($s, tpidr_el0, "tpidr_el0");
        $mac!($s, tpidrro_el0, "tpidrro_el0");
        $mac!($s, sp_el1, "sp_el1");
        $mac!($s, elr_el1, "elr_el1");
        $mac!($s, spsr_el1, "spsr_el1");
        $mac!($s, esr_el1, "esr_el1");
        $mac!($s, far_el1, "far_el1");
        $mac!($s, afsr0, "afsr0_el1");
        $mac!($s, afsr1, "afsr1_el1");
        $mac!($s, par, "par_el1");
        $mac!($s, csselr, "csselr_el1");
        $mac!($s, cntkctl, "cntkctl_el1");
        $mac!($s, mdscr, "mdscr_el1");
    };
}

macro_rules! read_reg {
    ($s:expr, $field:ident, $name:literal) => {
        // SAFETY: reading an EL1 register from EL2 has no side effects.
        unsafe { core::arch::asm!(concat!("mrs {0}, ", $name), out(reg) $s.$field, options(nomem, nostack)) };
    };
}

macro_rules! write_reg {
    ($s:expr, $field:ident, $name:literal) => {
        // SAFETY: the register belongs to the guest being loaded (the host
        // at EL2 does not use it).
        unsafe { core::arch::asm!(concat!("msr ", $name, ", {0}"), in(reg) $s.$field, options(nomem, nostack)) };
    };
}

/// CNTV_CTL, CNTV_CVAL, CNTP_CTL, CNTP_CVAL as this CPU holds them.
fn timers_here() -> [u64; 4] {
    let regs: [u64; 4];
    // SAFETY: reading timer registers has no side effects.
    unsafe {
        let (v_ctl, v_cval, p_ctl, p_cval);
        core::arch::asm!(
            "mrs {0}, cntv_ctl_el0", "mrs {1}, cntv_cval_el0", "mrs {2}, cntp_ctl_el0", "mrs {3}, cntp_cval_el0",
            out(reg) v_ctl, out(reg) v_cval, out(reg) p_ctl, out(reg) p_cval, options(nomem, nostack),
        );
        regs = [v_ctl, v_cval, p_ctl, p_cval];
    }
    regs
}

impl El1State {
    /// Reads the guest's state out of this CPU and silences its timers, so
    /// that they fire for nobody once another vCPU or the host has the CPU.
    pub fn save(&mut self) {
        sysregs!(read_reg, self);
        [self.cntv_ctl, self.cntv_cval, self.cntp_ctl, self.cntp_cval] = timers_here();
        // SAFETY: timer registers are the guest's; disabling them only stops
        // their interrupts. The FP/SIMD registers are stored into `self.fp`,
        // 512 bytes, 16-byte aligned (the struct's alignment).
        unsafe {
            core::arch::asm!("msr cntv_ctl_el0, xzr", "msr cntp_ctl_el0, xzr", options(nomem, nostack));
            save_fp(self);
        }
    }

    /// The earliest deadline (counter value) of the guest's enabled,
    /// unmasked timers: as this CPU holds them when `loaded`, else as saved.
    pub fn timer_deadline(&self, loaded: bool) -> Option<u64> {
        let [v_ctl, v_cval, p_ctl, p_cval] =
            if loaded { timers_here() } else { [self.cntv_ctl, self.cntv_cval, self.cntp_ctl, self.cntp_cval] };
        // CTL: ENABLE (bit 0) set, IMASK (bit 1) clear.
        let armed = |ctl: u64, cval: u64| (ctl & 0b11 == 0b01).then_some(cval);
        match (armed(v_ctl, v_cval), armed(p_ctl, p_cval)) {
            (Some(v), Some(p)) => Some(v.min(p)),
            (v, p) => v.or(p),
        }
    }

    /// Loads the guest's state into this CPU.
    pub fn load(&self) {
        sysregs!(write_reg, self);
        // SAFETY: as in `save`; the compare value is written before the
        // control so that an enabled timer never fires on a stale deadline.
        unsafe {
            core::arch::asm!(
                "msr cntv_cval_el0, {1}",
                "msr cntv_ctl_el0, {0}",
                "msr cntp_cval_el0, {3}",
                "msr cntp_ctl_el0, {2}",
                "isb",
                in(reg) self.cntv_ctl, in(reg) self.cntv_cval, in(reg) self.cntp_ctl, in(reg) self.cntp_cval,
                options(nostack),
            );
            load_fp(self);
        }
    }
}

/// # Safety
/// FP/SIMD is not trapped at EL2 (CPTR_EL2.TFP = 0).
unsafe fn save_fp(s: &mut El1State) {
    let base = s.fp.as_mut_ptr();
    // SAFETY: `base` points to 32 16-byte slots, 16-byte aligned.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "stp q0, q1, [{b}, #0]",
            "stp q2, q3, [{b}, #32]",
            "stp q4, q5, [{b}, #64]",
            "stp q6, q7, [{b}, #96]",
            "stp q8, q9, [{b}, #128]",
            "stp q10, q11, [{b}, #160]",
            "stp q12, q13, [{b}, #192]",
            "stp q14, q15, [{b}, #224]",
            "stp q16, q17, [{b}, #256]",
            "stp q18, q19, [{b}, #288]",
            "stp q20, q21, [{b}, #320]",
            "stp q22, q23, [{b}, #352]",
            "stp q24, q25, [{b}, #384]",
            "stp q26, q27, [{b}, #416]",
            "stp q28, q29, [{b}, #448]",
            "stp q30, q31, [{b}, #480]",
            "mrs {t}, fpcr",
            "str {t}, [{b}, #512]",
            "mrs {t}, fpsr",
            "str {t}, [{b}, #520]",
            b = in(reg) base,
            t = out(reg) _,
            options(nostack),
        );
    }
}

/// # Safety
/// As for [`save_fp`].
unsafe fn load_fp(s: &El1State) {
    let base = s.fp.as_ptr();
    // SAFETY: `base` points to 32 16-byte slots followed by FPCR and FPSR.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "ldp q0, q1, [{b}, #0]",
            "ldp q2, q3, [{b}, #32]",
            "ldp q4, q5, [{b}, #64]",
            "ldp q6, q7, [{b}, #96]",
            "ldp q8, q9, [{b}, #128]",
            "ldp q10, q11, [{b}, #160]",
            "ldp q12, q13, [{b}, #192]",
            "ldp q14, q15, [{b}, #224]",
            "ldp q16, q17, [{b}, #256]",
            "ldp q18, q19, [{b}, #288]",
            "ldp q20, q21, [{b}, #320]",
            "ldp q22, q23, [{b}, #352]",
            "ldp q24, q25, [{b}, #384]",
            "ldp q26, q27, [{b}, #416]",
            "ldp q28, q29, [{b}, #448]",
            "ldp q30, q31, [{b}, #480]",
            "ldr {t}, [{b}, #512]",
            "msr fpcr, {t}",
            "ldr {t}, [{b}, #520]",
            "msr fpsr, {t}",
            b = in(reg) base,
            t = out(reg) _,
            options(nostack),
        );
    }
}

// The FP code addresses FPCR and FPSR right after the 32 vector registers.
const _: () = assert!(core::mem::offset_of!(El1State, fpcr) == 512 && core::mem::offset_of!(El1State, fpsr) == 520);
