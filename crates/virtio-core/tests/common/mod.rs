//! Test fixtures: guest RAM over a Vec and a driver-side view of one queue.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};

use virtio_core::{Barrier, GuestMemory, MemError, Queue};

pub mod transport;

/// Where the test RAM starts in guest-physical space.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Its size.
pub const RAM_SIZE: usize = 0x10000;
/// Ring addresses used by `Driver::new`.
pub const DESC: u64 = RAM_BASE;
/// Avail ring address.
pub const AVAIL: u64 = RAM_BASE + 0x1000;
/// Used ring address.
pub const USED: u64 = RAM_BASE + 0x2000;
/// A free data area.
pub const DATA: u64 = RAM_BASE + 0x8000;

/// Guest RAM `[RAM_BASE, RAM_BASE + RAM_SIZE)`; everything else is refused.
pub struct VecMemory {
    pub bytes: RefCell<Vec<u8>>,
    pub barriers: RefCell<Vec<Barrier>>,
    /// Refuse every write (to model a used ring that fails).
    pub refuse_writes: Cell<bool>,
}

impl VecMemory {
    pub fn new() -> Self {
        Self {
            bytes: RefCell::new(vec![0; RAM_SIZE]),
            barriers: RefCell::new(Vec::new()),
            refuse_writes: Cell::new(false),
        }
    }

    fn offset(&self, gpa: u64, len: u64) -> Result<usize, MemError> {
        let err = MemError { gpa, len };
        let off = gpa.checked_sub(RAM_BASE).ok_or(err)?;
        let end = off.checked_add(len).ok_or(err)?;
        if end > RAM_SIZE as u64 {
            return Err(err);
        }
        Ok(off as usize)
    }

    pub fn put(&self, gpa: u64, data: &[u8]) {
        self.write(gpa, data).expect("test write inside RAM");
    }

    pub fn get(&self, gpa: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.read(gpa, &mut v).expect("test read inside RAM");
        v
    }

    pub fn put_u16(&self, gpa: u64, v: u16) {
        self.put(gpa, &v.to_le_bytes());
    }

    pub fn get_u16(&self, gpa: u64) -> u16 {
        self.read_u16(gpa).expect("test read inside RAM")
    }

    pub fn get_u32(&self, gpa: u64) -> u32 {
        self.read_u32(gpa).expect("test read inside RAM")
    }
}

impl GuestMemory for VecMemory {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let off = self.offset(gpa, buf.len() as u64)?;
        buf.copy_from_slice(&self.bytes.borrow()[off..off + buf.len()]);
        Ok(())
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemError> {
        let off = self.offset(gpa, data.len() as u64)?;
        if self.refuse_writes.get() {
            return Err(MemError {
                gpa,
                len: data.len() as u64,
            });
        }
        self.bytes.borrow_mut()[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn check_range(&self, gpa: u64, len: u64) -> Result<(), MemError> {
        self.offset(gpa, len).map(|_| ())
    }

    fn barrier(&self, barrier: Barrier) {
        self.barriers.borrow_mut().push(barrier);
    }
}

/// The driver's side of a queue of `size` entries at DESC/AVAIL/USED.
pub struct Driver {
    pub size: u16,
    pub avail_idx: u16,
}

impl Driver {
    pub fn new(size: u16) -> Self {
        Self { size, avail_idx: 0 }
    }

    /// A queue of max `size` set up and enabled over these rings.
    pub fn queue(&self, mem: &VecMemory, features: u64) -> Queue {
        let mut q = Queue::new(self.size);
        q.set_size(self.size);
        q.set_desc_table(DESC);
        q.set_avail_ring(AVAIL);
        q.set_used_ring(USED);
        q.set_features(features);
        q.enable(mem).expect("valid test queue");
        q
    }

    /// Writes descriptor `i` of the table at `table`.
    pub fn desc_at(
        mem: &VecMemory,
        table: u64,
        i: u16,
        addr: u64,
        len: u32,
        flags: u16,
        next: u16,
    ) {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..].copy_from_slice(&next.to_le_bytes());
        mem.put(table + 16 * u64::from(i), &b);
    }

    /// Writes descriptor `i` of the queue's table.
    pub fn desc(&self, mem: &VecMemory, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        Self::desc_at(mem, DESC, i, addr, len, flags, next);
    }

    /// Makes `head` available and publishes the new index.
    pub fn publish(&mut self, mem: &VecMemory, head: u16) {
        let slot = u64::from(self.avail_idx % self.size);
        mem.put_u16(AVAIL + 4 + 2 * slot, head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.put_u16(AVAIL + 2, self.avail_idx);
    }

    /// Sets `avail.idx` directly.
    pub fn set_avail_idx(&mut self, mem: &VecMemory, idx: u16) {
        self.avail_idx = idx;
        mem.put_u16(AVAIL + 2, idx);
    }

    pub fn used_idx(&self, mem: &VecMemory) -> u16 {
        mem.get_u16(USED + 2)
    }

    /// Used element `i`: (id, len).
    pub fn used_elem(&self, mem: &VecMemory, i: u16) -> (u32, u32) {
        let at = USED + 4 + 8 * u64::from(i % self.size);
        (mem.get_u32(at), mem.get_u32(at + 4))
    }

    /// `used_event` (the driver's field at the end of the avail ring).
    pub fn set_used_event(&self, mem: &VecMemory, v: u16) {
        mem.put_u16(AVAIL + 4 + 2 * u64::from(self.size), v);
    }

    /// `avail_event` (the device's field at the end of the used ring).
    pub fn avail_event(&self, mem: &VecMemory) -> u16 {
        mem.get_u16(USED + 4 + 8 * u64::from(self.size))
    }
}

/// xorshift64*: small, deterministic, good enough to scatter inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
