//! The boot disk's FAT filesystem (mounted by ArceOS's `fs` feature):
//! guest images and the VM configs in [`CONFIG_DIR`].

use alloc::{format, string::String, vec::Vec};
use core::fmt;

use axstd::fs;
use axstd::io::Read;
use axstd::sync::Mutex;

/// Directory whose `*.toml` files are VM configs to boot.
pub const CONFIG_DIR: &str = "/vms";

/// Held for every use of the boot disk's filesystem: its FAT driver must
/// not be entered from two CPUs at once (a VM's reset rereads its images
/// while the boot task reads configs, or another VM resets). A sleeping
/// lock: a disk read may take long, and interrupts stay on.
pub(super) static DISK: Mutex<()> = Mutex::new(());

/// Size of the regular file at `path`, if there is one.
pub fn size_of(path: &str) -> Option<usize> {
    let _disk = DISK.lock();
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

/// A file of the boot disk open for reading; closed under [`DISK`] too.
pub struct DiskFile {
    file: Option<fs::File>,
    path: String,
}

impl Drop for DiskFile {
    fn drop(&mut self) {
        let _disk = DISK.lock();
        drop(self.file.take());
    }
}

/// Opens the file at `path` for reading.
pub fn open(path: &str) -> Result<DiskFile, DiskError> {
    let _disk = DISK.lock();
    let file = fs::File::open(path).map_err(|error| DiskError { path: String::from(path), op: "open", error })?;
    Ok(DiskFile { file: Some(file), path: String::from(path) })
}

impl DiskFile {
    /// Reads the next `dest.len()` bytes.
    pub fn read_next(&mut self, dest: &mut [u8]) -> Result<(), DiskError> {
        let _disk = DISK.lock();
        let fail = |error| DiskError { path: self.path.clone(), op: "read", error };
        let file = self.file.as_mut().ok_or_else(|| fail(axstd::io::Error::BadState))?;
        file.read_exact(dest).map_err(fail)
    }
}

/// Every `*.toml` in [`CONFIG_DIR`], by name, with its text (or `None` if
/// it could not be read).
pub fn configs() -> Vec<(String, Option<String>)> {
    let _disk = DISK.lock();
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
