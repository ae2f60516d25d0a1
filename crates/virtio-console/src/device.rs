//! The console device: transmit to a sink, receive from a bounded FIFO.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use virtio_core::{
    DescriptorChain, DeviceError, GuestMemory, MmioTransport, Queue, VIRTIO_F_VERSION_1,
    VirtioDevice,
};

/// The virtio device ID of a console.
pub const DEVICE_ID: u32 = 3;
/// Port 0's receive queue (host to guest).
pub const RECEIVEQ: u16 = 0;
/// Port 0's transmit queue (guest to host).
pub const TRANSMITQ: u16 = 1;
/// Bytes moved to the sink at once.
const CHUNK: usize = 256;
/// Bytes of configuration space (cols, rows, max_nr_ports, emerg_wr): all
/// zero, as none of their features is offered.
const CONFIG_SPACE_SIZE: u64 = 12;

/// Where guest output goes: the VM's console.
pub trait ConsoleSink {
    /// Takes bytes the guest wrote; must not block.
    fn write(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> ConsoleSink for F {
    fn write(&mut self, bytes: &[u8]) {
        self(bytes)
    }
}

/// The console's limits, fixed when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// Maximum size of each queue (at least 2).
    pub queue_size: u16,
    /// Capacity of the host-input FIFO in bytes.
    pub input_capacity: usize,
    /// Transmit chains served per notification (at least 1).
    pub max_tx_chains: u32,
    /// Bytes of one transmit chain passed to the sink; the rest is dropped.
    pub max_tx_bytes: u32,
    /// Receive chains filled per call (at least 1).
    pub max_rx_chains: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            queue_size: 64,
            input_capacity: 4096,
            max_tx_chains: 64,
            max_tx_bytes: 4096,
            max_rx_chains: 64,
        }
    }
}

/// Counters of what the console moved and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsoleStats {
    /// Bytes passed to the sink.
    pub tx_bytes: u64,
    /// Transmit bytes dropped over `max_tx_bytes`.
    pub tx_truncated: u64,
    /// Bytes delivered into receive buffers.
    pub rx_bytes: u64,
    /// Host input dropped because the FIFO was full.
    pub input_dropped: u64,
    /// Chains completed with length 0 as malformed (or, on the receive
    /// queue, without a writable byte).
    pub malformed: u64,
}

/// A one-port virtio console writing guest output to `S`.
#[derive(Debug)]
pub struct VirtioConsole<S> {
    sink: S,
    config: ConsoleConfig,
    input: VecDeque<u8>,
    stats: ConsoleStats,
    tx_pending: bool,
    chunk: Vec<u8>,
}

