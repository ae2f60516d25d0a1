//! riscv64: HS-mode with the H extension. Guest harts are our own
//! (`rvh-vcpu`); SBI calls are answered here (crate `sbi-calls`), the
//! guest timer is the hardware `vstimecmp`, IPIs are VS software
//! interrupts raised through `hvip`.
//!
//! Files: `vcpu.rs` (the guest hart), `calls.rs` (SBI), `irq.rs` (the
//! host PLIC: forwarded sources, kicks), `irqchip.rs` (a VM's virtual PLIC),
//! `stage2.rs` (the Sv39x4 root of a VM's stage-2 tables).

mod calls;
mod irq;
mod irqchip;
mod stage2;
mod vcpu;

pub use stage2::Stage2Frames;

use alloc::vec::Vec;

use axvmconfig::AxVMCrateConfig;

use super::{ArchOps, VcpuSetup};
use crate::hal::{DtbError, ForwardError, HardwareError, IrqSetupError, VcpuError};

/// The riscv64 implementation of the arch contract.
pub struct Arch;

impl ArchOps for Arch {
    type Vcpu = vcpu::Vcpu;
    type IrqChip = irqchip::VirtualPlic;
    type Uart = vuart::Ns16550;
    /// PLIC sources: 0 means "no interrupt".
    const FIRST_DEVICE_IRQ: usize = 1;
    /// axaddrspace's Sv39 walk indexes 39 bits (hgatp's Sv39x4 would take 41).
    const GUEST_PHYS_BITS: u32 = 39;
    /// QEMU virt's 8 virtio-mmio windows, PLIC sources 1 to 8.
    const VIRTIO_SLOTS: Option<vmconfig_check::VirtioSlots> =
        Some(vmconfig_check::VirtioSlots { base: 0x1000_1000, stride: 0x1000, count: 8, first_irq: 1 });

    fn new_uart() -> Self::Uart {
        vuart::Ns16550::new()
    }

    fn console_uart() -> Option<(usize, usize)> {
        crate::hal::host_stdout_reg()
    }

