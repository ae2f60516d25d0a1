//! x86_64: VT-x (compiled and unit-tested here; this machine has no VT-x to
//! run guests on).

use super::GuestRequest;

#[path = "../axvm_vcpu.rs"]
mod axvm_vcpu;
#[path = "../plain_irq.rs"]
mod plain_irq;
pub use axvm_vcpu::*;
pub use plain_irq::*;

/// Caches are coherent with instruction fetch and DMA here: nothing to do.
pub fn clean_dcache_range(_start: *const u8, _len: usize) {}

/// Fails unless the CPU offers VMX.
pub fn hardware_check() -> Result<(), &'static str> {
    if x86_vcpu::has_hardware_support() {
        Ok(())
    } else {
        Err("the CPU does not offer VT-x")
    }
}

/// APIC ids are vCPU ids in our x86 VMs.
pub fn vcpu_of_target(target: u64, placements: &[(usize, usize)]) -> Option<usize> {
    placements.iter().map(|(vcpu, _)| *vcpu).find(|v| *v as u64 == target)
}

/// VMCALL: no hypercalls are defined for x86 guests yet.
pub fn decode_hypercall(nr: u64, _args: [u64; 6], _placements: &[(usize, usize)]) -> GuestRequest {
    debug!("unknown VMCALL {nr:#x}: answered -ENOSYS");
    GuestRequest::Return((-38i64) as u64)
}

/// CPU status answers (not used by an x86 ABI yet).
pub const CPU_STATUS_ON: u64 = 0;
/// See [`CPU_STATUS_ON`].
pub const CPU_STATUS_OFF: u64 = 1;
/// See [`CPU_STATUS_ON`].
pub const CPU_STATUS_INVALID: u64 = (-1i64) as u64;
/// The answer to a CPU_ON / hart_start of a vCPU that is already on.
pub const CPU_ON_ALREADY_ON: u64 = (-1i64) as u64;

/// Nothing to set up per CPU.
pub fn init_this_cpu() {}

/// Hands a physical interrupt that made a vCPU exit to the host.
pub fn handle_host_irq(vector: usize) {
    axhal::irq::irq_handler(vector);
}

/// Nothing to clear between vCPUs.
pub fn vcpu_switch_this_cpu() {}

/// The vCPU crate injects the interrupt.
pub fn inject(vcpu: &GuestCpu, vector: usize, _priority: u8) -> bool {
    vcpu.inject_interrupt(vector).is_ok()
}

/// The first interrupt id a passthrough device's `irq_id` can name (vectors below 32 are exceptions.)
pub const FIRST_DEVICE_IRQ: usize = 32;
