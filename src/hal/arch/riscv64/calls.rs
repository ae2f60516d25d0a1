//! Guest calls on riscv64: SBI (crate `sbi-calls`) answered by the
//! hypervisor, harts named by vCPU id.

use exit_dispatch::{CallError, GuestRequest, Ipi};
use sbi_calls::SbiCall;

use super::irqchip::IPI_VECTOR;
use crate::hal::arch::CpuMap;

/// ABI version of the hypervisor's own SBI extension.
const HV_ABI_VERSION: u64 = 1;

fn hart_mask_targets(mask: sbi_calls::HartMask, cpus: &CpuMap) -> u64 {
    (0..64).filter(|&hart| mask.contains(hart) && cpus.vcpu(hart).is_some()).fold(0, |acc, hart| acc | (1 << hart))
}

/// Decodes an SBI call (`eid`, `fid`, `a0..a5`); console output is written
/// here.
pub fn decode(eid: u64, fid: u64, args: [u64; 6], cpus: &CpuMap) -> GuestRequest {
    match SbiCall::decode(eid, fid, args) {
        SbiCall::SetTimer(deadline) => GuestRequest::SetTimer(deadline),
        SbiCall::PutChar(byte) => {
            axhal::console::write_bytes(&[byte]);
            GuestRequest::Return(0)
        }
        SbiCall::GetChar => GuestRequest::Fail(CallError::Failed),
        SbiCall::BaseInfo(fid) => GuestRequest::Return(SbiCall::base_info(fid, HV_ABI_VERSION)),
        SbiCall::ProbeExtension(eid) => GuestRequest::Return(u64::from(SbiCall::extension_available(eid))),
        SbiCall::SendIpi(mask) => {
            GuestRequest::SendIpi(Ipi { vector: IPI_VECTOR, targets: hart_mask_targets(mask, cpus) })
        }
        SbiCall::RemoteFence(_) => {
            // Every vCPU of a VM flushes its guest TLB when it is bound;
            // one already running flushes here for itself.
            rvh_vcpu::flush_guest_tlb();
            GuestRequest::Return(0)
        }
        SbiCall::HartStart { hart, start, opaque } => {
            GuestRequest::CpuOn { target: cpus.vcpu(hart), entry: start, arg: opaque }
        }
        SbiCall::HartStop => GuestRequest::CpuOff,
        SbiCall::HartStatus(hart) => GuestRequest::CpuStatus { target: cpus.vcpu(hart) },
        SbiCall::HartSuspend => GuestRequest::Fail(CallError::NotSupported),
        SbiCall::Shutdown => GuestRequest::SystemOff,
        SbiCall::Reboot => GuestRequest::SystemReset,
        SbiCall::HvNull => GuestRequest::Return(0),
        SbiCall::HvVersion => GuestRequest::Return(HV_ABI_VERSION),
        SbiCall::HvAdd([a, b, c]) => GuestRequest::Return(a.wrapping_add(b).wrapping_add(c)),
        SbiCall::HvBoots => GuestRequest::BootCount,
        SbiCall::Unknown { eid, fid } => {
            debug!("unknown SBI call {eid:#x}/{fid}: answered SBI_ERR_NOT_SUPPORTED");
            GuestRequest::Fail(CallError::NotSupported)
        }
    }
}
