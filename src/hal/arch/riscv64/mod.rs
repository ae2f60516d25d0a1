//! riscv64: HS-mode with the H extension (run path comes with the riscv64
//! issue; this module already offers the arch contract so the VMM builds).

use super::GuestRequest;

#[path = "../plain_irq.rs"]
mod plain_irq;
pub use plain_irq::*;

/// SBI error code for calls that are not implemented.
const SBI_ERR_NOT_SUPPORTED: u64 = (-2i64) as u64;

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

/// Hart ids are vCPU ids on riscv64.
pub fn vcpu_of_target(target: u64, placements: &[(usize, usize)]) -> Option<usize> {
    placements.iter().map(|(vcpu, _)| *vcpu).find(|v| *v as u64 == target)
}

/// riscv_vcpu handles the SBI calls it knows; what reaches here is unknown.
pub fn decode_hypercall(nr: u64, _args: [u64; 6], _placements: &[(usize, usize)]) -> GuestRequest {
    debug!("unknown SBI call {nr:#x}: answered SBI_ERR_NOT_SUPPORTED");
    GuestRequest::Return(SBI_ERR_NOT_SUPPORTED)
}

/// HSM hart status: started.
pub const CPU_STATUS_ON: u64 = 0;
/// HSM hart status: stopped.
pub const CPU_STATUS_OFF: u64 = 1;
/// Invalid target.
pub const CPU_STATUS_INVALID: u64 = (-3i64) as u64;
/// The answer to a CPU_ON / hart_start of a vCPU that is already on.
pub const CPU_ON_ALREADY_ON: u64 = (-7i64) as u64;
