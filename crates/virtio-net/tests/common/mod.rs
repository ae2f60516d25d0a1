//! Test fixtures: guest RAM over a Vec, the driver's side of both queues,
//! the register sequence up to DRIVER_OK, and frame helpers.
#![allow(dead_code)]

use std::cell::RefCell;

use virtio_core::mmio::reg;
use virtio_core::*;
use virtio_net::*;

/// Where the test RAM starts in guest-physical space.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Its size: room for a 64 KiB frame.
pub const RAM_SIZE: usize = 0x10_0000;
/// The queue size the tests' driver chooses.
pub const QSIZE: u16 = 16;
/// Bytes of each buffer slot.
pub const SLOT: u64 = 0x800;
/// Transmit buffers: slot `i` at `TX_DATA + i * SLOT`.
pub const TX_DATA: u64 = RAM_BASE + 0x10000;
/// Receive buffers: slot `i` at `RX_DATA + i * SLOT`.
pub const RX_DATA: u64 = RAM_BASE + 0x20000;
/// A large free area.
pub const BIG: u64 = RAM_BASE + 0x40000;
/// A MAC for the device.
pub const MAC: Mac = [0x02, 0x41, 0x58, 0, 1, 0];
/// Another host's MAC.
pub const PEER: Mac = [0x02, 0x41, 0x58, 0, 2, 0];

/// Guest RAM `[RAM_BASE, RAM_BASE + RAM_SIZE)`; everything else is refused.
pub struct VecMemory(pub RefCell<Vec<u8>>);