    /// The platform config's virtio-mmio windows (QEMU virt's eight).
    fn host_virtio_windows() -> Option<&'static [(usize, usize)]> {
        Some(axconfig::devices::VIRTIO_MMIO_RANGES)
    }

    /// A PLIC specifier: the source number.
    fn host_irq_of(cells: &[u32]) -> Option<usize> {
        match cells {
            [source] if *source > 0 => Some(*source as usize),
            _ => None,
        }
    }

    fn hardware_check() -> Result<(), HardwareError> {
        if riscv_vcpu::has_hardware_support() {
            Ok(())
        } else {
            Err(HardwareError::NoVirtualization("the CPU does not implement the H extension"))
        }
    }

    fn init_host_interrupts() -> Result<(), IrqSetupError> {
        irq::init()
    }

    /// Delegation, counters and Sstc for guests on this hart.
    fn init_this_cpu() {
        if let Err(why) = rvh_vcpu::enable_this_hart() {
            panic!("cannot host guests on this hart: {why}");
        }
    }


    /// The host handles the interrupt that ended the run, then unmasks.
    fn handle_host_irq(vector: usize) {
        axhal::irq::irq_handler(vector);
        // SAFETY: the interrupt that was pending has been handled; unmasking
        // returns the host to its normal state.
        unsafe { core::arch::asm!("csrsi sstatus, 2", options(nomem, nostack)) };
    }

    fn kick_cpu(pcpu: usize) {
        irq::kick_hart(pcpu);
    }

    fn forward_device_irq(vm: usize, irq: usize) -> Result<(), ForwardError> {
        irq::forward_source_to(irq, vm)
    }

    fn release_device_irqs(vm: usize) {
        irq::release_sources_of(vm);
    }

    fn reenable_device_irqs(vm: usize) {
        irq::reenable_sources_of(vm);
    }

    /// QEMU virt's machine: harts with the extensions guests get (no
    /// vector unit: its registers are not switched), the virtual PLIC, the
    /// UART, the host's time base.
    fn generate_dtb(config: &AxVMCrateConfig, ramdisk_size: Option<usize>) -> Result<Vec<u8>, DtbError> {
        let timebase = axconfig::devices::TIMER_FREQUENCY as u32;
        guest_fdt::RiscvMachine::from_config(config, ramdisk_size, GUEST_ISA, timebase)
            .and_then(|machine| guest_fdt::build_riscv(&machine))
            .map_err(DtbError::Build)
    }

    /// Caches are coherent with instruction fetch and DMA here.
    fn clean_dcache(_bytes: &[u8]) {}

    /// A block per `cbo.zero` where the harts have Zicboz, else stores.
    /// WFI traps (`hstatus.VTW`) while other vCPUs wait for this CPU.
    fn cpu_shared(shared: bool) {
        WFI_TRAPS.write_current(shared);
    }

    fn zero_ram(bytes: &mut [u8]) {
        let Some(block) = cboz_block() else {
            bytes.fill(0);
            return;
        };
        let (head, body, tail) = super::split_for_blocks(bytes, block, 8 * block);
        if !body.is_empty() {
            let base = body.as_mut_ptr() as usize;
            // SAFETY: `[base, base + body.len())` is block-aligned, a multiple
            // of eight blocks, and lies in `body`, which we borrow mutably;
            // each `cbo.zero` (encoded with `.insn`) zeroes one block of it.
            unsafe {
                core::arch::asm!(
                    "2:",
                    ".rept 8",
                    ".insn i 0x0f, 2, x0, {p}, 4", "add {p}, {p}, {b}",
                    ".endr",
                    "bltu {p}, {end}, 2b",
                    p = inout(reg) base => _,
                    b = in(reg) block,
                    end = in(reg) base + body.len(),
                    options(nostack),
                );
            }
        }
        head.fill(0);
        tail.fill(0);
    }

    /// G-stage walks are not ordered with stores without a fence, and a
    /// hart may have cached the old (invalid) entry: both on every change.
    fn stage2_added() {
        rvh_vcpu::flush_stage2();
    }

    fn stage2_removed() {
        rvh_vcpu::flush_stage2();
    }

    /// The page-table crate maps execute permission itself here.
    fn forbid_execute(_stage2_root: axaddrspace::HostPhysAddr, _gpa: usize, _size: usize) -> usize {
        0
    }

    /// The root axvm's address space gets is an Sv39x4 one (`stage2`).
    fn new_address_space<R>(create: impl FnOnce() -> R) -> R {
        stage2::new_address_space(create)
    }

    /// Refused unless the stage-2 root is an Sv39x4 one: a 4 KiB root would
    /// let the walk of a guest-physical address at or above 2^39 read host
    /// memory as page-table entries.
    fn create_vcpus(setup: &VcpuSetup<'_>) -> Result<Vec<Self::Vcpu>, VcpuError> {
        if !stage2::is_sv39x4_root(setup.stage2_root) {
            return Err(VcpuError::Create(axerrno::AxErrorKind::BadState));
        }
        Ok(vcpu::create(setup))
    }
}

/// The ISA a guest's device tree gives its harts: what every hart here has
/// (Sstc is required) and a vCPU switch keeps.
const GUEST_ISA: &str = "rv64imafdc_zicsr_zifencei_sstc";

/// Whether the guests' WFI traps on this hart (its CPU is shared).
#[percpu::def_percpu]
static WFI_TRAPS: bool = false;

fn wfi_traps() -> bool {
    WFI_TRAPS.read_current()
}

/// The block `cbo.zero` zeroes, when the device tree says the harts have
/// Zicboz (the firmware then lets S-mode use it), else `None` (also when
/// the tree lies outside the RAM the host maps).
fn cboz_block() -> Option<usize> {
    static BLOCK: spin::Once<Option<usize>> = spin::Once::new();
    *BLOCK.call_once(|| {
        if !crate::hal::host_fdt_readable() {
            return None;
        }
        let fdt = axhal::dtb::get_fdt()?;
        let cpu = fdt.all_nodes().find(|node| node.find_property("riscv,isa").is_some())?;
        let isa = cpu.find_property("riscv,isa")?.str();
        if !isa.split('_').any(|extension| extension == "zicboz") {
            return None;
        }
        let size = cpu.find_property("riscv,cboz-block-size")?.u32() as usize;
        (size.is_power_of_two() && size >= 8).then_some(size)
    })
}
