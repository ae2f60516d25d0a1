//! The switch: ports, their policies and counters, and the routing
//! decision for one frame.

use alloc::vec::Vec;
use core::fmt;

use crate::fdb::Fdb;
use crate::port::{Destinations, MAX_PORTS, PortId, PortPolicy, PortStats, bit};
use crate::{MAX_FRAME, MIN_FRAME, Mac, is_multicast};

/// Why a frame was not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// It came from a port the switch does not have.
    UnknownPort,
    /// It is shorter than an Ethernet header.
    Runt,
    /// It is longer than [`MAX_FRAME`].
    Oversize,
    /// Its source address is a group address.
    MulticastSource,
    /// Its source address is not one the port may use.
    Spoofed,
    /// It has nowhere to go: its destination is its own port, or there is
    /// no other port.
    NoDestination,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownPort => "from an unknown port",
            Self::Runt => "shorter than an Ethernet header",
            Self::Oversize => "longer than the largest frame",
            Self::MulticastSource => "multicast source address",
            Self::Spoofed => "source address the port may not use",
            Self::NoDestination => "no destination but its own port",
        })
    }
}

/// Why a port could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchError {
    /// All [`MAX_PORTS`] ports are taken.
    Full,
    /// This port already has the MAC as its own.
    MacInUse(PortId),
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => write!(f, "all {MAX_PORTS} ports are taken"),
            Self::MacInUse(p) => write!(f, "the MAC is port {}'s already", p.0),
        }
    }
}

#[derive(Debug)]
struct Port {
    policy: PortPolicy,
    stats: PortStats,
}

/// Where a routed frame goes, and whether it was flooded.
struct Route {
    to: Destinations,
    flooded: bool,
}

/// A learning Ethernet switch of up to [`MAX_PORTS`] ports.
#[derive(Debug)]
pub struct Switch {
    ports: Vec<Option<Port>>,
    /// Bit `n` set: port `n` exists.
    active: u64,
    fdb: Fdb,
    unknown_port: u64,
}

impl Switch {
    /// A switch without ports, learning up to `fdb_capacity` addresses,
    /// each forgotten `max_age` ticks after its last frame. All its memory
    /// is allocated here.
    pub fn new(fdb_capacity: usize, max_age: u64) -> Self {
        let mut ports = Vec::with_capacity(MAX_PORTS);
        ports.resize_with(MAX_PORTS, || None);
        Self {
            ports,
            active: 0,
            fdb: Fdb::new(fdb_capacity, max_age),
            unknown_port: 0,
        }
    }

    /// Adds a port with `policy`; it takes the lowest free id.
    pub fn add_port(&mut self, policy: PortPolicy) -> Result<PortId, SwitchError> {
        if let Some(owner) = policy.mac.and_then(|mac| self.static_owner(&mac)) {
            return Err(SwitchError::MacInUse(owner));
        }
        let index = self
            .ports
            .iter()
            .position(Option::is_none)
            .ok_or(SwitchError::Full)?;
        let id = PortId(u16::try_from(index).map_err(|_| SwitchError::Full)?);
        if let Some(mac) = &policy.mac {
            self.fdb.forget_mac(mac);
        }
        if let Some(slot) = self.ports.get_mut(index) {
            *slot = Some(Port {
                policy,
                stats: PortStats::default(),
            });
        }
        self.active |= bit(id);
        Ok(id)
    }

    /// Removes `port` with its counters and everything learned on it; its
    /// id may be given out again. An unknown id is ignored.
    pub fn remove_port(&mut self, port: PortId) {
        if let Some(slot) = self.ports.get_mut(usize::from(port.0))
            && slot.take().is_some()
        {
            self.active &= !bit(port);
            self.fdb.forget_port(port);
        }
    }

    /// How many ports the switch has.
    pub fn port_count(&self) -> usize {
        self.active.count_ones() as usize
    }

    /// The policy `port` was added with.
    pub fn policy(&self, port: PortId) -> Option<PortPolicy> {
        self.port(port).map(|p| p.policy)
    }

    /// The counters of `port`.
    pub fn stats(&self, port: PortId) -> Option<PortStats> {
        self.port(port).map(|p| p.stats)
    }

