//! Guest calls on aarch64: PSCI, SMCCC and the hypervisor's vendor calls
//! (crate `psci`), made by HVC or SMC alike and all answered here: nothing
//! a guest calls reaches the firmware. CPUs are named by MPIDR affinity.

use exit_dispatch::{Answer, CallError, GuestRequest};
use psci::GuestCall;

use crate::hal::arch::CpuMap;

/// Maps a PSCI target (MPIDR affinity) to a vCPU id: a vCPU's MPIDR is
/// its id (Aff0; higher affinity levels zero), wherever it is placed.
pub fn vcpu_of_target(target: u64, cpus: &CpuMap) -> Option<usize> {
    if target & 0xff_00ff_ff00 != 0 {
        return None;
    }
    cpus.vcpu(target & 0xff)
}

/// Decodes a call (`nr` = x0, the function id; `args` = x1..x6).
pub fn decode(nr: u64, args: [u64; 6], cpus: &CpuMap) -> GuestRequest {
    match GuestCall::decode(nr, [args[0], args[1], args[2]]) {
        GuestCall::PsciVersion => GuestRequest::Return(psci::PSCI_VERSION_1_1),
        GuestCall::PsciFeatures(id) => GuestRequest::Return(GuestCall::features_of(id)),
        // A standby that ends at once is a valid CPU_SUSPEND.
        GuestCall::CpuSuspend => GuestRequest::Return(psci::ret::SUCCESS),
        GuestCall::MigrateInfoType => GuestRequest::Return(psci::MIGRATE_INFO_NO_TRUSTED_OS),
        GuestCall::SmcccVersion => GuestRequest::Return(psci::SMCCC_VERSION_1_1),
        GuestCall::SmcccArchFeatures(id) => GuestRequest::Return(GuestCall::arch_features_of(id)),
        GuestCall::CpuOn { target, entry, context } => {
            GuestRequest::CpuOn { target: vcpu_of_target(target, cpus), entry, arg: context }
        }
        GuestCall::CpuOff => GuestRequest::CpuOff,
        GuestCall::AffinityInfo(target) => GuestRequest::CpuStatus { target: vcpu_of_target(target, cpus) },
        GuestCall::SystemOff => GuestRequest::SystemOff,
        GuestCall::SystemReset => GuestRequest::SystemReset,
        GuestCall::HvNull => GuestRequest::Return(0),
        GuestCall::HvVersion => GuestRequest::Return(psci::HV_ABI_VERSION),
        GuestCall::HvAdd([a, b, c]) => GuestRequest::Return(a.wrapping_add(b).wrapping_add(c)),
        GuestCall::HvBoots => GuestRequest::BootCount,
        GuestCall::HvDoorbell(channel) => GuestRequest::Doorbell { channel },
        GuestCall::HvChannelStatus(channel) => GuestRequest::ChannelStatus { channel },
        GuestCall::Unknown(id) => {
            debug!("unknown hypercall {id:#x}: answered NOT_SUPPORTED");
            GuestRequest::Fail(CallError::NotSupported)
        }
    }
}

/// The value an answer leaves in `x0`.
pub fn encode(answer: Answer) -> u64 {
    psci::encode(answer)
}
