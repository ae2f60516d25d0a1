//! A VMCB made ready for a guest's first VMRUN: the intercepts this
//! hypervisor needs, nested paging, and the CPU state a multiboot kernel
//! expects at its 32-bit entry (flat protected mode, paging off,
//! EAX = 0x2BADB002; EBX, the boot information's address, is a register
//! the world switch loads, not a VMCB field).

use crate::vmcb::{Segment, Vmcb, control, exception, misc1, misc2, save};

/// EAX at a multiboot kernel's entry.
pub const MULTIBOOT_MAGIC: u64 = 0x2BAD_B002;
/// EFER.SVME: a guest's EFER must keep it set for VMRUN to accept it.
const EFER_SVME: u64 = 1 << 12;
/// CR0.PE and CR0.ET.
const CR0_PE_ET: u64 = 0x11;
/// RFLAGS with only its always-one bit.
const RFLAGS_FIXED: u64 = 0x2;
/// The power-on PAT (write-back, write-through, uncached-, uncached).
const DEFAULT_PAT: u64 = 0x0007_0406_0007_0406;
/// VIRTUAL_INTERRUPT: V_INTR_MASKING.
pub const V_INTR_MASKING: u64 = 1 << 24;
/// TLB_CONTROL values: keep what the TLB holds, or flush every ASID's
/// entries at the next VMRUN (guest-global ones included).
pub mod tlb {
    /// Keep.
    pub const KEEP: u32 = 0;
    /// Flush everything.
    pub const FLUSH_ALL: u32 = 1;
}

/// What a guest's first run needs from the hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestStart {
    /// The guest's address-space id (1 and up: 0 is the host's).
    pub asid: u32,
    /// Root of its nested page tables.
    pub nested_cr3: u64,
    /// Host-physical addresses of its I/O and MSR permission maps.
    pub iopm: u64,
    /// See [`GuestStart::iopm`].
    pub msrpm: u64,
    /// Where it starts.
    pub entry: u64,
}

/// The GDT selectors the start state names (a guest loads its own GDT
/// before it reloads a segment register).
const CODE_SELECTOR: u16 = 0x08;
const DATA_SELECTOR: u16 = 0x10;

/// Intercept vector 3 as every guest runs with. PAUSE is not among
/// them (a spinning guest only spends its own time), nor a task switch
/// (it touches only guest state, through the nested tables), nor
/// INVLPG (nested paging).
pub const MISC1_INTERCEPTS: u32 = misc1::INTR
    | misc1::NMI
    | misc1::INIT
    | misc1::RDPMC
    | misc1::CPUID
    | misc1::RSM
    | misc1::INVD
    | misc1::HLT
    | misc1::INVLPGA
    | misc1::IOIO
    | misc1::MSR
    | misc1::SHUTDOWN;
/// Intercept vector 4 as every guest runs with.
pub const MISC2_INTERCEPTS: u32 = misc2::VMRUN
    | misc2::VMMCALL
    | misc2::SVM_INSTRUCTIONS
    | misc2::ICEBP
    | misc2::WBINVD
    | misc2::MONITOR
    | misc2::MWAIT
    | misc2::XSETBV
    | misc2::RDPRU;

