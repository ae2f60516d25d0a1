//! What a hostile guest may not reach: the intercepts every guest runs
//! with, how their exits decode, the events the hypervisor answers with,
//! the PMU and trace MSRs and CPUID bits it hides.

use crate::exit::{self, Exit, code};
use crate::insn::{self, Mode};
use crate::setup::{self, GuestStart};
use crate::vmcb::{Vmcb, control, exception, misc2};
use crate::{absent, cpuid, event};

fn prepared() -> Vmcb {
    let start = GuestStart { asid: 1, nested_cr3: 0x1000, iopm: 0x2000, msrpm: 0x4000, entry: 0x10_0000 };
    let mut vmcb = Vmcb::default();
    setup::prepare(&mut vmcb, &start).expect("prepared");
    vmcb
}

#[test]
fn ac_db_and_mc_are_intercepted_and_nothing_else_is() {
    let vectors = prepared().read_u32(control::INTERCEPT_EXCEPTIONS);
    assert_eq!(vectors, 1 << 1 | 1 << 17 | 1 << 18, "#DB, #AC, #MC");
}

#[test]
fn skinit_and_the_other_svm_instructions_are_intercepted_vmmcall_once() {
    // Intercept vector 4, AMD64 APM vol. 2, table B-1: VMRUN 0, VMMCALL 1,
    // VMLOAD 2, VMSAVE 3, STGI 4, CLGI 5, SKINIT 6.
    assert_eq!(misc2::SVM_INSTRUCTIONS, 0b111_1100);
    let misc2 = prepared().read_u32(control::INTERCEPT_MISC2);
    for bit in 0..=6 {
        assert_ne!(misc2 & 1 << bit, 0, "vector 4 bit {bit}");
    }
    for (bit, what) in [(8, "ICEBP"), (9, "WBINVD"), (10, "MONITOR"), (11, "MWAIT"), (13, "XSETBV"), (14, "RDPRU")] {
        assert_ne!(misc2 & 1 << bit, 0, "{what}");
    }
}

#[test]
fn invd_rdpmc_rsm_and_invlpga_are_intercepted_pause_is_not() {
    let misc1 = prepared().read_u32(control::INTERCEPT_MISC1);
    for (bit, what) in [(15, "RDPMC"), (19, "RSM"), (22, "INVD"), (26, "INVLPGA")] {
        assert_ne!(misc1 & 1 << bit, 0, "{what}");
    }
    assert_eq!(misc1 & (1 << 23), 0, "PAUSE only spends the guest's own time");
    assert_eq!(misc1, setup::MISC1_INTERCEPTS, "nothing but the listed intercepts");
}

#[test]
fn instructions_without_meaning_for_the_guest_decode_as_undefined() {
    let undefined = [
        code::VMRUN,
        0x82,
        0x83,
        0x84,
        0x85,
        code::SKINIT,
        code::INVLPGA,
        code::RSM,
        code::MONITOR,
        0x8B,
        0x8C,
        code::RDPRU,
    ];
    for c in undefined {
        assert_eq!(exit::decode(c, 0, 0), Exit::Undefined, "exit code {c:#x}");
    }
    assert_eq!(exit::decode(code::VMMCALL, 0, 0), Exit::Vmmcall, "the hypercall stays one");
    assert_eq!(exit::decode(code::INVD, 0, 0), Exit::CacheFlush);
    assert_eq!(exit::decode(code::WBINVD, 0, 0), Exit::CacheFlush);
    assert_eq!(exit::decode(code::ICEBP, 0, 0), Exit::Icebp);
    assert_eq!(exit::decode(code::RDPMC, 0, 0), Exit::Rdpmc);
    assert_eq!(exit::decode(code::EXCEPTION + 17, 0, 0), Exit::Exception { vector: exception::AC, error_code: 0 });
    assert_eq!(exit::name(code::SKINIT), "SKINIT");
    assert_eq!(exit::name(code::RDPMC), "RDPMC");
}

#[test]
fn injected_exceptions_carry_type_vector_and_error_code() {
    // Valid, type 3 (exception), vector 17, error code valid, code 0.
    assert_eq!(event::exception(exception::AC, Some(0)), 0x8000_0B11);
    assert_eq!(event::exception(exception::UD, None), 0x8000_0306);
    assert_eq!(event::exception(exception::GP, Some(0x18)), 0x18_8000_0B0D);
    assert_eq!(event::external_interrupt(0x8000_0041), Some(0x41));
    assert_eq!(event::external_interrupt(event::exception(exception::DB, None)), None);
    assert_eq!(event::external_interrupt(0x41), None, "not valid");
}

