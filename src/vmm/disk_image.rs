//! A VM's virtual disk image on the boot disk: read whole into host memory
//! when the VM is made, dirty pages written back on a guest FLUSH, a VM
//! reset or stop, and the hypervisor's exit ([`virtio_blk::CachedImage`]).
//! A writable image is open in one VM at a time.

use alloc::{string::String, vec::Vec};

use axstd::fs;
use axstd::io::{Read, Seek, SeekFrom, Write};
use axstd::sync::Mutex;
use virtio_blk::{BackendError, ImageStore};

use super::disk::{DISK, DiskError};

/// Bytes read per hold of the boot disk's lock while loading an image.
const LOAD_PIECE: usize = 1 << 20;

/// Writable images open now, by their path as FAT compares names
/// (case-insensitive), with the VM that has each.
static WRITERS: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());

/// FAT names compare without case; `//` is `/`.
fn key(path: &str) -> String {
    let mut k = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && k.ends_with('/')) {
            k.extend(c.to_lowercase());
        }
    }
    k
}

/// Why an image could not be opened.
#[derive(Debug)]
pub enum ImageError {
    /// The file system refused.
    Disk(DiskError),
    /// Another VM has the image open for writing.
    InUse { path: String, vm: usize },
    /// The image does not fit in host memory.
    NoMemory(u64),
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Disk(e) => write!(f, "{e}"),
            Self::InUse { path, vm } => write!(f, "{path}: VM[{vm}] has it open for writing"),
            Self::NoMemory(bytes) => write!(f, "no host memory to hold an image of {bytes:#x} bytes"),
        }
    }
}

/// An image file open on the boot disk; writable ones are registered in
/// [`WRITERS`] until dropped.
pub struct ImageFile {
    file: Option<fs::File>,
    path: String,
    writable: bool,
}

impl ImageFile {
    /// Opens `path` for VM `vm` (for writing too if `writable`) and reads
    /// its contents.
    pub fn open(path: &str, writable: bool, vm: usize) -> Result<(Self, Vec<u8>), ImageError> {
        let disk_err = |op, error| ImageError::Disk(DiskError { path: String::from(path), op, error });
        if writable {
            let mut writers = WRITERS.lock();
            if let Some((_, owner)) = writers.iter().find(|(p, _)| *p == key(path)) {
                return Err(ImageError::InUse { path: String::from(path), vm: *owner });
            }
            writers.push((key(path), vm));
        }
        // From here a failure drops `image`, which unregisters it.
        let mut image = Self { file: None, path: String::from(path), writable };
        let file = {
            let _disk = DISK.lock();
            fs::File::options().read(true).write(writable).open(path).map_err(|e| disk_err("open", e))?
        };
        image.file = Some(file);
        let size = {
            let _disk = DISK.lock();
            image.file_mut().and_then(|f| f.metadata()).map_err(|e| disk_err("stat", e))?.len()
        };
        let bytes = usize::try_from(size).map_err(|_| ImageError::NoMemory(size))?;
        let mut data = Vec::new();
        data.try_reserve_exact(bytes).map_err(|_| ImageError::NoMemory(size))?;
        data.resize(bytes, 0);
        for piece in data.chunks_mut(LOAD_PIECE) {
            let _disk = DISK.lock();
            image.file_mut().and_then(|f| f.read_exact(piece)).map_err(|e| disk_err("read", e))?;
        }
        Ok((image, data))
    }

    /// The open file (`None` only inside `drop`).
    fn file_mut(&mut self) -> axstd::io::Result<&mut fs::File> {
        self.file.as_mut().ok_or(axstd::io::Error::BadState)
    }
}

impl ImageStore for ImageFile {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        if !self.writable {
            return Err(BackendError::ReadOnly);
        }
        let _disk = DISK.lock();
        let file = self.file.as_mut().ok_or(BackendError::Io)?;
        let done = file.seek(SeekFrom::Start(offset)).and_then(|_| file.write_all(data));
        done.map_err(|e| {
            error!("{}: writing {:#x} bytes at {offset:#x} failed: {e:?}", self.path, data.len());
            BackendError::Io
        })
    }

    /// Nothing to do: ArceOS's FAT driver has no cache, and its virtio
    /// block driver returns from a write when the device completed it, so
    /// every `write_at` that returned is on the disk already. (Its driver
    /// sends the disk no FLUSH of its own: a board whose disk caches
    /// writes would need one.)
    fn sync(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
}

impl Drop for ImageFile {
    fn drop(&mut self) {
        {
            let _disk = DISK.lock();
            drop(self.file.take());
        }
        if self.writable {
            let k = key(&self.path);
            WRITERS.lock().retain(|(p, _)| *p != k);
        }
    }
}
