//! Guest calls through `hvc`/`smc` on Arm: PSCI power management
//! (DEN0022) and the hypervisor's own vendor-specific calls (SMCCC,
//! DEN0028), decoded from the function id in `x0` into [`GuestCall`].
//!
//! Pure logic, so it is unit-tested on the host; the aarch64 arch module
//! uses it to turn a hypercall exit into an architecture-neutral request.
#![no_std]
#![deny(unsafe_code)]

use exit_dispatch::{Answer, CallError, CpuPower};

/// PSCI version this hypervisor reports: 1.1.
pub const PSCI_VERSION_1_1: u64 = (1 << 16) | 1;

/// PSCI return codes (as 64-bit values of the signed 32-bit codes).
pub mod ret {
    /// Success.
    pub const SUCCESS: u64 = 0;
    /// Function not supported.
    pub const NOT_SUPPORTED: u64 = (-1i64) as u64;
    /// Invalid parameters.
    pub const INVALID_PARAMETERS: u64 = (-2i64) as u64;
    /// The caller may not do this.
    pub const DENIED: u64 = (-3i64) as u64;
    /// The target CPU is already on.
    pub const ALREADY_ON: u64 = (-4i64) as u64;
    /// The target CPU is being turned on.
    pub const ON_PENDING: u64 = (-5i64) as u64;
    /// The call failed for another reason.
    pub const INTERNAL_FAILURE: u64 = (-6i64) as u64;
    /// An address parameter is not valid for the caller.
    pub const INVALID_ADDRESS: u64 = (-9i64) as u64;
}

/// AFFINITY_INFO answers.
pub mod affinity {
    /// The CPU is on.
    pub const ON: u64 = 0;
    /// The CPU is off.
    pub const OFF: u64 = 1;
    /// The CPU is being turned on.
    pub const ON_PENDING: u64 = 2;
}

/// The value an answer to a PSCI or vendor call leaves in `x0`.
pub fn encode(answer: Answer) -> u64 {
    match answer {
        Answer::Value(value) => value,
        Answer::Status(CpuPower::On | CpuPower::Suspended) => affinity::ON,
        Answer::Status(CpuPower::Off) => affinity::OFF,
        Answer::Status(CpuPower::OnPending) => affinity::ON_PENDING,
        Answer::Error(error) => match error {
            CallError::NotSupported => ret::NOT_SUPPORTED,
            CallError::InvalidParameters => ret::INVALID_PARAMETERS,
            CallError::InvalidAddress => ret::INVALID_ADDRESS,
            CallError::AlreadyOn => ret::ALREADY_ON,
            CallError::OnPending => ret::ON_PENDING,
            CallError::Denied => ret::DENIED,
            CallError::Failed => ret::INTERNAL_FAILURE,
        },
    }
}

/// SMCCC_VERSION: the calling-convention version (1.1 here).
pub const SMCCC_VERSION: u64 = 0x8000_0000;
/// SMCCC_ARCH_FEATURES: whether an Arm architecture call is implemented.
pub const SMCCC_ARCH_FEATURES: u64 = 0x8000_0001;
/// The SMCCC version this hypervisor reports: 1.1.
pub const SMCCC_VERSION_1_1: u64 = 0x1_0001;
/// MIGRATE_INFO_TYPE answer: no Trusted OS, nothing to migrate.
pub const MIGRATE_INFO_NO_TRUSTED_OS: u64 = 2;

/// SMCCC vendor-specific hypervisor service range (64-bit calls), where the
/// hypervisor's own calls live.
pub const HV_CALL_BASE: u64 = 0xC600_0000;
/// Null call: returns 0, does nothing (used to measure the exit round trip).
pub const HV_CALL_NULL: u64 = HV_CALL_BASE;
/// Returns the hypervisor ABI version in `x0`.
pub const HV_CALL_VERSION: u64 = HV_CALL_BASE + 1;

/// Returns `x1 + x2 + x3` (wrapping) in `x0`: shows that arguments reach
/// the hypervisor and results reach the guest.
pub const HV_CALL_ADD: u64 = HV_CALL_BASE + 2;

/// Returns how many times this VM has booted: 1, then one more after each
/// reset the guest asked for.
pub const HV_CALL_BOOTS: u64 = HV_CALL_BASE + 3;

/// Rings the doorbell of the VM's shared-memory channel `x1` (its index
/// among the VM's channels): the channel's interrupt is raised in every
/// other running member. Returns how many were rung, or INVALID_PARAMETERS
/// (no such channel) / NOT_SUPPORTED (the VM has no channel).
pub const HV_CALL_DOORBELL: u64 = HV_CALL_BASE + 4;

/// Returns the state of channel `x1`'s other members: running peers in
/// bits 0..8, a generation that grows whenever a member boots, resets or
/// stops from bit 8 on; errors as [`HV_CALL_DOORBELL`].
pub const HV_CALL_CHANNEL_STATUS: u64 = HV_CALL_BASE + 5;

