//! What this layer needs from the VMM above it, as a trait the VMM
//! implements and registers at start ([`register`]), and the
//! `axvisor_api` calls of the VM-management crates, answered from the
//! runtime or passed on to that registration.

use alloc::boxed::Box;

use axaddrspace::{HostPhysAddr, HostVirtAddr};
use memory_addr::PAGE_SIZE_4K;
use page_table_multiarch::PagingHandler;
use spin::Once;

use super::current;
use super::timer;

/// The VMM services interrupt handlers and the VM-management crates call.
/// Every method may run in interrupt context: no blocking, and only
/// interrupt-safe locks.
pub trait VmmServices: Sync {
    /// Number of vCPUs of VM `vm`.
    fn vcpu_count(&self, vm: usize) -> Option<usize>;
    /// Number of vCPUs of VM `vm` that are on.
    fn online_vcpus(&self, vm: usize) -> Option<usize>;
    /// Queues `vector` for a vCPU; false if there is no such vCPU.
    fn queue_interrupt(&self, vm: usize, vcpu: usize, vector: usize) -> bool;
    /// Wakes a vCPU that waits.
    fn kick_vcpu(&self, vm: usize, vcpu: usize);
    /// A physical interrupt `irq` forwarded to VM `vm` arrived.
    #[allow(dead_code, reason = "for architectures that forward device interrupts")]
    fn device_interrupt(&self, vm: usize, irq: usize) -> bool;
    /// Bytes VM `vm` wrote to its console through a call (SBI).
    #[allow(dead_code, reason = "for architectures whose guests write their console through calls")]
    fn console_output(&self, vm: usize, bytes: &[u8]);
    /// Copies VM `vm`'s RAM at guest-physical `gpa` into `buf` (a guest
    /// call's memory argument); false if that is not all RAM.
    #[allow(dead_code, reason = "for architectures whose calls pass memory")]
    fn read_guest_ram(&self, vm: usize, gpa: u64, buf: &mut [u8]) -> bool;
}

static SERVICES: Once<&'static dyn VmmServices> = Once::new();

/// Registers the VMM's services; once, before any VM exists.
pub fn register(services: &'static dyn VmmServices) {
    SERVICES.call_once(|| services);
}

/// The registered VMM services, if any.
pub fn services() -> Option<&'static dyn VmmServices> {
    SERVICES.get().copied()
}

type PagingHandlerImpl = axhal::paging::PagingHandlerImpl;

#[axvisor_api::api_mod_impl(axvisor_api::memory)]
mod memory_api_impl {
    use super::*;

    extern fn alloc_frame() -> Option<HostPhysAddr> {
        PagingHandlerImpl::alloc_frame()
    }

    extern fn alloc_contiguous_frames(num_frames: usize, frame_align_pow2: usize) -> Option<HostPhysAddr> {
        let align = PAGE_SIZE_4K.checked_shl(frame_align_pow2 as u32)?;
        PagingHandlerImpl::alloc_frames(num_frames, align)
    }

    extern fn dealloc_frame(addr: HostPhysAddr) {
        PagingHandlerImpl::dealloc_frame(addr)
    }

    extern fn dealloc_contiguous_frames(first_addr: HostPhysAddr, num_frames: usize) {
        PagingHandlerImpl::dealloc_frames(first_addr, num_frames)
    }

    extern fn phys_to_virt(addr: HostPhysAddr) -> HostVirtAddr {
        axhal::mem::phys_to_virt(addr)
    }

    extern fn virt_to_phys(addr: HostVirtAddr) -> HostPhysAddr {
        axhal::mem::virt_to_phys(addr)
    }
}

#[axvisor_api::api_mod_impl(axvisor_api::time)]
mod time_api_impl {
    use super::*;
    use axvisor_api::time::{CancelToken, Nanos, Ticks, TimeValue};

    extern fn current_ticks() -> Ticks {
        axhal::time::current_ticks()
    }

    extern fn ticks_to_nanos(ticks: Ticks) -> Nanos {
        axhal::time::ticks_to_nanos(ticks)
    }

    extern fn nanos_to_ticks(nanos: Nanos) -> Ticks {
        axhal::time::nanos_to_ticks(nanos)
    }

    extern fn register_timer(deadline: TimeValue, callback: Box<dyn FnOnce(TimeValue) + Send + 'static>) -> CancelToken {
        timer::register(deadline, callback)
    }

    extern fn cancel_timer(token: CancelToken) {
        timer::cancel(token)
    }
}

#[axvisor_api::api_mod_impl(axvisor_api::vmm)]
mod vmm_api_impl {
    use super::*;
    use axvisor_api::vmm::{InterruptVector, VCpuId, VMId};

    extern fn current_vm_id() -> VMId {
        current::ids().0
    }

    extern fn current_vcpu_id() -> VCpuId {
        current::ids().1
    }

    extern fn vcpu_num(vm_id: VMId) -> Option<usize> {
        services()?.vcpu_count(vm_id)
    }

    extern fn active_vcpus(vm_id: VMId) -> Option<usize> {
        services()?.online_vcpus(vm_id)
    }

    extern fn inject_interrupt(vm_id: VMId, vcpu_id: VCpuId, vector: InterruptVector) {
        if !services().is_some_and(|s| s.queue_interrupt(vm_id, vcpu_id, vector as usize)) {
            debug!("VM[{vm_id}] vCPU[{vcpu_id}]: interrupt {vector} dropped: no such vCPU");
        }
    }

    extern fn notify_vcpu_timer_expired(vm_id: VMId, vcpu_id: VCpuId) {
        if let Some(services) = services() {
            services.kick_vcpu(vm_id, vcpu_id);
        }
    }
}

#[axvisor_api::api_mod_impl(axvisor_api::host)]
mod host_api_impl {
    extern fn get_host_cpu_num() -> usize {
        axhal::cpu_num()
    }
}
