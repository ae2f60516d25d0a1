//! The VM's shared-memory channels (`emu_devices` type 0xA): one node per
//! channel, so that a guest finds each window and its doorbell interrupt.
//!
//! ```text
//! shm-channel@48000000 {
//!     compatible = "axvisor,shm-channel";
//!     reg = <0x0 0x48000000 0x0 0x10000>;
//!     interrupts = <GIC_SPI 48 IRQ_TYPE_EDGE_RISING>;   /* a PLIC source on riscv64 */
//!     label = "chan0";
//!     read-only;                                        /* only for a read-only member */
//! };
//! ```
//!
//! The layout of the window is the guests' own: the hypervisor writes
//! nothing into it (it is zeroed when the channel's first member is
//! created). The doorbell hypercall (index = the channel's order among the
//! VM's channels, which is the order of these nodes) raises the interrupt
//! in every other member.

use alloc::{format, string::String, vec::Vec};
use core::ops::RangeInclusive;

use axvmconfig::{AxVMCrateConfig, EmulatedDeviceType};
use vm_fdt::FdtWriter;

use crate::{FdtError, cells64, machine::missing};

/// A channel window given to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmChannel {
    /// Guest-physical base.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// Its doorbell interrupt as the tree names it: an SPI number on
    /// aarch64, a PLIC source on riscv64.
    pub irq: u32,
    /// The channel's name.
    pub name: String,
    /// Whether the guest may only read it.
    pub read_only: bool,
}

/// The VM's channels in config order, their interrupts checked against
/// `irqs` and lowered by `first` (32 on aarch64: the tree names SPIs).
pub(crate) fn from_config(cfg: &AxVMCrateConfig, irqs: RangeInclusive<usize>, first: usize) -> Result<Vec<ShmChannel>, FdtError> {
    cfg.devices
        .emu_devices
        .iter()
        .filter(|d| d.emu_type == EmulatedDeviceType::IVCChannel)
        .map(|d| {
            if !irqs.contains(&d.irq_id) {
                return Err(missing(
                    "devices.emu_devices[channel].irq_id",
                    "a channel's doorbell must be a device interrupt (an SPI on aarch64, a PLIC source on riscv64)",
                ));
            }
            Ok(ShmChannel {
                base: d.base_gpa as u64,
                size: d.length as u64,
                irq: (d.irq_id - first) as u32,
                name: d.name.clone(),
                read_only: d.cfg_list.first() == Some(&1),
            })
        })
        .collect()
}

/// Writes a `shm-channel@<base>` node: `interrupts` is the doorbell's
/// specifier, `parent` the interrupt controller's phandle when the node's
/// parent does not name it.
pub(crate) fn write_node(fdt: &mut FdtWriter, ch: &ShmChannel, interrupts: &[u32], parent: Option<u32>) -> Result<(), FdtError> {
    let node = fdt.begin_node(&format!("shm-channel@{:x}", ch.base))?;
    fdt.property_string("compatible", "axvisor,shm-channel")?;
    fdt.property_array_u32("reg", &cells64(&[ch.base, ch.size]))?;
    fdt.property_array_u32("interrupts", interrupts)?;
    if let Some(phandle) = parent {
        fdt.property_u32("interrupt-parent", phandle)?;
    }
    fdt.property_string("label", &ch.name)?;
    if ch.read_only {
        fdt.property_null("read-only")?;
    }
    fdt.end_node(node)?;
    Ok(())
}
