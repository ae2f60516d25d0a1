//! The boot disk's FAT filesystem (mounted by ArceOS's `fs` feature):
//! guest images and the VM configs in [`CONFIG_DIR`].

use alloc::{format, string::String, vec::Vec};
use core::fmt;

use axstd::fs;
use axstd::io::Read;

/// Directory whose `*.toml` files are VM configs to boot.
pub const CONFIG_DIR: &str = "/vms";

/// Size of the regular file at `path`, if there is one.
pub fn size_of(path: &str) -> Option<usize> {
    let meta = fs::metadata(path).ok()?;
    meta.is_file().then(|| meta.len() as usize)
}

/// Why an image could not be read from the boot disk.
#[derive(Debug)]
pub struct DiskError {
    /// Path on the disk.
    pub path: String,
    /// What failed: opening or reading.
    pub op: &'static str,
    /// The filesystem's error.
    pub error: axstd::io::Error,
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} failed: {:?}", self.path, self.op, self.error)
    }
}

/// Opens the file at `path` for reading.
pub fn open(path: &str) -> Result<fs::File, DiskError> {
    fs::File::open(path).map_err(|error| DiskError { path: String::from(path), op: "open", error })
}

/// Reads the next `dest.len()` bytes of `file` (opened from `path`).
pub fn read_next(file: &mut fs::File, path: &str, dest: &mut [u8]) -> Result<(), DiskError> {
    file.read_exact(dest).map_err(|error| DiskError { path: String::from(path), op: "read", error })
}

/// Every `*.toml` in [`CONFIG_DIR`], by name, with its text (or `None` if
/// it could not be read).
pub fn configs() -> Vec<(String, Option<String>)> {
    let Ok(dir) = fs::read_dir(CONFIG_DIR) else {
        info!("no {CONFIG_DIR} on the boot disk: no VM configs there");
        return Vec::new();
    };
    let mut files: Vec<String> = dir
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .filter(|name| name.ends_with(".toml"))
        .map(|name| format!("{CONFIG_DIR}/{name}"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).ok();
            (path, text)
        })
        .collect()
}
