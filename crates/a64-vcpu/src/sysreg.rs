//! What a guest gets for the PMU, debug and trace system registers and the
//! ID registers the hypervisor traps (MDCR_EL2.TPM, TPMCR, TDA, TDOSA,
//! TDRA, TPMS, TTRF; CPTR_EL2.TTA; HCR_EL2.TID3). Pure logic, host-tested.
//!
//! The guest sees no PMU, no statistical profiling and no trace unit: the
//! ID registers say so and their registers are UNDEFINED (an exception
//! injected into the guest), so nothing counts or records EL2 activity or
//! another vCPU's. The debug registers, which the architecture requires,
//! read as zero and ignore writes (no breakpoint, watchpoint, single step
//! or debug channel takes effect); the ID registers keep their other
//! fields.

/// What the guest gets for a trapped register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// An UNDEFINED exception (unknown reason) taken to the guest's EL1.
    Undefined,
    /// Reads give [`raz_value`]; writes are ignored.
    RazWi,
    /// An ID register: the hardware's value through [`guest_id_value`].
    IdRegister,
}

/// op0, op1, CRn, CRm, op2 of an encoding packed as in `SysRegAccess`.
pub fn fields(encoding: u32) -> (u32, u32, u32, u32, u32) {
    (
        (encoding >> 20) & 3,
        (encoding >> 14) & 7,
        (encoding >> 10) & 0xf,
        (encoding >> 1) & 0xf,
        (encoding >> 17) & 7,
    )
}

/// How a trapped access to `encoding` is answered here; `None` for
/// registers the hypervisor emulates elsewhere (the GICv3 SGI registers).
pub fn policy(encoding: u32) -> Option<Policy> {
    match fields(encoding) {
        // Debug registers (MDSCR, DBGB/W*, OS lock, MDRAR, claim tags,
        // the debug communication channel).
        (2, 0 | 3, _, _, _) => Some(Policy::RazWi),
        // Trace unit (ETM) registers, and any other op0 = 2 space.
        (2, _, _, _, _) => Some(Policy::Undefined),
        // ID group 3.
        (3, 0, 0, 1..=7, _) => Some(Policy::IdRegister),
        // PMU: PMCR..PMCEID1, PMCCNTR, PMXEV*, PMUSERENR, PMOVSSET,
        // PMEVCNTR<n>, PMEVTYPER<n>, PMCCFILTR; PMINTEN*, PMMIR.
        (3, 3, 9, 12..=14, _) | (3, 3, 14, 8..=15, _) | (3, 0, 9, 14, _) => Some(Policy::Undefined),
        // Statistical profiling (PMS*, PMB*) and TRFCR_EL1.
        (3, 0, 9, 9 | 10, _) | (3, 0, 1, 2, 1) => Some(Policy::Undefined),
        _ => None,
    }
}

/// What a read-as-zero register reads: zero, except OSLSR_EL1, which
/// says the OS lock is implemented and unlocked.
pub fn raz_value(encoding: u32) -> u64 {
    const OSLSR_EL1: (u32, u32, u32, u32, u32) = (2, 0, 1, 1, 4);
    if fields(encoding) == OSLSR_EL1 {
        0b1000
    } else {
        0
    }
}

/// ID_AA64DFR0_EL1 fields kept: DebugVer, BRPs, WRPs, CTX_CMPs,
/// DoubleLock. TraceVer, PMUVer, PMSVer, TraceFilt, TraceBuffer, MTPMU,
/// BRBE, ExtTrcBuff and HPMN0 read as not implemented.
const AA64DFR0_KEPT: u64 = 0x0000_00f0_f0f0_f00f;
/// ID_DFR0_EL1 fields kept: CopDbg, CopSDbg, MMapDbg, MProfDbg (CopTrc,
/// MMapTrc, PerfMon and TraceFilt go).
const DFR0_KEPT: u64 = 0x00f0_0fff;

/// The value the guest reads for ID register `encoding` whose hardware
/// value is `hw`.
pub fn guest_id_value(encoding: u32, hw: u64) -> u64 {
    match fields(encoding) {
        (3, 0, 0, 5, 0) => hw & AA64DFR0_KEPT,
        // ID_AA64DFR1_EL1, ID_DFR1_EL1: PMU and debug extensions only.
        (3, 0, 0, 5, 1) | (3, 0, 0, 3, 5) => 0,
        (3, 0, 0, 1, 2) => hw & DFR0_KEPT,
        _ => hw,
    }
}

