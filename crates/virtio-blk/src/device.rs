//! The block device: [`VirtioBlk`] serves its one request queue in order,
//! a bounded number of requests per call.

use alloc::vec::Vec;

use virtio_core::{DeviceError, GuestMemory, Queue, VirtioDevice};

use crate::backend::BlockBackend;
use crate::config::{BlkConfig, VIRTIO_BLK_F_FLUSH};
use crate::request::{self, Limits, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP};

/// The virtio device ID of a block device.
pub const DEVICE_ID: u32 = 2;
/// Most bytes copied through the bounce buffer at once.
pub(crate) const BOUNCE_BYTES: usize = 64 * 1024;

/// Counters of what the device served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkStats {
    /// Requests completed with `OK`.
    pub ok: u64,
    /// Requests completed with `IOERR`.
    pub io_errors: u64,
    /// Requests completed with `UNSUPP`.
    pub unsupported: u64,
    /// Chains completed with length 0 and no status: malformed, or
    /// without a writable status byte.
    pub malformed: u64,
}

/// A virtio block device over the backend `B`.
#[derive(Debug)]
pub struct VirtioBlk<B> {
    backend: B,
    config: BlkConfig,
    features: u64,
    pending: bool,
    stats: BlkStats,
    bounce: Vec<u8>,
}

impl<B: BlockBackend> VirtioBlk<B> {
    /// A device over `backend` with the limits of `config` (normalized).
    pub fn new(backend: B, config: BlkConfig) -> Self {
        Self {
            backend,
            config: config.normalized(),
            features: 0,
            pending: false,
            stats: BlkStats::default(),
            bounce: Vec::new(),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutably.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// The limits in force.
    pub fn config(&self) -> BlkConfig {
        self.config
    }

    /// What was served so far.
    pub fn stats(&self) -> BlkStats {
        self.stats
    }

    /// Whether the last call stopped at its request limit with requests
    /// perhaps left: call [`VirtioBlk::process`] again (through
    /// [`virtio_core::MmioTransport::run_device`]) before the guest runs
    /// for long.
    pub fn has_pending(&self) -> bool {
        self.pending
    }

    /// Serves up to `max_requests_per_notify` requests of queue 0; `Ok(true)`
    /// asks for a used-buffer interrupt. A malformed chain is completed
    /// with length 0; a broken ring is a [`DeviceError`].
    pub fn process(
        &mut self,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        self.pending = false;
        let Some(q) = queues.first_mut().filter(|q| q.ready()) else {
            return Ok(false);
        };
        let limits = Limits {
            max_bytes: u64::from(self.config.max_request_bytes),
            write_through: self.features & VIRTIO_BLK_F_FLUSH == 0,
        };
        for _ in 0..self.config.max_requests_per_notify {
            let Some(chain) = q.pop_or_discard(mem, &mut self.stats.malformed)? else {
                return Ok(q.needs_notification(mem)?);
            };
            let outcome = request::serve(&mut self.backend, mem, &chain, &limits, &mut self.bounce);
            let used_len = match outcome {
                Some(o) => {
                    self.count(o.status);
                    o.used_len
                }
                None => {
                    self.stats.malformed += 1;
                    0
                }
            };
            q.add_used(mem, chain.token(), used_len)?;
            q.recycle(chain);
        }
        self.pending = true;
        Ok(q.needs_notification(mem)?)
    }

    fn count(&mut self, status: u8) {
        let counter = match status {
            VIRTIO_BLK_S_OK => &mut self.stats.ok,
            VIRTIO_BLK_S_UNSUPP => &mut self.stats.unsupported,
            _ => &mut self.stats.io_errors,
        };
        *counter += 1;
    }
}

impl<B: BlockBackend> VirtioDevice for VirtioBlk<B> {
    fn device_id(&self) -> u32 {
        DEVICE_ID
    }

    fn device_features(&self) -> u64 {
        self.config.features(self.backend.read_only())
    }

    fn num_queues(&self) -> u16 {
        1
    }

    fn queue_max_size(&self, _queue: u16) -> u16 {
        self.config.queue_size
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let space = self.config.space(self.backend.capacity_sectors());
        virtio_core::read_config_space(&space, offset, data);
    }

    /// The configuration space is read-only (no `CONFIG_WCE`).
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}

    fn activate(
        &mut self,
        features: u64,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        self.features = features;
        self.process(queues, mem)
    }

    fn reset(&mut self) {
        self.features = 0;
        self.pending = false;
    }

    fn queue_notify(
        &mut self,
        queue: u16,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        if queue == 0 {
            self.process(queues, mem)
        } else {
            Ok(false)
        }
    }
}
