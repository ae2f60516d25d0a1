//! The hypervisor's virtio block device (virtio 1.x §5.2), a
//! [`VirtioDevice`](virtio_core::VirtioDevice) for
//! [`MmioTransport`](virtio_core::MmioTransport) over a [`BlockBackend`].
//!
//! Requests are served synchronously, in queue order: a request is
//! completed only after the backend call it needs returned. The device
//! offers `VIRTIO_BLK_F_FLUSH` and behaves as a write-back cache: a
//! completed write may sit in the backend's cache until a FLUSH, which
//! completes only after [`BlockBackend::flush`] returned `Ok`. A driver that
//! did not accept `FLUSH` gets a write-through device instead (every write
//! is flushed before it completes).
//!
//! Work is bounded: one request moves at most
//! [`BlkConfig::max_request_bytes`] (advertised through `SEG_MAX` and
//! `SIZE_MAX`; more is an I/O error), and one notification serves at most
//! [`BlkConfig::max_requests_per_notify`]; [`VirtioBlk::has_pending`] then
//! says to call [`VirtioBlk::process`] again later.
//!
//! Modules: `backend` (the trait, its errors, an in-memory disk),
//! `cached` (an image in memory written back to slower storage on flush),
//! `config` (limits, features, configuration space), `request` (one
//! request), `device` (the queue loop).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod backend;
mod cached;
mod config;
mod device;
mod request;

pub use backend::{BackendError, BlockBackend, ID_BYTES, MemBackend, SECTOR_SIZE};
pub use cached::{CachedImage, DIRTY_PAGE, ImageStore};
pub use config::{
    BlkConfig, CONFIG_SPACE_SIZE, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_REQUESTS_PER_NOTIFY,
    DEFAULT_QUEUE_SIZE, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO,
    VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_SIZE_MAX,
};
pub use device::{BlkStats, DEVICE_ID, VirtioBlk};
pub use request::{
    HEADER_SIZE, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_FLUSH,
    VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
};
