//! The device's limits, the features it offers and its configuration
//! space (virtio 1.x §5.2.3-4).

use virtio_core::{MAX_QUEUE_SIZE, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1};

use crate::backend::SECTOR_SIZE;

/// Feature: `size_max` bounds each data segment.
pub const VIRTIO_BLK_F_SIZE_MAX: u64 = 1 << 1;
/// Feature: `seg_max` bounds the data segments of a request.
pub const VIRTIO_BLK_F_SEG_MAX: u64 = 1 << 2;
/// Feature: the device is read-only.
pub const VIRTIO_BLK_F_RO: u64 = 1 << 5;
/// Feature: `blk_size` is valid.
pub const VIRTIO_BLK_F_BLK_SIZE: u64 = 1 << 6;
/// Feature: FLUSH requests (a write-back cache).
pub const VIRTIO_BLK_F_FLUSH: u64 = 1 << 9;

/// Default maximum size of the request queue.
pub const DEFAULT_QUEUE_SIZE: u16 = 128;
/// Default cap on the data bytes of one request (1 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: u32 = 1 << 20;
/// Default number of requests served per notification.
pub const DEFAULT_MAX_REQUESTS_PER_NOTIFY: u32 = 32;
/// Bytes of configuration space modelled (up to `num_queues`); the rest
/// reads as zero.
pub const CONFIG_SPACE_SIZE: usize = 36;

/// Smallest data cap: one 4 KiB page, so that `size_max` can be a page.
const MIN_REQUEST_BYTES: u32 = 4096;

/// The device's limits, fixed when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkConfig {
    /// Maximum size of the request queue (at least 4).
    pub queue_size: u16,
    /// Cap on the data bytes of one request (rounded down to sectors, at
    /// least 4096); a larger request fails with `IOERR`.
    pub max_request_bytes: u32,
    /// Requests served per notification (at least 1).
    pub max_requests_per_notify: u32,
    /// Ring features to offer: `VIRTIO_F_INDIRECT_DESC` and/or
    /// `VIRTIO_F_EVENT_IDX` (other bits are ignored). With `EVENT_IDX` the
    /// driver does not notify again for requests left pending, so the
    /// caller must call [`crate::VirtioBlk::process`] while
    /// [`crate::VirtioBlk::has_pending`].
    pub ring_features: u64,
}

impl Default for BlkConfig {
    fn default() -> Self {
        Self {
            queue_size: DEFAULT_QUEUE_SIZE,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_requests_per_notify: DEFAULT_MAX_REQUESTS_PER_NOTIFY,
            ring_features: 0,
        }
    }
}

impl BlkConfig {
    /// The configuration with every limit brought into its valid range.
    pub fn normalized(self) -> Self {
        let bytes = self.max_request_bytes.max(MIN_REQUEST_BYTES);
        Self {
            queue_size: self.queue_size.clamp(4, MAX_QUEUE_SIZE),
            max_request_bytes: bytes - bytes % SECTOR_SIZE as u32,
            max_requests_per_notify: self.max_requests_per_notify.max(1),
            ring_features: self.ring_features & (VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX),
        }
    }

    /// `seg_max`: data segments per request, leaving room in the queue for
    /// the header and status, and at least a page per segment under the cap.
    pub fn seg_max(&self) -> u32 {
        let by_queue = u32::from(self.queue_size).saturating_sub(2).max(1);
        by_queue
            .min(self.max_request_bytes / MIN_REQUEST_BYTES)
            .max(1)
    }

    /// `size_max`: bytes per data segment, so that `seg_max * size_max`
    /// stays within the cap (a driver that honours both never exceeds it).
    pub fn size_max(&self) -> u32 {
        let per_seg = self.max_request_bytes / self.seg_max();
        per_seg - per_seg % SECTOR_SIZE as u32
    }

    /// The features offered for a backend that is `read_only` or not.
    pub fn features(&self, read_only: bool) -> u64 {
        let ro = if read_only { VIRTIO_BLK_F_RO } else { 0 };
        VIRTIO_F_VERSION_1
            | VIRTIO_BLK_F_SIZE_MAX
            | VIRTIO_BLK_F_SEG_MAX
            | VIRTIO_BLK_F_BLK_SIZE
            | VIRTIO_BLK_F_FLUSH
            | ro
            | self.ring_features
    }

    /// The configuration space (`struct virtio_blk_config`, little-endian)
    /// for a disk of `capacity` sectors.
    pub fn space(&self, capacity: u64) -> [u8; CONFIG_SPACE_SIZE] {
        let mut s = [0u8; CONFIG_SPACE_SIZE];
        s[0..8].copy_from_slice(&capacity.to_le_bytes());
        s[8..12].copy_from_slice(&self.size_max().to_le_bytes());
        s[12..16].copy_from_slice(&self.seg_max().to_le_bytes());
        // 16..20: geometry, not offered.
        s[20..24].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes());
        // 24..32: topology, not offered; 32: writeback, no CONFIG_WCE.
        s[34..36].copy_from_slice(&1u16.to_le_bytes()); // num_queues
        s
    }
}
