//! x86_64: AMD SVM (our vCPU, `svm_*.rs`) or VT-x (x86_vcpu through
//! axvm), chosen at boot by CPUID. SVM runs guests under QEMU's TCG; VT-x
//! builds and passes clippy, but a VT-x host refuses every VM (x86_vcpu
//! panics on guest input) until our own VMX vCPU lands.
//!
//! Files: `vcpu.rs` (the vCPU of either kind), `calls.rs` (VMMCALL),
//! `irq.rs` (host interrupts, CPU kicks), `irqchip.rs` (the virtual I/O
//! APIC), `msr.rs` (the host's MSRs), `svm.rs`
//! (SVM detection and per-CPU enabling), `svm_vcpu.rs` (the SVM vCPU;
//! `svm_vcpu/exits.rs` its exits, `svm_vcpu/guard.rs` those for what a
//! guest may not do on the host's CPU), `svm_switch.rs` (VMRUN), `svm_pages.rs`
//! (pages the CPU reads by physical address).

mod calls;
mod irq;
mod irqchip;
mod msr;
mod svm;
mod svm_pages;
mod svm_switch;
mod svm_vcpu;
mod vcpu;

use alloc::string::ToString;
use alloc::vec::Vec;

use axvmconfig::AxVMCrateConfig;

use super::{ArchOps, VcpuSetup};
use crate::hal::{DtbError, ForwardError, HardwareError, IrqSetupError, VcpuError};

/// The vector an SVM vCPU reports for a physical interrupt that ended its
/// run: the host took it already, through its own interrupt table.
pub const TAKEN_BY_HOST: usize = usize::MAX;

/// The x86_64 implementation of the arch contract.
pub struct Arch;

impl ArchOps for Arch {
    type Vcpu = vcpu::Vcpu;
    type IrqChip = irqchip::IoApicChip;
    type Uart = vuart::Ns16550;
    /// Vectors below 32 are exceptions.
    const FIRST_DEVICE_IRQ: usize = 32;
    /// 4-level nested page tables.
    const GUEST_PHYS_BITS: u32 = 48;
    /// COM1 is at I/O ports 0x3F8-0x3FF.
    const UART_ON_PORTS: bool = true;
    /// The SVM vCPU's nested page tables map RAM only.
    const SHARED_CHANNELS: bool = false;

    fn new_uart() -> Self::Uart {
        vuart::Ns16550::new()
    }

    /// COM1 is reached through I/O ports, not memory.
    fn console_uart() -> Option<(usize, usize)> {
        None
    }

    fn host_virtio_windows() -> Option<&'static [(usize, usize)]> {
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

    /// On VT-x, not yet: x86_vcpu 0.2.2 panics on guest exits it does not
    /// handle (an x2APIC write it refuses, an APIC access, a CR access),
    /// so a guest could take the host down.
    fn vms_supported() -> Result<(), &'static str> {
        if !svm::in_use() {
            return Err("a VT-x host runs no guests until our own VMX vCPU lands (x86_vcpu 0.2.2 panics on guest exits it does not handle)");
        }
        if !svm::enabled_here() {
            return Err("AMD SVM is not on for this CPU");
        }
        Ok(())
    }

    /// axvm's (VT-x) vCPUs report unmapped accesses as MMIO only; ours
    /// (SVM) report a first touch of RAM.
    fn ram_on_first_touch() -> bool {
        svm::in_use()
    }

    /// SVM vCPUs are ours; axvm's (VT-x) would fault on an SVM host.
    fn vcpus_from_axvm() -> bool {
        !svm::in_use()
    }

    fn init_host_interrupts() -> Result<(), IrqSetupError> {
        irq::init();
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
        if vector != TAKEN_BY_HOST {
            axhal::irq::irq_handler(vector);
        }
    }

    fn kick_cpu(pcpu: usize) {
        irq::kick_cpu(pcpu);
    }

    fn forward_device_irq(vm: usize, irq: usize) -> Result<(), ForwardError> {
        irq::forward(vm, irq)
    }

    fn release_device_irqs(_vm: usize) {}

    fn reenable_device_irqs(_vm: usize) {}

    /// x86 kernels take Multiboot information, not a device tree: it is
    /// built for `dtb_load_addr`, and its address reaches the kernel in EBX.
    fn generate_dtb(config: &AxVMCrateConfig, _ramdisk_size: Option<usize>) -> Result<Vec<u8>, DtbError> {
        let at = config.kernel.dtb_load_addr.unwrap_or(0) as u64;
        let ram: Vec<(u64, u64)> = config.kernel.memory_regions.iter().map(|r| (r.gpa as u64, r.size as u64)).collect();
        let cmdline = config.kernel.cmdline.as_deref().map(str::as_bytes);
        multiboot_info::build(at, &ram, cmdline).map_err(|e| DtbError::Placement(e.to_string()))
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

    /// SVM vCPUs see their VM's RAM unbacked through its RAM map.
    fn stage2_removed() {}

    /// The page-table crate maps execute permission itself here.
    fn forbid_execute(_stage2_root: axaddrspace::HostPhysAddr, _gpa: usize, _size: usize) -> usize {
        0
    }

    fn create_vcpus(setup: &VcpuSetup<'_>) -> Result<Vec<Self::Vcpu>, VcpuError> {
        vcpu::create(setup, svm::in_use())
    }
}
