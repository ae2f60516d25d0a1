//! The machine a guest sees, read out of its VM config.

use alloc::{string::String, vec::Vec};

use axvmconfig::{AxVMCrateConfig, EmulatedDeviceType};

use crate::{FdtError, VirtioMmio, virtio};

/// Memory-region flag of device (not RAM) regions.
const FLAG_DEVICE: usize = 1 << 4;
/// Size of the GICv2 CPU interface the guest is given.
const GICC_SIZE: u64 = 0x2000;
/// Size of one GICv3 redistributor (RD_base and SGI_base frames).
const GICR_STRIDE: u64 = 0x2_0000;
/// First shared peripheral interrupt id.
const FIRST_SPI: usize = 32;
/// Shared peripheral interrupt ids (1020 and up are special).
const SPIS: core::ops::RangeInclusive<usize> = FIRST_SPI..=1019;

/// Which GIC architecture the guest is given (the host's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2: a memory-mapped CPU interface.
    V2,
    /// GICv3: redistributors, system-register CPU interface.
    V3,
}

/// The virtual GIC: (base, size) of its register frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gic {
    /// A GICv2.
    V2 {
        /// Distributor frame.
        distributor: (u64, u64),
        /// CPU interface frame.
        cpu_interface: (u64, u64),
    },
    /// A GICv3.
    V3 {
        /// Distributor.
        distributor: (u64, u64),
        /// One redistributor per vCPU, contiguous.
        redistributors: (u64, u64),
    },
}

/// A PL011 UART given to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uart {
    /// Guest-physical base.
    pub base: u64,
    /// Size of its frame.
    pub size: u64,
    /// Its interrupt as an SPI number (interrupt id - 32).
    pub spi: u32,
}

/// Everything the device tree describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// RAM as (base, size).
    pub memory: Vec<(u64, u64)>,
    /// MPIDR of each vCPU, in vCPU order.
    pub cpus: Vec<u32>,
    /// The interrupt controller.
    pub gic: Gic,
    /// The console UART, if the VM has one.
    pub uart: Option<Uart>,
    /// Kernel command line.
    pub bootargs: Option<String>,
    /// Initrd as [start, end) guest-physical addresses.
    pub initrd: Option<(u64, u64)>,
    /// The VM's virtio-mmio devices (interrupts as SPI numbers).
    pub virtio: Vec<VirtioMmio>,
    /// The VM's shared-memory channels (doorbells as SPI numbers).
    pub channels: Vec<crate::ShmChannel>,
}

pub(crate) fn missing(field: &'static str, what: &'static str) -> FdtError {
    FdtError::Config { field, what }
}

/// The VM's RAM regions (those without the device flag) as (base, size).
pub(crate) fn ram(cfg: &AxVMCrateConfig) -> Result<Vec<(u64, u64)>, FdtError> {
    let memory = cfg
        .kernel
        .memory_regions
        .iter()
        .filter(|r| r.flags & FLAG_DEVICE == 0)
        .map(|r| (r.gpa as u64, r.size as u64))
        .collect::<Vec<_>>();
    if memory.is_empty() {
        return Err(missing("kernel.memory_regions", "no RAM region"));
    }
    Ok(memory)
}

/// The VM's shared-memory channels, their doorbells as SPI numbers.
pub(crate) fn channel_spis(cfg: &AxVMCrateConfig) -> Result<Vec<crate::ShmChannel>, FdtError> {
    crate::channel::from_config(cfg, SPIS, FIRST_SPI)
}

/// The VM's virtio-mmio devices, their interrupts as SPI numbers.
pub(crate) fn virtio_spis(cfg: &AxVMCrateConfig) -> Result<Vec<VirtioMmio>, FdtError> {
    virtio::from_config(cfg, SPIS, FIRST_SPI)
}

/// The initrd as [start, end), if the VM loads a ramdisk of `size` bytes.
pub(crate) fn initrd(cfg: &AxVMCrateConfig, size: Option<usize>) -> Result<Option<(u64, u64)>, FdtError> {
    let (Some(start), Some(size)) = (cfg.kernel.ramdisk_load_addr, size) else {
        return Ok(None);
    };
    let end = start
        .checked_add(size)
        .ok_or(missing("kernel.ramdisk_load_addr", "the ramdisk ends past the address space"))?;
    Ok(Some((start as u64, end as u64)))
}

impl Machine {
    /// Reads the machine out of a checked config; `ramdisk_size` is the
    /// size of the ramdisk image, if the VM has one, for a host with a
    /// GIC of `version`.
    pub fn from_config(cfg: &AxVMCrateConfig, ramdisk_size: Option<usize>, version: GicVersion) -> Result<Self, FdtError> {
        let memory = ram(cfg)?;
        // A vCPU's MPIDR is its vCPU id, wherever it is placed.
        let cpus = (0..cfg.base.cpu_num as u32).collect();
        let gic = cfg
            .devices
            .emu_devices
            .iter()
            .find(|d| d.emu_type == EmulatedDeviceType::InterruptController)
            .ok_or(missing("devices.emu_devices", "no interrupt controller (type 0x1)"))?;
        let field = "devices.emu_devices[interrupt controller].cfg_list";
        let distributor = (gic.base_gpa as u64, gic.length as u64);
        let gic = match version {
            GicVersion::V2 => {
                let gicc = *gic.cfg_list.first().ok_or(missing(field, "no GICC address (the first value)"))?;
                Gic::V2 { distributor, cpu_interface: (gicc as u64, GICC_SIZE) }
            }
            GicVersion::V3 => {
                let gicr = *gic.cfg_list.get(1).ok_or(missing(field, "no GICv3 redistributor address (the second value)"))?;
                Gic::V3 { distributor, redistributors: (gicr as u64, GICR_STRIDE * cfg.base.cpu_num as u64) }
            }
        };
        // The VM's own console UART (an emulated PL011) if it has one, else
        // the host's passed through.
        let console = cfg.devices.emu_devices.iter().find(|d| d.emu_type == EmulatedDeviceType::Console);
        let uart = match console {
            Some(d) => Some((d.base_gpa, d.length, d.irq_id, "devices.emu_devices[console].irq_id")),
            None => cfg
                .devices
                .passthrough_devices
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case("pl011"))
                .map(|d| (d.base_gpa, d.length, d.irq_id, "devices.passthrough_devices[pl011].irq_id")),
        };
        let uart = uart
            .map(|(base, size, irq, field)| {
                let spi =
                    irq.checked_sub(FIRST_SPI).ok_or(missing(field, "a UART interrupt must be an SPI (32 or above)"))?;
                Ok::<_, FdtError>(Uart { base: base as u64, size: size as u64, spi: spi as u32 })
            })
            .transpose()?;
        let initrd = initrd(cfg, ramdisk_size)?;
        Ok(Self {
            memory,
            cpus,
            gic,
            uart,
            bootargs: cfg.kernel.cmdline.clone(),
            initrd,
            virtio: virtio_spis(cfg)?,
            channels: channel_spis(cfg)?,
        })
    }
}
