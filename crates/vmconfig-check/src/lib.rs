//! Parse-then-validate for VM configs in the axvmconfig TOML format.
//!
//! [`check`] turns the text of one config into an [`axvmconfig::AxVMCrateConfig`]
//! only if it is consistent; otherwise it returns a [`ConfigError`] whose
//! `Display` is one line naming the field and the offending value. The
//! hypervisor prints it prefixed with the file name and skips that VM.
//!
//! The crate is `no_std` + `alloc` so the hypervisor runs the very same code
//! that the host unit tests exercise.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

mod channels;
mod claims;
mod error;
mod layout;
mod mapped;
pub mod paths;
mod raw;
mod virtual_devices;

pub use channels::{ChannelSpec, MAX_CHANNEL_BYTES, MAX_CHANNELS, channels_of, check_peer_size, is_channel};
pub use claims::{Claim, DeviceTaken, Grant, grant};
pub use error::ConfigError;
pub use layout::{ImageKind, ImageSizes, MAX_VM_ID, POWER_BUTTON, Span, image_location};
pub use virtual_devices::{
    DiskBackend, MAX_DISK_BYTES, VIRTIO_WINDOW, VirtioSlots, VirtualDevices, VirtualDisk, VirtualNic, place_virtual_devices, unicast_mac,
};
pub use mapped::{Mapped, MappedKind, PAGE, check_address_width, mapped_ranges, mapped_ranges_of, page_span};

use axvmconfig::AxVMCrateConfig;

/// Where a VM's images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageLocation {
    /// Embedded in the hypervisor image at build time.
    Memory,
    /// Read from the FAT filesystem on the boot disk.
    Fs,
}

/// A config that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    /// The parsed config, ready for `axvm::config::AxVMConfig::from`.
    pub config: AxVMCrateConfig,
    /// Where the images are loaded from.
    pub image_location: ImageLocation,
}

/// Parses `text` and checks it against the sizes of the images it names.
///
/// `images` gives the byte size of each image that is available (an image
/// that is named but missing is an error).
pub fn check(text: &str, images: &ImageSizes) -> Result<CheckedConfig, ConfigError> {
    validate(parse(text)?, images)
}

/// Parses `text` and checks everything that needs no image (ids, vCPU
/// counts, sizes, the guest's address layout): the first half of
/// [`check`], for callers that need the config to make an image (a
/// generated device tree) before validating against the images.
/// `[[devices.virtual]]` tables need their `base` and `irq` here; see
/// [`parse_placed`].
pub fn parse(text: &str) -> Result<AxVMCrateConfig, ConfigError> {
    parse_placed(text, None).map(|(config, _)| config)
}

/// [`parse`], placing `[[devices.virtual]]` tables that give no `base` and
/// `irq` in the platform's virtio-mmio `slots`: they join the config's
/// `emu_devices` (checked with them) and are returned too.
pub fn parse_placed(text: &str, slots: Option<&VirtioSlots>) -> Result<(AxVMCrateConfig, VirtualDevices), ConfigError> {
    raw::check_raw_fields(text)?;
    let mut config = toml::from_str(text).map_err(|e| ConfigError::Parse(alloc::string::ToString::to_string(e.message())))?;
    let disks = place_virtual_devices(text, &mut config, slots)?;
    layout::check_shape(&config)?;
    Ok((config, disks))
}

/// Cross-checks a parsed config against its image sizes: the second half
/// of [`check`]. A config with `dtb_load_addr` and no `dtb_path` asks for
/// a generated device tree, whose size `images.dtb` must then give.
pub fn validate(config: AxVMCrateConfig, images: &ImageSizes) -> Result<CheckedConfig, ConfigError> {
    let image_location = layout::check(&config, images)?;
    Ok(CheckedConfig {
        config,
        image_location,
    })
}

/// Whether the config asks the hypervisor to generate its device tree.
pub fn wants_generated_dtb(config: &AxVMCrateConfig) -> bool {
    config.kernel.dtb_path.is_none() && config.kernel.dtb_load_addr.is_some()
}
