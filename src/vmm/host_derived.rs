//! Configs in upstream AxVisor's style, which describe a VM by the host's
//! device tree: `passthrough_devices` naming tree paths (`["/"]`: every
//! device), `excluded_devices` naming paths to leave out, `interrupt_mode
//! = "passthrough"` with no emulated interrupt controller, and a device
//! tree derived from the host's (`dtb_load_addr` without `dtb_path`).
//!
//! Here they become what the rest of the VMM knows: one passthrough entry
//! per register range of each selected device (every SPI it has
//! forwarded), a virtual interrupt controller at the host controller's
//! addresses, and the derived device tree. Interrupt controllers and the
//! devices the hypervisor uses itself are never passed through; nor, unless
//! the config names their paths (the boot log then warns), the host's
//! console UART (the VM gets a virtual one there) and bus masters that
//! could DMA into host memory (`guest_fdt::Guard`).

use alloc::{string::String, vec::Vec};

use axvmconfig::{AxVMCrateConfig, EmulatedDeviceConfig, EmulatedDeviceType, PassThroughDeviceConfig, VMInterruptMode};
use guest_fdt::Guard;

use super::console::VirtualUart;
use super::create::VmError;
use crate::hal::arch::{Arch, ArchOps, IrqChip, IrqChipOps};
use crate::hal::{self, DtbError};

/// The device-tree paths a host-derived config names.
pub struct TreePaths {
    keep: Vec<String>,
    exclude: Vec<String>,
}

/// Devices the hypervisor keeps for itself: its boot disk (with the
/// filesystem feature) and its NIC (the uplink), each behind a virtio-mmio
/// transport.
fn held() -> &'static [&'static str] {
    if cfg!(feature = "fs") || hal::host_nic().is_some() { &["virtio,mmio"] } else { &[] }
}

impl TreePaths {
    /// Runs `f` with the selection these paths make.
    fn with_selection<R>(&self, f: impl FnOnce(&guest_fdt::Selection<'_>) -> R) -> R {
        let keep: Vec<&str> = self.keep.iter().map(String::as_str).collect();
        let exclude: Vec<&str> = self.exclude.iter().map(String::as_str).collect();
        f(&guest_fdt::Selection { keep: &keep, exclude: &exclude, held: held() })
    }
}

/// A passthrough entry names a device-tree path rather than a device.
fn is_tree_path(dev: &PassThroughDeviceConfig) -> bool {
    dev.name.starts_with('/')
}

/// Rewrites a host-derived config into the form the VMM handles; `None`
/// (and the config untouched) for a config that names no tree paths and
/// does not pass the interrupt controller through.
pub fn resolve(cfg: &mut AxVMCrateConfig) -> Result<Option<TreePaths>, VmError> {
    let devices = &mut cfg.devices;
    let passthrough_irqs = devices.interrupt_mode == VMInterruptMode::Passthrough;
    if passthrough_irqs && !devices.emu_devices.iter().any(IrqChip::is_irqchip) {
        let chip = Arch::passthrough_irqchip().ok_or(VmError::Unsupported {
            field: "devices.interrupt_mode",
            what: "\"passthrough\" (a virtual interrupt controller at the host's addresses) is not supported on this architecture",
        })?;
        devices.emu_devices.push(chip);
    }
    if passthrough_irqs {
        // The controller the VM sees is ours: emulated, at the host's
        // addresses, with the VM's devices' interrupts routed to it.
        devices.interrupt_mode = VMInterruptMode::Emulated;
    }
    if !devices.passthrough_devices.iter().any(is_tree_path) {
        return Ok(None);
    }
    if Arch::passthrough_irqchip().is_none() {
        return Err(VmError::Unsupported {
            field: "devices.passthrough_devices",
            what: "device-tree paths (upstream's style) are not supported on this architecture",
        });
    }
    let host = hal::host_fdt().ok_or(VmError::Unsupported {
        field: "devices.passthrough_devices",
        what: "names device-tree paths, but the host's device tree cannot be read",
    })?;
    let (paths, mut named): (Vec<_>, Vec<_>) = devices.passthrough_devices.drain(..).partition(is_tree_path);
    let paths = TreePaths {
        keep: paths.into_iter().map(|dev| dev.name).collect(),
        exclude: devices.excluded_devices.iter().flatten().cloned().collect(),
    };
    for dev in paths.with_selection(|selection| guest_fdt::host_devices(host, selection)) {
        named.extend(entries(&dev));
    }
    devices.passthrough_devices = named;
    let vm = alloc::format!("VM {} ({})", cfg.base.id, cfg.base.name);
    let mut held_masters = Vec::new();
    for guarded in paths.with_selection(|selection| guest_fdt::guarded_devices(host, selection)) {
        let path = guarded.device.path.as_str();
        match (guarded.passed, guarded.guard) {
            (true, why) => warn!("{vm}: {path} is passed through because the config names it, but it {why}"),
            (false, Guard::Console) => {
                info!("{vm}: {path} is the host's console UART: the VM gets a virtual UART there instead");
                add_virtual_console(&mut cfg.devices.emu_devices, &guarded.device);
            }
            (false, Guard::Dma) => held_masters.push(guarded.device.path),
        }
    }
    if let [first, rest @ ..] = held_masters.as_slice() {
        info!(
            "{vm}: {first}{} held back from the passthrough: they {}; name a path to pass it through",
            if rest.is_empty() { String::new() } else { alloc::format!(" and {} more", rest.len()) },
            Guard::Dma
        );
    }
    Ok(Some(paths))
}

/// An emulated console at the host console's registers and interrupt,
/// unless the config already gives the VM one.
fn add_virtual_console(emu: &mut Vec<EmulatedDeviceConfig>, uart: &guest_fdt::HostDevice) {
    let Some(&(base, size)) = uart.regs.first() else { return };
    if emu.iter().any(VirtualUart::is_console) {
        return;
    }
    emu.push(EmulatedDeviceConfig {
        name: String::from("console"),
        base_gpa: base as usize,
        length: size as usize,
        irq_id: uart.spis.first().map_or(0, |&spi| spi as usize),
        emu_type: EmulatedDeviceType::Console,
        cfg_list: Vec::new(),
    });
}

/// `dev` as passthrough entries (identity-mapped), one per register range
/// and SPI (see `HostDevice::entries`).
fn entries(dev: &guest_fdt::HostDevice) -> impl Iterator<Item = PassThroughDeviceConfig> + '_ {
    dev.entries().into_iter().map(|((base, size), spi)| PassThroughDeviceConfig {
        name: dev.path.clone(),
        base_gpa: base as usize,
        base_hpa: base as usize,
        length: size as usize,
        irq_id: spi.map_or(0, |spi| spi as usize),
    })
}

/// The VM's device tree, derived from the host's.
pub fn device_tree(cfg: &AxVMCrateConfig, ramdisk: Option<usize>, paths: &TreePaths) -> Result<Vec<u8>, VmError> {
    let host = hal::host_fdt().ok_or(VmError::Dtb(DtbError::Unsupported))?;
    paths.with_selection(|selection| Arch::derive_dtb(cfg, ramdisk, host, selection)).map_err(VmError::Dtb)
}
