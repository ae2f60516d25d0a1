//! aarch64: EL2 with stage-2 translation and a GICv2 virtual CPU interface.
//!
//! Offers the arch contract used by `hal` (`hardware_check`,
//! `decode_hypercall`, `vcpu_of_target`,
//! `clean_dcache_range`) and implements the
//! `axvisor_api::arch` calls that arm_vcpu and arm_vgic make.

#[path = "../axvm_vcpu.rs"]
mod axvm_vcpu;
mod gic;
#[path = "../irq_owners.rs"]
mod irq_owners;
mod vgic;

pub use axvm_vcpu::*;

pub use vgic::{VirtualIrqChip, is_irqchip};

use aarch64_cpu::registers::{CurrentEL, ID_AA64MMFR0_EL1, Readable};
use psci::{GuestCall, ret};

use super::GuestRequest;

/// Fails unless we run at EL2 with enough physical-address bits for the
/// 4-level stage-2 tables axaddrspace is built for.
pub fn hardware_check() -> Result<(), &'static str> {
    if CurrentEL.read(CurrentEL::EL) != 2 {
        return Err("not running at EL2 (QEMU needs -machine virtualization=on)");
    }
    // PARange >= 0b0011 (42 bits) is not enough: arm_vcpu picks 4-level
    // stage-2 tables only from 44 bits on.
    if ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange) < 0b0100 {
        return Err("fewer than 44 physical-address bits: 4-level stage-2 tables unavailable");
    }
    Ok(())
}

/// Finds the host GICv2 and installs the handlers that forward the guest
/// timer; once, before any VM exists.
pub fn init_host_interrupts() -> Result<(), &'static str> {
    gic::init()
}

/// Per-CPU interrupt setup, on each CPU after virtualization is enabled.
pub fn init_this_cpu() {
    gic::init_this_cpu();
}

/// A vCPU starts or stops running on this CPU: clear what the last one
/// left in the interrupt controller.
pub fn vcpu_switch_this_cpu() {
    gic::reset_this_cpu();
}

/// Hands a physical interrupt that made a vCPU exit to the host.
pub fn handle_host_irq(vector: usize) {
    axhal::irq::irq_handler(vector);
}

/// Forwards the physical interrupt `irq` of a passthrough device to VM
/// `vm_id`.
pub fn forward_device_irq(vm_id: usize, irq: usize) -> Result<(), &'static str> {
    gic::forward_spi_to(irq, vm_id)
}

/// Takes back what [`forward_device_irq`] gave a VM that stopped.
pub fn release_device_irqs(vm_id: usize) {
    gic::release_spis_of(vm_id);
}

/// Builds the device tree of a VM whose config asks for one.
pub fn generate_dtb(
    config: &axvmconfig::AxVMCrateConfig,
    ramdisk_size: Option<usize>,
) -> Result<alloc::vec::Vec<u8>, guest_fdt::FdtError> {
    guest_fdt::build(&guest_fdt::Machine::from_config(config, ramdisk_size)?)
}

/// Interrupts physical CPU `pcpu` so that it notices newly queued work.
pub fn kick_cpu(pcpu: usize) {
    gic::kick_cpu(pcpu);
}

/// Makes `vector` pending for the vCPU about to run on this CPU, at
/// `priority`; false if it must stay queued (no free list register).
pub fn inject(_vcpu: &GuestCpu, vector: usize, priority: u8) -> bool {
    gic::inject(vector, priority)
}

/// Cleans `[start, start + len)` from the data cache to the point of
/// coherency, so a guest that starts with its MMU and caches off sees the
/// image the hypervisor wrote through its cached mapping.
pub fn clean_dcache_range(start: *const u8, len: usize) {
    // Smallest line size the CPU may have; CTR_EL0 could say more, but a
    // smaller step only costs extra (harmless) cleans.
    const LINE: usize = 64;
    let begin = start as usize & !(LINE - 1);
    let end = start as usize + len;
    for line in (begin..end).step_by(LINE) {
        // SAFETY: `dc cvac` only writes back a cache line; the range lies in
        // memory the hypervisor owns and has mapped.
        unsafe { core::arch::asm!("dc cvac, {0}", in(reg) line, options(nostack, preserves_flags)) };
    }
    // SAFETY: a barrier has no memory-safety preconditions.
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Maps a PSCI target (MPIDR affinity) to a vCPU id, given each vCPU's
/// (vcpu id, physical CPU id) as axvm reports them: axvm gives each vCPU
/// the MPIDR of the physical CPU it is placed on.
pub fn vcpu_of_target(target: u64, placements: &[(usize, usize)]) -> Option<usize> {
    let affinity = (target & 0xff_00ff_ffff) as usize;
    placements.iter().find(|(_, pcpu)| *pcpu == affinity).map(|(vcpu, _)| *vcpu)
}

/// Decodes a hypercall exit (`x0` = function id) into a request.
/// PSCI CPU_ON/CPU_OFF/SYSTEM_OFF come as their own exits from arm_vcpu;
/// the ones decoded here are those it passes through.
pub fn decode_hypercall(nr: u64, args: [u64; 6], placements: &[(usize, usize)]) -> GuestRequest {
    match GuestCall::decode(nr, [args[0], args[1], args[2]]) {
        GuestCall::PsciVersion => GuestRequest::Return(psci::PSCI_VERSION_1_1),
        GuestCall::PsciFeatures(id) => GuestRequest::Return(GuestCall::features_of(id)),
        GuestCall::CpuOn { target, entry, context } => match vcpu_of_target(target, placements) {
            Some(vcpu) => GuestRequest::CpuOn { vcpu, entry, arg: context },
            None => GuestRequest::Return(ret::INVALID_PARAMETERS),
        },
        GuestCall::CpuOff => GuestRequest::CpuOff,
        GuestCall::AffinityInfo(target) => GuestRequest::CpuStatus {
            vcpu: vcpu_of_target(target, placements),
        },
        GuestCall::SystemOff => GuestRequest::SystemOff,
        GuestCall::SystemReset => GuestRequest::SystemReset,
        GuestCall::HvNull => GuestRequest::Return(0),
        GuestCall::HvVersion => GuestRequest::Return(psci::HV_ABI_VERSION),
        GuestCall::HvAdd([a, b, c]) => GuestRequest::Return(a.wrapping_add(b).wrapping_add(c)),
        GuestCall::Unknown(id) => {
            debug!("unknown hypercall {id:#x}: answered NOT_SUPPORTED");
            GuestRequest::Return(ret::NOT_SUPPORTED)
        }
    }
}

/// The answer to a CPU status query for a vCPU that is on / off.
pub const CPU_STATUS_ON: u64 = 0;
/// See [`CPU_STATUS_ON`].
pub const CPU_STATUS_OFF: u64 = 1;
/// The answer to a CPU status query for an unknown target.
pub const CPU_STATUS_INVALID: u64 = ret::INVALID_PARAMETERS;
/// The answer to a CPU_ON / hart_start of a vCPU that is already on.
pub const CPU_ON_ALREADY_ON: u64 = ret::ALREADY_ON;

/// The first interrupt id a passthrough device's `irq_id` can name (SPIs: ids below are SGIs and PPIs, private to a CPU.)
pub const FIRST_DEVICE_IRQ: usize = 32;
