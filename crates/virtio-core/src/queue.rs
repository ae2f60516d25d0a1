//! The device side of a split virtqueue (virtio 1.x §2.7).
//!
//! Barriers are issued here through [`GuestMemory::barrier`]: acquire after
//! reading `avail.idx`, release before publishing `used.idx`, and full
//! before reading the driver's `flags`/`used_event` and after writing
//! `avail_event`.

use core::fmt;

use crate::chain::{self, ChainError, DescriptorChain, UsedToken, WalkParams};
use crate::memory::{Barrier, GuestMemory, MemError};
use crate::{VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC};

/// Largest queue size a split virtqueue may have.
pub const MAX_QUEUE_SIZE: u16 = 32768;
/// Default cap on the bytes one chain may describe (4 GiB).
pub const DEFAULT_LEN_CAP: u64 = 1 << 32;
/// `VIRTQ_AVAIL_F_NO_INTERRUPT`: the driver wants no used-buffer notification.
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;

/// One of the three areas of a split virtqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingPart {
    /// The descriptor table (16-byte aligned).
    Descriptors,
    /// The available ring, the driver area (2-byte aligned).
    Avail,
    /// The used ring, the device area (4-byte aligned).
    Used,
}

/// A virtqueue the device cannot use as the driver set it up.
///
/// Any of these except [`QueueError::Chain`] and [`QueueError::StaleToken`]
/// means the queue is broken: the transport should set
/// `DEVICE_NEEDS_RESET`. A chain error may instead be answered by
/// completing its token with length 0 (an I/O error to the driver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueError {
    /// The queue is not enabled.
    NotReady,
    /// The size is zero, not a power of two or above the maximum.
    BadSize {
        /// The size the driver wrote.
        size: u16,
        /// The device's maximum.
        max: u16,
    },
    /// A ring address breaks its alignment rule.
    Misaligned {
        /// Which area.
        part: RingPart,
        /// Its address.
        addr: u64,
    },
    /// A ring area is not (wholly) in guest RAM.
    Ring {
        /// Which area.
        part: RingPart,
        /// The refused access.
        error: MemError,
    },
    /// `avail.idx` moved more than the queue size past the device's index.
    AvailIdxJump {
        /// The index the driver published.
        avail_idx: u16,
        /// The next entry the device expected.
        next_avail: u16,
    },
    /// The chain at an avail entry is malformed; the entry is consumed.
    Chain {
        /// Its token, if the head index was in range.
        token: Option<UsedToken>,
        /// What is wrong with it.
        error: ChainError,
    },
    /// A completion for a chain popped before a reset, or a bad head.
    StaleToken,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotReady => f.write_str("queue not ready"),
            Self::BadSize { size, max } => write!(f, "bad queue size {size} (max {max})"),
            Self::Misaligned { part, addr } => write!(f, "{part:?} ring at {addr:#x} misaligned"),
            Self::Ring { part, error } => write!(f, "{part:?} ring: {error}"),
            Self::AvailIdxJump {
                avail_idx,
                next_avail,
            } => {
                write!(f, "avail idx jumped to {avail_idx} from {next_avail}")
            }
            Self::Chain { error, .. } => write!(f, "bad chain: {error}"),
            Self::StaleToken => f.write_str("stale used token"),
        }
    }
}

impl core::error::Error for QueueError {}

/// A split virtqueue: the driver's configuration and the device's indices.
#[derive(Debug, Clone)]
pub struct Queue {
    max_size: u16,
    size: u16,
    ready: bool,
    desc_table: u64,
    avail_ring: u64,
    used_ring: u64,
    event_idx: bool,
    indirect: bool,
    len_cap: u64,
    next_avail: u16,
    next_used: u16,
    signalled_used: u16,
    generation: u32,
    /// Segment lists of a chain given back with [`Queue::recycle`].
    spare: chain::SegmentBuffers,
}

impl Queue {
    /// A disabled queue of at most `max_size` entries (capped at
    /// [`MAX_QUEUE_SIZE`]; 0 makes a queue that cannot be enabled).
    pub fn new(max_size: u16) -> Self {
        let max_size = max_size.min(MAX_QUEUE_SIZE);
        Self {
            max_size,
            size: max_size,
            ready: false,
            desc_table: 0,
            avail_ring: 0,
            used_ring: 0,
            event_idx: false,
            indirect: false,
            len_cap: DEFAULT_LEN_CAP,
            next_avail: 0,
            next_used: 0,
            signalled_used: 0,
            generation: 0,
            spare: Default::default(),
        }
    }

