//! x86_64: VT-x through x86_vcpu. It builds and passes clippy here; no
//! machine this project runs on offers VT-x, so no guest has run on it.
//!
//! Files: `vcpu.rs` (x86_vcpu's vCPUs with our hooks), `calls.rs`
//! (VMCALL), `irq.rs` (host interrupts), `irqchip.rs` (none emulated yet).

mod calls;
mod irq;
mod irqchip;
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

    fn hardware_check() -> Result<(), HardwareError> {
        if x86_vcpu::has_hardware_support() {
            Ok(())
        } else {
            Err(HardwareError::NoVirtualization("the CPU does not offer VT-x"))
        }
    }

    fn init_host_interrupts() -> Result<(), IrqSetupError> {
        Ok(())
    }

    fn init_this_cpu() {}


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
