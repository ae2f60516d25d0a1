//! Tests of the guest-visible CPU model: CPUID, the x2APIC, MSR passes.

use crate::cpuid;
use crate::setup::{SWITCHED_MSRS, guest_msr_map, intercept_all_msrs, pass_msr};
use crate::x2apic::{Destination, Ipi, Refused, Written, X2Apic};

#[test]
fn cpuid_hides_svm_and_vmx_and_shows_the_hypervisor_and_x2apic() {
    let host = [0x0006_0FB1, 0x0102_0800, 0xF6F8_3223 | (1 << 5), 0x078B_FBFF];
    let [_, ebx, ecx, edx] = cpuid::filter(1, host, 3);
    assert_eq!(ebx >> 24, 3, "initial APIC id is the vCPU's");
    assert_eq!(ecx & (1 << 5), 0, "VMX hidden");
    assert_eq!(ecx & (1 << 26 | 1 << 27), 0, "XSAVE hidden");
    assert_ne!(ecx & (1 << 21), 0, "x2APIC shown");
    assert_ne!(ecx & (1 << 31), 0, "hypervisor bit");
    assert_ne!(edx & (1 << 9), 0, "APIC");
    let ext = cpuid::filter(0x8000_0001, [0, 0, 0xFFFF_FFFF, 0], 0);
    assert_eq!(ext[2] & (1 << 2), 0, "SVM hidden");
    assert_eq!(cpuid::filter(0x8000_000A, [1, 2, 3, 4], 0), [0; 4]);
    let sig = cpuid::filter(0x4000_0000, [0; 4], 0);
    let mut bytes = std::vec::Vec::new();
    for word in &sig[1..] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    assert_eq!(&bytes[..], cpuid::SIGNATURE);
    assert_eq!(cpuid::filter(0, [0xD, 1, 2, 3], 0), [0xD, 1, 2, 3], "other leaves pass");
}

#[test]
fn apic_id_version_and_base_read_back_and_bad_writes_are_refused() {
    let mut apic = X2Apic::new(2);
    assert_eq!(apic.read(0x802, 0), Ok(2));
    assert_eq!(apic.read(0x803, 0).map(|v| v & 0xFF), Ok(0x14));
    assert_eq!(apic.apic_base() & (1 << 8), 0, "vCPU 2 is not the bootstrap processor");
    assert_eq!(X2Apic::new(0).apic_base() & (3 << 10 | 1 << 8), 3 << 10 | 1 << 8);
    assert_eq!(apic.set_apic_base(apic.apic_base()), Ok(()));
    assert_eq!(apic.set_apic_base(0xFEE0_0800), Err(Refused::BadWrite), "leaving x2APIC mode");
    assert_eq!(apic.write(0x802, 5, 0), Err(Refused::BadWrite), "the id is read-only");
    assert_eq!(apic.write(0x80F, 1 << 40, 0), Err(Refused::BadWrite), "bits above 31");
    assert_eq!(apic.read(0x80B, 0), Err(Refused::NoSuchRegister), "EOI is write-only");
    assert_eq!(apic.read(0x840, 0), Err(Refused::NoSuchRegister));
    assert_eq!(apic.write(0x7FF, 0, 0), Err(Refused::NoSuchRegister));
    assert_eq!(apic.write(0x80B, 0, 0), Ok(Written::Eoi));
    assert_eq!(apic.write(0x80F, 0x1FF, 0), Ok(Written::Stored));
    assert_eq!(apic.read(0x80F, 0), Ok(0x1FF));
}

