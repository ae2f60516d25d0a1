//! Descriptor chains (virtio 1.x §2.7.5): walking one with every bound
//! checked, and copying to and from the buffers it names.

use alloc::vec::Vec;
use core::fmt;

use crate::memory::{GuestMemory, MemError};

/// `VIRTQ_DESC_F_NEXT`: the chain goes on at `next`.
pub const DESC_F_NEXT: u16 = 1;
/// `VIRTQ_DESC_F_WRITE`: the buffer is device-writable.
pub const DESC_F_WRITE: u16 = 2;
/// `VIRTQ_DESC_F_INDIRECT`: the buffer is a table of descriptors.
pub const DESC_F_INDIRECT: u16 = 4;
/// Size of one descriptor in guest memory.
pub const DESC_SIZE: u64 = 16;

/// Why a descriptor chain was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChainError {
    /// The avail ring named a head index not below the queue size.
    HeadOutOfRange {
        /// The index found.
        head: u16,
        /// The queue size.
        size: u16,
    },
    /// A `next` index is outside its descriptor table.
    NextOutOfRange {
        /// The index found.
        next: u16,
        /// Entries in the table.
        entries: u32,
    },
    /// More buffers than the queue size: a loop or an over-long chain.
    TooManyDescriptors {
        /// The most allowed.
        limit: u16,
    },
    /// The buffers add up to more bytes than the queue's cap.
    TooLong {
        /// The cap in bytes.
        cap: u64,
    },
    /// A buffer of length zero.
    ZeroLength,
    /// `addr + len` wraps past the end of the address space.
    AddressOverflow {
        /// The buffer's address.
        addr: u64,
        /// Its length.
        len: u32,
    },
    /// A device-readable buffer after a device-writable one.
    ReadableAfterWritable,
    /// An indirect descriptor though `VIRTIO_F_INDIRECT_DESC` was not negotiated.
    IndirectNotNegotiated,
    /// An indirect descriptor inside an indirect table.
    NestedIndirect,
    /// An indirect descriptor that also has `NEXT` set.
    IndirectWithNext,
    /// An indirect table whose length is zero, not a multiple of 16 or
    /// more entries than the queue size.
    BadIndirectLen {
        /// The length found.
        len: u32,
    },
    /// A descriptor, table or buffer is not in guest RAM.
    Memory(MemError),
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadOutOfRange { head, size } => write!(f, "head {head} >= queue size {size}"),
            Self::NextOutOfRange { next, entries } => write!(f, "next {next} >= {entries} entries"),
            Self::TooManyDescriptors { limit } => write!(f, "chain longer than {limit}"),
            Self::TooLong { cap } => write!(f, "chain holds more than {cap} bytes"),
            Self::ZeroLength => f.write_str("zero-length buffer"),
            Self::AddressOverflow { addr, len } => write!(f, "{addr:#x}+{len:#x} overflows"),
            Self::ReadableAfterWritable => f.write_str("readable buffer after a writable one"),
            Self::IndirectNotNegotiated => f.write_str("indirect descriptor not negotiated"),
            Self::NestedIndirect => f.write_str("nested indirect descriptor"),
            Self::IndirectWithNext => f.write_str("indirect descriptor with NEXT"),
            Self::BadIndirectLen { len } => write!(f, "bad indirect table length {len}"),
            Self::Memory(e) => write!(f, "descriptor memory: {e}"),
        }
    }
}

impl core::error::Error for ChainError {}

impl From<MemError> for ChainError {
    fn from(e: MemError) -> Self {
        Self::Memory(e)
    }
}

/// A copy to or from a chain's buffers that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferError {
    /// The buffers end before `offset + len`.
    TooShort {
        /// Bytes asked for, counted from offset 0.
        needed: u64,
        /// Bytes the buffers hold.
        available: u64,
    },
    /// Guest memory refused the copy.
    Memory(MemError),
}

impl fmt::Display for BufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { needed, available } => {
                write!(f, "needs {needed} bytes, buffers hold {available}")
            }
            Self::Memory(e) => write!(f, "buffer memory: {e}"),
        }
    }
}

impl core::error::Error for BufferError {}

/// One guest buffer of a chain, already checked to lie in guest RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Guest-physical address.
    pub addr: u64,
    /// Length in bytes, never zero.
    pub len: u32,
}

