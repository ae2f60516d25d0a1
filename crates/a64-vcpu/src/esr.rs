//! Decoding of ESR_EL2 by exception class (Arm ARM D17.2.37). Every class
//! the architecture defines has a name; the ones a guest can cause and the
//! hypervisor answers are decoded into fields. Pure logic, host-tested.

/// What a trap from the guest was, by exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// WFI (`wfe` false) or WFE.
    Wfx {
        /// WFE rather than WFI.
        wfe: bool,
    },
    /// HVC from AArch64.
    Hvc,
    /// SMC from AArch64 (trapped by HCR_EL2.TSC; the pc is at the SMC).
    Smc,
    /// MSR, MRS or system instruction (EC 0x18).
    SysReg(SysRegAccess),
    /// Data abort from a lower exception level.
    DataAbort(DataAbort),
    /// Instruction abort from a lower exception level.
    InstructionAbort {
        /// Instruction fault status code.
        ifsc: u8,
        /// The fault was on a stage-1 table walk.
        s1ptw: bool,
    },
    /// Any other class: not something a guest may do here.
    Other {
        /// The exception class.
        ec: u8,
    },
}

/// A trapped system-register access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysRegAccess {
    /// MRS (read) rather than MSR (write).
    pub read: bool,
    /// The register's encoding: op0, op2, op1, CRn, CRm packed as in ISS
    /// bits 21..1 with Rt and the direction cleared.
    pub encoding: u32,
    /// The general-purpose register (31: XZR).
    pub rt: usize,
}

impl SysRegAccess {
    /// The encoding of op0/op1/CRn/CRm/op2 as the ISS packs it.
    pub const fn encode(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> u32 {
        (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (crm << 1)
    }
}

/// A data abort's syndrome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataAbort {
    /// The syndrome describes the access (ISV).
    pub isv: bool,
    /// Access size in bytes (from SAS), valid with `isv`.
    pub width: u8,
    /// The load sign-extends (SSE), valid with `isv`.
    pub sign_extend: bool,
    /// The register transferred (SRT), valid with `isv`.
    pub rt: usize,
    /// The register is 64 bits wide (SF), valid with `isv`.
    pub reg64: bool,
    /// A write (WnR).
    pub write: bool,
    /// A cache-maintenance or address-translation instruction (CM).
    pub cache_maintenance: bool,
    /// The fault was on a stage-1 table walk (S1PTW).
    pub s1ptw: bool,
    /// Data fault status code.
    pub dfsc: u8,
}

/// The kind of a fault status code (DFSC/IFSC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultStatus {
    /// Translation fault (no mapping).
    Translation,
    /// Access flag fault.
    AccessFlag,
    /// Permission fault (the mapping forbids the access).
    Permission,
    /// Alignment fault.
    Alignment,
    /// Anything else (external abort, TLB conflict, ...).
    Other,
}

impl FaultStatus {
    /// The kind of fault status code `fsc`.
    pub fn of(fsc: u8) -> Self {
        match fsc & 0x3f {
            0b00_0100..=0b00_0111 => Self::Translation,
            0b00_1000..=0b00_1011 => Self::AccessFlag,
            0b00_1100..=0b00_1111 => Self::Permission,
            0b10_0001 => Self::Alignment,
            _ => Self::Other,
        }
    }
}

/// The exception class field of ESR_EL2.
pub fn class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

/// Decodes ESR_EL2 of a trap from the guest.
pub fn decode(esr: u64) -> Trap {
    let iss = esr & 0x1ff_ffff;
    match class(esr) {
        0x01 => Trap::Wfx { wfe: iss & 1 == 1 },
        0x16 => Trap::Hvc,
        0x17 => Trap::Smc,
        0x18 => Trap::SysReg(SysRegAccess {
            read: iss & 1 == 1,
            encoding: (iss as u32) & 0x3f_fc1e,
            rt: ((iss >> 5) & 0x1f) as usize,
        }),
        0x24 => Trap::DataAbort(DataAbort {
            isv: iss >> 24 & 1 == 1,
            width: 1 << ((iss >> 22) & 3),
            sign_extend: iss >> 21 & 1 == 1,
            rt: ((iss >> 16) & 0x1f) as usize,
            reg64: iss >> 15 & 1 == 1,
            cache_maintenance: iss >> 8 & 1 == 1,
            s1ptw: iss >> 7 & 1 == 1,
            write: iss >> 6 & 1 == 1,
            dfsc: (iss & 0x3f) as u8,
        }),
        0x20 => Trap::InstructionAbort { ifsc: (iss & 0x3f) as u8, s1ptw: iss >> 7 & 1 == 1 },
        ec => Trap::Other { ec },
    }
}

/// The architecture's name for exception class `ec`.
pub fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "unknown reason",
        0x01 => "WFI/WFE",
        0x03 => "AArch32 MCR/MRC (cp15)",
        0x04 => "AArch32 MCRR/MRRC (cp15)",
        0x05 => "AArch32 MCR/MRC (cp14)",
        0x06 => "AArch32 LDC/STC (cp14)",
        0x07 => "SVE/SIMD/FP access",
        0x0a => "LD64B/ST64B",
        0x0c => "AArch32 MRRC (cp14)",
        0x0d => "branch target exception",
        0x0e => "illegal execution state",
        0x11 => "AArch32 SVC",
        0x12 => "AArch32 HVC",
        0x13 => "AArch32 SMC",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "MSR/MRS/system instruction",
        0x19 => "SVE access",
        0x1a => "ERET/ERETAA/ERETAB",
        0x1b => "TSTART",
        0x1c => "pointer authentication failure",
        0x1d => "SME access",
        0x1f => "implementation defined (EL3)",
        0x20 => "instruction abort from a lower level",
        0x21 => "instruction abort at EL2",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower level",
        0x25 => "data abort at EL2",
        0x26 => "SP alignment fault",
        0x27 => "memory operation exception",
        0x28 => "AArch32 floating-point exception",
        0x2c => "floating-point exception",
        0x2f => "SError",
        0x30 => "breakpoint from a lower level",
        0x31 => "breakpoint at EL2",
        0x32 => "software step from a lower level",
        0x33 => "software step at EL2",
        0x34 => "watchpoint from a lower level",
        0x35 => "watchpoint at EL2",
        0x38 => "AArch32 BKPT",
        0x3a => "AArch32 vector catch",
        0x3c => "BRK",
        _ => "reserved exception class",
    }
}
