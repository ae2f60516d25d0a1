//! What a transport needs from a virtio device model.

use core::fmt;

use crate::memory::GuestMemory;
use crate::queue::{Queue, QueueError};

/// Device status bit: the guest has noticed the device.
pub const STATUS_ACKNOWLEDGE: u32 = 1;
/// Device status bit: the guest has a driver for it.
pub const STATUS_DRIVER: u32 = 2;
/// Device status bit: the driver is set up and the device is live.
pub const STATUS_DRIVER_OK: u32 = 4;
/// Device status bit: feature negotiation is complete.
pub const STATUS_FEATURES_OK: u32 = 8;
/// Device status bit (set by the device): it hit an error and needs a reset.
pub const STATUS_DEVICE_NEEDS_RESET: u32 = 64;
/// Device status bit: the driver gave up on the device.
pub const STATUS_FAILED: u32 = 128;

/// The vendor ID our devices report ("AXVS").
pub const VENDOR_ID: u32 = u32::from_le_bytes(*b"AXVS");

/// A device that cannot go on; the transport sets `DEVICE_NEEDS_RESET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceError {
    /// A virtqueue is broken.
    Queue(QueueError),
    /// The driver broke the device's own protocol, or its backend failed.
    Broken,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Queue(e) => write!(f, "virtqueue: {e}"),
            Self::Broken => f.write_str("device broken"),
        }
    }
}

impl core::error::Error for DeviceError {}

impl From<QueueError> for DeviceError {
    fn from(e: QueueError) -> Self {
        Self::Queue(e)
    }
}

/// A virtio device model (block, console, ...) behind a transport.
///
/// The transport owns the queues and passes them in; the device owns its
/// backend and configuration space. Methods returning `Ok(true)` ask for a
/// used-buffer notification (see [`Queue::needs_notification`]).
pub trait VirtioDevice {
    /// The virtio device ID (2 for block, 3 for console).
    fn device_id(&self) -> u32;

    /// The vendor ID reported to the driver.
    fn vendor_id(&self) -> u32 {
        VENDOR_ID
    }

    /// Features offered; include `VIRTIO_F_VERSION_1` (Linux requires it
    /// of a version-2 MMIO device). The transport does not require the
    /// driver to accept it (see [`crate::MmioTransport`]).
    fn device_features(&self) -> u64;

    /// How many virtqueues the device has (fixed for its lifetime).
    fn num_queues(&self) -> u16;

    /// The largest size queue `queue` may have.
    fn queue_max_size(&self, queue: u16) -> u16;

    /// Fills `data` from configuration space at `offset`; bytes past the
    /// end of the space stay as given (zero).
    fn read_config(&self, offset: u64, data: &mut [u8]);

    /// A driver write to configuration space at `offset`; ignore what is
    /// read-only or out of range.
    fn write_config(&mut self, offset: u64, data: &[u8]);

    /// The driver set `DRIVER_OK` with the negotiated `features`.
    fn activate(
        &mut self,
        features: u64,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError>;

    /// The driver reset the device: drop all requests in flight.
    fn reset(&mut self);

    /// The driver notified `queue`, which is enabled and below
    /// [`VirtioDevice::num_queues`].
    fn queue_notify(
        &mut self,
        queue: u16,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError>;
}

/// Copies configuration-space bytes from `space` at `offset` into `data`
/// (a driver's read); bytes past the end of `space` stay as given.
pub fn read_config_space(space: &[u8], offset: u64, data: &mut [u8]) {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    for (i, b) in data.iter_mut().enumerate() {
        if let Some(v) = start.checked_add(i).and_then(|at| space.get(at)) {
            *b = *v;
        }
    }
}
