//! The common part of the hypervisor's own virtio devices: guest-memory
//! access, the device side of split virtqueues and the virtio-mmio
//! transport (virtio 1.x, modern registers only).
//!
//! The guest is hostile: every ring index, descriptor and address it
//! writes is bounds-checked, every failure is a typed error, and nothing
//! here panics on guest data. Guest memory is reached only through
//! [`GuestMemory`], which the hypervisor implements over the VM's own RAM.
//!
//! A device model implements [`VirtioDevice`]; [`MmioTransport`] runs the
//! registers, feature negotiation and queue setup, and calls the device on
//! `DRIVER_OK` and on each queue notification. The device pops
//! [`DescriptorChain`]s from its [`Queue`]s, copies data with
//! [`DescriptorChain::read_at`]/[`DescriptorChain::write_at`], completes
//! them with [`Queue::add_used`] and asks [`Queue::needs_notification`]
//! whether to interrupt.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod chain;
mod device;
mod memory;
pub mod mmio;
mod queue;

pub use chain::{
    BufferError, ChainError, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, DESC_SIZE,
    DescriptorChain, Segment, UsedToken,
};
pub use device::{
    DeviceError, STATUS_ACKNOWLEDGE, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER, STATUS_DRIVER_OK,
    STATUS_FAILED, STATUS_FEATURES_OK, VENDOR_ID, VirtioDevice, read_config_space,
};
pub use memory::{Barrier, GuestMemory, MemError};
pub use mmio::MmioTransport;
pub use queue::{
    AVAIL_F_NO_INTERRUPT, DEFAULT_LEN_CAP, MAX_QUEUE_SIZE, Queue, QueueError, RingPart,
};

/// Feature bit: descriptors may point to indirect tables.
pub const VIRTIO_F_INDIRECT_DESC: u64 = 1 << 28;
/// Feature bit: `used_event`/`avail_event` suppress notifications.
pub const VIRTIO_F_EVENT_IDX: u64 = 1 << 29;
/// Feature bit: a virtio 1.x ("modern") device; offered, not required
/// of the driver (the transport is modern and little-endian either way).
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;