/// Fills `vmcb` for a guest's first VMRUN; `None` for ASID 0, which is the
/// host's.
pub fn prepare(vmcb: &mut Vmcb, start: &GuestStart) -> Option<()> {
    if start.asid == 0 {
        return None;
    }
    vmcb.intercept(control::INTERCEPT_MISC1, MISC1_INTERCEPTS);
    vmcb.intercept(control::INTERCEPT_MISC2, MISC2_INTERCEPTS);
    vmcb.intercept(control::INTERCEPT_EXCEPTIONS, exception::INTERCEPTED);
    // Physical interrupts follow the host's IF, not the guest's: a guest
    // that masks them cannot keep the host from its CPU.
    vmcb.write_u64(control::VIRTUAL_INTERRUPT, V_INTR_MASKING);
    vmcb.write_u64(control::IOPM_BASE_PA, start.iopm);
    vmcb.write_u64(control::MSRPM_BASE_PA, start.msrpm);
    vmcb.write_u32(control::GUEST_ASID, start.asid);
    vmcb.write_u32(control::TLB_CONTROL, tlb::FLUSH_ALL);
    vmcb.write_u64(control::NP_ENABLE, 1);
    vmcb.write_u64(control::NESTED_CR3, start.nested_cr3);

    vmcb.set_segment(save::CS, Segment::code32(CODE_SELECTOR));
    for data in [save::DS, save::ES, save::FS, save::GS, save::SS] {
        vmcb.set_segment(data, Segment::data32(DATA_SELECTOR));
    }
    vmcb.set_segment(save::TR, Segment::tss(0, 0, 0xFFFF));
    vmcb.set_segment(save::LDTR, Segment { selector: 0, attrib: 0x82, limit: 0xFFFF, base: 0 });
    vmcb.set_segment(save::GDTR, Segment { selector: 0, attrib: 0, limit: 0xFFFF, base: 0 });
    vmcb.set_segment(save::IDTR, Segment { selector: 0, attrib: 0, limit: 0xFFFF, base: 0 });
    vmcb.write_u64(save::EFER, EFER_SVME);
    vmcb.write_u64(save::CR0, CR0_PE_ET);
    vmcb.write_u64(save::CR3, 0);
    vmcb.write_u64(save::CR4, 0);
    vmcb.write_u64(save::RFLAGS, RFLAGS_FIXED);
    vmcb.write_u64(save::RIP, start.entry);
    vmcb.write_u64(save::RSP, 0);
    vmcb.write_u64(save::RAX, MULTIBOOT_MAGIC);
    vmcb.write_u64(save::DR7, 0x400);
    vmcb.write_u64(save::DR6, 0xFFFF_0FF0);
    vmcb.write_u64(save::G_PAT, DEFAULT_PAT);
    Some(())
}

/// An I/O permission map (12 KiB: one bit per port, and the bits a
/// multi-byte access past port 0xFFFF reads): every port intercepted.
pub fn intercept_all_ports() -> [u8; 3 * 4096] {
    [0xFF; 3 * 4096]
}

/// An MSR permission map (8 KiB: read and write bits of three MSR
/// ranges): every MSR access intercepted.
pub fn intercept_all_msrs() -> [u8; 2 * 4096] {
    [0xFF; 2 * 4096]
}

/// MSRs the guest reads and writes without an exit: state VMLOAD/VMSAVE
/// switch with the VMCB (segment bases, SYSCALL/SYSENTER targets), so the
/// guest's values never reach the host.
pub const SWITCHED_MSRS: [u32; 10] = [
    0x174,
    0x175,
    0x176,
    0xC000_0081,
    0xC000_0082,
    0xC000_0083,
    0xC000_0084,
    0xC000_0100,
    0xC000_0101,
    0xC000_0102,
];

/// The MSR permission map a guest runs with: every MSR intercepted but
/// [`SWITCHED_MSRS`].
pub fn guest_msr_map() -> [u8; 2 * 4096] {
    let mut map = intercept_all_msrs();
    for msr in SWITCHED_MSRS {
        pass_msr(&mut map, msr);
    }
    map
}

/// Clears the read and write intercepts of `msr` in an MSR permission
/// map; false for an MSR outside the map's three ranges (always
/// intercepted).
pub fn pass_msr(map: &mut [u8; 2 * 4096], msr: u32) -> bool {
    let range_offset = match msr {
        0x0000_0000..=0x0000_1FFF => 0,
        0xC000_0000..=0xC000_1FFF => 0x800,
        0xC001_0000..=0xC001_1FFF => 0x1000,
        _ => return false,
    };
    // Two bits per MSR (read, then write), four MSRs a byte.
    let index = (msr & 0x1FFF) as usize;
    let byte = range_offset + index / 4;
    let shift = (index % 4) * 2;
    map[byte] &= !(0b11 << shift);
    true
}
