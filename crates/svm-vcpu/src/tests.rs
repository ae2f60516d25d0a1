extern crate std;

use std::vec::Vec;

use crate::exit::{self, Exit, NestedFault, PortAccess};
use crate::npt::{Access, Frames, Npt, NptError};
use crate::vmcb::{self, Segment, Vmcb};

#[test]
fn segments_pack_as_the_vmcb_keeps_them() {
    let cs = Segment::code32(0x08);
    let bytes = cs.to_bytes();
    assert_eq!(&bytes[0..2], &[0x08, 0]);
    assert_eq!(u16::from_le_bytes([bytes[2], bytes[3]]), 0xC9B, "P, DPL 0, S, execute/read, accessed; G, D");
    assert_eq!(Segment::from_bytes(&bytes), cs);
    assert_eq!(Segment::code64(0x08).attrib & 0xF00, 0xA00, "L set, D clear");
    let mut vmcb = Vmcb::default();
    vmcb.set_segment(vmcb::save::CS, cs);
    assert_eq!(vmcb.segment(vmcb::save::CS), cs);
    assert_eq!(&vmcb.as_bytes()[0x410..0x412], &[0x08, 0]);
}

#[test]
fn fields_are_little_endian_at_their_offsets_and_stay_in_the_page() {
    let mut vmcb = Vmcb::default();
    vmcb.write_u64(vmcb::save::RIP, 0x0010_0000);
    vmcb.write_u64(vmcb::save::RAX, 0x2BAD_B002);
    assert_eq!(&vmcb.as_bytes()[0x578..0x57c], &[0, 0, 0x10, 0]);
    assert_eq!(vmcb.read_u64(vmcb::save::RAX), 0x2BAD_B002);
    vmcb.intercept(vmcb::control::INTERCEPT_MISC1, vmcb::misc1::HLT);
    vmcb.intercept(vmcb::control::INTERCEPT_MISC1, vmcb::misc1::CPUID);
    assert_eq!(vmcb.read_u32(vmcb::control::INTERCEPT_MISC1), (1 << 24) | (1 << 18));
    vmcb.write_u64(4090, u64::MAX);
    assert_eq!(vmcb.read_u64(4090), 0, "a field past the page is neither written nor read");
}

#[test]
fn port_exits_decode_port_size_direction_and_next_rip() {
    // OUT DX, AL to 0x3f8: SZ8, port in bits 16-31.
    let out = exit::decode(exit::code::IOIO, (0x3f8 << 16) | (1 << 4), 0x1005);
    assert_eq!(out, Exit::Port(PortAccess { port: 0x3f8, input: false, size: 1, string: false, rep: false, next_rip: 0x1005 }));
    let input = exit::decode(exit::code::IOIO, (0x604 << 16) | (1 << 6) | 1, 0);
    assert!(matches!(input, Exit::Port(PortAccess { port: 0x604, input: true, size: 4, .. })));
    let rep_outs = exit::decode(exit::code::IOIO, (0x3f8 << 16) | (1 << 5) | (1 << 3) | (1 << 2), 0);
    assert!(matches!(rep_outs, Exit::Port(PortAccess { size: 2, string: true, rep: true, .. })));
}

#[test]
fn nested_faults_and_the_rest_decode_without_panicking() {
    let fault = exit::decode(exit::code::NPF, (1 << 32) | (1 << 1), 0xfee0_0030);
    assert_eq!(
        fault,
        Exit::NestedFault(NestedFault { gpa: 0xfee0_0030, present: false, write: true, fetch: false, reserved: false, table_walk: false })
    );
    assert_eq!(exit::decode(exit::code::MSR, 1, 0), Exit::Msr { write: true });
    assert_eq!(exit::decode(exit::code::CR_WRITE + 3, 0, 0), Exit::ControlRegister { cr: 3, write: true });
    assert_eq!(exit::decode(exit::code::EXCEPTION + 14, 2, 0), Exit::Exception { vector: 14, error_code: 2 });
    assert_eq!(exit::decode(exit::code::SHUTDOWN, 0, 0), Exit::Shutdown);
    assert_eq!(exit::decode(0x082, 0, 0), Exit::Undefined, "VMLOAD");
    assert_eq!(exit::decode(exit::code::INVALID, 0, 0), Exit::InvalidState);
    assert_eq!(exit::decode(0xFFFF_FFFF, 0, 0), Exit::InvalidState, "the 32-bit -1 TCG stores");
    assert_eq!(exit::name(0xFFFF_FFFF), "invalid guest state");
    for code in (0..0x500).chain([0x1000, u64::MAX - 1, u64::MAX]) {
        let _ = exit::decode(code, u64::MAX, u64::MAX);
        assert!(!exit::name(code).is_empty());
    }
    assert_eq!(exit::name(exit::code::SHUTDOWN), "shutdown (triple fault)");
}

