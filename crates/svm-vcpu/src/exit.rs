//! `#VMEXIT` decoding (AMD64 APM vol. 2, appendix C and section 15.x): an
//! exit code and its two information words become an [`Exit`]. Every
//! code maps to a value; nothing here panics on what a guest causes.

/// Exit codes this module names.
pub mod code {
    /// Read of CR0 (CR n is `CR_READ + n`).
    pub const CR_READ: u64 = 0x000;
    /// Write of CR0 (CR n is `CR_WRITE + n`).
    pub const CR_WRITE: u64 = 0x010;
    /// Exception vector 0 (vector n is `EXCEPTION + n`).
    pub const EXCEPTION: u64 = 0x040;
    /// A physical interrupt.
    pub const INTR: u64 = 0x060;
    /// A physical NMI.
    pub const NMI: u64 = 0x061;
    /// INIT.
    pub const INIT: u64 = 0x063;
    /// A virtual interrupt window.
    pub const VINTR: u64 = 0x064;
    /// RDPMC.
    pub const RDPMC: u64 = 0x06F;
    /// CPUID.
    pub const CPUID: u64 = 0x072;
    /// RSM.
    pub const RSM: u64 = 0x073;
    /// INVD.
    pub const INVD: u64 = 0x076;
    /// HLT.
    pub const HLT: u64 = 0x078;
    /// INVLPGA.
    pub const INVLPGA: u64 = 0x07A;
    /// Port I/O.
    pub const IOIO: u64 = 0x07B;
    /// RDMSR/WRMSR.
    pub const MSR: u64 = 0x07C;
    /// Shutdown (triple fault).
    pub const SHUTDOWN: u64 = 0x07F;
    /// VMRUN.
    pub const VMRUN: u64 = 0x080;
    /// VMMCALL.
    pub const VMMCALL: u64 = 0x081;
    /// SKINIT (VMLOAD, VMSAVE, STGI, CLGI are 0x82-0x85).
    pub const SKINIT: u64 = 0x086;
    /// ICEBP (INT1).
    pub const ICEBP: u64 = 0x088;
    /// WBINVD.
    pub const WBINVD: u64 = 0x089;
    /// MONITOR (MWAIT is 0x8B, armed MWAIT 0x8C).
    pub const MONITOR: u64 = 0x08A;
    /// RDPRU.
    pub const RDPRU: u64 = 0x08E;
    /// A nested page fault.
    pub const NPF: u64 = 0x400;
    /// The VMCB's guest state was invalid: VMRUN failed.
    pub const INVALID: u64 = u64::MAX;
    /// [`INVALID`] as some implementations (QEMU's TCG) store it: -1 in
    /// the low 32 bits only.
    pub const INVALID_32: u64 = 0xFFFF_FFFF;
}

/// A port access (EXITINFO1 of an IOIO exit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortAccess {
    /// The port.
    pub port: u16,
    /// IN (else OUT).
    pub input: bool,
    /// Operand size in bytes: 1, 2 or 4.
    pub size: u8,
    /// INS/OUTS.
    pub string: bool,
    /// With a REP prefix.
    pub rep: bool,
    /// The address after the instruction (EXITINFO2).
    pub next_rip: u64,
}

/// A nested page fault: EXITINFO1 is the fault's error code, EXITINFO2
/// the guest-physical address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestedFault {
    /// Guest-physical address.
    pub gpa: u64,
    /// The nested entry was present (a permission fault, else no mapping).
    pub present: bool,
    /// A write.
    pub write: bool,
    /// An instruction fetch.
    pub fetch: bool,
    /// A reserved bit was set in a nested entry.
    pub reserved: bool,
    /// On the guest's own page-table walk (not its final access).
    pub table_walk: bool,
}

/// Why the guest stopped running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A physical interrupt for the host.
    Interrupt,
    /// A physical NMI.
    Nmi,
    /// The guest's interrupt window opened.
    InterruptWindow,
    /// CPUID (2 bytes; the hypervisor answers and steps over it).
    Cpuid,
    /// HLT (1 byte).
    Hlt,
    /// VMMCALL (3 bytes): the guest's hypercall.
    Vmmcall,
    /// Port I/O.
    Port(PortAccess),
    /// RDMSR (else WRMSR); 2 bytes, ECX names the MSR.
    Msr {
        /// WRMSR.
        write: bool,
    },
    /// An access the nested page tables do not allow.
    NestedFault(NestedFault),
    /// An intercepted exception.
    Exception {
        /// Its vector.
        vector: u8,
        /// Its error code, if it has one (EXITINFO1).
        error_code: u64,
    },
    /// An intercepted CR access.
    ControlRegister {
        /// Which CR.
        cr: u8,
        /// A write.
        write: bool,
    },
    /// The guest triple-faulted.
    Shutdown,
    /// INIT arrived for this CPU.
    Init,
    /// An instruction the guest's CPU does not have, as CPUID shows it:
    /// the SVM instructions (SVM is hidden), SKINIT, INVLPGA, RSM (no
    /// SMM), MONITOR/MWAIT, RDPRU. The guest gets #UD.
    Undefined,
    /// INVD or WBINVD (2 bytes after any prefixes): a no-op for a guest
    /// with no device that bypasses the caches; INVD never runs on the
    /// host (it would drop the host's dirty lines).
    CacheFlush,
    /// ICEBP (INT1, 1 byte): the guest gets the #DB it raises.
    Icebp,
    /// RDPMC: the guest has no performance counters (#GP).
    Rdpmc,
    /// VMRUN refused the VMCB's guest state.
    InvalidState,
    /// Any other exit code: not something this hypervisor intercepts.
    Other(u64),
}

