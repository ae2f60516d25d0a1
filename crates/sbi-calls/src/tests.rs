use super::*;

#[test]
fn timer_calls_both_ways() {
    assert_eq!(SbiCall::decode(eid::LEGACY_SET_TIMER, 0, [123, 0, 0, 0, 0, 0]), SbiCall::SetTimer(123));
    assert_eq!(SbiCall::decode(eid::TIME, 0, [7, 0, 0, 0, 0, 0]), SbiCall::SetTimer(7));
    assert_eq!(SbiCall::decode(eid::TIME, 1, [7; 6]), SbiCall::Unknown { eid: eid::TIME, fid: 1 });
}

#[test]
fn hsm_and_reset() {
    assert_eq!(
        SbiCall::decode(eid::HSM, 0, [1, 0x8020_0000, 0x55, 0, 0, 0]),
        SbiCall::HartStart { hart: 1, start: 0x8020_0000, opaque: 0x55 }
    );
    assert_eq!(SbiCall::decode(eid::HSM, 1, [0; 6]), SbiCall::HartStop);
    assert_eq!(SbiCall::decode(eid::HSM, 2, [3, 0, 0, 0, 0, 0]), SbiCall::HartStatus(3));
    assert_eq!(
        SbiCall::decode(eid::HSM, 3, [0x8000_0000, 0x8020_0000, 7, 0, 0, 0]),
        SbiCall::HartSuspend { kind: 0x8000_0000, resume: 0x8020_0000, opaque: 7 }
    );
    assert_eq!(SbiCall::decode(eid::SRST, 0, [0; 6]), SbiCall::Shutdown);
    assert_eq!(SbiCall::decode(eid::SRST, 0, [2, 0, 0, 0, 0, 0]), SbiCall::Reboot);
    assert_eq!(SbiCall::decode(eid::SRST, 0, [9, 0, 0, 0, 0, 0]), SbiCall::Unknown { eid: eid::SRST, fid: 0 });
    assert_eq!(SbiCall::decode(eid::LEGACY_SHUTDOWN, 0, [0; 6]), SbiCall::Shutdown);
}

#[test]
fn base_answers() {
    assert_eq!(SbiCall::decode(eid::BASE, 3, [eid::HSM, 0, 0, 0, 0, 0]), SbiCall::ProbeExtension(eid::HSM));
    assert!(SbiCall::extension_available(eid::TIME));
    assert!(SbiCall::extension_available(eid::DBCN));
    assert!(!SbiCall::extension_available(0x4442_0000), "an undefined extension");
    assert_eq!(SbiCall::decode(eid::BASE, 0, [0; 6]), SbiCall::BaseInfo(0));
    assert_eq!(SbiCall::base_info(0, 1), 2 << 24);
    assert_eq!(SbiCall::base_info(2, 7), 7);
    assert_eq!(SbiCall::base_info(5, 7), 0);
    assert_eq!(SbiCall::decode(eid::BASE, 7, [0; 6]), SbiCall::Unknown { eid: eid::BASE, fid: 7 });
}

#[test]
fn hart_masks() {
    let call = SbiCall::decode(eid::IPI, 0, [0b101, 2, 0, 0, 0, 0]);
    let SbiCall::SendIpi(mask) = call else { panic!("not an IPI: {call:?}") };
    assert!(mask.contains(2) && mask.contains(4));
    assert!(!mask.contains(3) && !mask.contains(1) && !mask.contains(70));
    let all = HartMask { mask: 0, base: u64::MAX };
    assert!(all.contains(0) && all.contains(1000));
    assert!(matches!(SbiCall::decode(eid::RFENCE, 1, [1, 0, 0, 0, 0, 0]), SbiCall::RemoteFence(_)));
}

#[test]
fn hypervisor_calls_and_unknowns() {
    assert_eq!(SbiCall::decode(eid::HYPERVISOR, hv::NULL, [0; 6]), SbiCall::HvNull);
    assert_eq!(SbiCall::decode(eid::HYPERVISOR, hv::ADD, [1, 2, 3, 4, 5, 6]), SbiCall::HvAdd([1, 2, 3]));
    assert_eq!(SbiCall::decode(eid::HYPERVISOR, hv::DOORBELL, [2, 9, 9, 9, 9, 9]), SbiCall::HvDoorbell(2));
    assert_eq!(SbiCall::decode(eid::HYPERVISOR, hv::CHANNEL_STATUS, [7, 0, 0, 0, 0, 0]), SbiCall::HvChannelStatus(7));
    assert_eq!(SbiCall::decode(eid::HYPERVISOR, 9, [0; 6]), SbiCall::Unknown { eid: eid::HYPERVISOR, fid: 9 });
    assert_eq!(SbiCall::decode(eid::DBCN, 3, [0; 6]), SbiCall::Unknown { eid: eid::DBCN, fid: 3 });
}