impl VecMemory {
    pub fn new() -> Self {
        Self(RefCell::new(vec![0; RAM_SIZE]))
    }
    fn offset(&self, gpa: u64, len: u64) -> Result<usize, MemError> {
        let err = MemError { gpa, len };
        let off = gpa.checked_sub(RAM_BASE).ok_or(err)?;
        let end = off.checked_add(len).ok_or(err)?;
        (end <= RAM_SIZE as u64).then_some(off as usize).ok_or(err)
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
        buf.copy_from_slice(&self.0.borrow()[off..off + buf.len()]);
        Ok(())
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemError> {
        let off = self.offset(gpa, data.len() as u64)?;
        self.0.borrow_mut()[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn check_range(&self, gpa: u64, len: u64) -> Result<(), MemError> {
        self.offset(gpa, len).map(|_| ())
    }
}

/// Ring base of queue `q`: descriptors, avail at +0x1000, used at +0x2000.
pub fn rings(q: u16) -> u64 {
    RAM_BASE + 0x4000 * u64::from(q)
}

/// One buffer of a chain: address, length, device-writable.
#[derive(Clone, Copy, Debug)]
pub struct Buf(pub u64, pub u32, pub bool);

/// The driver's side of queue `q`.
pub struct Ring {
    pub q: u16,
    pub avail_idx: u16,
    next_desc: u16,
}

impl Ring {
    pub fn new(q: u16) -> Self {
        Self {
            q,
            avail_idx: 0,
            next_desc: 0,
        }
    }
    pub fn desc(&self, mem: &VecMemory, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..].copy_from_slice(&next.to_le_bytes());
        mem.put(rings(self.q) + 16 * u64::from(i), &b);
    }
    /// Writes `bufs` as a linked chain into the next descriptors (reused
    /// round-robin) and returns its head, unpublished.
    pub fn chain(&mut self, mem: &VecMemory, bufs: &[Buf]) -> u16 {
        let head = self.next_desc;
        for (k, b) in bufs.iter().enumerate() {
            let i = self.next_desc;
            let next = (i + 1) % QSIZE;
            let mut flags = if b.2 { DESC_F_WRITE } else { 0 };
            if k + 1 < bufs.len() {
                flags |= DESC_F_NEXT;
            }
            self.desc(mem, i, b.0, b.1, flags, next);
            self.next_desc = next;
        }
        head
    }
    pub fn publish(&mut self, mem: &VecMemory, head: u16) {
        let slot = u64::from(self.avail_idx % QSIZE);
        mem.put(rings(self.q) + 0x1004 + 2 * slot, &head.to_le_bytes());
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.put(rings(self.q) + 0x1002, &self.avail_idx.to_le_bytes());
    }
    pub fn submit(&mut self, mem: &VecMemory, bufs: &[Buf]) -> u16 {
        let head = self.chain(mem, bufs);
        self.publish(mem, head);
        head
    }
    pub fn used_idx(&self, mem: &VecMemory) -> u16 {
        u16::from_le_bytes(mem.get(rings(self.q) + 0x2002, 2).try_into().unwrap())
    }
    /// Used element `i`: (id, len).
    pub fn used_elem(&self, mem: &VecMemory, i: u16) -> (u32, u32) {
        let b = mem.get(rings(self.q) + 0x2004 + 8 * u64::from(i % QSIZE), 8);
        (
            u32::from_le_bytes(b[..4].try_into().unwrap()),
            u32::from_le_bytes(b[4..].try_into().unwrap()),
        )
    }
    /// Sets `used_event` (with EVENT_IDX).
    pub fn set_used_event(&self, mem: &VecMemory, v: u16) {
        mem.put(
            rings(self.q) + 0x1004 + 2 * u64::from(QSIZE),
            &v.to_le_bytes(),
        );
    }
}

pub type Transport = MmioTransport<VirtioNet>;

pub fn rd(t: &mut Transport, offset: u64) -> u32 {
    t.read(offset, 4) as u32
}

pub fn wr(t: &mut Transport, mem: &VecMemory, offset: u64, v: u32) {
    t.write(mem, offset, 4, u64::from(v));
}

/// Linux's sequence: reset, ACKNOWLEDGE, DRIVER, the offered features
/// masked by `accept`, FEATURES_OK, the queues in `queues` of QSIZE,
/// DRIVER_OK.
pub fn bring_up_with(dev: VirtioNet, mem: &VecMemory, accept: u64, queues: &[u16]) -> Transport {
    let mut t = MmioTransport::new(dev);
    assert_eq!(rd(&mut t, reg::DEVICE_ID), 1);
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
    for &q in queues {
        let base = rings(q);
        wr(&mut t, mem, reg::QUEUE_SEL, u32::from(q));
        assert!(rd(&mut t, reg::QUEUE_NUM_MAX) >= u32::from(QSIZE));
        wr(&mut t, mem, reg::QUEUE_NUM, u32::from(QSIZE));
        wr(&mut t, mem, reg::QUEUE_DESC_LOW, base as u32);
        wr(&mut t, mem, reg::QUEUE_DESC_HIGH, (base >> 32) as u32);
        wr(&mut t, mem, reg::QUEUE_DRIVER_LOW, (base + 0x1000) as u32);
        wr(&mut t, mem, reg::QUEUE_DRIVER_HIGH, 0);
        wr(&mut t, mem, reg::QUEUE_DEVICE_LOW, (base + 0x2000) as u32);
        wr(&mut t, mem, reg::QUEUE_DEVICE_HIGH, 0);
        wr(&mut t, mem, reg::QUEUE_READY, 1);
    }
    wr(&mut t, mem, reg::STATUS, s | STATUS_DRIVER_OK);
    assert!(t.is_live());
    t
}

/// Both queues, all features but EVENT_IDX offered are accepted.
pub fn bring_up(config: NetConfig, mem: &VecMemory) -> Transport {
    bring_up_with(
        VirtioNet::new(config),
        mem,
        u64::MAX,
        &[RECEIVEQ, TRANSMITQ],
    )
}

/// A device with the default limits, up.
pub fn up(mem: &VecMemory) -> Transport {
    bring_up(NetConfig::new(MAC), mem)
}

/// A frame `dst <- src` of `len` bytes with a pattern seeded by `seed`.
pub fn eth(dst: Mac, src: Mac, len: usize, seed: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    let n = len.min(12);
    let mut addrs = [0u8; 12];
    addrs[..6].copy_from_slice(&dst);
    addrs[6..].copy_from_slice(&src);
    f[..n].copy_from_slice(&addrs[..n]);
    f
}

/// Writes a transmit header (all zero) and `frame` at TX slot `slot`,
/// posts it as one readable buffer; returns the head. No notify.
pub fn post_tx(mem: &VecMemory, tx: &mut Ring, slot: u16, hlen: usize, frame: &[u8]) -> u16 {
    let at = TX_DATA + SLOT * u64::from(slot % QSIZE);
    mem.put(at, &vec![0u8; hlen]);
    mem.put(at + hlen as u64, frame);
    tx.submit(mem, &[Buf(at, (hlen + frame.len()) as u32, false)])
}

/// Posts `n` receive buffers of SLOT bytes (slots `first..`). No notify.
pub fn post_rx(mem: &VecMemory, rx: &mut Ring, first: u16, n: u16) {
    for i in first..first + n {
        let at = RX_DATA + SLOT * u64::from(i % QSIZE);
        rx.submit(mem, &[Buf(at, SLOT as u32, true)]);
    }
}

/// Delivers `frame` through the transport; `None` if the transport did
/// not run the device (not live).
pub fn deliver(t: &mut Transport, mem: &VecMemory, frame: &[u8]) -> Option<Delivery> {
    let mut out = None;
    t.run_device(mem, |dev, queues, m| {
        let d = dev.deliver(frame, queues, m)?;
        out = Some(d);
        Ok(matches!(d, Delivery::Delivered { notify: true }))
    });
    out
}

/// The frames in `q`, in order (emptying it).
pub fn drain(q: &mut FrameQueue) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while let Some(f) = q.front() {
        v.push(f.to_vec());
        q.pop_front();
    }
    v
}

/// Takes the device's outbox and returns its frames.
pub fn outbox(t: &mut Transport) -> Vec<Vec<u8>> {
    let mut spare = t.device().spare_outbox();
    t.device_mut().take_outbox(&mut spare);
    drain(&mut spare)
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
}