/// Frames from a vector, at made-up physical addresses.
#[derive(Default)]
struct TestFrames {
    tables: Vec<[u64; 512]>,
}

const BASE: u64 = 0x7000_0000;

impl Frames for TestFrames {
    fn alloc(&mut self) -> Option<u64> {
        (self.tables.len() < 64).then(|| {
            self.tables.push([0; 512]);
            BASE + (self.tables.len() as u64 - 1) * 0x1000
        })
    }

    fn table(&mut self, phys: u64) -> Option<&mut [u64; 512]> {
        self.tables.get_mut(usize::try_from(phys.checked_sub(BASE)? / 0x1000).ok()?)
    }
}

const RWX: Access = Access { write: true, execute: true };

#[test]
fn ram_maps_in_large_pages_and_translates() {
    let mut npt = Npt::new(TestFrames::default()).expect("root");
    npt.map(0x8000_0000, 0x4200_0000, 0x40_0000, RWX).expect("maps");
    assert_eq!(npt.translate(0x8000_0000), Some((0x4200_0000, RWX)));
    assert_eq!(npt.translate(0x803f_fff8), Some((0x423f_fff8, RWX)));
    assert_eq!(npt.translate(0x8040_0000), None);
    // Root, PDPT and PD: 2 MiB leaves need no page table.
    assert_eq!(npt.into_frames().tables.len(), 3);
}

#[test]
fn unaligned_ranges_fall_back_to_small_pages_with_their_rights() {
    let mut npt = Npt::new(TestFrames::default()).expect("root");
    let device = Access { write: true, execute: false };
    npt.map(0xfee0_0000, 0x1_0000_0000, 0x1000, device).expect("maps");
    npt.map(0x10_1000, 0x20_1000, 0x20_0000, Access { write: false, execute: true }).expect("maps");
    assert_eq!(npt.translate(0xfee0_0ff0), Some((0x1_0000_0ff0, device)));
    assert_eq!(npt.translate(0x30_0000), Some((0x40_0000, Access { write: false, execute: true })));
}

#[test]
fn bad_and_overlapping_ranges_are_refused_whole() {
    let mut npt = Npt::new(TestFrames::default()).expect("root");
    assert_eq!(npt.map(0x1001, 0x2000, 0x1000, RWX), Err(NptError::Misaligned { gpa: 0x1001, hpa: 0x2000, size: 0x1000 }));
    assert!(matches!(npt.map(0x1000, 0x2000, 0, RWX), Err(NptError::Misaligned { .. })));
    assert_eq!(npt.map(1 << 48, 0, 0x1000, RWX), Err(NptError::TooWide { gpa: 1 << 48 }));
    assert_eq!(npt.map(u64::MAX - 0xfff, 0, 0x1000, RWX), Err(NptError::TooWide { gpa: u64::MAX - 0xfff }));
    npt.map(0x20_0000, 0x20_0000, 0x20_0000, RWX).expect("maps");
    assert_eq!(npt.map(0x1f_f000, 0x1000, 0x2000, RWX), Err(NptError::Overlap { gpa: 0x20_0000 }));
    assert_eq!(npt.translate(0x1f_f000), None, "nothing of a refused range is mapped");
    assert_eq!(npt.map(0x20_1000, 0x1000, 0x1000, RWX), Err(NptError::Overlap { gpa: 0x20_1000 }), "inside a large page");
    // A large page over small ones is refused too, and so is one page
    // over another.
    npt.map(0x60_3000, 0x9000, 0x1000, RWX).expect("a small page");
    assert_eq!(npt.map(0x60_0000, 0x60_0000, 0x20_0000, RWX), Err(NptError::Overlap { gpa: 0x60_0000 }));
    assert_eq!(npt.map(0x60_3000, 0xa000, 0x1000, RWX), Err(NptError::Overlap { gpa: 0x60_3000 }));
    npt.map(0x60_4000, 0xa000, 0x1000, RWX).expect("its neighbour is free");
}