#[test]
fn answers_use_the_sbi_codes() {
    use exit_dispatch::{Answer, CallError, CpuPower};
    assert_eq!(encode(Answer::Value(5)), (0, 5));
    assert_eq!(encode(Answer::Status(CpuPower::Off)), (0, hart_state::STOPPED));
    assert_eq!(encode(Answer::Status(CpuPower::OnPending)), (0, 2));
    assert_eq!(encode(Answer::Status(CpuPower::Suspended)), (0, 4), "hart_get_status: SUSPENDED");
    assert_eq!(encode(Answer::Error(CallError::InvalidAddress)).0 as i64, -5);
    assert_eq!(encode(Answer::Error(CallError::InvalidParameters)).0 as i64, -3);
    assert_eq!(encode(Answer::Error(CallError::AlreadyOn)).0 as i64, -6);
    assert_eq!(encode(Answer::Error(CallError::NotSupported)).0 as i64, -2);
}

#[test]
fn legacy_calls_decode_as_the_v0_1_specification_names_them() {
    let a = |a0| [a0, 0, 0, 0, 0, 0];
    assert_eq!(SbiCall::decode(0x00, 0, a(99)), SbiCall::SetTimer(99));
    assert_eq!(SbiCall::decode(0x01, 0, a(0x141)), SbiCall::PutChar(0x41), "only the low byte");
    assert_eq!(SbiCall::decode(0x02, 0, a(0)), SbiCall::GetChar);
    assert_eq!(SbiCall::decode(0x03, 0, a(0)), SbiCall::ClearIpi);
    assert_eq!(SbiCall::decode(0x04, 0, a(0x8000_1000)), SbiCall::LegacyMaskCall { mask_addr: 0x8000_1000, fence: false });
    for fence in 0x05..=0x07 {
        assert_eq!(SbiCall::decode(fence, 0, a(0x10)), SbiCall::LegacyMaskCall { mask_addr: 0x10, fence: true });
    }
    assert_eq!(SbiCall::decode(0x08, 0, a(0)), SbiCall::Shutdown);
    assert_eq!(SbiCall::decode(0x09, 0, a(0)), SbiCall::Unknown { eid: 0x09, fid: 0 }, "0x09 is not a legacy call");
    for legacy in 0x00..=0x08 {
        assert!(SbiCall::extension_available(legacy), "legacy extension {legacy:#x}");
    }
}

#[test]
fn debug_console_calls() {
    assert_eq!(
        SbiCall::decode(eid::DBCN, 0, [5, 0x8010_0000, 0x1, 0, 0, 0]),
        SbiCall::ConsoleWrite { len: 5, addr: 0x1_8010_0000 },
        "the address is base_lo | base_hi << 32"
    );
    assert_eq!(SbiCall::decode(eid::DBCN, 1, [5, 0, 0, 0, 0, 0]), SbiCall::ConsoleRead);
    assert_eq!(SbiCall::decode(eid::DBCN, 2, [0x1_0a, 0, 0, 0, 0, 0]), SbiCall::ConsoleWriteByte(0x0a));
}

#[test]
fn hart_mask_targets_refuse_harts_the_vm_lacks() {
    let mask = |mask, base| HartMask { mask, base };
    assert_eq!(mask(0b11, 0).targets(2), Ok(0b11));
    assert_eq!(mask(0b1, 1).targets(2), Ok(0b10));
    assert_eq!(mask(0, 0).targets(2), Ok(0), "an empty mask names nobody");
    assert_eq!(mask(0, u64::MAX).targets(3), Ok(0b111), "base -1: every hart");
    assert_eq!(mask(0b100, 0).targets(2), Err(NoSuchHart(2)));
    assert_eq!(mask(1 << 40, 0).targets(2), Err(NoSuchHart(40)));
    assert_eq!(mask(0b1, 5).targets(2), Err(NoSuchHart(5)), "a base past the last hart");
    assert_eq!(mask(0b10, u64::MAX - 1).targets(2), Err(NoSuchHart(u64::MAX)), "base + bit overflows");
    assert_eq!(mask(u64::MAX, 0).targets(64), Ok(u64::MAX));
}

#[test]
fn suspend_types_as_the_hsm_table_gives_them() {
    assert_eq!(SuspendKind::of(0), SuspendKind::Retentive);
    assert_eq!(SuspendKind::of(0x8000_0000), SuspendKind::NonRetentive);
    for reserved in [1, 0x0fff_ffff, 0x8000_0001, 0x8fff_ffff, 0xffff_ffff_0000_0001] {
        assert_eq!(SuspendKind::of(reserved), SuspendKind::Reserved, "{reserved:#x}");
    }
    // Bits above 31 are ignored (suspend_type is 32 bits wide).
    assert_eq!(SuspendKind::of(0x1_0000_0000), SuspendKind::Retentive);
    assert_eq!(SuspendKind::of(0xffff_ffff_0000_0000), SuspendKind::Retentive);
    assert_eq!(SuspendKind::of(0xffff_ffff_8000_0000), SuspendKind::NonRetentive);
    for platform in [0x1000_0000, 0x7fff_ffff, 0x9000_0000, 0xffff_ffff, u64::MAX] {
        assert_eq!(SuspendKind::of(platform), SuspendKind::PlatformSpecific, "{platform:#x}");
    }
}