    /// Back to the state after [`Queue::new`], keeping the maximum size and
    /// length cap; tokens popped before are refused from now on.
    pub fn reset(&mut self) {
        let generation = self.generation.wrapping_add(1);
        *self = Self {
            len_cap: self.len_cap,
            generation,
            ..Self::new(self.max_size)
        };
    }

    /// The maximum size the device offers.
    pub fn max_size(&self) -> u16 {
        self.max_size
    }

    /// The size the driver chose.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Whether the queue is enabled.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Descriptor table, avail ring and used ring addresses.
    pub fn addresses(&self) -> (u64, u64, u64) {
        (self.desc_table, self.avail_ring, self.used_ring)
    }

    /// The next avail entry the device will pop.
    pub fn next_avail(&self) -> u16 {
        self.next_avail
    }

    /// The next used entry the device will fill.
    pub fn next_used(&self) -> u16 {
        self.next_used
    }

    /// Sets the size; ignored while the queue is enabled.
    pub fn set_size(&mut self, size: u16) {
        if !self.ready {
            self.size = size;
        }
    }

    /// Sets the descriptor table address; ignored while enabled.
    pub fn set_desc_table(&mut self, gpa: u64) {
        if !self.ready {
            self.desc_table = gpa;
        }
    }

    /// Sets the avail ring (driver area) address; ignored while enabled.
    pub fn set_avail_ring(&mut self, gpa: u64) {
        if !self.ready {
            self.avail_ring = gpa;
        }
    }

    /// Sets the used ring (device area) address; ignored while enabled.
    pub fn set_used_ring(&mut self, gpa: u64) {
        if !self.ready {
            self.used_ring = gpa;
        }
    }

    /// Takes `VIRTIO_F_EVENT_IDX` and `VIRTIO_F_INDIRECT_DESC` from the
    /// negotiated features; ignored while enabled.
    pub fn set_features(&mut self, features: u64) {
        if !self.ready {
            self.event_idx = features & VIRTIO_F_EVENT_IDX != 0;
            self.indirect = features & VIRTIO_F_INDIRECT_DESC != 0;
        }
    }

    /// Caps the bytes one chain may describe (device configuration: kept
    /// across resets).
    pub fn set_len_cap(&mut self, cap: u64) {
        self.len_cap = cap;
    }

    /// Checks the size and each ring's alignment and placement in RAM.
    pub fn validate<M: GuestMemory + ?Sized>(&self, mem: &M) -> Result<(), QueueError> {
        let size = self.size;
        if size == 0 || !size.is_power_of_two() || size > self.max_size {
            return Err(QueueError::BadSize {
                size,
                max: self.max_size,
            });
        }
        let n = u64::from(size);
        let parts = [
            (RingPart::Descriptors, self.desc_table, 16, 16 * n),
            (RingPart::Avail, self.avail_ring, 2, 6 + 2 * n),
            (RingPart::Used, self.used_ring, 4, 6 + 8 * n),
        ];
        for (part, addr, align, len) in parts {
            if !addr.is_multiple_of(align) {
                return Err(QueueError::Misaligned { part, addr });
            }
            let error = MemError { gpa: addr, len };
            addr.checked_add(len)
                .ok_or(QueueError::Ring { part, error })?;
            mem.check_range(addr, len)
                .map_err(|error| QueueError::Ring { part, error })?;
        }
        Ok(())
    }

    /// Validates the queue and enables it with fresh indices.
    pub fn enable<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<(), QueueError> {
        self.validate(mem)?;
        self.next_avail = 0;
        self.next_used = 0;
        self.signalled_used = 0;
        self.ready = true;
        Ok(())
    }

    /// Disables the queue (the driver wrote 0 to QueueReady).
    pub fn disable(&mut self) {
        self.ready = false;
    }

    /// Takes the next available chain, or `None` if the driver has posted
    /// nothing new. A malformed chain is consumed and reported as
    /// [`QueueError::Chain`].
    pub fn pop<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Result<Option<DescriptorChain>, QueueError> {
        if !self.ready {
            return Err(QueueError::NotReady);
        }
        let avail_idx = self.read_ring_u16(mem, RingPart::Avail, self.avail_ring, 2)?;
        let pending = avail_idx.wrapping_sub(self.next_avail);
        if pending > self.size {
            return Err(QueueError::AvailIdxJump {
                avail_idx,
                next_avail: self.next_avail,
            });
        }
        if pending == 0 {
            return Ok(None);
        }
        mem.barrier(Barrier::Acquire);
        let slot = u64::from(self.next_avail % self.size);
        let head = self.read_ring_u16(mem, RingPart::Avail, self.avail_ring, 4 + 2 * slot)?;
        self.next_avail = self.next_avail.wrapping_add(1);
        if self.event_idx {
            let at = 4 + 8 * u64::from(self.size);
            self.write_ring_u16(mem, RingPart::Used, self.used_ring, at, self.next_avail)?;
            mem.barrier(Barrier::Full);
        }
        let params = WalkParams {
            desc_table: self.desc_table,
            size: self.size,
            indirect: self.indirect,
            len_cap: self.len_cap,
            generation: self.generation,
        };
        chain::walk(mem, &params, head, core::mem::take(&mut self.spare))
            .map(Some)
            .map_err(|error| QueueError::Chain {
                token: (head < self.size).then_some(UsedToken {
                    head,
                    generation: self.generation,
                }),
                error,
            })
    }

