//! Hardware abstraction: the glue between ArceOS (axhal, axalloc, axtask)
//! and the VM-management crates (axvm, axvcpu, axaddrspace, axvisor_api).
//!
//! Everything architecture-specific sits in the single [`arch`] module,
//! chosen here and nowhere else; each arch module offers the same names:
//! `hardware_check`, `init_host_interrupts`, `init_this_cpu`,
//! `vcpu_switch_this_cpu`, `inject`, `decode_hypercall`, `vcpu_of_target`,
//! `clean_dcache_range`, and the VM's `VirtualIrqChip` with `is_irqchip`.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicUsize, Ordering};

use axaddrspace::{HostPhysAddr, HostVirtAddr};
use axerrno::AxResult;
use axvcpu::AxVCpuHal;
use axvm::{AxVMHal, AxVMPerCpu};
use memory_addr::PAGE_SIZE_4K;
use page_table_multiarch::PagingHandler;

use crate::vmm;

#[cfg_attr(target_arch = "aarch64", path = "arch/aarch64/mod.rs")]
#[cfg_attr(target_arch = "riscv64", path = "arch/riscv64/mod.rs")]
#[cfg_attr(target_arch = "x86_64", path = "arch/x86_64/mod.rs")]
pub mod arch;

/// What a guest asked for with a hypercall, decoded by the arch module.
// Not every architecture's call interface asks for every kind.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestRequest {
    /// Answer the call with success and this value.
    Return(u64),
    /// Answer the call with this error code.
    Fail(u64),
    /// Program the calling vCPU's timer for this absolute time.
    SetTimer(u64),
    /// Raise an inter-processor interrupt on other vCPUs.
    SendIpi(Ipi),
    /// Start another vCPU of the same VM.
    CpuOn {
        /// Target vCPU id.
        vcpu: usize,
        /// Guest-physical entry point.
        entry: u64,
        /// Value for the target's first argument register.
        arg: u64,
    },
    /// Report whether a vCPU is running (0) or off (1).
    CpuStatus {
        /// Target vCPU id, if the target names one.
        vcpu: Option<usize>,
    },
    /// Stop the calling vCPU.
    CpuOff,
    /// Power the VM off.
    SystemOff,
    /// Reset the VM.
    SystemReset,
}

/// An inter-processor interrupt a guest raised through its interrupt
/// controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipi {
    /// Interrupt vector to raise.
    pub vector: usize,
    /// Target vCPUs, one bit per vCPU id.
    pub targets: u64,
}

/// Why a VM's virtual interrupt controller could not be set up.
// Not every architecture's controller maps anything into the guest.
#[allow(dead_code)]
#[derive(Debug)]
pub enum IrqChipError {
    /// The config entry is wrong.
    Config {
        /// Which part of the entry.
        field: &'static str,
        /// What is wrong with it.
        what: &'static str,
    },
    /// Mapping the controller's interface into the guest failed.
    Map(axerrno::AxError),
}

impl core::fmt::Display for IrqChipError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Config { field, what } => write!(f, "interrupt controller {field}: {what}"),
            Self::Map(e) => write!(f, "mapping the interrupt controller into the guest failed: {e:?}"),
        }
    }
}

type PagingHandlerImpl = axhal::paging::PagingHandlerImpl;

/// `AxVMHal` over ArceOS.
pub struct HalImpl;

impl AxVMHal for HalImpl {
    type PagingHandler = PagingHandlerImpl;

    fn virt_to_phys(vaddr: HostVirtAddr) -> HostPhysAddr {
        axhal::mem::virt_to_phys(vaddr)
    }

    fn current_time_nanos() -> u64 {
        axhal::time::monotonic_time_nanos()
    }

    fn current_vm_id() -> usize {
        vmm::current_vcpu().0
    }

    fn current_vcpu_id() -> usize {
        vmm::current_vcpu().1
    }

    fn current_pcpu_id() -> usize {
        axhal::percpu::this_cpu_id()
    }

    fn vcpu_resides_on(vm_id: usize, vcpu_id: usize) -> AxResult<usize> {
        vmm::vcpu_pcpu(vm_id, vcpu_id).ok_or(axerrno::AxError::NotFound)
    }