    /// Frames refused because they came from a port the switch does not
    /// have (they have no port to be counted on).
    pub fn unknown_port_drops(&self) -> u64 {
        self.unknown_port
    }

    /// Learned addresses held (aged ones included until replaced).
    pub fn learned(&self) -> usize {
        self.fdb.len()
    }

    /// Routes `frame`, which came in on `from`, at time `now` (ticks of
    /// the caller's clock, the unit of `max_age`): learns its source and
    /// answers the ports it goes to, never empty and never holding `from`.
    /// Counted in `from`'s (and the destinations') [`PortStats`].
    pub fn route(
        &mut self,
        from: PortId,
        frame: &[u8],
        now: u64,
    ) -> Result<Destinations, DropReason> {
        let Some(policy) = self.policy(from) else {
            self.unknown_port += 1;
            return Err(DropReason::UnknownPort);
        };
        let result = self.decide(from, policy, frame, now);
        if let Ok(route) = &result {
            for to in route.to {
                if let Some(p) = self.port_mut(to) {
                    p.stats.received += 1;
                }
            }
        }
        let Some(stats) = self.port_mut(from).map(|p| &mut p.stats) else {
            return Err(DropReason::UnknownPort);
        };
        match result {
            Ok(route) => {
                stats.sent += 1;
                stats.flooded += u64::from(route.flooded);
                Ok(route.to)
            }
            Err(reason) => {
                count_drop(stats, reason);
                Err(reason)
            }
        }
    }

    fn decide(
        &mut self,
        from: PortId,
        policy: PortPolicy,
        frame: &[u8],
        now: u64,
    ) -> Result<Route, DropReason> {
        if frame.len() < MIN_FRAME {
            return Err(DropReason::Runt);
        }
        if frame.len() > MAX_FRAME {
            return Err(DropReason::Oversize);
        }
        let (dst, src) = addresses(frame).ok_or(DropReason::Runt)?;
        if is_multicast(&src) {
            return Err(DropReason::MulticastSource);
        }
        let owner = self.static_owner(&src);
        if owner.is_some_and(|o| o != from) {
            // Another port's own address, even from an any-source port:
            // learning it would hijack that port's traffic.
            return Err(DropReason::Spoofed);
        }
        if !policy.any_source && policy.mac != Some(src) {
            return Err(DropReason::Spoofed);
        }
        if policy.any_source && owner.is_none() {
            self.fdb.learn(src, from, now);
        }
        let known = if is_multicast(&dst) {
            None
        } else {
            self.static_owner(&dst)
                .or_else(|| self.fdb.lookup(&dst, now))
        };
        let route = match known {
            Some(to) if to == from => return Err(DropReason::NoDestination),
            Some(to) => Route {
                to: Destinations::single(to),
                flooded: false,
            },
            None => Route {
                to: Destinations::from_mask(self.active & !bit(from)),
                flooded: true,
            },
        };
        if route.to.is_empty() {
            return Err(DropReason::NoDestination);
        }
        Ok(route)
    }

    /// The port whose own address is `mac`.
    fn static_owner(&self, mac: &Mac) -> Option<PortId> {
        let index = self
            .ports
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.policy.mac == Some(*mac)))?;
        u16::try_from(index).ok().map(PortId)
    }

    fn port(&self, port: PortId) -> Option<&Port> {
        self.ports.get(usize::from(port.0))?.as_ref()
    }

    fn port_mut(&mut self, port: PortId) -> Option<&mut Port> {
        self.ports.get_mut(usize::from(port.0))?.as_mut()
    }
}

/// The destination and source addresses of a frame of at least 12 bytes.
fn addresses(frame: &[u8]) -> Option<(Mac, Mac)> {
    let dst = frame.get(..6)?.try_into().ok()?;
    let src = frame.get(6..12)?.try_into().ok()?;
    Some((dst, src))
}

fn count_drop(stats: &mut PortStats, reason: DropReason) {
    let counter = match reason {
        DropReason::Runt => &mut stats.dropped_runt,
        DropReason::Oversize => &mut stats.dropped_oversize,
        DropReason::MulticastSource => &mut stats.dropped_multicast_source,
        DropReason::Spoofed => &mut stats.dropped_spoofed,
        DropReason::NoDestination => &mut stats.dropped_no_destination,
        DropReason::UnknownPort => return,
    };
    *counter += 1;
}
