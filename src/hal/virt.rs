//! Hardware virtualization on every CPU, and the vCPU HAL axvcpu needs.

use core::sync::atomic::{AtomicUsize, Ordering};

use axvcpu::AxVCpuHal;
use axvm::AxVMPerCpu;

use super::arch::{Arch, ArchOps};
use super::{StartError, timer};

/// `AxVCpuHal` over ArceOS.
pub struct VcpuHal;

impl AxVCpuHal for VcpuHal {
    type MmHal = axvisor_api::memory::AxMmHalApiImpl;

    // An interrupt taken at EL2/HS/VMX-root while a vCPU task runs host code:
    // hand it to ArceOS (timer ticks, devices).
    fn irq_hanlder() {
        axhal::irq::irq_handler(0);
    }
}

/// A vCPU as axvm creates it.
pub type AxvmVcpuRef = axvm::AxVCpuRef<VcpuHal>;

#[percpu::def_percpu]
static VIRT_PER_CPU: AxVMPerCpu<VcpuHal> = AxVMPerCpu::<VcpuHal>::new_uninit();

/// Turns on hardware virtualization on every CPU, each from a task pinned
/// to that CPU, and returns when all of them are done. Without it no VM
/// can run: the error says why, and the hypervisor stops.
pub fn enable_virtualization() -> Result<(), StartError> {
    static ENABLED: AtomicUsize = AtomicUsize::new(0);
    Arch::hardware_check().map_err(StartError::Hardware)?;
    Arch::init_host_interrupts().map_err(StartError::Interrupts)?;
    let cpus = axhal::cpu_num();
    for cpu in 0..cpus {
        axtask::spawn_raw(
            move || {
                if !axtask::set_current_affinity(axtask::AxCpuMask::one_shot(cpu)) {
                    panic!("cannot pin the virtualization setup task to CPU {cpu}");
                }
                if Arch::per_cpu_via_axvm() {
                    // SAFETY: this task is pinned to `cpu` and is the only
                    // code touching this CPU's VIRT_PER_CPU, once, before any
                    // vCPU runs.
                    let percpu = unsafe { VIRT_PER_CPU.current_ref_mut_raw() };
                    percpu
                        .init(cpu)
                        .and_then(|_| percpu.hardware_enable())
                        .unwrap_or_else(|e| panic!("enabling virtualization on CPU {cpu}: {e:?}"));
                }
                Arch::init_this_cpu();
                axtask::register_timer_callback(|_| timer::fire_expired());
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
    Ok(())
}
