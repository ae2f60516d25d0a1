//! riscv64: HS-mode with the H extension. Guest CPUs are our own
//! (`rvh-vcpu`): SBI calls are answered here (crate `sbi-calls`), the
//! guest timer is the hardware `vstimecmp`, IPIs are VS software
//! interrupts raised through `hvip`.

#[path = "../irq_owners.rs"]
mod irq_owners;
mod plic;
mod vcpu;

pub use plic::{VirtualIrqChip, forward_device_irq, init_host_interrupts, is_irqchip, release_device_irqs};
pub use vcpu::*;

use sbi_calls::{SbiCall, error};

use super::{GuestRequest, Ipi};

/// The `hvip` bit of the VS software interrupt: what an SBI IPI raises.
const IPI_VECTOR: usize = 2;
/// ABI version of the hypervisor's own SBI extension.
const HV_ABI_VERSION: u64 = 1;

/// Caches are coherent with instruction fetch and DMA here: nothing to do.
pub fn clean_dcache_range(_start: *const u8, _len: usize) {}

/// Fails unless the hart implements the H extension.
pub fn hardware_check() -> Result<(), &'static str> {
    if riscv_vcpu::has_hardware_support() {
        Ok(())
    } else {
        Err("the CPU does not implement the H extension")
    }
}

/// Delegation, counters and Sstc for guests on this hart.
pub fn init_this_cpu() {
    if let Err(why) = rvh_vcpu::enable_this_hart() {
        panic!("cannot host guests on this hart: {why}");
    }
}

/// Generated device trees are Arm-only so far.
pub fn generate_dtb(
    _config: &axvmconfig::AxVMCrateConfig,
    _ramdisk_size: Option<usize>,
) -> Result<alloc::vec::Vec<u8>, &'static str> {
    Err("generating a device tree is not supported on riscv64 yet")
}

/// Interrupts physical hart `pcpu` (an SBI IPI the host takes as a
/// software interrupt) so that a vCPU running there exits and sees what
/// was queued for it.
pub fn kick_cpu(pcpu: usize) {
    let (eid, mask) = (sbi_calls::eid::IPI, 1u64 << (pcpu % 64));
    // SAFETY: an SBI call from HS-mode to the firmware; it clobbers a0, a1.
    unsafe {
        core::arch::asm!("ecall", inlateout("a0") mask => _, inlateout("a1") 0u64 => _,
            in("a6") 0u64, in("a7") eid, options(nostack));
    }
}

/// Hart ids are vCPU ids on riscv64.
pub fn vcpu_of_target(target: u64, placements: &[(usize, usize)]) -> Option<usize> {
    placements.iter().map(|(vcpu, _)| *vcpu).find(|v| *v as u64 == target)
}

fn hart_mask_targets(mask: sbi_calls::HartMask, placements: &[(usize, usize)]) -> u64 {
    placements.iter().filter(|(vcpu, _)| mask.contains(*vcpu as u64)).fold(0, |acc, (vcpu, _)| acc | (1 << vcpu))
}

/// Decodes an SBI call (`nr` = function id << 32 | extension id) into a
/// request; console output is written here.
pub fn decode_hypercall(nr: u64, args: [u64; 6], placements: &[(usize, usize)]) -> GuestRequest {
    let fail = |code: i64| GuestRequest::Fail(code as u64);
    match SbiCall::decode(nr & 0xffff_ffff, nr >> 32, args) {
        SbiCall::SetTimer(deadline) => GuestRequest::SetTimer(deadline),
        SbiCall::PutChar(byte) => {
            axhal::console::write_bytes(&[byte]);
            GuestRequest::Return(0)
        }
        SbiCall::GetChar => fail(error::FAILED),
        SbiCall::BaseInfo(fid) => GuestRequest::Return(SbiCall::base_info(fid, HV_ABI_VERSION)),
        SbiCall::ProbeExtension(eid) => GuestRequest::Return(u64::from(SbiCall::extension_available(eid))),
        SbiCall::SendIpi(mask) => {
            GuestRequest::SendIpi(Ipi { vector: IPI_VECTOR, targets: hart_mask_targets(mask, placements) })
        }
        SbiCall::RemoteFence(_) => {
            // Every vCPU of a VM flushes its guest TLB when it is bound;
            // one already running flushes here for itself.
            vcpu::flush_guest_tlb();
            GuestRequest::Return(0)
        }
        SbiCall::HartStart { hart, start, opaque } => match vcpu_of_target(hart, placements) {
            Some(vcpu) => GuestRequest::CpuOn { vcpu, entry: start, arg: opaque },
            None => fail(error::INVALID_PARAM),
        },
        SbiCall::HartStop => GuestRequest::CpuOff,
        SbiCall::HartStatus(hart) => GuestRequest::CpuStatus { vcpu: vcpu_of_target(hart, placements) },
        SbiCall::HartSuspend => fail(error::NOT_SUPPORTED),
        SbiCall::Shutdown => GuestRequest::SystemOff,
        SbiCall::Reboot => GuestRequest::SystemReset,
        SbiCall::HvNull => GuestRequest::Return(0),
        SbiCall::HvVersion => GuestRequest::Return(HV_ABI_VERSION),
        SbiCall::HvAdd([a, b, c]) => GuestRequest::Return(a.wrapping_add(b).wrapping_add(c)),
        SbiCall::Unknown { eid, fid } => {
            debug!("unknown SBI call {eid:#x}/{fid}: answered SBI_ERR_NOT_SUPPORTED");
            fail(error::NOT_SUPPORTED)
        }
    }
}

/// HSM hart status: started.
pub const CPU_STATUS_ON: u64 = sbi_calls::hart_state::STARTED;
/// HSM hart status: stopped.
pub const CPU_STATUS_OFF: u64 = sbi_calls::hart_state::STOPPED;
/// Invalid target.
pub const CPU_STATUS_INVALID: u64 = error::INVALID_PARAM as u64;
/// The answer to a hart_start of a hart that is already started.
pub const CPU_ON_ALREADY_ON: u64 = error::ALREADY_AVAILABLE as u64;

/// The first interrupt id a passthrough device's `irq_id` can name (PLIC sources: 0 means "no interrupt".)
pub const FIRST_DEVICE_IRQ: usize = 1;
