//! Transmit: frames from the guest's transmit queue into the outbox.

use virtio_core::{DescriptorChain, DeviceError, GuestMemory, Queue};

use crate::config::{HEADER_LEN, TRANSMITQ};
use crate::device::{VirtioNet, ready_queue};
use crate::{MAX_FRAME, MIN_FRAME};

impl VirtioNet {
    /// Moves the frames the guest posted on the transmit queue into the
    /// outbox, until the queue is empty, the outbox full or a queue's
    /// worth of chains was served (then [`VirtioNet::has_pending`]).
    /// Every chain is completed with length 0, dropped ones too (counted
    /// in [`crate::NetStats`]). `Ok(true)` asks for a used-buffer
    /// interrupt.
    pub fn transmit(
        &mut self,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        let r = self.transmit_chains(queues, mem);
        self.check(r)
    }

    fn transmit_chains(
        &mut self,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        self.tx_pending = false;
        let Some(q) = ready_queue(queues, TRANSMITQ) else {
            return Ok(false);
        };
        // A concurrent guest may keep posting: a bound on the chains served.
        let mut budget = q.size();
        loop {
            if self.outbox.is_full() || budget == 0 {
                self.tx_pending = true;
                break;
            }
            let Some(chain) = q.pop_or_discard(mem, &mut self.stats.tx_malformed)? else {
                break;
            };
            budget -= 1;
            self.take_frame(mem, &chain);
            q.add_used(mem, chain.token(), 0)?;
            q.recycle(chain);
        }
        Ok(q.needs_notification(mem)?)
    }

    /// Copies the frame of `chain` into the outbox, or counts why not.
    fn take_frame(&mut self, mem: &dyn GuestMemory, chain: &DescriptorChain) {
        let hlen = self.header_len();
        let stats = &mut self.stats;
        let mut header = [0u8; HEADER_LEN];
        let header = &mut header[..hlen];
        let Some(frame_len) = chain.readable_len().checked_sub(hlen as u64) else {
            stats.tx_malformed += 1;
            return;
        };
        // `flags` and `gso_type`: no checksum or segmentation was offered.
        if chain.read_at(mem, 0, header).is_err() || header[0] != 0 || header[1] != 0 {
            stats.tx_malformed += 1;
            return;
        }
        if frame_len < MIN_FRAME as u64 {
            stats.tx_runt += 1;
            return;
        }
        if frame_len > MAX_FRAME as u64 {
            stats.tx_oversize += 1;
            return;
        }
        // At most MAX_FRAME.
        let len = frame_len as usize;
        let copied = self
            .outbox
            .push_with(len, |slot| chain.read_at(mem, hlen as u64, slot).is_ok());
        if copied {
            stats.tx_frames += 1;
            stats.tx_bytes += frame_len;
        } else {
            stats.tx_malformed += 1;
        }
    }
}
