//! Host tests of the pure decoders.

use crate::esr::{self, DataAbort, FaultStatus, SysRegAccess, Trap};
use crate::insn::{self, LoadStore, Unsupported};

#[test]
fn wfi_wfe_hvc_smc() {
    assert_eq!(esr::decode(0x0400_0000), Trap::Wfx { wfe: false });
    assert_eq!(esr::decode(0x0400_0001), Trap::Wfx { wfe: true });
    assert_eq!(esr::decode(0x5a00_0000), Trap::Hvc);
    assert_eq!(esr::decode(0x5e00_0000), Trap::Smc);
}

#[test]
fn data_abort_with_syndrome() {
    // ISV, SAS = word, SRT = x3, SF = 0, WnR = 0, DFSC = translation L3.
    let esr = (0x24 << 26) | (1 << 25) | (1 << 24) | (2 << 22) | (3 << 16) | 0b00_0111;
    let Trap::DataAbort(da) = esr::decode(esr) else { panic!("not a data abort") };
    assert_eq!(
        da,
        DataAbort {
            isv: true,
            width: 4,
            sign_extend: false,
            rt: 3,
            reg64: false,
            write: false,
            cache_maintenance: false,
            s1ptw: false,
            dfsc: 7
        }
    );
    assert_eq!(FaultStatus::of(da.dfsc), FaultStatus::Translation);
    assert_eq!(FaultStatus::of(0b00_1101), FaultStatus::Permission);
    assert_eq!(FaultStatus::of(0b01_0000), FaultStatus::Other);
}

#[test]
fn sysreg_access_encoding_matches_its_fields() {
    // MRS x5, CNTP_TVAL_EL0: op0 3, op1 3, CRn 14, CRm 2, op2 0.
    let enc = SysRegAccess::encode(3, 3, 14, 2, 0);
    let esr = (0x18u64 << 26) | (1 << 25) | u64::from(enc) | (5 << 5) | 1;
    assert_eq!(esr::decode(esr), Trap::SysReg(SysRegAccess { read: true, encoding: enc, rt: 5 }));
}

#[test]
fn every_class_has_a_name_and_unknown_ones_are_other() {
    for ec in 0..64u8 {
        assert!(!esr::class_name(ec).is_empty());
    }
    assert_eq!(esr::decode(0x2f << 26), Trap::Other { ec: 0x2f });
    assert_eq!(esr::decode(0), Trap::Other { ec: 0 });
    assert_eq!(esr::class_name(0x20), "instruction abort from a lower level");
}

fn ok(insn: u32) -> LoadStore {
    insn::decode(insn).unwrap_or_else(|e| panic!("{insn:#010x}: {e:?}"))
}

#[test]
fn single_register_loads_and_stores() {
    // ldr w1, [x2]
    assert_eq!(ok(0xb940_0041), LoadStore { load: true, width: 4, rt: 1, signed: false, reg64: false, writeback: None });
    // str x3, [x4, #8]
    assert_eq!(ok(0xf900_0483), LoadStore { load: false, width: 8, rt: 3, signed: false, reg64: true, writeback: None });
    // strb w5, [x6]
    assert_eq!(ok(0x3900_00c5).width, 1);
    // ldrh w7, [x8]
    assert_eq!(ok(0x7940_0107), LoadStore { load: true, width: 2, rt: 7, signed: false, reg64: false, writeback: None });
    // ldrsb x9, [x10]
    assert_eq!(ok(0x3980_0149), LoadStore { load: true, width: 1, rt: 9, signed: true, reg64: true, writeback: None });
    // ldrsh w11, [x12]
    assert_eq!(ok(0x79c0_018b), LoadStore { load: true, width: 2, rt: 11, signed: true, reg64: false, writeback: None });
    // ldrsw x13, [x14]
    assert!(ok(0xb980_01cd).signed);
    // ldur w0, [x1, #-4]
    assert_eq!(ok(0xb85f_c020).writeback, None);
    // ldr w0, [x1, x2]
    assert_eq!(ok(0xb862_6820).width, 4);
}

