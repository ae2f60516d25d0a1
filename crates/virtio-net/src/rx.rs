//! Receive: frames into the guest's receive buffers, or the backlog.

use virtio_core::{BufferError, DescriptorChain, DeviceError, GuestMemory, Queue};

use crate::config::{HEADER_LEN, RECEIVEQ};
use crate::device::{NetStats, VirtioNet, ready_queue};
use crate::{FrameQueue, MAX_FRAME};

/// What [`VirtioNet::deliver`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Written into a receive buffer; `notify`: raise the used-buffer
    /// interrupt.
    Delivered {
        /// The driver wants an interrupt.
        notify: bool,
    },
    /// Kept in the backlog until the guest posts receive buffers.
    Queued,
    /// Dropped (counted in [`crate::NetStats`]).
    Dropped(RxDrop),
}

/// Why a frame for the guest was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxDrop {
    /// The driver is not running (no `DRIVER_OK`, receive queue disabled,
    /// or the device needs a reset).
    NotLive,
    /// The backlog is full.
    BacklogFull,
    /// Longer than [`MAX_FRAME`].
    Oversize,
}

impl VirtioNet {
    /// Hands `frame` to the guest: into its next receive buffer, or, if it
    /// has none or frames already wait, at the end of the backlog.
    pub fn deliver(
        &mut self,
        frame: &[u8],
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<Delivery, DeviceError> {
        let r = self.deliver_frame(frame, queues, mem);
        self.check(r)
    }

    fn deliver_frame(
        &mut self,
        frame: &[u8],
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<Delivery, DeviceError> {
        if !self.is_live(queues) {
            self.stats.rx_not_live += 1;
            return Ok(Delivery::Dropped(RxDrop::NotLive));
        }
        if frame.len() > MAX_FRAME {
            self.stats.rx_oversize += 1;
            return Ok(Delivery::Dropped(RxDrop::Oversize));
        }
        let hlen = self.header_len();
        if self.backlog.is_empty()
            && let Some(q) = ready_queue(queues, RECEIVEQ)
            && place(&mut self.stats, q, mem, hlen, frame)?
        {
            let notify = q.needs_notification(mem)?;
            return Ok(Delivery::Delivered { notify });
        }
        Ok(backlog(&mut self.backlog, &mut self.stats, frame))
    }

    /// Moves backlog frames, in order, into the guest's receive buffers:
    /// at most `max_rx_per_call` (then [`VirtioNet::has_pending`]).
    /// `Ok(true)` asks for a used-buffer interrupt.
    pub fn refill(
        &mut self,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        let r = self.refill_backlog(queues, mem);
        self.check(r)
    }

    fn refill_backlog(
        &mut self,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        self.rx_pending = false;
        if !self.is_live(queues) {
            return Ok(false);
        }
        let hlen = self.header_len();
        let Some(q) = ready_queue(queues, RECEIVEQ) else {
            return Ok(false);
        };
        let mut moved = 0;
        while let Some(frame) = self.backlog.front() {
            if moved == self.config.max_rx_per_call {
                self.rx_pending = true;
                break;
            }
            if !place(&mut self.stats, q, mem, hlen, frame)? {
                break;
            }
            self.backlog.pop_front();
            moved += 1;
        }
        Ok(q.needs_notification(mem)?)
    }
}

/// Appends `frame` to the backlog, or drops it if full.
fn backlog(backlog: &mut FrameQueue, stats: &mut NetStats, frame: &[u8]) -> Delivery {
    if backlog.push(frame) {
        Delivery::Queued
    } else {
        stats.rx_backlog_dropped += 1;
        Delivery::Dropped(RxDrop::BacklogFull)
    }
}

/// Writes `frame` into the next receive chain that holds it; `false` if
/// the guest has none. Chains too small or refused are completed empty
/// (their interrupt comes with the next one asked for); at most a queue's
/// worth are tried.
fn place(
    stats: &mut NetStats,
    q: &mut Queue,
    mem: &dyn GuestMemory,
    hlen: usize,
    frame: &[u8],
) -> Result<bool, DeviceError> {
    let need = hlen + frame.len();
    for _ in 0..q.size() {
        let Some(chain) = q.pop_or_discard(mem, &mut stats.rx_malformed)? else {
            return Ok(false);
        };
        let used = if chain.writable_len() < need as u64 {
            stats.rx_too_small += 1;
            0
        } else if write_frame(mem, &chain, hlen, frame).is_err() {
            stats.rx_malformed += 1;
            0
        } else {
            stats.rx_frames += 1;
            stats.rx_bytes += frame.len() as u64;
            // At most HEADER_LEN + MAX_FRAME.
            need as u32
        };
        q.add_used(mem, chain.token(), used)?;
        q.recycle(chain);
        if used != 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The header (no offload; `num_buffers` 1 when present) and the frame.
fn write_frame(
    mem: &dyn GuestMemory,
    chain: &DescriptorChain,
    hlen: usize,
    frame: &[u8],
) -> Result<(), BufferError> {
    let mut header = [0u8; HEADER_LEN];
    if hlen == HEADER_LEN {
        header[10..].copy_from_slice(&1u16.to_le_bytes());
    }
    chain.write_at(mem, 0, &header[..hlen])?;
    chain.write_at(mem, hlen as u64, frame)
}
