//! Test fixtures: guest RAM over a Vec, a driver's side of the request
//! queue, a recording backend and the register sequence up to DRIVER_OK.
#![allow(dead_code)]

use std::cell::RefCell;

use virtio_blk::*;
use virtio_core::mmio::reg;
use virtio_core::*;

/// Where the test RAM starts in guest-physical space.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Its size: room for requests above the default 1 MiB cap.
pub const RAM_SIZE: usize = 4 << 20;
/// Ring addresses.
pub const DESC: u64 = RAM_BASE;
/// Avail ring.
pub const AVAIL: u64 = RAM_BASE + 0x1000;
/// Used ring.
pub const USED: u64 = RAM_BASE + 0x2000;
/// Request header.
pub const HDR: u64 = RAM_BASE + 0x3000;
/// Status byte.
pub const STATUS: u64 = RAM_BASE + 0x3100;
/// Data buffers.
pub const DATA: u64 = RAM_BASE + 0x10000;
/// The queue size the tests' driver chooses.
pub const QSIZE: u16 = 16;

/// Guest RAM `[RAM_BASE, RAM_BASE + RAM_SIZE)`; everything else is refused.
pub struct VecMemory {
    pub bytes: RefCell<Vec<u8>>,
}

impl VecMemory {
    pub fn new() -> Self {
        Self {
            bytes: RefCell::new(vec![0; RAM_SIZE]),
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
}

impl GuestMemory for VecMemory {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let off = self.offset(gpa, buf.len() as u64)?;
        buf.copy_from_slice(&self.bytes.borrow()[off..off + buf.len()]);
        Ok(())
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemError> {
        let off = self.offset(gpa, data.len() as u64)?;
        self.bytes.borrow_mut()[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn check_range(&self, gpa: u64, len: u64) -> Result<(), MemError> {
        self.offset(gpa, len).map(|_| ())
    }
}

/// One buffer of a chain: address, length, device-writable.
#[derive(Clone, Copy, Debug)]
pub struct Buf(pub u64, pub u32, pub bool);

/// A device-readable buffer.
pub fn r(addr: u64, len: u32) -> Buf {
    Buf(addr, len, false)
}

/// A device-writable buffer.
pub fn w(addr: u64, len: u32) -> Buf {
    Buf(addr, len, true)
}

/// The driver's side of queue 0 at DESC/AVAIL/USED.
pub struct Driver {
    pub size: u16,
    pub avail_idx: u16,
    next_desc: u16,
}

impl Driver {
    pub fn new(size: u16) -> Self {
        Self {
            size,
            avail_idx: 0,
            next_desc: 0,
        }
    }

    /// Writes descriptor `i`.
    pub fn desc(&self, mem: &VecMemory, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..].copy_from_slice(&next.to_le_bytes());
        mem.put(DESC + 16 * u64::from(i), &b);
    }

    /// Writes `bufs` as a linked chain into free descriptors (they are
    /// reused round-robin: requests complete synchronously) and returns
    /// the head without publishing it.
    pub fn write_chain(&mut self, mem: &VecMemory, bufs: &[Buf]) -> u16 {
        assert!(!bufs.is_empty() && bufs.len() <= usize::from(self.size));
        let head = self.next_desc;
        for (k, b) in bufs.iter().enumerate() {
            let i = self.next_desc;
            let next = (i + 1) % self.size;
            let mut flags = if b.2 { DESC_F_WRITE } else { 0 };
            if k + 1 < bufs.len() {
                flags |= DESC_F_NEXT;
            }
            self.desc(mem, i, b.0, b.1, flags, next);
            self.next_desc = next;
        }
        head
    }

    /// Makes `head` available.
    pub fn publish(&mut self, mem: &VecMemory, head: u16) {
        let slot = u64::from(self.avail_idx % self.size);
        mem.put(AVAIL + 4 + 2 * slot, &head.to_le_bytes());
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.put(AVAIL + 2, &self.avail_idx.to_le_bytes());
    }

    /// Writes and publishes a chain.
    pub fn submit(&mut self, mem: &VecMemory, bufs: &[Buf]) -> u16 {
        let head = self.write_chain(mem, bufs);
        self.publish(mem, head);
        head
    }

    pub fn used_idx(&self, mem: &VecMemory) -> u16 {
        u16::from_le_bytes(mem.get(USED + 2, 2).try_into().unwrap())
    }

    /// Used element `i`: (id, len).
    pub fn used_elem(&self, mem: &VecMemory, i: u16) -> (u32, u32) {
        let at = USED + 4 + 8 * u64::from(i % self.size);
        let b = mem.get(at, 8);
        (
            u32::from_le_bytes(b[..4].try_into().unwrap()),
            u32::from_le_bytes(b[4..].try_into().unwrap()),
        )
    }
}

/// A backend call, as recorded by [`Recorder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Read(u64, usize),
    Write(u64, usize),
    Flush,
}

/// A [`MemBackend`] that records its calls and can be told to fail.
pub struct Recorder {
    pub disk: MemBackend,
    pub calls: Vec<Call>,
    pub fail_flush: bool,
    pub fail_io: bool,
}

impl Recorder {
    pub fn new(sectors: usize) -> Self {
        Self {
            disk: MemBackend::new(sectors),
            calls: Vec::new(),
            fail_flush: false,
            fail_io: false,
        }
    }
}

impl BlockBackend for Recorder {
    fn capacity_sectors(&self) -> u64 {
        self.disk.capacity_sectors()
    }
    fn read_only(&self) -> bool {
        self.disk.read_only()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        self.calls.push(Call::Read(sector, buf.len()));
        if self.fail_io {
            return Err(BackendError::Io);
        }
        self.disk.read(sector, buf)
    }
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        self.calls.push(Call::Write(sector, data.len()));
        if self.fail_io {
            return Err(BackendError::Io);
        }
        self.disk.write(sector, data)
    }
    fn flush(&mut self) -> Result<(), BackendError> {
        self.calls.push(Call::Flush);
        if self.fail_flush {
            return Err(BackendError::Io);
        }
        Ok(())
    }
    fn id(&self) -> [u8; ID_BYTES] {
        self.disk.id()
    }
}

pub type Transport<B> = MmioTransport<VirtioBlk<B>>;

pub fn rd<B: BlockBackend>(t: &mut Transport<B>, offset: u64) -> u32 {
    t.read(offset, 4) as u32
}

pub fn wr<B: BlockBackend>(t: &mut Transport<B>, mem: &VecMemory, offset: u64, v: u32) {
    t.write(mem, offset, 4, u64::from(v));
}

/// Linux's sequence: reset, ACKNOWLEDGE, DRIVER, the device's features
/// (masked by `accept`), FEATURES_OK read back, queue 0 of QSIZE, DRIVER_OK.
pub fn bring_up<B: BlockBackend>(dev: VirtioBlk<B>, mem: &VecMemory, accept: u64) -> Transport<B> {
    let mut t = MmioTransport::new(dev);
    assert_eq!(rd(&mut t, reg::DEVICE_ID), 2);
    wr(&mut t, mem, reg::STATUS, 0);
    wr(&mut t, mem, reg::STATUS, STATUS_ACKNOWLEDGE);
    wr(&mut t, mem, reg::STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    wr(&mut t, mem, reg::DEVICE_FEATURES_SEL, 0);
    let mut offered = u64::from(rd(&mut t, reg::DEVICE_FEATURES));
    wr(&mut t, mem, reg::DEVICE_FEATURES_SEL, 1);
    offered |= u64::from(rd(&mut t, reg::DEVICE_FEATURES)) << 32;
    let features = offered & accept;
    wr(&mut t, mem, reg::DRIVER_FEATURES_SEL, 0);
    wr(&mut t, mem, reg::DRIVER_FEATURES, features as u32);
    wr(&mut t, mem, reg::DRIVER_FEATURES_SEL, 1);
    wr(&mut t, mem, reg::DRIVER_FEATURES, (features >> 32) as u32);
    let s = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;
    wr(&mut t, mem, reg::STATUS, s);
    assert_eq!(rd(&mut t, reg::STATUS), s, "features accepted");
    wr(&mut t, mem, reg::QUEUE_SEL, 0);
    assert!(rd(&mut t, reg::QUEUE_NUM_MAX) >= u32::from(QSIZE));
    wr(&mut t, mem, reg::QUEUE_NUM, u32::from(QSIZE));
    wr(&mut t, mem, reg::QUEUE_DESC_LOW, DESC as u32);
    wr(&mut t, mem, reg::QUEUE_DESC_HIGH, (DESC >> 32) as u32);
    wr(&mut t, mem, reg::QUEUE_DRIVER_LOW, AVAIL as u32);
    wr(&mut t, mem, reg::QUEUE_DRIVER_HIGH, (AVAIL >> 32) as u32);
    wr(&mut t, mem, reg::QUEUE_DEVICE_LOW, USED as u32);
    wr(&mut t, mem, reg::QUEUE_DEVICE_HIGH, (USED >> 32) as u32);
    wr(&mut t, mem, reg::QUEUE_READY, 1);
    wr(&mut t, mem, reg::STATUS, s | STATUS_DRIVER_OK);
    assert!(t.is_live());
    t
}

/// A device over a `sectors`-sector in-memory disk, all features accepted.
pub fn mem_disk(mem: &VecMemory, sectors: usize) -> Transport<MemBackend> {
    bring_up(
        VirtioBlk::new(MemBackend::new(sectors), BlkConfig::default()),
        mem,
        u64::MAX,
    )
}

/// Writes the request header at HDR.
pub fn header(mem: &VecMemory, kind: u32, sector: u64) {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&kind.to_le_bytes());
    h[4..8].copy_from_slice(&0xdead_beefu32.to_le_bytes()); // reserved: ignored
    h[8..].copy_from_slice(&sector.to_le_bytes());
    mem.put(HDR, &h);
}

/// Submits `bufs` as one chain, notifies, and returns its used length.
pub fn run<B: BlockBackend>(
    t: &mut Transport<B>,
    mem: &VecMemory,
    drv: &mut Driver,
    bufs: &[Buf],
) -> u32 {
    let head = drv.submit(mem, bufs);
    let before = drv.used_idx(mem);
    wr(t, mem, reg::QUEUE_NOTIFY, 0);
    assert_eq!(drv.used_idx(mem), before.wrapping_add(1), "completed");
    let (id, len) = drv.used_elem(mem, before);
    assert_eq!(id, u32::from(head));
    len
}

/// A request of `kind` at `sector` with the data buffers `data`; returns
/// (status, used length). The status byte starts as 0xff.
pub fn request<B: BlockBackend>(
    t: &mut Transport<B>,
    mem: &VecMemory,
    drv: &mut Driver,
    kind: u32,
    sector: u64,
    data: &[Buf],
) -> (u8, u32) {
    header(mem, kind, sector);
    mem.put(STATUS, &[0xff]);
    let mut bufs = vec![r(HDR, 16)];
    bufs.extend_from_slice(data);
    bufs.push(w(STATUS, 1));
    let len = run(t, mem, drv, &bufs);
    (mem.get(STATUS, 1)[0], len)
}

/// Fills `len` bytes at `gpa` with a pattern seeded by `seed`.
pub fn pattern(mem: &VecMemory, gpa: u64, len: usize, seed: u8) -> Vec<u8> {
    let v: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    mem.put(gpa, &v);
    v
}

/// xorshift64*: small, deterministic.
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
