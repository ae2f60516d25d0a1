//! Ports: their ids, what each may send, their counters, and sets of them.

use crate::Mac;

/// How many ports a switch has at most (a [`Destinations`] is a `u64`).
pub const MAX_PORTS: usize = 64;

/// A port of a [`crate::Switch`]; below [`MAX_PORTS`]. Ids of removed
/// ports are given out again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortId(pub u16);

/// What a port is allowed to do.
#[derive(Clone, Copy, Debug)]
pub struct PortPolicy {
    /// The port's own address: frames to it go to this port, whatever was
    /// learned (a static forwarding entry). `None` for the uplink.
    pub mac: Option<Mac>,
    /// The port may send frames from any source address (the uplink, or a
    /// guest bridging other hosts); they are learned on it. Otherwise only
    /// frames whose source is `mac` pass (with `mac: None`, none do).
    pub any_source: bool,
}

/// Counters of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Frames from this port that were routed (including flooded ones).
    pub sent: u64,
    /// Of `sent`, the frames flooded (broadcast, multicast, unknown unicast).
    pub flooded: u64,
    /// Frames routed to this port.
    pub received: u64,
    /// Frames from this port shorter than an Ethernet header.
    pub dropped_runt: u64,
    /// Frames from this port longer than [`crate::MAX_FRAME`].
    pub dropped_oversize: u64,
    /// Frames from this port with a group source address.
    pub dropped_multicast_source: u64,
    /// Frames from this port with a source address it may not use.
    pub dropped_spoofed: u64,
    /// Frames from this port that had nowhere to go (back to itself, or no
    /// other port to flood to).
    pub dropped_no_destination: u64,
}

impl PortStats {
    /// All frames from this port that were dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped_runt
            + self.dropped_oversize
            + self.dropped_multicast_source
            + self.dropped_spoofed
            + self.dropped_no_destination
    }
}

/// A set of ports a frame goes to; never holds the sending port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Destinations(u64);

impl Destinations {
    /// The set of the ports whose bits are set in `mask`.
    pub(crate) fn from_mask(mask: u64) -> Self {
        Self(mask)
    }

    /// The set holding `port` only.
    pub(crate) fn single(port: PortId) -> Self {
        Self(bit(port))
    }

    /// The set as a bit mask (bit `n`: port `n`).
    pub fn mask(&self) -> u64 {
        self.0
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// How many ports are in the set.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: PortId) -> bool {
        self.0 & bit(port) != 0
    }

    /// The ports of the set, lowest id first.
    pub fn iter(&self) -> DestIter {
        DestIter(self.0)
    }
}

impl IntoIterator for Destinations {
    type Item = PortId;
    type IntoIter = DestIter;

    fn into_iter(self) -> DestIter {
        self.iter()
    }
}

/// The ports of a [`Destinations`], lowest id first.
#[derive(Clone, Debug)]
pub struct DestIter(u64);

impl Iterator for DestIter {
    type Item = PortId;

    fn next(&mut self) -> Option<PortId> {
        if self.0 == 0 {
            return None;
        }
        let n = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        // `n` < 64.
        Some(PortId(n as u16))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for DestIter {}

/// The mask bit of `port`; 0 for an id out of range.
pub(crate) fn bit(port: PortId) -> u64 {
    1u64.checked_shl(u32::from(port.0)).unwrap_or(0)
}