/// Identifies a popped chain for [`crate::Queue::add_used`]: its head and
/// the queue generation it was popped in, so that a completion arriving
/// after a reset is refused instead of written into the new rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedToken {
    pub(crate) head: u16,
    pub(crate) generation: u32,
}

impl UsedToken {
    /// The head descriptor index.
    pub fn head(&self) -> u16 {
        self.head
    }
}

/// A validated chain: the device-readable buffers, then the device-writable
/// ones, copied out of the descriptor table once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorChain {
    token: UsedToken,
    readable: Vec<Segment>,
    writable: Vec<Segment>,
    readable_len: u64,
    writable_len: u64,
}

/// The two segment lists of a chain, kept for the next one.
pub(crate) type SegmentBuffers = (Vec<Segment>, Vec<Segment>);

impl DescriptorChain {
    /// The chain's segment lists, emptied, for reuse.
    pub(crate) fn into_buffers(self) -> SegmentBuffers {
        let (mut readable, mut writable) = (self.readable, self.writable);
        readable.clear();
        writable.clear();
        (readable, writable)
    }

    /// The token to complete this chain with.
    pub fn token(&self) -> UsedToken {
        self.token
    }

    /// The device-readable buffers, in order.
    pub fn readable(&self) -> &[Segment] {
        &self.readable
    }

    /// The device-writable buffers, in order.
    pub fn writable(&self) -> &[Segment] {
        &self.writable
    }

    /// Total bytes of the readable buffers.
    pub fn readable_len(&self) -> u64 {
        self.readable_len
    }

    /// Total bytes of the writable buffers.
    pub fn writable_len(&self) -> u64 {
        self.writable_len
    }

    /// Copies `buf.len()` bytes starting `offset` bytes into the readable
    /// buffers.
    pub fn read_at<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), BufferError> {
        let avail = self.readable_len;
        let mut done = 0usize;
        for_each_piece(&self.readable, avail, offset, buf.len(), |gpa, n| {
            let r = mem.read(gpa, &mut buf[done..done + n]);
            done += n;
            r
        })
    }

    /// Copies `data` to `offset` bytes into the writable buffers.
    pub fn write_at<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        offset: u64,
        data: &[u8],
    ) -> Result<(), BufferError> {
        let avail = self.writable_len;
        let mut done = 0usize;
        for_each_piece(&self.writable, avail, offset, data.len(), |gpa, n| {
            let r = mem.write(gpa, &data[done..done + n]);
            done += n;
            r
        })
    }
}

/// Calls `f(gpa, n)` for each piece of `[offset, offset + len)` of the
/// buffers `segs`, which hold `total` bytes.
fn for_each_piece(
    segs: &[Segment],
    total: u64,
    offset: u64,
    len: usize,
    mut f: impl FnMut(u64, usize) -> Result<(), MemError>,
) -> Result<(), BufferError> {
    let needed = offset.saturating_add(len as u64);
    if needed > total {
        return Err(BufferError::TooShort {
            needed,
            available: total,
        });
    }
    let mut skip = offset;
    let mut left = len as u64;
    for seg in segs {
        if left == 0 {
            break;
        }
        let seg_len = u64::from(seg.len);
        if skip >= seg_len {
            skip -= seg_len;
            continue;
        }
        let n = (seg_len - skip).min(left);
        // `seg` was checked to lie in RAM, so `addr + skip` cannot wrap.
        let gpa = seg
            .addr
            .checked_add(skip)
            .ok_or(BufferError::Memory(MemError {
                gpa: seg.addr,
                len: seg_len,
            }))?;
        f(gpa, n as usize).map_err(BufferError::Memory)?;
        skip = 0;
        left -= n;
    }
    Ok(())
}

/// What a chain walk needs to know about its queue.
pub(crate) struct WalkParams {
    pub desc_table: u64,
    pub size: u16,
    pub indirect: bool,
    pub len_cap: u64,
    pub generation: u32,
}

/// A descriptor as the driver wrote it.
struct RawDesc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

fn read_desc<M: GuestMemory + ?Sized>(
    mem: &M,
    table: u64,
    index: u16,
) -> Result<RawDesc, MemError> {
    let err = MemError {
        gpa: table,
        len: DESC_SIZE,
    };
    let gpa = u64::from(index)
        .checked_mul(DESC_SIZE)
        .and_then(|off| table.checked_add(off))
        .ok_or(err)?;
    let mut b = [0u8; DESC_SIZE as usize];
    mem.read(gpa, &mut b)?;
    let [
        a0,
        a1,
        a2,
        a3,
        a4,
        a5,
        a6,
        a7,
        l0,
        l1,
        l2,
        l3,
        f0,
        f1,
        n0,
        n1,
    ] = b;
    Ok(RawDesc {
        addr: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
        len: u32::from_le_bytes([l0, l1, l2, l3]),
        flags: u16::from_le_bytes([f0, f1]),
        next: u16::from_le_bytes([n0, n1]),
    })
}

