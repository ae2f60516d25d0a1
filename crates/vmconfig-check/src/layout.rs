//! Semantic checks on a parsed config: vCPU counts, guest-physical layout
//! and whether each image fits where it is loaded.

use alloc::{format, string::String, vec::Vec};
use core::fmt;

use axvmconfig::{AxVMCrateConfig, EmulatedDeviceType};

use crate::{ConfigError, ImageLocation};

/// Upper bound on vCPUs per VM (axvm's vCPU mask width).
pub const MAX_VCPUS: usize = 64;
/// Largest VM id: ids tag stage-2 translations (an aarch64 VMID has 8
/// bits), and 0 means "no VM" in the hypervisor's tables.
pub const MAX_VM_ID: usize = 255;
/// `MappingFlags` bits a region may carry: READ, WRITE, EXECUTE, USER, DEVICE, UNCACHED.
const KNOWN_FLAGS: usize = 0x3f;

/// A half-open guest-physical range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First address.
    pub start: usize,
    /// One past the last address.
    pub end: usize,
}

impl Span {
    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
    fn contains(&self, addr: usize) -> bool {
        self.start <= addr && addr < self.end
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end)
    }
}

/// The images a config can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// `kernel.kernel_path`
    Kernel,
    /// `kernel.bios_path`
    Bios,
    /// `kernel.dtb_path`
    Dtb,
    /// `kernel.ramdisk_path`
    Ramdisk,
}

/// Byte sizes of the images that are available for one config; `None`
/// where the image is named but could not be found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageSizes {
    /// Kernel image size.
    pub kernel: Option<usize>,
    /// BIOS image size.
    pub bios: Option<usize>,
    /// Device-tree blob size.
    pub dtb: Option<usize>,
    /// Ramdisk size.
    pub ramdisk: Option<usize>,
}

impl ImageSizes {
    fn get(&self, kind: ImageKind) -> Option<usize> {
        match kind {
            ImageKind::Kernel => self.kernel,
            ImageKind::Bios => self.bios,
            ImageKind::Dtb => self.dtb,
            ImageKind::Ramdisk => self.ramdisk,
        }
    }
}

fn invalid(field: impl Into<String>, value: impl fmt::Display, reason: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        field: field.into(),
        value: format!("{value}"),
        reason,
    }
}

/// How a generated device tree is named in errors (it has no path).
pub const GENERATED_DTB: &str = "(generated device tree)";

/// Where the config's images come from (`kernel.image_location`, memory
/// when absent).
pub fn image_location(cfg: &AxVMCrateConfig) -> Result<ImageLocation, ConfigError> {
    match cfg.kernel.image_location.as_deref() {
        None | Some("memory") => Ok(ImageLocation::Memory),
        Some("fs") => Ok(ImageLocation::Fs),
        Some(other) => Err(invalid("kernel.image_location", format!("\"{other}\""), "must be \"memory\" or \"fs\"")),
    }
}

/// The checks that need no image: ids, counts and sizes, the guest's
/// address layout. They run before anything is allocated or generated
/// from the config.
pub(crate) fn check_shape(cfg: &AxVMCrateConfig) -> Result<Vec<(String, Span)>, ConfigError> {
    let id = cfg.base.id;
    if id == 0 || id > MAX_VM_ID {
        return Err(invalid("base.id", id, "must be 1 to 255 (ids tag the VM's stage-2 translations; 0 is no VM)"));
    }
    check_vcpus(cfg)?;
    check_power_button(cfg)?;
    let regions = check_regions(cfg)?;
    crate::mapped::check_against_ram(cfg, &regions)?;
    crate::channels::channels_of(cfg)?;
    Ok(regions)
}

pub(crate) fn check(cfg: &AxVMCrateConfig, images: &ImageSizes) -> Result<ImageLocation, ConfigError> {
    let regions = check_shape(cfg)?;
    let location = image_location(cfg)?;
    let k = &cfg.kernel;
    let generated_dtb = String::from(GENERATED_DTB);
    let dtb_path = match (&k.dtb_path, k.dtb_load_addr) {
        (Some(path), _) => Some(path),
        (None, Some(_)) => Some(&generated_dtb),
        (None, None) => None,
    };
    if !regions.iter().any(|(_, r)| r.contains(k.entry_point)) {
        return Err(ConfigError::OutsideMemory {
            field: "kernel.entry_point".into(),
            addr: k.entry_point,
        });
    }
    let named = [
        (ImageKind::Kernel, "kernel_path", Some(&k.kernel_path), Some(k.kernel_load_addr), "kernel_load_addr"),
        (ImageKind::Bios, "bios_path", k.bios_path.as_ref(), k.bios_load_addr, "bios_load_addr"),
        (ImageKind::Dtb, "dtb_path", dtb_path, k.dtb_load_addr, "dtb_load_addr"),
        (ImageKind::Ramdisk, "ramdisk_path", k.ramdisk_path.as_ref(), k.ramdisk_load_addr, "ramdisk_load_addr"),
    ];
    let mut placed: Vec<(String, Span)> = Vec::new();
    for (kind, path_field, path, load, load_field) in named {
        let Some(path) = path else { continue };
        let path_field = if kind == ImageKind::Dtb && k.dtb_path.is_none() {
            format!("kernel.dtb_load_addr {GENERATED_DTB}")
        } else {
            format!("kernel.{path_field}")
        };
        let Some(load) = load else {
            return Err(invalid(format!("kernel.{load_field}"), "(missing)", "required when the image is named"));
        };
        let Some((_, region)) = regions.iter().find(|(_, r)| r.contains(load)) else {
            return Err(ConfigError::OutsideMemory {
                field: format!("kernel.{load_field}"),
                addr: load,
            });
        };
        let Some(size) = images.get(kind) else {
            return Err(ConfigError::MissingImage {
                field: path_field,
                path: path.clone(),
            });
        };
        let room = region.end - load;
        if size > room {
            return Err(ConfigError::ImageTooLarge {
                field: path_field,
                path: path.clone(),
                size,
                room,
            });
        }
        let span = Span { start: load, end: load + size };
        if let Some((other, other_range)) = placed.iter().find(|(_, s)| s.overlaps(&span)) {
            return Err(ConfigError::Overlap {
                field: path_field,
                range: span,
                other: other.clone(),
                other_range: *other_range,
            });
        }
        placed.push((path_field, span));
    }
    Ok(location)
}