    fn inject_irq_to_vcpu(vm_id: usize, vcpu_id: usize, irq: usize) -> AxResult {
        vmm::queue_interrupt(vm_id, vcpu_id, irq)
    }
}

/// `AxVCpuHal` over ArceOS.
pub struct VCpuHalImpl;

impl AxVCpuHal for VCpuHalImpl {
    type MmHal = axvisor_api::memory::AxMmHalApiImpl;

    // An interrupt taken at EL2/HS/VMX-root while a vCPU task runs host code:
    // hand it to ArceOS (timer ticks, devices).
    fn irq_hanlder() {
        axhal::irq::irq_handler(0);
    }
}

#[percpu::def_percpu]
static VIRT_PER_CPU: AxVMPerCpu<VCpuHalImpl> = AxVMPerCpu::<VCpuHalImpl>::new_uninit();

/// Turns on hardware virtualization on every CPU, each from a task pinned
/// to that CPU, and returns when all of them are done.
pub fn enable_virtualization() {
    static ENABLED: AtomicUsize = AtomicUsize::new(0);
    if let Err(why) = arch::hardware_check() {
        panic!("this machine cannot host VMs: {why}");
    }
    if let Err(why) = arch::init_host_interrupts() {
        panic!("cannot virtualize the host interrupt controller: {why}");
    }
    let cpus = axhal::cpu_num();
    for cpu in 0..cpus {
        axtask::spawn_raw(
            move || {
                if !axtask::set_current_affinity(axtask::AxCpuMask::one_shot(cpu)) {
                    panic!("cannot pin the virtualization setup task to CPU {cpu}");
                }
                // SAFETY: this task is pinned to `cpu` and is the only code
                // touching this CPU's VIRT_PER_CPU, once, before any vCPU runs.
                let percpu = unsafe { VIRT_PER_CPU.current_ref_mut_raw() };
                percpu
                    .init(cpu)
                    .and_then(|_| percpu.hardware_enable())
                    .unwrap_or_else(|e| panic!("enabling virtualization on CPU {cpu}: {e:?}"));
                arch::init_this_cpu();
                axtask::register_timer_callback(|_| vmm::timer::fire_expired());
                ENABLED.fetch_add(1, Ordering::Release);
            },
            alloc::format!("virt-enable-{cpu}"),
            axconfig::TASK_STACK_SIZE,
        );
    }
    while ENABLED.load(Ordering::Acquire) < cpus {
        axtask::yield_now();
    }
    info!("hardware virtualization enabled on {cpus} CPU(s)");
}

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
        vmm::timer::register(deadline, callback)
    }

    extern fn cancel_timer(token: CancelToken) {
        vmm::timer::cancel(token)
    }
}

#[axvisor_api::api_mod_impl(axvisor_api::vmm)]
mod vmm_api_impl {
    use super::*;
    use axvisor_api::vmm::{InterruptVector, VCpuId, VMId};

    extern fn current_vm_id() -> VMId {
        vmm::current_vcpu().0
    }

    extern fn current_vcpu_id() -> VCpuId {
        vmm::current_vcpu().1
    }

    extern fn vcpu_num(vm_id: VMId) -> Option<usize> {
        vmm::vcpu_count(vm_id)
    }

    extern fn active_vcpus(vm_id: VMId) -> Option<usize> {
        vmm::online_vcpus(vm_id)
    }

    extern fn inject_interrupt(vm_id: VMId, vcpu_id: VCpuId, vector: InterruptVector) {
        if let Err(e) = vmm::queue_interrupt(vm_id, vcpu_id, vector as usize) {
            warn!("VM[{vm_id}] vCPU[{vcpu_id}]: interrupt {vector} dropped: {e:?}");
        }
    }

    extern fn notify_vcpu_timer_expired(vm_id: VMId, vcpu_id: VCpuId) {
        vmm::kick_vcpu(vm_id, vcpu_id);
    }
}

#[axvisor_api::api_mod_impl(axvisor_api::host)]
mod host_api_impl {
    extern fn get_host_cpu_num() -> usize {
        axhal::cpu_num()
    }
}