    /// [`Queue::pop`] for a device: a malformed chain is returned to the
    /// driver at once with length 0 (an I/O error it can see) and counted
    /// in `malformed`, and the next one is taken; a broken ring is still an
    /// error. Bounded: each chain is consumed once.
    pub fn pop_or_discard<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        malformed: &mut u64,
    ) -> Result<Option<DescriptorChain>, QueueError> {
        loop {
            match self.pop(mem) {
                Err(QueueError::Chain { token, .. }) => {
                    *malformed += 1;
                    if let Some(token) = token {
                        self.add_used(mem, token, 0)?;
                    }
                }
                popped => return popped,
            }
        }
    }

    /// Takes back a chain the device is done with, so that the next
    /// [`pop`](Self::pop) reuses its memory instead of allocating.
    pub fn recycle(&mut self, chain: DescriptorChain) {
        self.spare = chain.into_buffers();
    }

    /// Returns the chain of `token` to the driver with `len` bytes written.
    pub fn add_used<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        token: UsedToken,
        len: u32,
    ) -> Result<(), QueueError> {
        if !self.ready {
            return Err(QueueError::NotReady);
        }
        if token.generation != self.generation || token.head >= self.size {
            return Err(QueueError::StaleToken);
        }
        let slot = u64::from(self.next_used % self.size);
        let mut elem = [0u8; 8];
        elem[..4].copy_from_slice(&u32::from(token.head).to_le_bytes());
        elem[4..].copy_from_slice(&len.to_le_bytes());
        let at = ring_addr(RingPart::Used, self.used_ring, 4 + 8 * slot)?;
        mem.write(at, &elem).map_err(|error| QueueError::Ring {
            part: RingPart::Used,
            error,
        })?;
        mem.barrier(Barrier::Release);
        self.next_used = self.next_used.wrapping_add(1);
        self.write_ring_u16(mem, RingPart::Used, self.used_ring, 2, self.next_used)
    }

    /// Whether the driver wants a used-buffer notification for what was
    /// added since the last call (`VIRTIO_F_EVENT_IDX`'s `used_event`, else
    /// the avail ring's `NO_INTERRUPT` flag).
    pub fn needs_notification<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Result<bool, QueueError> {
        if !self.ready {
            return Err(QueueError::NotReady);
        }
        mem.barrier(Barrier::Full);
        let old = self.signalled_used;
        let new = self.next_used;
        self.signalled_used = new;
        if self.event_idx {
            let at = 4 + 2 * u64::from(self.size);
            let used_event = self.read_ring_u16(mem, RingPart::Avail, self.avail_ring, at)?;
            Ok(new.wrapping_sub(used_event).wrapping_sub(1) < new.wrapping_sub(old))
        } else {
            let flags = self.read_ring_u16(mem, RingPart::Avail, self.avail_ring, 0)?;
            Ok(new != old && flags & AVAIL_F_NO_INTERRUPT == 0)
        }
    }

    fn read_ring_u16<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        part: RingPart,
        base: u64,
        offset: u64,
    ) -> Result<u16, QueueError> {
        let at = ring_addr(part, base, offset)?;
        mem.read_u16(at)
            .map_err(|error| QueueError::Ring { part, error })
    }

    fn write_ring_u16<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        part: RingPart,
        base: u64,
        offset: u64,
        value: u16,
    ) -> Result<(), QueueError> {
        let at = ring_addr(part, base, offset)?;
        mem.write_u16(at, value)
            .map_err(|error| QueueError::Ring { part, error })
    }
}

fn ring_addr(part: RingPart, base: u64, offset: u64) -> Result<u64, QueueError> {
    base.checked_add(offset).ok_or(QueueError::Ring {
        part,
        error: MemError {
            gpa: base,
            len: offset,
        },
    })
}