/// The `emu_devices` name that makes a type-0x0 entry the VM's power
/// button: a PL061 GPIO whose pin `cfg_list[0]` (default 3) is the key.
pub const POWER_BUTTON: &str = "power-button";

/// At most one power button, a whole PL061 window, its key on pin 0 to 7.
fn check_power_button(cfg: &AxVMCrateConfig) -> Result<(), ConfigError> {
    let buttons = cfg
        .devices
        .emu_devices
        .iter()
        .enumerate()
        .filter(|(_, dev)| dev.emu_type == EmulatedDeviceType::Dummy && dev.name == POWER_BUTTON);
    for (n, (i, dev)) in buttons.enumerate() {
        if n > 0 {
            return Err(invalid(format!("devices.emu_devices[{i}].name"), "\"power-button\"", "a VM has one power button"));
        }
        if dev.length < 0x1000 {
            return Err(invalid(
                format!("devices.emu_devices[{i}].length"),
                format_args!("{:#x}", dev.length),
                "a power button is a PL061 GPIO: 0x1000 bytes",
            ));
        }
        if let Some(&pin) = dev.cfg_list.first()
            && pin > 7
        {
            return Err(invalid(format!("devices.emu_devices[{i}].cfg_list[0]"), pin, "the power key's GPIO pin is 0 to 7"));
        }
    }
    Ok(())
}

fn check_vcpus(cfg: &AxVMCrateConfig) -> Result<(), ConfigError> {
    let n = cfg.base.cpu_num;
    if n == 0 {
        return Err(invalid("base.cpu_num", 0, "a VM needs at least one vCPU"));
    }
    if n > MAX_VCPUS {
        return Err(invalid("base.cpu_num", n, "more vCPUs than the hypervisor supports (64)"));
    }
    if let Some(ids) = &cfg.base.phys_cpu_ids
        && ids.len() != n
    {
        return Err(invalid("base.phys_cpu_ids", format!("{ids:?}"), "needs exactly one entry per vCPU (base.cpu_num)"));
    }
    if let Some(sets) = &cfg.base.phys_cpu_sets
        && sets.len() != n
    {
        return Err(invalid("base.phys_cpu_sets", format!("{sets:?}"), "needs exactly one entry per vCPU (base.cpu_num)"));
    }
    Ok(())
}

fn check_regions(cfg: &AxVMCrateConfig) -> Result<Vec<(String, Span)>, ConfigError> {
    if cfg.kernel.memory_regions.is_empty() {
        return Err(invalid("kernel.memory_regions", "[]", "a VM needs at least one memory region"));
    }
    let mut spans: Vec<(String, Span)> = Vec::new();
    for (i, r) in cfg.kernel.memory_regions.iter().enumerate() {
        let field = format!("kernel.memory_regions[{i}]");
        if r.size == 0 {
            return Err(invalid(format!("{field}.size"), "0", "a region cannot be empty"));
        }
        if r.gpa % 0x1000 != 0 {
            return Err(invalid(format!("{field}.gpa"), format!("{:#x}", r.gpa), "must be 4 KiB aligned"));
        }
        if r.size % 0x1000 != 0 {
            return Err(invalid(format!("{field}.size"), format!("{:#x}", r.size), "must be a multiple of 4 KiB"));
        }
        if r.flags & !KNOWN_FLAGS != 0 {
            return Err(invalid(format!("{field}.flags"), format!("{:#x}", r.flags), "unknown flag bits (known: 0x3f)"));
        }
        let Some(end) = r.gpa.checked_add(r.size) else {
            return Err(invalid(format!("{field}.size"), format!("{:#x}", r.size), "region wraps past the end of the address space"));
        };
        let span = Span { start: r.gpa, end };
        if let Some((other, other_range)) = spans.iter().find(|(_, s)| s.overlaps(&span)) {
            return Err(ConfigError::Overlap {
                field,
                range: span,
                other: other.clone(),
                other_range: *other_range,
            });
        }
        spans.push((field, span));
    }
    Ok(spans)
}