/// The hypervisor ABI version returned by [`HV_CALL_VERSION`].
pub const HV_ABI_VERSION: u64 = 1;

/// A decoded guest call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestCall {
    /// PSCI_VERSION.
    PsciVersion,
    /// PSCI_FEATURES for the given function id.
    PsciFeatures(u64),
    /// CPU_SUSPEND (answered as a standby that ends at once).
    CpuSuspend,
    /// MIGRATE_INFO_TYPE.
    MigrateInfoType,
    /// SMCCC_VERSION.
    SmcccVersion,
    /// SMCCC_ARCH_FEATURES for the given function id.
    SmcccArchFeatures(u64),
    /// CPU_ON: target MPIDR, entry point, context id.
    CpuOn {
        /// Target vCPU affinity (MPIDR).
        target: u64,
        /// Guest-physical entry point.
        entry: u64,
        /// Value for the target's `x0`.
        context: u64,
    },
    /// CPU_OFF.
    CpuOff,
    /// AFFINITY_INFO for an MPIDR.
    AffinityInfo(u64),
    /// SYSTEM_OFF.
    SystemOff,
    /// SYSTEM_RESET.
    SystemReset,
    /// The hypervisor's null call.
    HvNull,
    /// The hypervisor's ABI version query.
    HvVersion,
    /// The hypervisor's add call with its three operands.
    HvAdd([u64; 3]),
    /// The hypervisor's boot-count query.
    HvBoots,
    /// The hypervisor's doorbell call on a channel index.
    HvDoorbell(u64),
    /// The hypervisor's channel-status call on a channel index.
    HvChannelStatus(u64),
    /// Anything else: answered with NOT_SUPPORTED.
    Unknown(u64),
}

const PSCI_32: u64 = 0x8400_0000;
const PSCI_64: u64 = 0xC400_0000;

impl GuestCall {
    /// Decodes the function id in `x0` with its first arguments `x1..x3`.
    pub fn decode(x0: u64, args: [u64; 3]) -> Self {
        let [a1, a2, a3] = args;
        // Function ids are 32 bits wide; the upper half must be zero.
        if x0 >> 32 != 0 {
            return Self::Unknown(x0);
        }
        let psci_offset = match x0 {
            PSCI_32..=0x8400_001F => Some(x0 - PSCI_32),
            PSCI_64..=0xC400_001F => Some(x0 - PSCI_64),
            _ => None,
        };
        match (psci_offset, x0) {
            (Some(0x0), _) => Self::PsciVersion,
            (Some(0x1), _) => Self::CpuSuspend,
            (Some(0x6), _) => Self::MigrateInfoType,
            (Some(0x2), _) => Self::CpuOff,
            (Some(0x3), _) => Self::CpuOn {
                target: a1,
                entry: a2,
                context: a3,
            },
            (Some(0x4), _) => Self::AffinityInfo(a1),
            (Some(0x8), _) => Self::SystemOff,
            (Some(0x9), _) => Self::SystemReset,
            (Some(0xA), _) => Self::PsciFeatures(a1),
            (None, SMCCC_VERSION) => Self::SmcccVersion,
            (None, SMCCC_ARCH_FEATURES) => Self::SmcccArchFeatures(a1),
            (None, HV_CALL_NULL) => Self::HvNull,
            (None, HV_CALL_VERSION) => Self::HvVersion,
            (None, HV_CALL_ADD) => Self::HvAdd(args),
            (None, HV_CALL_BOOTS) => Self::HvBoots,
            (None, HV_CALL_DOORBELL) => Self::HvDoorbell(a1),
            (None, HV_CALL_CHANNEL_STATUS) => Self::HvChannelStatus(a1),
            _ => Self::Unknown(x0),
        }
    }

    /// PSCI_FEATURES answer for `function_id`: SUCCESS (0) when the call is
    /// implemented, NOT_SUPPORTED otherwise.
    pub fn features_of(function_id: u64) -> u64 {
        match Self::decode(function_id, [0; 3]) {
            Self::Unknown(_)
            | Self::HvNull
            | Self::HvVersion
            | Self::HvAdd(_)
            | Self::HvBoots
            | Self::HvDoorbell(_)
            | Self::HvChannelStatus(_)
            | Self::SmcccVersion
            | Self::SmcccArchFeatures(_) => ret::NOT_SUPPORTED,
            _ => ret::SUCCESS,
        }
    }

