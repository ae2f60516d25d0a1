//! aarch64: EL2 (non-VHE) with stage-2 translation and the GIC's virtual
//! CPU interface: GICv2, or GICv3 with the `gicv3` feature (`make GIC=3`).
//!
//! Files: `vcpu.rs` (our vCPUs, crate `a64-vcpu`, and which one each CPU
//! holds), `calls.rs` (PSCI, SMCCC and vendor calls, by HVC or SMC alike),
//! `irq.rs` (the host GIC: list registers, forwarded interrupts, kicks;
//! its registers in `gicv2.rs` or `gicv3.rs`), `irqchip.rs` or
//! `irqchip_v3.rs` (a VM's virtual GIC, with `vgic_state.rs` for the
//! pending and active registers both share); beside them `stage2.rs` (XN
//! in the stage-2 tables) and `cache.rs` (cache geometry, DC ZVA zeroing).

mod cache;
mod calls;
mod irq;
#[cfg_attr(feature = "gicv3", path = "irqchip_v3.rs")]
mod irqchip;
mod stage2;
mod vcpu;
mod vgic_state;

use alloc::vec::Vec;

use aarch64_cpu::registers::{CurrentEL, ID_AA64MMFR0_EL1, Readable};
use axvmconfig::{AxVMCrateConfig, EmulatedDeviceConfig};
use guest_fdt::{HostTree, Selection};

use super::{ArchOps, VcpuSetup};
use crate::hal::{DtbError, ForwardError, HardwareError, IrqSetupError, VcpuError};

/// The aarch64 implementation of the arch contract.
pub struct Arch;

impl ArchOps for Arch {
    type Vcpu = vcpu::Vcpu;
    type IrqChip = irqchip::VirtualGic;
    type Uart = vuart::Pl011;
    /// SPIs: ids below are SGIs and PPIs, private to a CPU.
    const FIRST_DEVICE_IRQ: usize = 32;
    /// 4-level stage 2 (VTCR_EL2.T0SZ = 16).
    const GUEST_PHYS_BITS: u32 = 48;
    /// QEMU virt's 32 virtio-mmio windows, SPIs 16 to 47.
    const VIRTIO_SLOTS: Option<vmconfig_check::VirtioSlots> =
        Some(vmconfig_check::VirtioSlots { base: 0x0a00_0000, stride: 0x200, count: 32, first_irq: 48 });

    fn new_uart() -> Self::Uart {
        vuart::Pl011::new()
    }

    fn console_uart() -> Option<(usize, usize)> {
        crate::hal::host_stdout_reg()
    }

    fn register_host_irq(irq: usize, handler: fn()) -> bool {
        irq::register_host_spi(irq, handler)
    }

    /// A GIC specifier: an SPI (type 0) is INTID 32 + its number.
    fn host_irq_of(cells: &[u32]) -> Option<usize> {
        match cells {
            [0, spi, _] => Some(*spi as usize + 32),
            _ => None,
        }
    }

    /// Fails unless we run at EL2 with enough physical-address bits for
    /// the 4-level stage-2 tables axaddrspace is built for.
    fn hardware_check() -> Result<(), HardwareError> {
        if CurrentEL.read(CurrentEL::EL) != 2 {
            return Err(HardwareError::NoVirtualization("not running at EL2 (QEMU needs -machine virtualization=on)"));
        }
        // The stage-2 tables are axaddrspace's 4-level ones (a 48-bit IPA
        // space, `a64-vcpu`'s VTCR); below 44 physical-address bits that
        // IPA size is not one the CPU is required to translate.
        if ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange) < 0b0100 {
            return Err(HardwareError::MissingFeature("44 physical-address bits for 4-level stage-2 tables"));
        }
        Ok(())
    }

    fn init_host_interrupts() -> Result<(), IrqSetupError> {
        irq::init()
    }

    fn init_this_cpu() {
        a64_vcpu::enable_this_cpu(|pa| axhal::mem::phys_to_virt((pa as usize).into()).as_usize() as u64);
        irq::init_this_cpu();
    }

    fn handle_host_irq(vector: usize) {
        axhal::irq::irq_handler(vector);
    }

    fn kick_cpu(pcpu: usize) {
        irq::kick_cpu(pcpu);
    }

    fn forward_device_irq(vm: usize, irq: usize) -> Result<(), ForwardError> {
        irq::forward_spi_to(irq, vm)
    }

    fn release_device_irqs(vm: usize) {
        irq::release_spis_of(vm);
    }

    fn reenable_device_irqs(vm: usize) {
        irq::reenable_spis_of(vm);
    }

    fn generate_dtb(config: &AxVMCrateConfig, ramdisk_size: Option<usize>) -> Result<Vec<u8>, DtbError> {
        guest_fdt::Machine::from_config(config, ramdisk_size, irq::GIC_VERSION)
            .and_then(|machine| guest_fdt::build(&machine))
            .map_err(DtbError::Build)
    }

    fn derive_dtb(
        config: &AxVMCrateConfig,
        ramdisk_size: Option<usize>,
        host: &HostTree<'_>,
        selection: &Selection<'_>,
    ) -> Result<Vec<u8>, DtbError> {
        guest_fdt::DerivedMachine::from_config(config, ramdisk_size)
            .and_then(|machine| guest_fdt::derive(host, &machine, selection))
            .map_err(DtbError::Build)
    }

    /// A virtual GIC of the host's version at the host GIC's addresses.
    fn passthrough_irqchip() -> Option<EmulatedDeviceConfig> {
        irq::host_irqchip_config()
    }

    /// Cleans the bytes from the data cache to the point of coherency, so
    /// a guest that starts with its MMU and caches off sees them.
    fn clean_dcache(bytes: &[u8]) {
        cache::clean(bytes);
    }

    /// WFI and WFE trap (HCR_EL2.TWI, TWE) while other vCPUs wait for
    /// this CPU.
    fn cpu_shared(shared: bool) {
        a64_vcpu::trap_wfi(shared);
    }

    fn zero_ram(bytes: &mut [u8]) {
        cache::zero_to_poc(bytes);
    }

    /// Stores to the tables reach the walkers before the guest runs
    /// again (the exception return is the synchronisation).
    fn stage2_added() {
        // SAFETY: a barrier has no memory-safety preconditions.
        unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
    }

    fn stage2_removed() {
        // SAFETY: invalidating EL1&0 translations of every VMID only drops
        // cached entries; the host (EL2) regime is not affected.
        unsafe { core::arch::asm!("dsb ishst", "tlbi alle1is", "dsb ish", "isb", options(nostack, preserves_flags)) };
    }

    fn create_vcpus(setup: &VcpuSetup<'_>) -> Result<Vec<Self::Vcpu>, VcpuError> {
        Ok(vcpu::create(setup))
    }

    /// axaddrspace 0.1.5 never sets a stage-2 descriptor's XN bit: set it
    /// on every leaf inside the range.
    fn forbid_execute(stage2_root: axaddrspace::HostPhysAddr, gpa: usize, size: usize) -> usize {
        stage2::forbid_execute(stage2_root.as_usize() as u64, gpa as u64, size as u64)
    }
}
