//! The device's only window on the guest: byte copies to and from
//! guest-physical addresses, plus the barriers the virtqueue protocol needs.

use core::fmt;
use core::sync::atomic::{Ordering, fence};

/// A guest-physical range that is not wholly backed by the VM's own RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemError {
    /// First guest-physical address of the access.
    pub gpa: u64,
    /// Length of the access in bytes.
    pub len: u64,
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}+{:#x} is not in guest RAM", self.gpa, self.len)
    }
}

impl core::error::Error for MemError {}

/// A memory barrier the virtqueue code asks for (virtio 1.x §2.7.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Barrier {
    /// Earlier reads complete before later reads and writes (after reading
    /// `avail.idx`, before reading the ring and descriptors).
    Acquire,
    /// Earlier writes are visible before later writes (used element before
    /// `used.idx`).
    Release,
    /// Earlier writes are visible before later reads (`used.idx` or
    /// `avail_event` before reading the driver's suppression fields).
    Full,
}

/// The VM's RAM as a device sees it.
///
/// Implementations accept only ranges wholly inside RAM that the VM itself
/// owns and reject everything else (MMIO, holes, other VMs, the host) with a
/// [`MemError`]. The guest may change its memory at any time: callers copy
/// what they read once and never trust a second read to match the first.
///
/// A naturally aligned access of 2, 4 or 8 bytes must be done as one access
/// of that width (e.g. a volatile `u16` load), so that a ring index the
/// driver is updating is never seen torn.
pub trait GuestMemory {
    /// Copies `buf.len()` bytes from guest address `gpa` into `buf`.
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemError>;

    /// Copies `data` to guest address `gpa`.
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemError>;

    /// Checks that `[gpa, gpa + len)` is wholly in guest RAM without copying
    /// (a lookup in the RAM map: it must not cost time in proportion to
    /// `len`, which the guest chooses).
    fn check_range(&self, gpa: u64, len: u64) -> Result<(), MemError>;

    /// Orders guest-memory accesses; the default is the CPU fence matching
    /// `barrier`, which covers a guest running on other CPUs of the same
    /// inner-shareable domain.
    fn barrier(&self, barrier: Barrier) {
        fence(match barrier {
            Barrier::Acquire => Ordering::Acquire,
            Barrier::Release => Ordering::Release,
            Barrier::Full => Ordering::SeqCst,
        });
    }

    /// Reads a little-endian `u16` at `gpa`.
    fn read_u16(&self, gpa: u64) -> Result<u16, MemError> {
        let mut b = [0u8; 2];
        self.read(gpa, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Reads a little-endian `u32` at `gpa`.
    fn read_u32(&self, gpa: u64) -> Result<u32, MemError> {
        let mut b = [0u8; 4];
        self.read(gpa, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a little-endian `u64` at `gpa`.
    fn read_u64(&self, gpa: u64) -> Result<u64, MemError> {
        let mut b = [0u8; 8];
        self.read(gpa, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes `value` little-endian at `gpa`.
    fn write_u16(&self, gpa: u64, value: u16) -> Result<(), MemError> {
        self.write(gpa, &value.to_le_bytes())
    }

    /// Writes `value` little-endian at `gpa`.
    fn write_u32(&self, gpa: u64, value: u32) -> Result<(), MemError> {
        self.write(gpa, &value.to_le_bytes())
    }
}