#[test]
fn running_out_of_table_frames_is_an_error() {
    let mut npt = Npt::new(TestFrames::default()).expect("root");
    // 4 KiB pages spread 1 GiB apart each need their own PDPT entry, PD and PT.
    let result = (0..64).try_for_each(|i| npt.map(i << 30, 0, 0x1000, RWX));
    assert_eq!(result, Err(NptError::OutOfFrames));
}

mod insn_tests {
    use crate::insn::{Access, Mode, Source, decode};

    fn store(width: u8, source: Source, len: u8) -> Access {
        Access { write: true, width, source, register: 0, zero_extend_to: 0, high_byte: false, len }
    }

    fn load(width: u8, register: u8, zero_extend_to: u8, len: u8) -> Access {
        Access { write: false, width, source: Source::Register(0), register, zero_extend_to, high_byte: false, len }
    }

    #[test]
    fn register_moves_with_every_addressing_form() {
        // mov [rax], ecx
        assert_eq!(decode(&[0x89, 0x08], Mode::Long64), Some(store(4, Source::Register(1), 2)));
        // mov eax, [rdi + 0x30]
        assert_eq!(decode(&[0x8B, 0x47, 0x30], Mode::Long64), Some(load(4, 0, 8, 3)));
        // mov [rsp + 8], edx  (SIB, disp8)
        assert_eq!(decode(&[0x89, 0x54, 0x24, 0x08], Mode::Long64), Some(store(4, Source::Register(2), 4)));
        // mov [0xfee000b0], eax in 32-bit mode (disp32)
        assert_eq!(decode(&[0x89, 0x05, 0xb0, 0x00, 0xe0, 0xfe], Mode::Protected32), Some(store(4, Source::Register(0), 6)));
        // mov r9, [rbx + rcx*8 + 0x1000]  (REX.WR, SIB, disp32)
        assert_eq!(decode(&[0x4C, 0x8B, 0x8C, 0xCB, 0x00, 0x10, 0x00, 0x00], Mode::Long64), Some(load(8, 9, 0, 8)));
        // mov word [rdx], ax
        assert_eq!(decode(&[0x66, 0x89, 0x02], Mode::Long64), Some(store(2, Source::Register(0), 3)));
        // mov byte [rdx], ah: the high byte of RAX
        let ah = decode(&[0x88, 0x22], Mode::Long64).expect("decodes");
        assert_eq!((ah.source, ah.high_byte, ah.width), (Source::Register(4), true, 1));
        // mov byte [rdx], spl with an empty REX: not a high byte
        assert!(!decode(&[0x40, 0x88, 0x22], Mode::Long64).expect("decodes").high_byte);
    }

    #[test]
    fn immediates_and_zero_extending_loads() {
        // mov dword [rax + 0x80], 0x1234
        assert_eq!(decode(&[0xC7, 0x80, 0x80, 0, 0, 0, 0x34, 0x12, 0, 0], Mode::Long64), Some(store(4, Source::Immediate(0x1234), 10)));
        // mov qword [rax], -1: imm32 sign-extended
        assert_eq!(decode(&[0x48, 0xC7, 0x00, 0xff, 0xff, 0xff, 0xff], Mode::Long64), Some(store(8, Source::Immediate(u64::MAX), 7)));
        // mov byte [rbx], 0x41
        assert_eq!(decode(&[0xC6, 0x03, 0x41], Mode::Long64), Some(store(1, Source::Immediate(0x41), 3)));
        // movzx eax, byte [rsi]
        assert_eq!(decode(&[0x0F, 0xB6, 0x06], Mode::Long64), Some(load(1, 0, 4, 3)));
        // movzx edx, word [rsi + 2], with an FS override first
        assert_eq!(decode(&[0x64, 0x0F, 0xB7, 0x56, 0x02], Mode::Long64), Some(load(2, 2, 4, 5)));
    }

