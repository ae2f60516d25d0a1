//! The VMCB: a 4 KiB page, the control area at 0x000 and the state-save
//! area at 0x400. Only the fields this hypervisor uses are named.

/// Offsets in the control area.
pub mod control {
    /// Intercepted CR reads (bits 0-15) and writes (bits 16-31).
    pub const INTERCEPT_CR: usize = 0x000;
    /// Intercepted exceptions, one bit per vector.
    pub const INTERCEPT_EXCEPTIONS: usize = 0x008;
    /// Intercept vector 3 ([`super::misc1`]).
    pub const INTERCEPT_MISC1: usize = 0x00C;
    /// Intercept vector 4 ([`super::misc2`]).
    pub const INTERCEPT_MISC2: usize = 0x010;
    /// Physical address of the I/O permission map (12 KiB).
    pub const IOPM_BASE_PA: usize = 0x040;
    /// Physical address of the MSR permission map (8 KiB).
    pub const MSRPM_BASE_PA: usize = 0x048;
    /// Added to the TSC the guest reads.
    pub const TSC_OFFSET: usize = 0x050;
    /// The guest's address-space id (not 0).
    pub const GUEST_ASID: usize = 0x058;
    /// What to flush at VMRUN (byte).
    pub const TLB_CONTROL: usize = 0x05C;
    /// Virtual interrupt control (V_TPR, V_IRQ, V_INTR_MASKING, ...).
    pub const VIRTUAL_INTERRUPT: usize = 0x060;
    /// The guest is in an interrupt shadow (bit 0).
    pub const INTERRUPT_SHADOW: usize = 0x068;
    /// Why the guest exited.
    pub const EXIT_CODE: usize = 0x070;
    /// Exit-specific information.
    pub const EXIT_INFO1: usize = 0x078;
    /// More exit-specific information.
    pub const EXIT_INFO2: usize = 0x080;
    /// An event whose delivery the exit interrupted.
    pub const EXIT_INT_INFO: usize = 0x088;
    /// Nested paging enable (bit 0).
    pub const NP_ENABLE: usize = 0x090;
    /// An event to inject at the next VMRUN.
    pub const EVENT_INJECTION: usize = 0x0A8;
    /// The nested page tables' root (nCR3).
    pub const NESTED_CR3: usize = 0x0B0;
    /// Which state-save groups are unchanged since the last VMRUN.
    pub const CLEAN_BITS: usize = 0x0C0;
    /// The next instruction's address (with next-RIP saving only).
    pub const NEXT_RIP: usize = 0x0C8;
}

/// Offsets in the state-save area.
pub mod save {
    /// Segment registers, 16 bytes each (see [`super::Segment`]).
    pub const ES: usize = 0x400;
    /// See [`ES`].
    pub const CS: usize = 0x410;
    /// See [`ES`].
    pub const SS: usize = 0x420;
    /// See [`ES`].
    pub const DS: usize = 0x430;
    /// See [`ES`].
    pub const FS: usize = 0x440;
    /// See [`ES`].
    pub const GS: usize = 0x450;
    /// Descriptor-table registers, in the segment format (limit and base).
    pub const GDTR: usize = 0x460;
    /// See [`ES`].
    pub const LDTR: usize = 0x470;
    /// See [`GDTR`].
    pub const IDTR: usize = 0x480;
    /// See [`ES`].
    pub const TR: usize = 0x490;
    /// Current privilege level (byte).
    pub const CPL: usize = 0x4CB;
    /// The guest's EFER (SVME must stay set).
    pub const EFER: usize = 0x4D0;
    /// Control registers.
    pub const CR4: usize = 0x548;
    /// See [`CR4`].
    pub const CR3: usize = 0x550;
    /// See [`CR4`].
    pub const CR0: usize = 0x558;
    /// Debug registers.
    pub const DR7: usize = 0x560;
    /// See [`DR7`].
    pub const DR6: usize = 0x568;
    /// Flags.
    pub const RFLAGS: usize = 0x570;
    /// Instruction pointer.
    pub const RIP: usize = 0x578;
    /// Stack pointer.
    pub const RSP: usize = 0x5D8;
    /// RAX (the other general-purpose registers are the hypervisor's to
    /// switch).
    pub const RAX: usize = 0x5F8;
    /// The guest's CR2 (page-fault address).
    pub const CR2: usize = 0x640;
    /// The guest's PAT, used with nested paging.
    pub const G_PAT: usize = 0x668;
}