    /// SMCCC_ARCH_FEATURES answer for `function_id`: SUCCESS for the
    /// architecture calls implemented (SMCCC_VERSION, SMCCC_ARCH_FEATURES),
    /// NOT_SUPPORTED for the rest (no firmware workarounds are offered).
    pub fn arch_features_of(function_id: u64) -> u64 {
        match function_id {
            SMCCC_VERSION | SMCCC_ARCH_FEATURES => ret::SUCCESS,
            _ => ret::NOT_SUPPORTED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_psci_conventions() {
        assert_eq!(GuestCall::decode(0x8400_0000, [0; 3]), GuestCall::PsciVersion);
        assert_eq!(GuestCall::decode(0x8400_0008, [0; 3]), GuestCall::SystemOff);
        assert_eq!(GuestCall::decode(0x8400_0009, [0; 3]), GuestCall::SystemReset);
        assert_eq!(
            GuestCall::decode(0xC400_0003, [1, 0x4020_0000, 7]),
            GuestCall::CpuOn {
                target: 1,
                entry: 0x4020_0000,
                context: 7
            }
        );
        assert_eq!(GuestCall::decode(0x8400_000A, [0xC400_0003, 0, 0]), GuestCall::PsciFeatures(0xC400_0003));
    }

    #[test]
    fn hypervisor_calls_and_unknown_ids() {
        assert_eq!(GuestCall::decode(HV_CALL_NULL, [0; 3]), GuestCall::HvNull);
        assert_eq!(GuestCall::decode(HV_CALL_VERSION, [0; 3]), GuestCall::HvVersion);
        assert_eq!(GuestCall::decode(HV_CALL_ADD, [1, 2, 3]), GuestCall::HvAdd([1, 2, 3]));
        assert_eq!(GuestCall::decode(HV_CALL_BOOTS, [0; 3]), GuestCall::HvBoots);
        assert_eq!(GuestCall::decode(HV_CALL_DOORBELL, [2, 0, 0]), GuestCall::HvDoorbell(2));
        assert_eq!(GuestCall::decode(HV_CALL_CHANNEL_STATUS, [7, 0, 0]), GuestCall::HvChannelStatus(7));
        assert_eq!(GuestCall::decode(0xC600_00FF, [0; 3]), GuestCall::Unknown(0xC600_00FF));
        assert_eq!(GuestCall::decode(0x8400_001F, [0; 3]), GuestCall::Unknown(0x8400_001F));
        // Upper 32 bits set: not an SMCCC function id.
        assert_eq!(GuestCall::decode(0x1_8400_0008, [0; 3]), GuestCall::Unknown(0x1_8400_0008));
    }

    #[test]
    fn smccc_and_the_other_psci_calls() {
        assert_eq!(GuestCall::decode(SMCCC_VERSION, [0; 3]), GuestCall::SmcccVersion);
        assert_eq!(GuestCall::decode(SMCCC_ARCH_FEATURES, [0x8000_8000, 0, 0]), GuestCall::SmcccArchFeatures(0x8000_8000));
        assert_eq!(GuestCall::arch_features_of(0x8000_8000), ret::NOT_SUPPORTED); // ARCH_WORKAROUND_1
        assert_eq!(GuestCall::arch_features_of(SMCCC_VERSION), ret::SUCCESS);
        assert_eq!(GuestCall::decode(0xC400_0001, [0; 3]), GuestCall::CpuSuspend);
        assert_eq!(GuestCall::decode(0x8400_0006, [0; 3]), GuestCall::MigrateInfoType);
        assert_eq!(GuestCall::features_of(0xC400_0001), ret::SUCCESS);
        assert_eq!(GuestCall::features_of(SMCCC_VERSION), ret::NOT_SUPPORTED);
    }

    #[test]
    fn answers_use_the_psci_codes() {
        assert_eq!(encode(Answer::Value(0x1_0001)), 0x1_0001);
        assert_eq!(encode(Answer::Error(CallError::InvalidAddress)) as i64, -9);
        assert_eq!(encode(Answer::Error(CallError::InvalidParameters)) as i64, -2);
        assert_eq!(encode(Answer::Error(CallError::AlreadyOn)) as i64, -4);
        assert_eq!(encode(Answer::Error(CallError::OnPending)) as i64, -5);
        assert_eq!(encode(Answer::Error(CallError::NotSupported)) as i64, -1);
        assert_eq!(encode(Answer::Status(CpuPower::Off)), 1);
        assert_eq!(encode(Answer::Status(CpuPower::OnPending)), 2);
        assert_eq!(encode(Answer::Status(CpuPower::Suspended)), 0, "AFFINITY_INFO: a suspended CPU is on");
    }

    #[test]
    fn features_answer_matches_what_is_decoded() {
        assert_eq!(GuestCall::features_of(0xC400_0003), ret::SUCCESS);
        assert_eq!(GuestCall::features_of(0x8400_0008), ret::SUCCESS);
        assert_eq!(GuestCall::features_of(0x8400_0003), ret::SUCCESS); // CPU_ON (32-bit)
        assert_eq!(GuestCall::features_of(0x1234), ret::NOT_SUPPORTED);
        assert_eq!(ret::NOT_SUPPORTED as i64, -1);
    }
}
