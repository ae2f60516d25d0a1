//! The device: its state, counters and the [`VirtioDevice`] methods.

use virtio_core::{DeviceError, GuestMemory, Queue, VirtioDevice};

use crate::config::{self, NetConfig, RECEIVEQ, TRANSMITQ};
use crate::{FrameQueue, Mac};

/// Counters of what the device moved and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Frames the guest sent that went into the outbox.
    pub tx_frames: u64,
    /// Their bytes (headers not counted).
    pub tx_bytes: u64,
    /// Frames written into the guest's receive buffers.
    pub rx_frames: u64,
    /// Their bytes (headers not counted).
    pub rx_bytes: u64,
    /// Transmit chains completed without a frame: malformed chains,
    /// chains shorter than the header, headers asking for an offload,
    /// frames guest memory refused.
    pub tx_malformed: u64,
    /// Transmitted frames shorter than an Ethernet header.
    pub tx_runt: u64,
    /// Transmitted frames longer than [`crate::MAX_FRAME`].
    pub tx_oversize: u64,
    /// Receive chains completed empty: too small for header and frame.
    pub rx_too_small: u64,
    /// Receive chains completed empty: malformed, or refused by guest
    /// memory.
    pub rx_malformed: u64,
    /// Frames for the guest dropped because the backlog was full.
    pub rx_backlog_dropped: u64,
    /// Frames for the guest dropped because its driver was not running.
    pub rx_not_live: u64,
    /// Frames for the guest dropped as longer than [`crate::MAX_FRAME`].
    pub rx_oversize: u64,
}

/// A virtio network card with its own outbox and receive backlog.
#[derive(Debug)]
pub struct VirtioNet {
    pub(crate) config: NetConfig,
    link_up: bool,
    /// Negotiated features, set at `DRIVER_OK`.
    features: u64,
    /// `DRIVER_OK` was set and no reset followed.
    activated: bool,
    /// A call failed with a [`DeviceError`]: the transport marked the
    /// device `DEVICE_NEEDS_RESET`.
    broken: bool,
    pub(crate) outbox: FrameQueue,
    pub(crate) backlog: FrameQueue,
    pub(crate) tx_pending: bool,
    pub(crate) rx_pending: bool,
    pub(crate) stats: NetStats,
}

impl VirtioNet {
    /// A device with `config` (normalized); allocates its outbox and
    /// backlog here, nothing afterwards.
    pub fn new(config: NetConfig) -> Self {
        let config = config.normalized();
        Self {
            config,
            link_up: true,
            features: 0,
            activated: false,
            broken: false,
            outbox: FrameQueue::new(config.outbox_frames),
            backlog: FrameQueue::new(config.backlog_frames),
            tx_pending: false,
            rx_pending: false,
            stats: NetStats::default(),
        }
    }

    /// The guest's MAC.
    pub fn mac(&self) -> Mac {
        self.config.mac
    }

    /// The limits in force.
    pub fn config(&self) -> NetConfig {
        self.config
    }

    /// What was moved and dropped so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Sets the link state; `true` if it changed (then call the
    /// transport's `config_changed()`).
    pub fn set_link(&mut self, up: bool) -> bool {
        let changed = self.link_up != up;
        self.link_up = up;
        changed
    }

    /// Whether frames can be delivered: the driver set `DRIVER_OK`, the
    /// device is not broken and the receive queue is enabled.
    pub fn is_live(&self, queues: &[Queue]) -> bool {
        self.activated
            && !self.broken
            && queues.get(usize::from(RECEIVEQ)).is_some_and(Queue::ready)
    }

    /// Whether work was left over: the last transmit stopped with chains
    /// perhaps left (outbox full or its chain limit), or the last refill
    /// stopped at `max_rx_per_call` with backlog frames waiting. Call
    /// [`VirtioNet::run_pending`] (through `MmioTransport::run_device`)
    /// after taking the outbox.
    pub fn has_pending(&self) -> bool {
        self.tx_pending || self.rx_pending
    }

    /// Continues what [`VirtioNet::has_pending`] reports: a transmit, a
    /// refill or both.
    pub fn run_pending(
        &mut self,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        let mut notify = false;
        if self.tx_pending {
            notify |= self.transmit(queues, mem)?;
        }
        if self.rx_pending {
            notify |= self.refill(queues, mem)?;
        }
        Ok(notify)
    }

    /// Frames waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Frames waiting for receive buffers.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// An empty queue the size of the outbox, to pass to
    /// [`VirtioNet::take_outbox`] (allocates: make it once).
    pub fn spare_outbox(&self) -> FrameQueue {
        FrameQueue::new(self.outbox.capacity())
    }

    /// Swaps the outbox with `spare` (cleared first), in O(1): the frames
    /// the guest sent are then in `spare`, in order. Pass a queue of the
    /// outbox's capacity ([`VirtioNet::spare_outbox`]), or the outbox
    /// takes the capacity of what was passed.
    pub fn take_outbox(&mut self, spare: &mut FrameQueue) {
        spare.clear();
        core::mem::swap(&mut self.outbox, spare);
    }

    /// The header length for the negotiated features.
    pub(crate) fn header_len(&self) -> usize {
        config::header_len(self.features)
    }

    /// Notes a failure the transport answers with `DEVICE_NEEDS_RESET`.
    pub(crate) fn check<T>(&mut self, r: Result<T, DeviceError>) -> Result<T, DeviceError> {
        if r.is_err() {
            self.broken = true;
        }
        r
    }
}

impl VirtioDevice for VirtioNet {
    fn device_id(&self) -> u32 {
        config::DEVICE_ID
    }

    fn device_features(&self) -> u64 {
        self.config.features()
    }

    fn num_queues(&self) -> u16 {
        2
    }

    fn queue_max_size(&self, _queue: u16) -> u16 {
        self.config.queue_size
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let space = config::space(&self.config.mac, self.link_up);
        virtio_core::read_config_space(&space, offset, data);
    }

    /// The configuration space is read-only (no `CTRL_MAC_ADDR`).
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}

    fn activate(
        &mut self,
        features: u64,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        self.features = features;
        self.activated = true;
        self.broken = false;
        self.refill(queues, mem)
    }

    /// Drops the outbox, the backlog and pending work; keeps the memory,
    /// the counters and the link state.
    fn reset(&mut self) {
        self.outbox.clear();
        self.backlog.clear();
        self.tx_pending = false;
        self.rx_pending = false;
        self.features = 0;
        self.activated = false;
        self.broken = false;
    }

    fn queue_notify(
        &mut self,
        queue: u16,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        match queue {
            RECEIVEQ => self.refill(queues, mem),
            TRANSMITQ => self.transmit(queues, mem),
            _ => Ok(false),
        }
    }
}

/// The queue at `index` if it is enabled.
pub(crate) fn ready_queue(queues: &mut [Queue], index: u16) -> Option<&mut Queue> {
    queues.get_mut(usize::from(index)).filter(|q| q.ready())
}
