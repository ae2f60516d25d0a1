//! x86_64: VT-x through x86_vcpu, or AMD SVM, chosen at boot by CPUID.
//! VT-x builds and passes clippy; no machine this project runs on offers
//! it, so no guest has run on it. SVM (QEMU's TCG emulates it) is enabled
//! on every CPU, but its vCPU is not wired in yet: VMs are refused.
//!
//! Files: `vcpu.rs` (x86_vcpu's vCPUs with our hooks), `calls.rs`
//! (VMCALL), `irq.rs` (host interrupts), `irqchip.rs` (none emulated yet),
//! `svm.rs` (SVM detection and per-CPU enabling).

mod calls;
mod irq;
mod irqchip;
mod svm;
mod vcpu;

use alloc::vec::Vec;

use axvmconfig::AxVMCrateConfig;

use super::{ArchOps, VcpuSetup, axvm_vcpu};
use crate::hal::{DtbError, ForwardError, HardwareError, IrqSetupError};

/// The x86_64 implementation of the arch contract.
pub struct Arch;

impl ArchOps for Arch {
    type Vcpu = vcpu::Vcpu;
    type IrqChip = irqchip::NoIrqChip;
    type Uart = vuart::Ns16550;
    /// Vectors below 32 are exceptions.
    const FIRST_DEVICE_IRQ: usize = 32;
    /// axvm's vCPUs report unmapped accesses as MMIO only.
    const RAM_ON_FIRST_TOUCH: bool = false;

    fn new_uart() -> Self::Uart {
        vuart::Ns16550::new()
    }

    /// COM1 is reached through I/O ports, not memory.
    fn console_uart() -> Option<(usize, usize)> {
        None
    }

    /// VT-x if the CPU offers it, else AMD SVM with nested paging.
    fn hardware_check() -> Result<(), HardwareError> {
        if x86_vcpu::has_hardware_support() {
            return Ok(());
        }
        svm::detect().map_err(HardwareError::NoVirtualization)
    }

    /// axvm's per-CPU state is x86_vcpu's VT-x root mode.
    fn per_cpu_via_axvm() -> bool {
        !svm::in_use()
    }

    fn vms_supported() -> Result<(), &'static str> {
        if !svm::in_use() {
            return Ok(());
        }
        if !svm::enabled_here() {
            return Err("AMD SVM is not on for this CPU");
        }
        Err("AMD SVM is on, but its vCPU (crate svm-vcpu) is not wired in yet: x86_64 guests run on VT-x hosts only")
    }

    fn init_host_interrupts() -> Result<(), IrqSetupError> {
        Ok(())
    }

    fn init_this_cpu() {
        if svm::in_use()
            && let Err(why) = svm::enable_this_cpu()
        {
            error!("CPU {}: {why}", axhal::percpu::this_cpu_id());
        }
    }


    fn handle_host_irq(vector: usize) {
        axhal::irq::irq_handler(vector);
    }

    /// No kick yet: the target sees its queue at its next exit.
    fn kick_cpu(_pcpu: usize) {}

    fn forward_device_irq(vm: usize, irq: usize) -> Result<(), ForwardError> {
        irq::forward(vm, irq)
    }

    fn release_device_irqs(_vm: usize) {}

    fn reenable_device_irqs(_vm: usize) {}

    fn generate_dtb(_config: &AxVMCrateConfig, _ramdisk_size: Option<usize>) -> Result<Vec<u8>, DtbError> {
        Err(DtbError::Unsupported)
    }

    /// Caches are coherent with instruction fetch and DMA here.
    fn clean_dcache(_bytes: &[u8]) {}

    /// The guest's WFI runs in the guest; the host tick still takes the
    /// CPU back for the other vCPUs.
    fn cpu_shared(_shared: bool) {}

    fn zero_ram(bytes: &mut [u8]) {
        bytes.fill(0);
    }

    /// RAM is backed at creation, before any vCPU runs.
    fn stage2_added() {}

    fn stage2_removed() {}

    /// The page-table crate maps execute permission itself here.
    fn forbid_execute(_stage2_root: axaddrspace::HostPhysAddr, _gpa: usize, _size: usize) -> usize {
        0
    }

    fn create_vcpus(setup: &VcpuSetup<'_>) -> Vec<Self::Vcpu> {
        axvm_vcpu::create(setup)
    }
}