/// Intercept vector 3 bits.
pub mod misc1 {
    /// Physical interrupts.
    pub const INTR: u32 = 1 << 0;
    /// NMIs.
    pub const NMI: u32 = 1 << 1;
    /// INIT.
    pub const INIT: u32 = 1 << 3;
    /// The guest can take the virtual interrupt V_IRQ holds.
    pub const VINTR: u32 = 1 << 4;
    /// RDPMC: the guest has no performance counters.
    pub const RDPMC: u32 = 1 << 15;
    /// CPUID.
    pub const CPUID: u32 = 1 << 18;
    /// RSM.
    pub const RSM: u32 = 1 << 19;
    /// INVD: would drop the host's dirty cache lines.
    pub const INVD: u32 = 1 << 22;
    /// HLT.
    pub const HLT: u32 = 1 << 24;
    /// INVLPGA: an SVM instruction (it names any ASID, the host's too).
    pub const INVLPGA: u32 = 1 << 26;
    /// Port I/O, as the I/O permission map says.
    pub const IOIO: u32 = 1 << 27;
    /// RDMSR/WRMSR, as the MSR permission map says.
    pub const MSR: u32 = 1 << 28;
    /// Shutdown (a triple fault).
    pub const SHUTDOWN: u32 = 1 << 31;
}

/// Intercept vector 4 bits.
pub mod misc2 {
    /// VMRUN (must be intercepted).
    pub const VMRUN: u32 = 1 << 0;
    /// VMMCALL: the guest's hypercall.
    pub const VMMCALL: u32 = 1 << 1;
    /// VMLOAD, VMSAVE, STGI, CLGI, SKINIT (bits 2-6): SVM instructions a
    /// guest may not use (its EFER.SVME is set, so they would run).
    pub const SVM_INSTRUCTIONS: u32 = 0b111_1100;
    /// ICEBP (INT1): emulated, so that its #DB has one well-defined path.
    pub const ICEBP: u32 = 1 << 8;
    /// WBINVD (and WBNOINVD).
    pub const WBINVD: u32 = 1 << 9;
    /// MONITOR.
    pub const MONITOR: u32 = 1 << 10;
    /// MWAIT, armed or not.
    pub const MWAIT: u32 = 1 << 11;
    /// XSETBV: XCR0 is not switched with the guest.
    pub const XSETBV: u32 = 1 << 13;
    /// RDPRU: reads the host's APERF/MPERF.
    pub const RDPRU: u32 = 1 << 14;
}

/// Exception vectors, as bits of [`control::INTERCEPT_EXCEPTIONS`].
pub mod exception {
    /// #DB: a guest whose #DB delivery raises #DB again would keep the
    /// CPU in microcode, out of the host's reach (CVE-2015-8104).
    pub const DB: u8 = 1;
    /// #UD.
    pub const UD: u8 = 6;
    /// #GP.
    pub const GP: u8 = 13;
    /// #AC: the same for #AC (CVE-2015-5307).
    pub const AC: u8 = 17;
    /// #MC: a machine check is the host's, never the guest's.
    pub const MC: u8 = 18;
    /// The vectors every guest runs with intercepted.
    pub const INTERCEPTED: u32 = 1 << DB | 1 << AC | 1 << MC;
}

/// A segment register as the VMCB stores it: selector, attributes (the
/// descriptor's type, S, DPL, P, AVL, L, D/B, G bits packed into 12 bits),
/// limit, base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Selector.
    pub selector: u16,
    /// Packed attributes: bits 0-7 from descriptor bits 40-47, bits 8-11
    /// from descriptor bits 52-55.
    pub attrib: u16,
    /// Limit (byte granular here, whatever G says).
    pub limit: u32,
    /// Base.
    pub base: u64,
}