    #[test]
    fn anything_else_is_refused_not_guessed() {
        assert_eq!(decode(&[], Mode::Long64), None);
        assert_eq!(decode(&[0x89, 0xC8], Mode::Long64), None, "register to register: no memory access");
        assert_eq!(decode(&[0xC7, 0x08, 0, 0, 0, 0], Mode::Long64), None, "C7 /1 is not MOV");
        assert_eq!(decode(&[0xA5], Mode::Long64), None, "MOVS");
        assert_eq!(decode(&[0x0F, 0xB8, 0x00], Mode::Long64), None);
        assert_eq!(decode(&[0x89, 0x84, 0x24], Mode::Long64), None, "truncated");
        assert_eq!(decode(&[0x66; 20], Mode::Long64), None, "prefixes past 15 bytes");
        // 0x48 is DEC EAX in 32-bit mode, not REX.W.
        assert_eq!(decode(&[0x48, 0x89, 0x08], Mode::Protected32), None);
        for first in 0..=255u8 {
            for second in [0x00, 0x05, 0x44, 0x84, 0xC0] {
                let _ = decode(&[first, second, 0x24, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66], Mode::Long64);
                let _ = decode(&[0x0F, first, second], Mode::Protected32);
            }
        }
    }
}

mod setup_tests {
    use crate::setup::{self, GuestStart, MULTIBOOT_MAGIC};
    use crate::vmcb::{Segment, Vmcb, control, misc1, misc2, save};

    const START: GuestStart =
        GuestStart { asid: 1, nested_cr3: 0x4000_1000, iopm: 0x4000_4000, msrpm: 0x4000_8000, entry: 0x10_0000 };

    #[test]
    fn a_multiboot_kernel_starts_in_flat_protected_mode_with_its_magic() {
        let mut vmcb = Vmcb::default();
        setup::prepare(&mut vmcb, &START).expect("prepared");
        assert_eq!(vmcb.read_u64(save::RIP), 0x10_0000);
        assert_eq!(vmcb.read_u64(save::RAX), MULTIBOOT_MAGIC);
        assert_eq!(vmcb.read_u64(save::CR0) & 0x8000_0001, 1, "protected mode, paging off");
        assert_eq!(vmcb.read_u64(save::EFER) & (1 << 12), 1 << 12, "EFER.SVME, which VMRUN requires");
        assert_eq!(vmcb.read_u64(save::RFLAGS), 2);
        assert_eq!(vmcb.segment(save::CS), Segment::code32(0x08));
        assert_eq!(vmcb.segment(save::SS), Segment::data32(0x10));
        assert_eq!(vmcb.read_u64(control::NESTED_CR3), 0x4000_1000);
        assert_eq!(vmcb.read_u64(control::NP_ENABLE) & 1, 1);
        assert_eq!(vmcb.read_u32(control::GUEST_ASID), 1);
        assert_eq!(vmcb.read_u64(control::IOPM_BASE_PA), 0x4000_4000);
    }

    #[test]
    fn the_intercepts_a_hostile_guest_needs_are_all_set() {
        let mut vmcb = Vmcb::default();
        setup::prepare(&mut vmcb, &START).expect("prepared");
        let misc1 = vmcb.read_u32(control::INTERCEPT_MISC1);
        for bit in [misc1::INTR, misc1::NMI, misc1::CPUID, misc1::HLT, misc1::IOIO, misc1::MSR, misc1::SHUTDOWN] {
            assert_ne!(misc1 & bit, 0, "{bit:#x}");
        }
        let misc2 = vmcb.read_u32(control::INTERCEPT_MISC2);
        assert_eq!(misc2 & misc2::VMRUN, misc2::VMRUN, "VMRUN must be intercepted or VMRUN fails");
        assert_eq!(misc2 & misc2::SVM_INSTRUCTIONS, misc2::SVM_INSTRUCTIONS);
        assert!(setup::intercept_all_ports().iter().all(|&b| b == 0xFF));
        assert!(setup::intercept_all_msrs().iter().all(|&b| b == 0xFF));
        assert_eq!(setup::prepare(&mut Vmcb::default(), &GuestStart { asid: 0, ..START }), None, "ASID 0 is the host's");
    }
}