fn field(value: u64, shift: u32) -> u64 {
    (value >> shift) & 0xf
}

/// Whether ID_AA64DFR0_EL1 value `dfr0` says PMUv3 is implemented.
pub fn has_pmuv3(dfr0: u64) -> bool {
    (1..=0xe).contains(&field(dfr0, 8))
}

/// MDCR_EL2 for a CPU whose ID_AA64DFR0_EL1 is `dfr0` and whose
/// PMCR_EL0.N is `counters`: debug, PMU, profiling and trace-filter
/// registers trap (TDA, TDOSA, TDRA; TPM, TPMCR; TPMS with the profiling
/// buffer owned by EL2, E2PB = 0; TTRF), each bit only where its feature
/// exists; every counter in the EL1 range (HPMN = N), and none counts at
/// EL2 where the PMU can prohibit it (HPMD). TDE stays 0: the guest's own
/// debug exceptions (BRK) go to its EL1.
pub fn mdcr_el2(dfr0: u64, counters: u64) -> u64 {
    const TPMCR: u64 = 1 << 5;
    const TPM: u64 = 1 << 6;
    const TDA: u64 = 1 << 9;
    const TDOSA: u64 = 1 << 10;
    const TDRA: u64 = 1 << 11;
    const TPMS: u64 = 1 << 14;
    const HPMD: u64 = 1 << 17;
    const TTRF: u64 = 1 << 19;
    let mut mdcr = TDA | TDOSA | TDRA;
    if has_pmuv3(dfr0) {
        mdcr |= TPM | TPMCR | (counters & 0x1f);
        // PMUv3 for Armv8.1 and later.
        if field(dfr0, 8) >= 4 {
            mdcr |= HPMD;
        }
    }
    if field(dfr0, 32) != 0 {
        mdcr |= TPMS;
    }
    if field(dfr0, 40) != 0 {
        mdcr |= TTRF;
    }
    mdcr
}

/// Where an exception taken to the guest's EL1 goes and what it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The guest's new pc.
    pub pc: u64,
    /// Its new PSTATE (SPSR_EL2 for the return to the guest).
    pub pstate: u64,
    /// ESR_EL1.
    pub esr: u64,
}

/// What the CPU has that changes PSTATE on exception entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryFeatures {
    /// FEAT_PAN (ID_AA64MMFR1_EL1.PAN).
    pub pan: bool,
    /// FEAT_SSBS (ID_AA64PFR1_EL1.SSBS).
    pub ssbs: bool,
}

/// An UNDEFINED exception (EC 0, 32-bit instruction) taken to EL1 from a
/// guest at `pstate` whose VBAR_EL1 is `vbar` and SCTLR_EL1 `sctlr`
/// (Arm ARM D1.3.1 for the vector offset, the PSTATE on entry).
pub fn undefined_entry(pstate: u64, vbar: u64, sctlr: u64, features: EntryFeatures) -> Entry {
    const DAIF: u64 = 0xf << 6;
    const EL1H: u64 = 0b0101;
    const SSBS: u64 = 1 << 12;
    const PAN: u64 = 1 << 22;
    const DIT: u64 = 1 << 24;
    const SCTLR_SPAN: u64 = 1 << 23;
    const SCTLR_DSSBS: u64 = 1 << 44;
    const IL: u64 = 1 << 25;
    let offset = match pstate & 0x1f {
        0b0_0101 => 0x200,
        0b0_0100 => 0x000,
        mode if mode & 0x10 != 0 => 0x600,
        _ => 0x400,
    };
    let mut new = DAIF | EL1H | (pstate & DIT);
    if features.pan {
        new |= if sctlr & SCTLR_SPAN == 0 {
            PAN
        } else {
            pstate & PAN
        };
    }
    if features.ssbs && sctlr & SCTLR_DSSBS != 0 {
        new |= SSBS;
    }
    Entry {
        pc: (vbar & !0x7ff) + offset,
        pstate: new,
        esr: IL,
    }
}
