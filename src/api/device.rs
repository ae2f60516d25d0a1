//! The host endpoint ([`vmm::HostEndpoint`]) as a smoltcp Ethernet
//! device. At most [`Nic::set_budget`] frames are taken per poll, so one
//! poll's work stays bounded however fast frames come in.

use alloc::vec;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::vmm::HostEndpoint;

/// The largest frame sent: an Ethernet header and 1500 bytes (smoltcp
/// counts the header in an Ethernet device's MTU).
const MTU: usize = 1514;

/// The endpoint and the buffer the frame being received is copied to.
pub struct Nic {
    endpoint: HostEndpoint,
    frame: [u8; HostEndpoint::MAX_FRAME],
    budget: usize,
}

impl Nic {
    pub fn new(endpoint: HostEndpoint) -> Self {
        Self { endpoint, frame: [0; HostEndpoint::MAX_FRAME], budget: 0 }
    }

    pub fn endpoint(&self) -> &HostEndpoint {
        &self.endpoint
    }

    /// Frames the next polls may take in all.
    pub fn set_budget(&mut self, frames: usize) {
        self.budget = frames;
    }

    /// Whether the budget ran out (more frames may be waiting).
    pub fn spent(&self) -> bool {
        self.budget == 0
    }
}

impl phy::Device for Nic {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        if self.budget == 0 {
            return None;
        }
        let len = self.endpoint.receive(&mut self.frame)?;
        self.budget -= 1;
        Some((Rx(&self.frame[..len]), Tx(&self.endpoint)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        Some(Tx(&self.endpoint))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps
    }
}

/// A received frame.
pub struct Rx<'a>(&'a [u8]);

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

/// Room for a frame to send.
pub struct Tx<'a>(&'a HostEndpoint);

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        // A frame the NIC cannot take is lost as on a wire; TCP resends.
        self.0.send(&frame);
        result
    }
}
