//! The host ranges a config maps into its guest besides RAM.
//!
//! axvm 0.2.3 maps every `passthrough_devices` and `passthrough_addresses`
//! entry at its guest address on the host address of the same value
//! (it never reads `base_hpa`), in whole 4 KiB pages. The checks here and
//! every caller use that: the page-rounded range that is really mapped.

use alloc::{format, string::String, vec::Vec};

use axvmconfig::{AxVMCrateConfig, VMDevicesConfig};

use crate::{ConfigError, Span};

/// The stage-2 mapping granule.
pub const PAGE: usize = 0x1000;

/// The whole pages `[start, start + length)` touches; empty for an empty
/// range, `None` if it runs past the end of the address space.
pub fn page_span(start: usize, length: usize) -> Option<Span> {
    if length == 0 {
        return Some(Span { start, end: start });
    }
    let end = start.checked_add(length)?.checked_add(PAGE - 1)? & !(PAGE - 1);
    Some(Span { start: start & !(PAGE - 1), end })
}

/// Which list of `[devices]` an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedKind {
    /// `devices.passthrough_devices[index]`.
    Device(usize),
    /// `devices.passthrough_addresses[index]`.
    Address(usize),
}

impl core::fmt::Display for MappedKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Device(i) => write!(f, "devices.passthrough_devices[{i}]"),
            Self::Address(i) => write!(f, "devices.passthrough_addresses[{i}]"),
        }
    }
}

/// One host range the guest gets, as it is mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The config entry it comes from.
    pub kind: MappedKind,
    /// The device's name (`passthrough_addresses` have none: "").
    pub name: String,
    /// Host pages mapped (equal to the guest pages).
    pub range: Span,
}

fn invalid(field: String, value: usize, reason: &'static str) -> ConfigError {
    ConfigError::InvalidValue { field, value: format!("{value:#x}"), reason }
}

/// Every passthrough entry of `cfg` as the host pages it maps, in config
/// order (devices, then addresses). Refuses a device whose `base_hpa`
/// differs from its `base_gpa` (it would be mapped at `base_gpa`, not at
/// the device) and a range that runs past the end of the address space.
pub fn mapped_ranges(cfg: &AxVMCrateConfig) -> Result<Vec<Mapped>, ConfigError> {
    mapped_ranges_of(&cfg.devices)
}

/// [`mapped_ranges`] of a config's `[devices]` table.
pub fn mapped_ranges_of(devices: &VMDevicesConfig) -> Result<Vec<Mapped>, ConfigError> {
    let mut mapped = Vec::new();
    for (i, dev) in devices.passthrough_devices.iter().enumerate() {
        let kind = MappedKind::Device(i);
        if dev.base_gpa != dev.base_hpa {
            return Err(invalid(
                format!("{kind}.base_hpa"),
                dev.base_hpa,
                "differs from base_gpa: a passthrough device is mapped at the host address equal to its guest address",
            ));
        }
        let range = page_span(dev.base_gpa, dev.length)
            .ok_or_else(|| invalid(format!("{kind}.length"), dev.length, "runs past the end of the address space"))?;
        mapped.push(Mapped { kind, name: dev.name.clone(), range });
    }
    for (i, addr) in devices.passthrough_addresses.iter().enumerate() {
        let kind = MappedKind::Address(i);
        let range = page_span(addr.base_gpa, addr.length)
            .ok_or_else(|| invalid(format!("{kind}.length"), addr.length, "runs past the end of the address space"))?;
        mapped.push(Mapped { kind, name: String::new(), range });
    }
    Ok(mapped)
}

/// Refuses a passthrough range that shares a page with guest RAM: the
/// guest would get host memory where its RAM should be.
pub(crate) fn check_against_ram(cfg: &AxVMCrateConfig, ram: &[(String, Span)]) -> Result<(), ConfigError> {
    for m in mapped_ranges(cfg)? {
        if let Some((other, other_range)) = ram.iter().find(|(_, r)| r.overlaps(&m.range)) {
            return Err(ConfigError::Overlap {
                field: format!("{}", m.kind),
                range: m.range,
                other: other.clone(),
                other_range: *other_range,
            });
        }
    }
    Ok(())
}

/// Refuses a memory region or passthrough range that reaches at or above
/// `1 << bits`, the guest-physical addresses the host's stage-2 tables
/// translate (an address above would alias a lower one, or fault).
pub fn check_address_width(cfg: &AxVMCrateConfig, bits: u32) -> Result<(), ConfigError> {
    let limit = 1usize.checked_shl(bits).unwrap_or(usize::MAX);
    let beyond = |field: String, span: Span| ConfigError::InvalidValue {
        field,
        value: format!("{span} (limit {limit:#x})"),
        reason: "beyond the guest-physical addresses this host's stage 2 translates",
    };
    for (i, r) in cfg.kernel.memory_regions.iter().enumerate() {
        let span = Span { start: r.gpa, end: r.gpa.saturating_add(r.size) };
        if span.end > limit {
            return Err(beyond(format!("kernel.memory_regions[{i}]"), span));
        }
    }
    for m in mapped_ranges(cfg)? {
        if m.range.end > limit {
            return Err(beyond(format!("{}", m.kind), m.range));
        }
    }
    Ok(())
}
