//! The forwarding database: learned addresses in a fixed-size table.
//!
//! A linear table: lookups scan it, which for the few hundred entries a
//! hypervisor's switch needs costs less than hashing would save, and makes
//! "replace the oldest when full" exact.

use alloc::vec;
use alloc::vec::Vec;

use crate::Mac;
use crate::port::PortId;

#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: Mac,
    port: PortId,
    /// When a frame from `mac` was last seen.
    seen: u64,
}

/// Learned `MAC -> port` entries, at most `capacity`, each valid for
/// `max_age` ticks after it was last seen.
#[derive(Debug)]
pub(crate) struct Fdb {
    entries: Vec<Option<Entry>>,
    max_age: u64,
}

impl Fdb {
    pub(crate) fn new(capacity: usize, max_age: u64) -> Self {
        Self {
            entries: vec![None; capacity],
            max_age,
        }
    }

    /// The port `mac` was learned on, unless the entry aged out.
    pub(crate) fn lookup(&self, mac: &Mac, now: u64) -> Option<PortId> {
        self.entries
            .iter()
            .flatten()
            .find(|e| e.mac == *mac)
            .filter(|e| now.saturating_sub(e.seen) <= self.max_age)
            .map(|e| e.port)
    }

    /// Records that `mac` was seen on `port` at `now`: updates its entry,
    /// or takes a free one, or replaces the oldest.
    pub(crate) fn learn(&mut self, mac: Mac, port: PortId, now: u64) {
        let mut free = None;
        let mut oldest: Option<(usize, u64)> = None;
        for (i, slot) in self.entries.iter_mut().enumerate() {
            match slot {
                Some(e) if e.mac == mac => {
                    e.port = port;
                    e.seen = now;
                    return;
                }
                Some(e) => {
                    if oldest.is_none_or(|(_, seen)| e.seen < seen) {
                        oldest = Some((i, e.seen));
                    }
                }
                None => {
                    free.get_or_insert(i);
                }
            }
        }
        let Some(i) = free.or(oldest.map(|(i, _)| i)) else {
            return; // No table at all.
        };
        if let Some(slot) = self.entries.get_mut(i) {
            *slot = Some(Entry {
                mac,
                port,
                seen: now,
            });
        }
    }

    /// Forgets every entry learned on `port`.
    pub(crate) fn forget_port(&mut self, port: PortId) {
        for slot in &mut self.entries {
            if slot.is_some_and(|e| e.port == port) {
                *slot = None;
            }
        }
    }

    /// Forgets `mac` (it became a port's static address).
    pub(crate) fn forget_mac(&mut self, mac: &Mac) {
        for slot in &mut self.entries {
            if slot.is_some_and(|e| e.mac == *mac) {
                *slot = None;
            }
        }
    }

    /// Entries in use (aged ones included until replaced).
    pub(crate) fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }
}
