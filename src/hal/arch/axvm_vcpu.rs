//! Guest CPUs as axvm creates them (arm_vcpu, x86_vcpu): the part of the
//! arch contract shared by the architectures that use axvm's vCPUs.

use alloc::vec::Vec;

use axvcpu::AxVCpuExitReason;

use crate::vmm::vm::Vm;

/// A guest CPU: axvm's vCPU.
pub struct GuestCpu(axvm::AxVCpuRef<crate::hal::VCpuHalImpl>);

// SAFETY: a vCPU is run, bound and written only by its own vCPU task; other
// tasks reach it only through the VM's queues (the same contract axvm's own
// VM type relies on when it shares its vCPU list).
unsafe impl Send for GuestCpu {}
// SAFETY: see `Send`.
unsafe impl Sync for GuestCpu {}

impl core::ops::Deref for GuestCpu {
    type Target = axvm::AxVCpuRef<crate::hal::VCpuHalImpl>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The VM's guest CPUs, in vCPU-id order.
pub fn create_vcpus(vm: &Vm, _entry: u64) -> Vec<GuestCpu> {
    vm.vcpu_list().iter().cloned().map(GuestCpu).collect()
}

/// Runs the guest until its next exit. The vCPU task bound this vCPU and
/// is the only one that runs it, so axvcpu's per-entry state bookkeeping
/// (a RefCell round trip and a per-CPU current-vCPU pointer nobody reads)
/// is left out of the exit path.
pub fn enter(vcpu: &GuestCpu) -> Result<AxVCpuExitReason, impl core::fmt::Debug> {
    use axvcpu::AxArchVCpu;
    vcpu.get_arch_vcpu().run()
}

/// Points a vCPU that is being started at `pc` with `arg` in its first
/// argument register.
pub fn prepare_start(vcpu: &GuestCpu, _vcpu_id: usize, pc: u64, arg: u64) -> Result<(), impl core::fmt::Debug> {
    vcpu.set_entry(axaddrspace::GuestPhysAddr::from(pc as usize))?;
    vcpu.set_return_value(arg as usize);
    Ok::<(), axerrno::AxError>(())
}

/// Answers a guest call: the value, or the error code, in the first
/// argument register.
pub fn set_call_result(vcpu: &GuestCpu, result: Result<u64, u64>) {
    let (Ok(value) | Err(value)) = result;
    vcpu.set_return_value(value as usize);
}

/// Guests program their own timer on these architectures.
#[allow(dead_code)] // only SBI guests (riscv64) ask the hypervisor
pub fn set_guest_timer(_vcpu: &GuestCpu, _deadline: u64) {}
