//! The one error type of config validation.

use alloc::string::String;
use core::fmt;

use crate::layout::Span;

/// Why a VM config was rejected. `Display` gives one line that names the
/// field (in TOML path form, e.g. `kernel.memory_regions[1].size`) and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The text is not valid TOML or does not have the axvmconfig shape.
    Parse(String),
    /// A field holds a value the hypervisor does not accept.
    InvalidValue {
        /// Field path.
        field: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two guest-physical ranges overlap.
    Overlap {
        /// The later field.
        field: String,
        /// Its range.
        range: Span,
        /// The earlier field it collides with.
        other: String,
        /// That field's range.
        other_range: Span,
    },
    /// An address that must lie inside guest RAM does not.
    OutsideMemory {
        /// Field path.
        field: String,
        /// The address.
        addr: usize,
    },
    /// An image does not fit between its load address and the end of its region.
    ImageTooLarge {
        /// Field naming the image.
        field: String,
        /// Path of the image.
        path: String,
        /// Its size in bytes.
        size: usize,
        /// Bytes available from the load address to the region end.
        room: usize,
    },
    /// An image the config names is not available.
    MissingImage {
        /// Field naming the image.
        field: String,
        /// Path of the image.
        path: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse(msg) => write!(f, "not a valid VM config: {msg}"),
            Self::InvalidValue {
                field,
                value,
                reason,
            } => write!(f, "{field} = {value}: {reason}"),
            Self::Overlap {
                field,
                range,
                other,
                other_range,
            } => write!(f, "{field} = {range} overlaps {other} = {other_range}"),
            Self::OutsideMemory { field, addr } => {
                write!(f, "{field} = {addr:#x}: outside every memory region")
            }
            Self::ImageTooLarge {
                field,
                path,
                size,
                room,
            } => write!(
                f,
                "{field} = \"{path}\": image is {size:#x} bytes but its region has {room:#x} bytes from the load address"
            ),
            Self::MissingImage { field, path } => {
                write!(f, "{field} = \"{path}\": image not found")
            }
        }
    }
}

impl ConfigError {
    /// The field at fault, in TOML path form, if the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Parse(_) => None,
            Self::InvalidValue { field, .. }
            | Self::Overlap { field, .. }
            | Self::OutsideMemory { field, .. }
            | Self::ImageTooLarge { field, .. }
            | Self::MissingImage { field, .. } => Some(field),
        }
    }

    /// The value that field holds, as written (a range, an address or a
    /// path where the error names one).
    pub fn value(&self) -> Option<String> {
        match self {
            Self::Parse(_) => None,
            Self::InvalidValue { value, .. } => Some(value.clone()),
            Self::Overlap { range, .. } => Some(alloc::format!("{range}")),
            Self::OutsideMemory { addr, .. } => Some(alloc::format!("{addr:#x}")),
            Self::ImageTooLarge { path, .. } | Self::MissingImage { path, .. } => Some(path.clone()),
        }
    }
}

impl core::error::Error for ConfigError {}
