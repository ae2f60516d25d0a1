//! What the block device stores its sectors in: the [`BlockBackend`]
//! trait the hypervisor implements over an image file or a partition, and
//! [`MemBackend`], a disk in a `Vec<u8>`.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// The sector size of the virtio block protocol.
pub const SECTOR_SIZE: u64 = 512;
/// Length of the device ID string (`VIRTIO_BLK_ID_BYTES`).
pub const ID_BYTES: usize = 20;

/// Why a backend call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendError {
    /// The sectors are not all below the capacity.
    OutOfRange {
        /// First sector.
        sector: u64,
        /// Bytes asked for.
        len: u64,
    },
    /// A write to a read-only backend.
    ReadOnly,
    /// The medium failed (an I/O error of the file or disk below).
    Io,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { sector, len } => {
                write!(f, "{len} bytes at sector {sector} are past the end")
            }
            Self::ReadOnly => f.write_str("read-only backend"),
            Self::Io => f.write_str("I/O error"),
        }
    }
}

impl core::error::Error for BackendError {}

/// A disk of 512-byte sectors.
///
/// The device calls it only with whole sectors inside the capacity; an
/// implementation still checks and returns [`BackendError`] rather than
/// panicking. Calls are synchronous: when `write` returns `Ok` the data is
/// in the backend (perhaps only in its cache); when `flush` returns `Ok`,
/// every write that returned before it is on stable storage.
pub trait BlockBackend {
    /// The size in 512-byte sectors.
    fn capacity_sectors(&self) -> u64;

    /// Whether writes are refused (the device then offers `VIRTIO_BLK_F_RO`).
    fn read_only(&self) -> bool;

    /// Fills `buf` (a multiple of 512 bytes) from `sector` on.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BackendError>;

    /// Writes `data` (a multiple of 512 bytes) from `sector` on.
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError>;

    /// Makes every completed write durable.
    fn flush(&mut self) -> Result<(), BackendError>;

    /// The device ID string (serial), NUL-padded.
    fn id(&self) -> [u8; ID_BYTES];

    /// `len` bytes from `sector` on, for a backend that holds them in
    /// memory: the device then copies straight from them to the guest.
    /// `None` (the default) means "use [`read`](Self::read)".
    fn held(&self, sector: u64, len: usize) -> Option<&[u8]> {
        let _ = (sector, len);
        None
    }

    /// As [`held`](Self::held), for the device to fill from the guest:
    /// the bytes count as written. `None` for a read-only backend or one
    /// that does not hold its sectors in memory.
    fn held_mut(&mut self, sector: u64, len: usize) -> Option<&mut [u8]> {
        let _ = (sector, len);
        None
    }
}

/// A disk held in memory (tests, scratch disks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemBackend {
    data: Vec<u8>,
    read_only: bool,
    id: [u8; ID_BYTES],
}

impl MemBackend {
    /// A zeroed writable disk of `sectors` sectors.
    pub fn new(sectors: usize) -> Self {
        Self::from_bytes(vec![0; sectors.saturating_mul(SECTOR_SIZE as usize)], false)
    }

    /// A disk with the contents `data`, cut to whole sectors.
    pub fn from_bytes(mut data: Vec<u8>, read_only: bool) -> Self {
        data.truncate(data.len() - data.len() % SECTOR_SIZE as usize);
        Self {
            data,
            read_only,
            id: *b"axvisor-mem-disk\0\0\0\0",
        }
    }

    /// Sets the ID string (at most [`ID_BYTES`] bytes are kept).
    pub fn with_id(mut self, id: &[u8]) -> Self {
        self.id = [0; ID_BYTES];
        let n = id.len().min(ID_BYTES);
        self.id[..n].copy_from_slice(&id[..n]);
        self
    }

    /// The disk contents.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    fn range(&self, sector: u64, len: usize) -> Result<core::ops::Range<usize>, BackendError> {
        let err = BackendError::OutOfRange {
            sector,
            len: len as u64,
        };
        let start = sector
            .checked_mul(SECTOR_SIZE)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or(err)?;
        let end = start.checked_add(len).ok_or(err)?;
        if end > self.data.len() {
            return Err(err);
        }
        Ok(start..end)
    }
}

impl BlockBackend for MemBackend {
    fn capacity_sectors(&self) -> u64 {
        self.data.len() as u64 / SECTOR_SIZE
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        let r = self.range(sector, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        if self.read_only {
            return Err(BackendError::ReadOnly);
        }
        let r = self.range(sector, data.len())?;
        self.data[r].copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    fn id(&self) -> [u8; ID_BYTES] {
        self.id
    }

    fn held(&self, sector: u64, len: usize) -> Option<&[u8]> {
        let r = self.range(sector, len).ok()?;
        Some(&self.data[r])
    }

    fn held_mut(&mut self, sector: u64, len: usize) -> Option<&mut [u8]> {
        if self.read_only {
            return None;
        }
        let r = self.range(sector, len).ok()?;
        Some(&mut self.data[r])
    }
}

/// A boxed backend is a backend: a device can hold whichever kind its
/// config asks for.
impl<B: BlockBackend + ?Sized> BlockBackend for Box<B> {
    fn capacity_sectors(&self) -> u64 {
        (**self).capacity_sectors()
    }

    fn read_only(&self) -> bool {
        (**self).read_only()
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        (**self).read(sector, buf)
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        (**self).write(sector, data)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        (**self).flush()
    }

    fn id(&self) -> [u8; ID_BYTES] {
        (**self).id()
    }

    fn held(&self, sector: u64, len: usize) -> Option<&[u8]> {
        (**self).held(sector, len)
    }

    fn held_mut(&mut self, sector: u64, len: usize) -> Option<&mut [u8]> {
        (**self).held_mut(sector, len)
    }
}