#[test]
fn one_shot_timer_counts_down_fires_once_and_respects_the_mask() {
    let mut apic = X2Apic::new(0);
    assert_eq!(apic.timer_deadline(), None, "masked at reset");
    apic.write(0x83E, 0b1011, 0).unwrap(); // divide by 1
    apic.write(0x832, 0x40, 0).unwrap(); // vector 0x40, one-shot, unmasked
    assert_eq!(apic.write(0x838, 1000, 5000), Ok(Written::Timer));
    assert_eq!(apic.timer_deadline(), Some(6000));
    assert_eq!(apic.read(0x839, 5400), Ok(600));
    assert_eq!(apic.timer_fired(5999), None, "not yet");
    assert_eq!(apic.timer_fired(6000), Some(0x40));
    assert_eq!(apic.timer_deadline(), None, "a one-shot timer stops");
    assert_eq!(apic.read(0x839, 7000), Ok(0));
    apic.write(0x83E, 0b0001, 0).unwrap(); // divide by 4
    apic.write(0x838, 10, 0).unwrap();
    assert_eq!(apic.timer_deadline(), Some(40));
    apic.write(0x832, 0x40 | 1 << 16, 0).unwrap();
    assert_eq!(apic.timer_deadline(), None, "masked");
}

#[test]
fn periodic_timer_reloads() {
    let mut apic = X2Apic::new(0);
    apic.write(0x83E, 0b1011, 0).unwrap();
    apic.write(0x832, 0x20 | 1 << 17, 0).unwrap();
    apic.write(0x838, 100, 0).unwrap();
    assert_eq!(apic.timer_fired(100), Some(0x20));
    assert_eq!(apic.timer_deadline(), Some(200));
    assert_eq!(apic.read(0x839, 150), Ok(50));
}

#[test]
fn icr_writes_decode_fixed_init_and_startup_ipis() {
    let mut apic = X2Apic::new(0);
    let fixed = apic.write(0x830, (1u64 << 32) | 0x31, 0);
    assert_eq!(fixed, Ok(Written::Ipi(Ipi::Fixed { vector: 0x31, to: Destination::Apic(1) })));
    assert_eq!(apic.read(0x830, 0), Ok((1u64 << 32) | 0x31));
    let init = apic.write(0x830, (1u64 << 32) | 0x4500, 0);
    assert_eq!(init, Ok(Written::Ipi(Ipi::Init { to: Destination::Apic(1) })));
    assert_eq!(apic.write(0x830, (1u64 << 32) | 0x8500, 0), Ok(Written::Stored), "INIT de-assert sends nothing");
    let sipi = apic.write(0x830, (1u64 << 32) | 0x0608, 0);
    assert_eq!(sipi, Ok(Written::Ipi(Ipi::Startup { page: 8, to: Destination::Apic(1) })));
    let others = apic.write(0x830, 0xC0000 | 0x40, 0);
    assert_eq!(others, Ok(Written::Ipi(Ipi::Fixed { vector: 0x40, to: Destination::Others })));
    assert_eq!(apic.write(0x83F, 0x22, 0), Ok(Written::Ipi(Ipi::Fixed { vector: 0x22, to: Destination::ToSelf })));
}

#[test]
fn switched_msrs_pass_and_others_stay_intercepted() {
    let mut map = intercept_all_msrs();
    for msr in SWITCHED_MSRS {
        assert!(pass_msr(&mut map, msr));
    }
    // FS_BASE is C000_0100h: byte 0x800 + 0x100 / 4, bits 0-1.
    assert_eq!(map[0x840] & 0b11, 0);
    assert_eq!(map[0x840] & 0b1100, 0, "its neighbour, GS_BASE, is passed as well (bits 2-3)");
    assert_eq!(map[0x840] >> 6, 0b11, "C000_0103h (TSC_AUX) stays intercepted");
    // SYSENTER_CS is 174h: byte 0x174 / 4 = 0x5D, bits 0-1.
    assert_eq!(map[0x5D] & 0b11, 0);
    assert_eq!(map[0x1B / 4], 0xFF, "IA32_APIC_BASE's byte untouched");
    assert!(!pass_msr(&mut map, 0x4000_0000), "outside the map");
}

#[test]
fn the_guest_msr_map_passes_the_switched_msrs_only() {
    let mut expected = intercept_all_msrs();
    for msr in SWITCHED_MSRS {
        pass_msr(&mut expected, msr);
    }
    assert_eq!(guest_msr_map(), expected);
    assert_eq!(guest_msr_map().iter().filter(|&&b| b != 0xFF).count(), 4, "the ten passed MSRs share four bytes");
}