impl<S: ConsoleSink> VirtioConsole<S> {
    /// A console writing to `sink` with the limits of `config`.
    pub fn new(sink: S, config: ConsoleConfig) -> Self {
        let config = ConsoleConfig {
            queue_size: config.queue_size.max(2),
            max_tx_chains: config.max_tx_chains.max(1),
            max_rx_chains: config.max_rx_chains.max(1),
            ..config
        };
        Self {
            sink,
            config,
            input: VecDeque::with_capacity(config.input_capacity),
            stats: ConsoleStats::default(),
            tx_pending: false,
            chunk: vec![0; CHUNK],
        }
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// What was moved and dropped so far.
    pub fn stats(&self) -> ConsoleStats {
        self.stats
    }

    /// Host input waiting for receive buffers.
    pub fn input_len(&self) -> usize {
        self.input.len()
    }

    /// Whether the last transmit call stopped at its chain limit: call
    /// [`VirtioConsole::transmit`] again (through
    /// [`MmioTransport::run_device`]) before the guest runs for long.
    pub fn has_pending(&self) -> bool {
        self.tx_pending
    }

    /// Queues host input; returns how many bytes were taken (the rest is
    /// dropped and counted). Call [`VirtioConsole::receive`] (or use
    /// [`push_input`]) to deliver it.
    pub fn queue_input(&mut self, bytes: &[u8]) -> usize {
        let room = self.config.input_capacity.saturating_sub(self.input.len());
        let n = bytes.len().min(room);
        self.input.extend(&bytes[..n]);
        self.stats.input_dropped += (bytes.len() - n) as u64;
        n
    }

    /// Moves queued input into the guest's receive buffers; `Ok(true)`
    /// asks for a used-buffer interrupt.
    pub fn receive(
        &mut self,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        let Some(q) = ready_queue(queues, RECEIVEQ) else {
            return Ok(false);
        };
        for _ in 0..self.config.max_rx_chains {
            if self.input.is_empty() {
                break;
            }
            let Some(chain) = q.pop_or_discard(mem, &mut self.stats.malformed)? else {
                break;
            };
            let len = self.fill(mem, &chain);
            if len == 0 {
                self.stats.malformed += 1;
            }
            q.add_used(mem, chain.token(), len)?;
            q.recycle(chain);
        }
        Ok(q.needs_notification(mem)?)
    }

    /// Copies FIFO bytes into `chain`'s writable buffers; the bytes
    /// written (they leave the FIFO only if the copy succeeded).
    fn fill(&mut self, mem: &dyn GuestMemory, chain: &DescriptorChain) -> u32 {
        let room = usize::try_from(chain.writable_len()).unwrap_or(usize::MAX);
        let n = self.input.len().min(room);
        let (a, b) = self.input.as_slices();
        let first = n.min(a.len());
        let ok = chain.write_at(mem, 0, &a[..first]).is_ok()
            && chain.write_at(mem, first as u64, &b[..n - first]).is_ok();
        if !ok {
            return 0;
        }
        self.input.drain(..n);
        self.stats.rx_bytes += n as u64;
        // `n` is at most the FIFO capacity's worth of one chain (< 4 GiB).
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Passes guest output to the sink; `Ok(true)` asks for a used-buffer
    /// interrupt.
    pub fn transmit(
        &mut self,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        self.tx_pending = false;
        let Some(q) = ready_queue(queues, TRANSMITQ) else {
            return Ok(false);
        };
        for _ in 0..self.config.max_tx_chains {
            let Some(chain) = q.pop_or_discard(mem, &mut self.stats.malformed)? else {
                return Ok(q.needs_notification(mem)?);
            };
            self.drain_chain(mem, &chain);
            q.add_used(mem, chain.token(), 0)?;
            q.recycle(chain);
        }
        self.tx_pending = true;
        Ok(q.needs_notification(mem)?)
    }

    fn drain_chain(&mut self, mem: &dyn GuestMemory, chain: &DescriptorChain) {
        let total = chain.readable_len();
        let len = total.min(u64::from(self.config.max_tx_bytes));
        self.stats.tx_truncated += total - len;
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(CHUNK as u64) as usize;
            let buf = &mut self.chunk[..n];
            if chain.read_at(mem, done, buf).is_err() {
                self.stats.malformed += 1;
                return;
            }
            self.sink.write(buf);
            self.stats.tx_bytes += n as u64;
            done += n as u64;
        }
    }
}

/// The queue at `index` if it is enabled.
fn ready_queue(queues: &mut [Queue], index: u16) -> Option<&mut Queue> {
    queues.get_mut(usize::from(index)).filter(|q| q.ready())
}

impl<S: ConsoleSink> VirtioDevice for VirtioConsole<S> {
    fn device_id(&self) -> u32 {
        DEVICE_ID
    }

    fn device_features(&self) -> u64 {
        VIRTIO_F_VERSION_1
    }

    fn num_queues(&self) -> u16 {
        2
    }

    fn queue_max_size(&self, _queue: u16) -> u16 {
        self.config.queue_size
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // Every field reads as zero; bytes past the space stay zero too.
        if offset < CONFIG_SPACE_SIZE {
            data.fill(0);
        }
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}

    fn activate(
        &mut self,
        _features: u64,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        self.receive(queues, mem)
    }

    /// Host input already queued is kept for the next driver.
    fn reset(&mut self) {
        self.tx_pending = false;
    }

    fn queue_notify(
        &mut self,
        queue: u16,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        match queue {
            RECEIVEQ => self.receive(queues, mem),
            TRANSMITQ => self.transmit(queues, mem),
            _ => Ok(false),
        }
    }
}

/// Host input for the console behind `t`: queues `bytes` (returns how many
/// were taken) and delivers what the guest has buffers for, raising the
/// interrupt; set the device's IRQ line to [`MmioTransport::irq_level`]
/// afterwards.
pub fn push_input<S: ConsoleSink>(
    t: &mut MmioTransport<VirtioConsole<S>>,
    mem: &dyn GuestMemory,
    bytes: &[u8],
) -> usize {
    let taken = t.device_mut().queue_input(bytes);
    t.run_device(mem, |dev, queues, m| dev.receive(queues, m));
    taken
}