#[test]
fn pre_and_post_index_write_the_base_back() {
    // ldr x0, [x1, #16]!
    assert_eq!(ok(0xf841_0c20).writeback, Some((1, 16)));
    // str w2, [x3], #-8
    assert_eq!(ok(0xb81f_8462).writeback, Some((3, -8)));
    // str x0, [sp, #-16]!
    assert_eq!(ok(0xf81f_0fe0).writeback, Some((31, -16)));
}

#[test]
fn what_cannot_be_emulated_is_named() {
    // ldp x0, x1, [x2]
    assert_eq!(insn::decode(0xa940_0440), Err(Unsupported("load/store pair (LDP/STP)")));
    // stp x0, x1, [sp, #-16]!
    assert_eq!(insn::decode(0xa9bf_07e0), Err(Unsupported("load/store pair (LDP/STP)")));
    // ldxr x0, [x1]
    assert_eq!(insn::decode(0xc85f_7c20), Err(Unsupported("exclusive or ordered load/store")));
    // ldr q0, [x0]
    assert_eq!(insn::decode(0x3dc0_0000), Err(Unsupported("SIMD/FP load or store")));
    // ldadd w0, w1, [x2]
    assert_eq!(insn::decode(0xb820_0041), Err(Unsupported("atomic memory operation")));
    // nop
    assert_eq!(insn::decode(0xd503_201f), Err(Unsupported("not a load or store")));
    // ldr x1, [x1], #8: writeback to the loaded register
    assert!(insn::decode(0xf840_8421).is_err());
    // prfm pldl1keep, [x0]
    assert_eq!(insn::decode(0xf980_0000), Err(Unsupported("prefetch (PRFM)")));
}

#[test]
fn no_word_makes_the_decoders_panic() {
    let mut x: u32 = 0x1234_5678;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let _ = insn::decode(x);
        let _ = esr::decode(u64::from(x) | (u64::from(x) << 32));
    }
}

mod sysreg {
    use crate::esr::SysRegAccess;
    use crate::sysreg::{self, Entry, EntryFeatures, Policy};