impl Segment {
    /// A flat 4 GiB 32-bit code segment (execute/read, accessed, DPL 0,
    /// present, D, G).
    pub const fn code32(selector: u16) -> Self {
        Self { selector, attrib: 0xC9B, limit: 0xFFFF_FFFF, base: 0 }
    }

    /// A flat 4 GiB data segment (read/write, accessed, DPL 0, present,
    /// B, G).
    pub const fn data32(selector: u16) -> Self {
        Self { selector, attrib: 0xC93, limit: 0xFFFF_FFFF, base: 0 }
    }

    /// A 64-bit code segment (L set, D clear).
    pub const fn code64(selector: u16) -> Self {
        Self { selector, attrib: 0xA9B, limit: 0xFFFF_FFFF, base: 0 }
    }

    /// A busy 32/64-bit task-state segment of `limit` bytes at `base`.
    pub const fn tss(selector: u16, base: u64, limit: u32) -> Self {
        Self { selector, attrib: 0x8B, limit, base }
    }

    /// Its 16 bytes in the VMCB.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[0..2].copy_from_slice(&self.selector.to_le_bytes());
        out[2..4].copy_from_slice(&self.attrib.to_le_bytes());
        out[4..8].copy_from_slice(&self.limit.to_le_bytes());
        out[8..16].copy_from_slice(&self.base.to_le_bytes());
        out
    }

    /// Reads a segment from its 16 bytes in the VMCB.
    pub fn from_bytes(bytes: &[u8; 16]) -> Self {
        let word = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let mut limit = [0u8; 4];
        limit.copy_from_slice(&bytes[4..8]);
        let mut base = [0u8; 8];
        base.copy_from_slice(&bytes[8..16]);
        Self { selector: word(0), attrib: word(2), limit: u32::from_le_bytes(limit), base: u64::from_le_bytes(base) }
    }
}

/// A VMCB's bytes with typed field access, for building one before its
/// first VMRUN and reading exits after (the hypervisor keeps it in a page
/// of its own).
#[derive(Clone)]
pub struct Vmcb {
    bytes: [u8; 4096],
}

impl Default for Vmcb {
    fn default() -> Self {
        Self { bytes: [0; 4096] }
    }
}

impl Vmcb {
    /// The raw page.
    pub fn as_bytes(&self) -> &[u8; 4096] {
        &self.bytes
    }

    /// A little-endian field of `N` bytes at `offset`.
    fn field<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.bytes.get(offset..offset + N) {
            out.copy_from_slice(src);
        }
        out
    }

    fn set_field(&mut self, offset: usize, value: &[u8]) {
        if let Some(dst) = self.bytes.get_mut(offset..offset + value.len()) {
            dst.copy_from_slice(value);
        }
    }

    /// The 64-bit field at `offset` (0 past the page).
    pub fn read_u64(&self, offset: usize) -> u64 {
        u64::from_le_bytes(self.field(offset))
    }

    /// Writes the 64-bit field at `offset` (nothing past the page).
    pub fn write_u64(&mut self, offset: usize, value: u64) {
        self.set_field(offset, &value.to_le_bytes());
    }

    /// The 32-bit field at `offset`.
    pub fn read_u32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.field(offset))
    }

    /// Writes the 32-bit field at `offset`.
    pub fn write_u32(&mut self, offset: usize, value: u32) {
        self.set_field(offset, &value.to_le_bytes());
    }

    /// The segment register at `offset` (one of [`save`]'s segments).
    pub fn segment(&self, offset: usize) -> Segment {
        Segment::from_bytes(&self.field(offset))
    }

    /// Writes the segment register at `offset`.
    pub fn set_segment(&mut self, offset: usize, segment: Segment) {
        self.set_field(offset, &segment.to_bytes());
    }

    /// Sets intercept bits in a 32-bit intercept vector.
    pub fn intercept(&mut self, vector: usize, bits: u32) {
        let old = self.read_u32(vector);
        self.write_u32(vector, old | bits);
    }
}
