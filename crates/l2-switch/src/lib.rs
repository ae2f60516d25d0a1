//! The hypervisor's layer-2 switch, as decisions only: which ports a frame
//! goes to, and which frames are refused. No I/O: the caller moves the
//! frames (see `src/vmm/net.rs`).
//!
//! - [`Switch::route`] checks a frame from a port (length, source MAC,
//!   what the port may send), learns its source address and answers the
//!   set of ports it goes to ([`Destinations`]) or why it is dropped
//!   ([`DropReason`]). Broadcast, multicast and unknown unicast are flooded
//!   to every other port; a frame never goes back to its sender.
//! - A guest port has a static MAC ([`PortPolicy::mac`]): frames to it go
//!   to that port before any learning, and no other port can take it over.
//! - Learned addresses live in a fixed-size table, age out after
//!   `max_age` ticks of a clock the caller supplies (never wall time) and,
//!   when the table is full, replace the oldest entry.
//! - [`FrameQueue`] is a bounded FIFO of frames whose memory is allocated
//!   once; swapping two queues hands a whole batch over.
//!
//! Nothing here allocates per frame, and nothing panics on frame data.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod fdb;
mod port;
mod queue;
mod switch;

pub use port::{DestIter, Destinations, MAX_PORTS, PortId, PortPolicy, PortStats};
pub use queue::{FrameQueue, MAX_SLOTS};
pub use switch::{DropReason, Switch, SwitchError};

/// An Ethernet (MAC-48) address.
pub type Mac = [u8; 6];

/// The broadcast address.
pub const BROADCAST: Mac = [0xff; 6];

/// Bytes of an Ethernet header (destination, source, EtherType): the
/// shortest frame the switch passes.
pub const MIN_FRAME: usize = 14;

/// The longest frame: 1500 bytes of payload, the header and one VLAN tag
/// (no FCS).
pub const MAX_FRAME: usize = 1518;

/// Whether `mac` is a group address (bit 0 of the first byte); the
/// broadcast address is one.
pub fn is_multicast(mac: &Mac) -> bool {
    mac[0] & 1 != 0
}