/// Decodes an exit from its code and information words.
pub fn decode(code: u64, info1: u64, info2: u64) -> Exit {
    match code {
        0x000..=0x00F => Exit::ControlRegister { cr: code as u8, write: false },
        0x010..=0x01F => Exit::ControlRegister { cr: (code - code::CR_WRITE) as u8, write: true },
        0x040..=0x05F => Exit::Exception { vector: (code - code::EXCEPTION) as u8, error_code: info1 },
        code::INTR => Exit::Interrupt,
        code::NMI => Exit::Nmi,
        code::INIT => Exit::Init,
        code::VINTR => Exit::InterruptWindow,
        code::CPUID => Exit::Cpuid,
        code::HLT => Exit::Hlt,
        code::IOIO => Exit::Port(port_access(info1, info2)),
        code::MSR => Exit::Msr { write: info1 & 1 == 1 },
        code::SHUTDOWN => Exit::Shutdown,
        code::VMMCALL => Exit::Vmmcall,
        code::VMRUN | 0x082..=code::SKINIT | code::INVLPGA | code::RSM | code::MONITOR..=0x08C | code::RDPRU => {
            Exit::Undefined
        }
        code::INVD | code::WBINVD => Exit::CacheFlush,
        code::ICEBP => Exit::Icebp,
        code::RDPMC => Exit::Rdpmc,
        code::NPF => Exit::NestedFault(nested_fault(info1, info2)),
        // Some implementations store the 32-bit -1.
        code::INVALID | code::INVALID_32 => Exit::InvalidState,
        other => Exit::Other(other),
    }
}

fn port_access(info1: u64, info2: u64) -> PortAccess {
    // SZ8, SZ16, SZ32 are bits 4-6, one of them set.
    let size = match (info1 >> 4) & 0b111 {
        0b010 => 2,
        0b100 => 4,
        _ => 1,
    };
    PortAccess {
        port: (info1 >> 16) as u16,
        input: info1 & 1 == 1,
        size,
        string: info1 & (1 << 2) != 0,
        rep: info1 & (1 << 3) != 0,
        next_rip: info2,
    }
}

fn nested_fault(info1: u64, info2: u64) -> NestedFault {
    NestedFault {
        gpa: info2,
        present: info1 & 1 != 0,
        write: info1 & (1 << 1) != 0,
        reserved: info1 & (1 << 3) != 0,
        fetch: info1 & (1 << 4) != 0,
        table_walk: info1 & (1 << 33) != 0,
    }
}

/// A name for an exit code, for the line that stops a VM.
pub fn name(code: u64) -> &'static str {
    match code {
        0x000..=0x01F => "control-register access",
        0x020..=0x03F => "debug-register access",
        0x040..=0x05F => "exception",
        code::INTR => "physical interrupt",
        code::NMI => "NMI",
        0x062 => "SMI",
        code::INIT => "INIT",
        code::VINTR => "virtual interrupt window",
        0x065..=0x06D => "descriptor-table access",
        0x06E => "RDTSC",
        code::RDPMC => "RDPMC",
        0x070..=0x071 => "PUSHF/POPF",
        code::CPUID => "CPUID",
        0x073 => "RSM",
        0x074 => "IRET",
        0x075 => "software interrupt",
        0x076 => "INVD",
        0x077 => "PAUSE",
        code::HLT => "HLT",
        0x079 => "INVLPG",
        0x07A => "INVLPGA",
        code::IOIO => "port I/O",
        code::MSR => "MSR access",
        0x07D => "task switch",
        0x07E => "FERR freeze",
        code::SHUTDOWN => "shutdown (triple fault)",
        code::VMRUN => "VMRUN",
        code::VMMCALL => "VMMCALL",
        0x082..=0x085 => "SVM instruction",
        code::SKINIT => "SKINIT",
        0x087 => "RDTSCP",
        0x088 => "ICEBP",
        0x089 => "WBINVD",
        0x08A..=0x08C => "MONITOR/MWAIT",
        0x08D => "XSETBV",
        code::RDPRU => "RDPRU",
        code::NPF => "nested page fault",
        code::INVALID | code::INVALID_32 => "invalid guest state",
        _ => "unknown exit code",
    }
}