/// Walks the chain starting at descriptor `head`.
/// `buffers` (empty) become the chain's segment lists: a queue passes
/// those of a chain the device gave back, so a walk allocates nothing.
pub(crate) fn walk<M: GuestMemory + ?Sized>(
    mem: &M,
    p: &WalkParams,
    head: u16,
    buffers: SegmentBuffers,
) -> Result<DescriptorChain, ChainError> {
    if head >= p.size {
        return Err(ChainError::HeadOutOfRange { head, size: p.size });
    }
    let mut chain = DescriptorChain {
        token: UsedToken {
            head,
            generation: p.generation,
        },
        readable: buffers.0,
        writable: buffers.1,
        readable_len: 0,
        writable_len: 0,
    };
    let mut table = p.desc_table;
    let mut entries = u32::from(p.size);
    let mut index = head;
    let mut in_indirect = false;
    let mut buffers = 0u16;
    loop {
        let d = read_desc(mem, table, index)?;
        if d.flags & DESC_F_INDIRECT != 0 {
            (table, entries) = enter_indirect(mem, p, &d, in_indirect)?;
            in_indirect = true;
            index = 0;
            continue;
        }
        if buffers >= p.size {
            return Err(ChainError::TooManyDescriptors { limit: p.size });
        }
        buffers += 1;
        push_buffer(mem, p, &mut chain, &d)?;
        if d.flags & DESC_F_NEXT == 0 {
            return Ok(chain);
        }
        if u32::from(d.next) >= entries {
            return Err(ChainError::NextOutOfRange {
                next: d.next,
                entries,
            });
        }
        index = d.next;
    }
}

/// Checks an indirect descriptor; gives its table's address and entries.
fn enter_indirect<M: GuestMemory + ?Sized>(
    mem: &M,
    p: &WalkParams,
    d: &RawDesc,
    in_indirect: bool,
) -> Result<(u64, u32), ChainError> {
    if !p.indirect {
        return Err(ChainError::IndirectNotNegotiated);
    }
    if in_indirect {
        return Err(ChainError::NestedIndirect);
    }
    if d.flags & DESC_F_NEXT != 0 {
        return Err(ChainError::IndirectWithNext);
    }
    let entries = d.len / DESC_SIZE as u32;
    if d.len == 0 || !d.len.is_multiple_of(DESC_SIZE as u32) || entries > u32::from(p.size) {
        return Err(ChainError::BadIndirectLen { len: d.len });
    }
    check_buffer(mem, d.addr, d.len)?;
    Ok((d.addr, entries))
}

fn check_buffer<M: GuestMemory + ?Sized>(mem: &M, addr: u64, len: u32) -> Result<(), ChainError> {
    if addr.checked_add(u64::from(len)).is_none() {
        return Err(ChainError::AddressOverflow { addr, len });
    }
    mem.check_range(addr, u64::from(len))?;
    Ok(())
}

/// Validates one buffer descriptor and appends it to `chain`.
fn push_buffer<M: GuestMemory + ?Sized>(
    mem: &M,
    p: &WalkParams,
    chain: &mut DescriptorChain,
    d: &RawDesc,
) -> Result<(), ChainError> {
    if d.len == 0 {
        return Err(ChainError::ZeroLength);
    }
    check_buffer(mem, d.addr, d.len)?;
    let len = u64::from(d.len);
    chain
        .readable_len
        .checked_add(chain.writable_len)
        .and_then(|t| t.checked_add(len))
        .filter(|t| *t <= p.len_cap)
        .ok_or(ChainError::TooLong { cap: p.len_cap })?;
    let seg = Segment {
        addr: d.addr,
        len: d.len,
    };
    if d.flags & DESC_F_WRITE != 0 {
        chain.writable.push(seg);
        chain.writable_len += len;
    } else {
        if !chain.writable.is_empty() {
            return Err(ChainError::ReadableAfterWritable);
        }
        chain.readable.push(seg);
        chain.readable_len += len;
    }
    Ok(())
}
