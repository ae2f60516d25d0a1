//! The VM's own virtio-mmio devices (the hypervisor's block and console
//! devices, `emu_devices` types 0xE1, 0xE2 and 0xE3): Linux finds virtio-mmio
//! transports only through `virtio,mmio` nodes.

use alloc::{format, vec::Vec};
use core::ops::RangeInclusive;

use axvmconfig::{AxVMCrateConfig, EmulatedDeviceType};
use vm_fdt::FdtWriter;

use crate::{FdtError, cells64, machine::missing};

/// Size of a virtio-mmio register window (what the hypervisor decodes).
pub const VIRTIO_MMIO_SIZE: u64 = 0x200;

const FIELD: &str = "devices.emu_devices[virtio].irq_id";

/// A virtio-mmio transport given to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioMmio {
    /// Guest-physical base of its window.
    pub base: u64,
    /// Its interrupt as the tree names it: an SPI number (interrupt id -
    /// 32) on aarch64, a PLIC source on riscv64.
    pub irq: u32,
}

impl VirtioMmio {
    /// Whether `[base, base + size)` overlaps this device's window.
    pub fn overlaps(&self, base: u64, size: u64) -> bool {
        base < self.base.saturating_add(VIRTIO_MMIO_SIZE) && self.base < base.saturating_add(size)
    }
}

/// The VM's virtio-mmio devices in config order, their interrupts checked
/// against `irqs` (the interrupt ids the controller can give a device) and
/// lowered by `first` (32 on aarch64: the tree names SPIs).
pub(crate) fn from_config(
    cfg: &AxVMCrateConfig,
    irqs: RangeInclusive<usize>,
    first: usize,
) -> Result<Vec<VirtioMmio>, FdtError> {
    cfg.devices
        .emu_devices
        .iter()
        .filter(|d| matches!(d.emu_type, EmulatedDeviceType::VirtioBlk | EmulatedDeviceType::VirtioNet | EmulatedDeviceType::VirtioConsole))
        .map(|d| {
            if !irqs.contains(&d.irq_id) {
                return Err(missing(FIELD, "a virtio-mmio device needs an interrupt (an SPI on aarch64, a PLIC source on riscv64)"));
            }
            Ok(VirtioMmio { base: d.base_gpa as u64, irq: (d.irq_id - first) as u32 })
        })
        .collect()
}

/// Writes a `virtio_mmio@<base>` node: `interrupts` is the device's
/// interrupt specifier, `parent` the interrupt controller's phandle when
/// the node's parent does not name it.
pub(crate) fn write_node(
    fdt: &mut FdtWriter,
    dev: &VirtioMmio,
    interrupts: &[u32],
    parent: Option<u32>,
) -> Result<(), FdtError> {
    let node = fdt.begin_node(&format!("virtio_mmio@{:x}", dev.base))?;
    fdt.property_string("compatible", "virtio,mmio")?;
    fdt.property_array_u32("reg", &cells64(&[dev.base, VIRTIO_MMIO_SIZE]))?;
    fdt.property_array_u32("interrupts", interrupts)?;
    if let Some(phandle) = parent {
        fdt.property_u32("interrupt-parent", phandle)?;
    }
    fdt.property_null("dma-coherent")?;
    fdt.end_node(node)?;
    Ok(())
}
