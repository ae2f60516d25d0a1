//! The hypervisor's own place on the host NIC, beside the VMs' switch
//! (feature `api`): the uplink task ([`super::uplink`]) hands it what the
//! NIC receives for the NIC's own MAC (and a copy of every broadcast and
//! multicast frame), and what it sends goes straight out of the NIC. So a
//! host network stack (the management API's) shares the NIC with the VMs,
//! and none of its traffic passes the switch.
//!
//! Received frames wait in a bounded queue ([`QUEUE_FRAMES`]); when it is
//! full, frames are dropped and counted. The endpoint knows no protocol.

use core::time::Duration;

use axtask::WaitQueue;
use kspin::SpinNoIrq;
use l2_switch::FrameQueue;

use super::net::MacText;
use super::uplink;
use crate::hal::{self, HostNic};

/// Frames the endpoint holds before it drops what comes in.
const QUEUE_FRAMES: usize = 64;

/// What the uplink task and the endpoint's owner share.
struct Shared {
    mac: [u8; 6],
    queue: SpinNoIrq<FrameQueue>,
    /// Where the owner waits for a frame.
    arrived: WaitQueue,
}

static SHARED: spin::Once<Shared> = spin::Once::new();

/// The hypervisor's own endpoint on the host NIC.
pub struct HostEndpoint {
    nic: &'static HostNic,
    shared: &'static Shared,
}

/// The host NIC's endpoint for the hypervisor's own traffic, if the host
/// has a NIC that serves as the uplink. From the first call on, frames for
/// the NIC's MAC no longer reach the switch.
pub fn host_endpoint() -> Option<HostEndpoint> {
    if !uplink::start() {
        return None;
    }
    let nic = hal::host_nic()?;
    let shared = SHARED.call_once(|| {
        info!("host NIC: frames for its own MAC {} go to the hypervisor, not the switch", MacText(&nic.mac()));
        Shared { mac: nic.mac(), queue: SpinNoIrq::new(FrameQueue::new(QUEUE_FRAMES)), arrived: WaitQueue::new() }
    });
    Some(HostEndpoint { nic, shared })
}

/// Called by the uplink task for each frame the NIC received: queues it
/// for the endpoint if it is addressed to the NIC (or to a group); whether
/// the switch gets it too.
pub(super) fn deliver(frame: &[u8]) -> bool {
    let Some(shared) = SHARED.get() else { return true };
    let Some(dest) = frame.get(0..6) else { return true };
    let mine = dest == shared.mac;
    let group = dest[0] & 1 != 0;
    if mine || group {
        // A full queue counts the drop itself.
        if shared.queue.lock().push(frame) {
            shared.arrived.notify_one(false);
        }
    }
    !mine
}

impl HostEndpoint {
    /// The longest frame [`HostEndpoint::receive`] gives.
    pub const MAX_FRAME: usize = l2_switch::MAX_FRAME;

    /// The NIC's MAC, the endpoint's own.
    pub fn mac(&self) -> [u8; 6] {
        self.shared.mac
    }

    /// Moves the oldest received frame into `buf` (at most
    /// [`HostEndpoint::MAX_FRAME`] bytes; cut to `buf`'s length) and returns
    /// the bytes copied; `None` when none is queued.
    pub fn receive(&self, buf: &mut [u8]) -> Option<usize> {
        let mut queue = self.shared.queue.lock();
        let frame = queue.front()?;
        let len = frame.len().min(buf.len());
        buf[..len].copy_from_slice(&frame[..len]);
        queue.pop_front();
        Some(len)
    }

    /// Sends `frame` (a whole Ethernet frame) out of the NIC. A frame the
    /// NIC cannot take now is dropped, as a wire would (false).
    pub fn send(&self, frame: &[u8]) -> bool {
        match self.nic.send(frame) {
            Ok(()) => true,
            Err(e) => {
                debug!("host endpoint: a frame was not sent: {e}");
                false
            }
        }
    }

    /// Blocks until a frame is queued or `timeout` has passed.
    pub fn wait(&self, timeout: Duration) {
        let shared = self.shared;
        shared.arrived.wait_timeout_until(timeout, || !shared.queue.lock().is_empty());
    }

    /// Frames dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.queue.lock().dropped()
    }
}
