//! What the layers below ask of the VMM: axvm's `AxVMHal` and the
//! [`VmmServices`] the hardware-abstraction layer calls from interrupt
//! handlers and `axvisor_api`.

use axaddrspace::{HostPhysAddr, HostVirtAddr};
use axerrno::{AxError, AxResult};
use axvm::AxVMHal;

use crate::hal::arch::IrqChipOps;
use crate::hal::{self, VmmServices};

/// `AxVMHal` for axvm: time and addresses from the runtime, vCPUs from
/// the VMM.
pub struct VmHal;

impl AxVMHal for VmHal {
    type PagingHandler = crate::hal::arch::Stage2Frames;

    fn virt_to_phys(vaddr: HostVirtAddr) -> HostPhysAddr {
        axhal::mem::virt_to_phys(vaddr)
    }

    fn current_time_nanos() -> u64 {
        axhal::time::monotonic_time_nanos()
    }

    fn current_vm_id() -> usize {
        hal::current_vcpu().0
    }

    fn current_vcpu_id() -> usize {
        hal::current_vcpu().1
    }

    fn current_pcpu_id() -> usize {
        hal::this_cpu()
    }

    fn vcpu_resides_on(vm_id: usize, vcpu_id: usize) -> AxResult<usize> {
        super::find(vm_id).and_then(|vm| vm.placement(vcpu_id)).ok_or(AxError::NotFound)
    }

    fn inject_irq_to_vcpu(vm_id: usize, vcpu_id: usize, irq: usize) -> AxResult {
        let queued = super::find(vm_id).is_some_and(|vm| vm.queue_interrupt(vcpu_id, irq));
        if queued { Ok(()) } else { Err(AxError::NotFound) }
    }
}

/// The VMM's services, registered with the hardware-abstraction layer.
pub struct Services;

impl VmmServices for Services {
    fn vcpu_count(&self, vm: usize) -> Option<usize> {
        super::find(vm).map(|vm| vm.vcpus.len())
    }

    fn online_vcpus(&self, vm: usize) -> Option<usize> {
        super::find(vm).map(|vm| vm.online_vcpus())
    }

    fn queue_interrupt(&self, vm: usize, vcpu: usize, vector: usize) -> bool {
        super::find(vm).is_some_and(|vm| vm.queue_interrupt(vcpu, vector))
    }

    fn kick_vcpu(&self, vm: usize, vcpu: usize) {
        if let Some(target) = super::find(vm).as_ref().and_then(|vm| vm.vcpus.get(vcpu)) {
            target.irqs.wake();
        }
    }

    fn console_output(&self, vm: usize, bytes: &[u8]) {
        if let Some(vm) = super::find(vm) {
            vm.console.write(bytes);
        }
    }

    fn read_guest_ram(&self, vm: usize, gpa: u64, buf: &mut [u8]) -> bool {
        super::find(vm).is_some_and(|vm| vm.ram.lock().read(gpa, buf).is_ok())
    }

    /// Queues the interrupt for the vCPU the guest routed it to.
    fn device_interrupt(&self, vm: usize, irq: usize) -> bool {
        let Some(vm) = super::find(vm) else { return false };
        let (target, vector) = match &vm.irqchip {
            Some(chip) => match chip.device_irq_route(irq) {
                Some(route) => route,
                None => return false,
            },
            None => (0, irq),
        };
        vm.queue_interrupt(target, vector)
    }
}
