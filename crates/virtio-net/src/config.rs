//! Identity, features, limits and configuration space of the device.

use virtio_core::{VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1};

use crate::Mac;

/// The virtio device ID of a network card.
pub const DEVICE_ID: u32 = 1;
/// The receive queue (host to guest).
pub const RECEIVEQ: u16 = 0;
/// The transmit queue (guest to host).
pub const TRANSMITQ: u16 = 1;
/// Feature bit: the device has a MAC in configuration space.
pub const NET_F_MAC: u64 = 1 << 5;
/// Feature bit: the device reports the link status in configuration space.
pub const NET_F_STATUS: u64 = 1 << 16;
/// Status bit: the link is up.
pub const NET_S_LINK_UP: u16 = 1;
/// Bytes of the header before each frame with `VIRTIO_F_VERSION_1`
/// (`virtio_net_hdr_v1`, `num_buffers` included).
pub const HEADER_LEN: usize = 12;
/// Bytes of the header without `VIRTIO_F_VERSION_1` (and without
/// mergeable buffers, never offered): no `num_buffers`.
pub const LEGACY_HEADER_LEN: usize = 10;
/// Bytes of configuration space: `mac[6]`, `status: u16`.
pub const CONFIG_SPACE_SIZE: usize = 8;
/// Ring features the device may offer (those virtio-core implements).
pub const RING_FEATURES: u64 = VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC;

/// The device's address and limits, fixed when it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// The MAC the guest is given.
    pub mac: Mac,
    /// Maximum size of each queue (at least 2).
    pub queue_size: u16,
    /// Frames the outbox holds between two [`crate::VirtioNet::take_outbox`]
    /// (at least 1).
    pub outbox_frames: usize,
    /// Frames kept for the guest while it has no receive buffer.
    pub backlog_frames: usize,
    /// Backlog frames delivered per [`crate::VirtioNet::refill`] (at least 1).
    pub max_rx_per_call: u32,
    /// Ring features to offer, of [`RING_FEATURES`] (others are ignored).
    pub ring_features: u64,
}

impl NetConfig {
    /// `mac` with the default limits.
    pub fn new(mac: Mac) -> Self {
        Self {
            mac,
            queue_size: 256,
            outbox_frames: 32,
            backlog_frames: 64,
            max_rx_per_call: 64,
            ring_features: 0,
        }
    }

    /// The limits raised to their minimums.
    pub(crate) fn normalized(self) -> Self {
        Self {
            queue_size: self.queue_size.max(2),
            outbox_frames: self.outbox_frames.max(1),
            max_rx_per_call: self.max_rx_per_call.max(1),
            ring_features: self.ring_features & RING_FEATURES,
            ..self
        }
    }

    /// The features the device offers.
    pub fn features(&self) -> u64 {
        VIRTIO_F_VERSION_1 | NET_F_MAC | NET_F_STATUS | (self.ring_features & RING_FEATURES)
    }
}

/// The configuration space for `mac` and the link state.
pub(crate) fn space(mac: &Mac, link_up: bool) -> [u8; CONFIG_SPACE_SIZE] {
    let status = if link_up { NET_S_LINK_UP } else { 0 };
    let mut s = [0u8; CONFIG_SPACE_SIZE];
    s[..6].copy_from_slice(mac);
    s[6..].copy_from_slice(&status.to_le_bytes());
    s
}

/// The header length for the negotiated `features`.
pub(crate) fn header_len(features: u64) -> usize {
    if features & VIRTIO_F_VERSION_1 != 0 {
        HEADER_LEN
    } else {
        LEGACY_HEADER_LEN
    }
}