    fn enc(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> u32 {
        SysRegAccess::encode(op0, op1, crn, crm, op2)
    }

    #[test]
    fn pmu_registers_are_undefined() {
        for (name, e) in [
            ("PMCR_EL0", enc(3, 3, 9, 12, 0)),
            ("PMCCNTR_EL0", enc(3, 3, 9, 13, 0)),
            ("PMUSERENR_EL0", enc(3, 3, 9, 14, 0)),
            ("PMEVCNTR5_EL0", enc(3, 3, 14, 8, 5)),
            ("PMCCFILTR_EL0", enc(3, 3, 14, 15, 7)),
            ("PMINTENSET_EL1", enc(3, 0, 9, 14, 1)),
            ("PMSCR_EL1", enc(3, 0, 9, 9, 0)),
            ("TRFCR_EL1", enc(3, 0, 1, 2, 1)),
            ("TRCPRGCTLR", enc(2, 1, 0, 1, 0)),
        ] {
            assert_eq!(sysreg::policy(e), Some(Policy::Undefined), "{name}");
        }
    }

    #[test]
    fn debug_registers_read_as_zero() {
        for (name, e) in [
            ("MDSCR_EL1", enc(2, 0, 0, 2, 2)),
            ("DBGBVR0_EL1", enc(2, 0, 0, 0, 4)),
            ("DBGWCR15_EL1", enc(2, 0, 0, 15, 7)),
            ("OSLAR_EL1", enc(2, 0, 1, 0, 4)),
            ("MDRAR_EL1", enc(2, 0, 1, 0, 0)),
            ("MDCCSR_EL0", enc(2, 3, 0, 1, 0)),
            ("DBGCLAIMSET_EL1", enc(2, 0, 7, 8, 6)),
        ] {
            assert_eq!(sysreg::policy(e), Some(Policy::RazWi), "{name}");
            assert_eq!(sysreg::raz_value(e), 0, "{name}");
        }
        assert_eq!(sysreg::raz_value(enc(2, 0, 1, 1, 4)), 0b1000, "OSLSR_EL1: OS lock implemented, unlocked");
    }

    #[test]
    fn other_registers_are_not_ours() {
        // ICC_SGI1R_EL1, CNTP_TVAL_EL0, MIDR_EL1.
        for e in [enc(3, 0, 12, 11, 5), enc(3, 3, 14, 2, 0), enc(3, 0, 0, 0, 0)] {
            assert_eq!(sysreg::policy(e), None);
        }
        assert_eq!(sysreg::policy(enc(3, 0, 0, 5, 0)), Some(Policy::IdRegister));
    }

    #[test]
    fn id_registers_hide_pmu_profiling_and_trace() {
        // Cortex-A72's ID_AA64DFR0_EL1: PMUv3, 6 BRPs, 4 WRPs, 2 CTX_CMPs, v8 debug.
        let a72 = 0x1030_5106;
        let dfr0 = sysreg::guest_id_value(enc(3, 0, 0, 5, 0), a72);
        assert_eq!((dfr0 >> 8) & 0xf, 0, "PMUVer");
        assert_eq!((dfr0 >> 4) & 0xf, 0, "TraceVer");
        assert_eq!(dfr0 & 0xf, 6, "DebugVer kept");
        assert_eq!((dfr0 >> 12) & 0xf, 5, "BRPs kept");
        assert_eq!((dfr0 >> 20) & 0xf, 3, "WRPs kept");
        assert_eq!((dfr0 >> 28) & 0xf, 1, "CTX_CMPs kept");
        let everything = u64::MAX;
        let dfr0 = sysreg::guest_id_value(enc(3, 0, 0, 5, 0), everything);
        for shift in [4, 8, 32, 40, 44, 48, 52, 56, 60] {
            assert_eq!((dfr0 >> shift) & 0xf, 0, "field at bit {shift}");
        }
        let aa32 = sysreg::guest_id_value(enc(3, 0, 0, 1, 2), everything);
        assert_eq!((aa32 >> 24) & 0xf, 0, "ID_DFR0_EL1.PerfMon");
        assert_eq!(sysreg::guest_id_value(enc(3, 0, 0, 5, 1), everything), 0);
        // Others pass through.
        assert_eq!(sysreg::guest_id_value(enc(3, 0, 0, 7, 0), 0x1122), 0x1122);
    }

    #[test]
    fn mdcr_traps_what_exists() {
        // No PMU, no SPE, no trace filter: debug traps only.
        assert_eq!(sysreg::mdcr_el2(0x6, 0), 0xe00);
        // PMUv3 (v8.0) with 6 counters.
        assert_eq!(sysreg::mdcr_el2(0x1030_5106, 6), 0xe00 | 0x60 | 6);
        // PMUv3p4, SPE, TRF: HPMD, TPMS, TTRF too.
        let dfr0 = (1 << 40) | (1 << 32) | (5 << 8) | 6;
        assert_eq!(sysreg::mdcr_el2(dfr0, 31), 0xe00 | 0x60 | 31 | (1 << 14) | (1 << 17) | (1 << 19));
        // An IMPLEMENTATION DEFINED PMU (PMUVer 0xf) is not PMUv3.
        assert_eq!(sysreg::mdcr_el2(0xf06, 6), 0xe00);
    }

    #[test]
    fn undefined_goes_to_the_right_vector() {
        let none = EntryFeatures::default();
        // From EL1h, interrupts unmasked: the current-EL SP_ELx entry.
        let e = sysreg::undefined_entry(0x5, 0x4000_0800, 0, none);
        assert_eq!(e, Entry { pc: 0x4000_0a00, pstate: 0x3c5, esr: 1 << 25 });
        // EL1t, EL0.
        assert_eq!(sysreg::undefined_entry(0x4, 0x4000_0800, 0, none).pc, 0x4000_0800);
        assert_eq!(sysreg::undefined_entry(0x0, 0x4000_0800, 0, none).pc, 0x4000_0c00);
        // PAN set on entry unless SCTLR_EL1.SPAN; SSBS from DSSBS; DIT kept.
        let both = EntryFeatures { pan: true, ssbs: true };
        let e = sysreg::undefined_entry(0x5 | (1 << 24), 0, 1 << 44, both);
        assert_eq!(e.pstate, 0x3c5 | (1 << 22) | (1 << 12) | (1 << 24));
        let e = sysreg::undefined_entry(0x5, 0, 1 << 23, both);
        assert_eq!(e.pstate, 0x3c5);
    }
}