#[test]
fn a_reflected_db_keeps_its_cause_and_clears_gd_only_for_general_detect() {
    // B0 hit, breakpoint 0 enabled: unchanged.
    assert_eq!(event::reflected_debug(0xFFFF_0FF1, 0x401), (0xFFFF_0FF1, 0x401));
    // General detect: BD set, so GD (DR7 bit 13) is cleared for the handler.
    assert_eq!(event::reflected_debug(0xFFFF_2FF0, 0x2401), (0xFFFF_2FF0, 0x401));
    // Single step with GD armed: GD stays.
    assert_eq!(event::reflected_debug(0xFFFF_4FF0, 0x2400), (0xFFFF_4FF0, 0x2400));
    // Bit 12 and the upper half (which VMRUN refuses) are never set.
    assert_eq!(event::reflected_debug(0x1_FFFF_1FF0, 0x400).0, 0xFFFF_0FF0);
}

#[test]
fn pmu_and_trace_msrs_are_absent_the_others_are_not() {
    for msr in
        [0xC1, 0x186, 0x1D9, 0x38F, 0x4C1, 0x570, 0xC001_0000, 0xC001_0004, 0xC001_0201, 0xC001_1030, 0xC000_0300]
    {
        assert!(absent::pmu_or_trace(msr), "{msr:#x}");
    }
    for msr in [0x10, 0x1B, 0x277, 0x800, 0x830, 0xC000_0080, 0xC000_0100, 0xC001_0114, 0xC0FF_EE00] {
        assert!(!absent::pmu_or_trace(msr), "{msr:#x}");
    }
}

#[test]
fn cpuid_hides_counters_trace_rdpru_and_monitor() {
    let all = [u32::MAX; 4];
    assert_eq!(cpuid::filter(0xA, all, 0), [0; 4], "architectural performance monitoring");
    assert_eq!(cpuid::filter(0x14, all, 0), [0; 4], "processor trace");
    assert_eq!(cpuid::filter(0x8000_0022, all, 0), [0; 4], "PerfMonV2");
    assert_eq!(cpuid::filter(0x8000_001B, all, 0), [0; 4], "IBS");
    let leaf1 = cpuid::filter(1, all, 0);
    assert_eq!(leaf1[2] & (1 << 3 | 1 << 15), 0, "MONITOR, PDCM");
    assert_eq!(leaf1[3] & (1 << 21), 0, "debug store");
    assert_eq!(cpuid::filter(6, all, 0)[2] & 1, 0, "MPERF/APERF");
    assert_eq!(cpuid::filter(7, all, 0)[1] & (1 << 25), 0, "processor trace");
    let ext1 = cpuid::filter(0x8000_0001, all, 0)[2];
    for bit in [2, 10, 23, 24, 26, 27, 28] {
        assert_eq!(ext1 & (1 << bit), 0, "8000_0001h ECX bit {bit}");
    }
    assert_eq!(cpuid::filter(0x8000_0008, all, 0)[1] & (1 << 4), 0, "RDPRU");
}

#[test]
fn cache_flush_and_icebp_lengths_count_their_prefixes() {
    assert_eq!(insn::length_of(&[0x0F, 0x08, 0x90], Mode::Long64, &[0x0F, 0x08]), Some(2), "INVD");
    assert_eq!(insn::length_of(&[0xF3, 0x0F, 0x09], Mode::Long64, &[0x0F, 0x09]), Some(3), "WBNOINVD");
    assert_eq!(insn::length_of(&[0x66, 0x48, 0x0F, 0x09], Mode::Long64, &[0x0F, 0x09]), Some(4));
    assert_eq!(insn::length_of(&[0x48, 0x0F, 0x09], Mode::Protected32, &[0x0F, 0x09]), None, "DEC EAX in 32-bit code");
    assert_eq!(insn::length_of(&[0xF1], Mode::Protected32, &[0xF1]), Some(1), "ICEBP");
    assert_eq!(insn::length_of(&[0x0F], Mode::Long64, &[0x0F, 0x08]), None, "cut off");
    assert_eq!(insn::length_of(&[0x66; 15], Mode::Long64, &[0x0F, 0x08]), None, "prefixes only");
    assert_eq!(insn::length_of(&[], Mode::Long64, &[0xF1]), None);
}
