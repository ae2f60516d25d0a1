//! Shared-memory channels between VMs: `emu_devices` entries of type 0xA
//! (axvmconfig's `IVCChannel`), one in each member VM's config:
//!
//! ```toml
//! emu_devices = [
//!     # name, base_gpa, size, doorbell irq, type, [access: 0 read-write, 1 read-only]
//!     ["chan0", 0x4800_0000, 0x1_0000, 80, 0xA, [0]],
//! ]
//! ```
//!
//! The name identifies the channel across VMs: every VM that names it maps
//! the same host pages at its own `base_gpa`. Members must agree on the
//! size ([`check_peer_size`]); a channel's index in hypercalls is its order
//! among the VM's channels ([`channels_of`]).

use alloc::{format, string::String, vec::Vec};

use axvmconfig::{AxVMCrateConfig, EmulatedDeviceType};

use crate::{ConfigError, Span, mapped::mapped_ranges};

/// The largest channel: 16 MiB.
pub const MAX_CHANNEL_BYTES: usize = 16 << 20;
/// Channel sizes and bases are whole 4 KiB pages.
const PAGE: usize = 0x1000;
/// The most channels a VM may name.
pub const MAX_CHANNELS: usize = 8;

/// One channel as a member VM's config declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Its name, the same in every member.
    pub name: String,
    /// `devices.emu_devices[i]`, for messages.
    pub field: String,
    /// Guest-physical base in this VM.
    pub base: usize,
    /// Size in bytes (whole pages).
    pub size: usize,
    /// The interrupt a peer's doorbell raises in this VM.
    pub irq: usize,
    /// Whether this VM may only read the pages.
    pub read_only: bool,
}

impl ChannelSpec {
    /// The guest-physical range it occupies.
    pub fn span(&self) -> Span {
        Span { start: self.base, end: self.base + self.size }
    }
}

fn invalid(field: String, value: impl core::fmt::Display, reason: &'static str) -> ConfigError {
    ConfigError::InvalidValue { field, value: format!("{value}"), reason }
}

/// Whether an `emu_devices` entry is a channel.
pub fn is_channel(dev: &axvmconfig::EmulatedDeviceConfig) -> bool {
    dev.emu_type == EmulatedDeviceType::IVCChannel
}

/// The config's channels in config order (a channel's index in the
/// doorbell and status calls), each checked: a name used once, a 4 KiB
/// aligned base, a size of whole pages up to [`MAX_CHANNEL_BYTES`], a
/// doorbell interrupt, access 0 or 1, and a window that overlaps no
/// memory region, passthrough range or other emulated device.
pub fn channels_of(cfg: &AxVMCrateConfig) -> Result<Vec<ChannelSpec>, ConfigError> {
    let emu = &cfg.devices.emu_devices;
    let mut specs: Vec<ChannelSpec> = Vec::new();
    for (i, dev) in emu.iter().enumerate().filter(|(_, d)| is_channel(d)) {
        let field = format!("devices.emu_devices[{i}]");
        if dev.name.is_empty() {
            return Err(invalid(format!("{field}.name"), "\"\"", "a channel needs a name (it names the channel in every member VM)"));
        }
        if specs.iter().any(|s| s.name == dev.name) {
            return Err(invalid(format!("{field}.name"), format_args!("\"{}\"", dev.name), "the VM names this channel twice"));
        }
        if specs.len() == MAX_CHANNELS {
            return Err(invalid(format!("{field}.name"), format_args!("\"{}\"", dev.name), "a VM has at most 8 channels"));
        }
        if dev.base_gpa % PAGE != 0 {
            return Err(invalid(format!("{field}.base_gpa"), format_args!("{:#x}", dev.base_gpa), "a channel must be 4 KiB aligned"));
        }
        if dev.length == 0 || dev.length % PAGE != 0 || dev.length > MAX_CHANNEL_BYTES {
            return Err(invalid(
                format!("{field}.length"),
                format_args!("{:#x}", dev.length),
                "a channel is a multiple of 4 KiB, at most 16 MiB",
            ));
        }
        let Some(end) = dev.base_gpa.checked_add(dev.length) else {
            return Err(invalid(format!("{field}.length"), format_args!("{:#x}", dev.length), "runs past the end of the address space"));
        };
        if dev.irq_id == 0 {
            return Err(invalid(format!("{field}.irq_id"), 0, "a channel needs a doorbell interrupt"));
        }
        let read_only = match dev.cfg_list.as_slice() {
            [] | [0] => false,
            [1] => true,
            [other] => return Err(invalid(format!("{field}.cfg_list[0]"), other, "access is 0 (read-write) or 1 (read-only)")),
            more => return Err(invalid(format!("{field}.cfg_list"), format_args!("{more:?}"), "a channel takes one value: its access")),
        };
        let span = Span { start: dev.base_gpa, end };
        check_free(cfg, i, &field, span)?;
        specs.push(ChannelSpec { name: dev.name.clone(), field, base: dev.base_gpa, size: dev.length, irq: dev.irq_id, read_only });
    }
    Ok(specs)
}

/// Refuses a channel window `span` (entry `index`) that overlaps guest
/// RAM, a passthrough range or another emulated device.
fn check_free(cfg: &AxVMCrateConfig, index: usize, field: &str, span: Span) -> Result<(), ConfigError> {
    let overlap = |other: String, other_range: Span| ConfigError::Overlap {
        field: String::from(field),
        range: span,
        other,
        other_range,
    };
    for (i, r) in cfg.kernel.memory_regions.iter().enumerate() {
        let region = Span { start: r.gpa, end: r.gpa.saturating_add(r.size) };
        if region.overlaps(&span) {
            return Err(overlap(format!("kernel.memory_regions[{i}]"), region));
        }
    }
    for m in mapped_ranges(cfg)? {
        if m.range.overlaps(&span) {
            return Err(overlap(format!("{}", m.kind), m.range));
        }
    }
    for (i, dev) in cfg.devices.emu_devices.iter().enumerate().filter(|(i, _)| *i != index) {
        let window = Span { start: dev.base_gpa, end: dev.base_gpa.saturating_add(dev.length) };
        if window.overlaps(&span) {
            return Err(overlap(format!("devices.emu_devices[{i}] (\"{}\")", dev.name), window));
        }
    }
    Ok(())
}

/// Across the VM set: a new member's channel must have the size the
/// channel already has in VM `peer` (its first member).
pub fn check_peer_size(spec: &ChannelSpec, peer: usize, peer_size: usize) -> Result<(), ConfigError> {
    if spec.size == peer_size {
        return Ok(());
    }
    Err(ConfigError::InvalidValue {
        field: format!("{}.length", spec.field),
        value: format!("{:#x} (VM[{peer}] has {peer_size:#x} for \"{}\")", spec.size, spec.name),
        reason: "every member of a channel maps the same pages: the sizes must agree",
    })
}
