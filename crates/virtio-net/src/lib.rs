//! The hypervisor's virtio network device (virtio 1.x §5.1), a
//! [`VirtioDevice`](virtio_core::VirtioDevice) for
//! [`MmioTransport`](virtio_core::MmioTransport): one receive queue (0)
//! and one transmit queue (1), a MAC and a link status in configuration
//! space, and no offloads (no checksum, GSO, mergeable buffers or control
//! queue), so every frame is whole and already checksummed.
//!
//! - Transmit: a notification of queue 1 copies each frame straight from
//!   guest memory into the device's bounded outbox
//!   ([`l2_switch::FrameQueue`]); the VMM swaps it out
//!   ([`VirtioNet::take_outbox`]) and routes the frames with no lock of
//!   this device held. Malformed, runt and oversize frames are completed
//!   and counted, never passed on. When the outbox is full the device
//!   stops and says so ([`VirtioNet::has_pending`]).
//! - Receive: [`VirtioNet::deliver`] writes a frame into the guest's next
//!   receive buffer, or keeps it in a bounded backlog (in order) until the
//!   guest posts buffers and notifies queue 0.
//!
//! The header is 12 bytes (`virtio_net_hdr_v1`) once `VIRTIO_F_VERSION_1`
//! is negotiated, and the legacy 10 bytes (no `num_buffers`) for a driver
//! that does not accept it (virtio-drivers 0.7.5, which the transport
//! allows).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod config;
mod device;
mod rx;
mod tx;

pub use config::{
    CONFIG_SPACE_SIZE, DEVICE_ID, HEADER_LEN, LEGACY_HEADER_LEN, NET_F_MAC, NET_F_STATUS,
    NET_S_LINK_UP, NetConfig, RECEIVEQ, RING_FEATURES, TRANSMITQ,
};
pub use device::{NetStats, VirtioNet};
pub use l2_switch::{FrameQueue, MAX_FRAME, MIN_FRAME, Mac};
pub use rx::{Delivery, RxDrop};
