//! The console behind the MMIO transport: guest output to a sink, host
//! input with and without receive buffers, FIFO overflow, bounded
//! transmit, hostile chains, and virtio-drivers' negotiation.

use std::cell::RefCell;

use virtio_console::*;
use virtio_core::mmio::{INT_CONFIG_CHANGE, INT_USED_BUFFER, reg};
use virtio_core::*;

const RAM_BASE: u64 = 0x8000_0000;
const RAM_SIZE: usize = 0x40000;
const QSIZE: u16 = 8;
/// Ring base of queue `q`: descriptors, avail at +0x400, used at +0x800.
fn rings(q: u16) -> u64 {
    RAM_BASE + 0x1000 * u64::from(q)
}
const DATA: u64 = RAM_BASE + 0x10000;

struct VecMemory(RefCell<Vec<u8>>);

impl VecMemory {
    fn new() -> Self {
        Self(RefCell::new(vec![0; RAM_SIZE]))
    }
    fn offset(&self, gpa: u64, len: u64) -> Result<usize, MemError> {
        let err = MemError { gpa, len };
        let off = gpa.checked_sub(RAM_BASE).ok_or(err)?;
        let end = off.checked_add(len).ok_or(err)?;
        (end <= RAM_SIZE as u64).then_some(off as usize).ok_or(err)
    }
    fn put(&self, gpa: u64, data: &[u8]) {
        self.write(gpa, data).expect("test write inside RAM");
    }
    fn get(&self, gpa: u64, len: usize) -> Vec<u8> {
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

/// The driver's side of queue `q`.
struct Ring {
    q: u16,
    avail_idx: u16,
    next_desc: u16,
}

impl Ring {
    fn new(q: u16) -> Self {
        Self {
            q,
            avail_idx: 0,
            next_desc: 0,
        }
    }
    fn desc(&self, mem: &VecMemory, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..].copy_from_slice(&next.to_le_bytes());
        mem.put(rings(self.q) + 16 * u64::from(i), &b);
    }
    fn publish(&mut self, mem: &VecMemory, head: u16) {
        let slot = u64::from(self.avail_idx % QSIZE);
        mem.put(rings(self.q) + 0x400 + 4 + 2 * slot, &head.to_le_bytes());
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.put(rings(self.q) + 0x402, &self.avail_idx.to_le_bytes());
    }
    /// Publishes one buffer; returns its head.
    fn one(&mut self, mem: &VecMemory, addr: u64, len: u32, write: bool) -> u16 {
        let i = self.next_desc;
        self.next_desc = (i + 1) % QSIZE;
        self.desc(mem, i, addr, len, if write { DESC_F_WRITE } else { 0 }, 0);
        self.publish(mem, i);
        i
    }
    fn used_idx(&self, mem: &VecMemory) -> u16 {
        u16::from_le_bytes(mem.get(rings(self.q) + 0x802, 2).try_into().unwrap())
    }
    fn used_elem(&self, mem: &VecMemory, i: u16) -> (u32, u32) {
        let b = mem.get(rings(self.q) + 0x804 + 8 * u64::from(i % QSIZE), 8);
        (
            u32::from_le_bytes(b[..4].try_into().unwrap()),
            u32::from_le_bytes(b[4..].try_into().unwrap()),
        )
    }
}

#[derive(Default)]
struct Out(Vec<u8>);

impl ConsoleSink for Out {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

type Transport = MmioTransport<VirtioConsole<Out>>;

fn wr(t: &mut Transport, mem: &VecMemory, offset: u64, v: u32) {
    t.write(mem, offset, 4, u64::from(v));
}

fn rd(t: &mut Transport, offset: u64) -> u32 {
    t.read(offset, 4) as u32
}

/// Brings the console up with `features` accepted, queues 0 and 1 set up.
fn bring_up(mem: &VecMemory, config: ConsoleConfig, features: u64) -> Transport {
    let mut t = MmioTransport::new(VirtioConsole::new(Out::default(), config));
    init(&mut t, mem, features);
    t
}

/// Drives `t` from reset to DRIVER_OK.
fn init(t: &mut Transport, mem: &VecMemory, features: u64) {
    assert_eq!(rd(t, reg::DEVICE_ID), 3);
    wr(t, mem, reg::STATUS, 0);
    wr(t, mem, reg::STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    wr(t, mem, reg::DRIVER_FEATURES_SEL, 0);
    wr(t, mem, reg::DRIVER_FEATURES, features as u32);
    wr(t, mem, reg::DRIVER_FEATURES_SEL, 1);
    wr(t, mem, reg::DRIVER_FEATURES, (features >> 32) as u32);
    let s = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;
    wr(t, mem, reg::STATUS, s);
    assert_eq!(rd(t, reg::STATUS), s);
    for q in [RECEIVEQ, TRANSMITQ] {
        wr(t, mem, reg::QUEUE_SEL, u32::from(q));
        assert!(rd(t, reg::QUEUE_NUM_MAX) >= u32::from(QSIZE));
        wr(t, mem, reg::QUEUE_NUM, u32::from(QSIZE));
        wr(t, mem, reg::QUEUE_DESC_LOW, rings(q) as u32);
        wr(t, mem, reg::QUEUE_DESC_HIGH, 0);
        wr(t, mem, reg::QUEUE_DRIVER_LOW, (rings(q) + 0x400) as u32);
        wr(t, mem, reg::QUEUE_DRIVER_HIGH, 0);
        wr(t, mem, reg::QUEUE_DEVICE_LOW, (rings(q) + 0x800) as u32);
        wr(t, mem, reg::QUEUE_DEVICE_HIGH, 0);
        wr(t, mem, reg::QUEUE_READY, 1);
    }
    wr(t, mem, reg::STATUS, s | STATUS_DRIVER_OK);
    assert!(t.is_live());
}

fn console(mem: &VecMemory) -> Transport {
    bring_up(mem, ConsoleConfig::default(), VIRTIO_F_VERSION_1)
}

#[test]
fn identity_features_and_config() {
    let mem = VecMemory::new();
    let mut t = console(&mem);
    assert_eq!(
        t.device().device_features(),
        VIRTIO_F_VERSION_1,
        "no SIZE, MULTIPORT, EMERG_WRITE"
    );
    assert_eq!(t.device().num_queues(), 2);
    for off in [0, 2, 4, 8, 12] {
        assert_eq!(t.read(reg::CONFIG + off, 4), 0);
    }
    t.write(&mem, reg::CONFIG + 8, 4, u64::from(b'x'));
    assert!(t.device().sink().0.is_empty());
    wr(&mut t, &mem, reg::QUEUE_SEL, 2);
    assert_eq!(rd(&mut t, reg::QUEUE_NUM_MAX), 0, "one port only");
}

#[test]
fn transmit_goes_to_the_sink_in_order() {
    let mem = VecMemory::new();
    let mut t = console(&mem);
    let mut tx = Ring::new(TRANSMITQ);
    mem.put(DATA, b"hello, ");
    mem.put(DATA + 0x100, b"world\n");
    // A chain of two readable buffers, then a second chain.
    tx.desc(&mem, 0, DATA, 4, DESC_F_NEXT, 1);
    tx.desc(&mem, 1, DATA + 4, 3, 0, 0);
    tx.publish(&mem, 0);
    tx.desc(&mem, 2, DATA + 0x100, 6, 0, 0);
    tx.publish(&mem, 2);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_eq!(t.device().sink().0, b"hello, world\n");
    assert_eq!(tx.used_idx(&mem), 2);
    assert_eq!(tx.used_elem(&mem, 0), (0, 0));
    assert_eq!(tx.used_elem(&mem, 1), (2, 0));
    assert_eq!(rd(&mut t, reg::INTERRUPT_STATUS), INT_USED_BUFFER);
    assert_eq!(t.device().stats().tx_bytes, 13);
}

#[test]
fn a_closure_is_a_sink() {
    let mut seen = Vec::new();
    {
        let mut sink = |b: &[u8]| seen.extend_from_slice(b);
        ConsoleSink::write(&mut sink, b"ab");
    }
    assert_eq!(seen, b"ab");
}

#[test]
fn transmit_is_bounded_per_notify_and_per_chain() {
    let mem = VecMemory::new();
    let cfg = ConsoleConfig {
        max_tx_chains: 2,
        max_tx_bytes: 600,
        ..ConsoleConfig::default()
    };
    let mut t = bring_up(&mem, cfg, VIRTIO_F_VERSION_1);
    let mut tx = Ring::new(TRANSMITQ);
    mem.put(DATA, &[b'a'; 1000]);
    for _ in 0..3 {
        tx.one(&mem, DATA, 1000, false);
    }
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_eq!(tx.used_idx(&mem), 2);
    assert!(t.device().has_pending());
    assert_eq!(t.device().sink().0.len(), 1200, "600 bytes of each chain");
    assert_eq!(t.device().stats().tx_truncated, 800);
    t.run_device(&mem, |d, q, m| d.transmit(q, m));
    assert_eq!(tx.used_idx(&mem), 3);
    assert!(!t.device().has_pending());
    assert_eq!(t.device().sink().0.len(), 1800);
}

#[test]
fn input_with_receive_buffers_is_delivered_and_interrupts() {
    let mem = VecMemory::new();
    let mut t = console(&mem);
    let mut rx = Ring::new(RECEIVEQ);
    rx.one(&mem, DATA, 4, true);
    rx.one(&mem, DATA + 0x100, 64, true);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(RECEIVEQ));
    assert_eq!(
        rx.used_idx(&mem),
        0,
        "nothing to deliver: buffers stay posted"
    );
    assert!(!t.irq_level());
    assert_eq!(push_input(&mut t, &mem, b"ls -l\r"), 6);
    // The first buffer takes 4 bytes, the second the rest.
    assert_eq!(rx.used_idx(&mem), 2);
    assert_eq!(rx.used_elem(&mem, 0), (0, 4));
    assert_eq!(rx.used_elem(&mem, 1), (1, 2));
    assert_eq!(mem.get(DATA, 4), b"ls -");
    assert_eq!(mem.get(DATA + 0x100, 2), b"l\r");
    assert!(t.irq_level());
    assert_eq!(t.device().input_len(), 0);
    assert_eq!(t.device().stats().rx_bytes, 6);
}

#[test]
fn input_without_buffers_waits_for_the_guest() {
    let mem = VecMemory::new();
    let mut t = console(&mem);
    let mut rx = Ring::new(RECEIVEQ);
    assert_eq!(push_input(&mut t, &mem, b"abc"), 3);
    assert_eq!(push_input(&mut t, &mem, b"def"), 3);
    assert!(!t.irq_level());
    assert_eq!(t.device().input_len(), 6);
    // The guest posts a buffer and notifies: the waiting input arrives.
    rx.one(&mem, DATA, 16, true);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(RECEIVEQ));
    assert_eq!(rx.used_elem(&mem, 0), (0, 6));
    assert_eq!(mem.get(DATA, 6), b"abcdef");
    assert!(t.irq_level());
    // Input queued before DRIVER_OK is delivered on activation.
    let mut t = MmioTransport::new(VirtioConsole::new(Out::default(), ConsoleConfig::default()));
    assert_eq!(push_input(&mut t, &mem, b"early"), 5);
    assert_eq!(t.device().input_len(), 5);
    let mem = VecMemory::new();
    let mut rx = Ring::new(RECEIVEQ);
    rx.one(&mem, DATA, 16, true);
    init(&mut t, &mem, VIRTIO_F_VERSION_1);
    assert_eq!(rx.used_elem(&mem, 0), (0, 5));
    assert_eq!(mem.get(DATA, 5), b"early");
    assert!(t.irq_level());
}

#[test]
fn fifo_overflow_is_dropped_and_counted() {
    let mem = VecMemory::new();
    let cfg = ConsoleConfig {
        input_capacity: 16,
        ..ConsoleConfig::default()
    };
    let mut t = bring_up(&mem, cfg, VIRTIO_F_VERSION_1);
    assert_eq!(push_input(&mut t, &mem, &[b'x'; 10]), 10);
    assert_eq!(push_input(&mut t, &mem, &[b'y'; 10]), 6);
    assert_eq!(push_input(&mut t, &mem, b"z"), 0);
    assert_eq!(t.device().stats().input_dropped, 5);
    assert_eq!(t.device().input_len(), 16);
    let mut rx = Ring::new(RECEIVEQ);
    rx.one(&mem, DATA, 64, true);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(RECEIVEQ));
    assert_eq!(mem.get(DATA, 16), b"xxxxxxxxxxyyyyyy");
    assert_eq!(push_input(&mut t, &mem, b"z"), 1, "room again");
}

#[test]
fn hostile_chains_are_completed_empty_and_the_host_goes_on() {
    let mem = VecMemory::new();
    let mut t = console(&mem);
    let mut tx = Ring::new(TRANSMITQ);
    // A loop, a buffer outside RAM, a zero-length buffer, a head past the queue.
    tx.desc(&mem, 0, DATA, 4, DESC_F_NEXT, 0);
    tx.publish(&mem, 0);
    tx.desc(&mem, 1, 0x1000, 4, 0, 0);
    tx.publish(&mem, 1);
    tx.desc(&mem, 2, DATA, 0, 0, 0);
    tx.publish(&mem, 2);
    tx.publish(&mem, 300);
    // A writable-only chain on the transmit queue carries nothing.
    tx.desc(&mem, 3, DATA, 8, DESC_F_WRITE, 0);
    tx.publish(&mem, 3);
    mem.put(DATA + 0x200, b"ok");
    tx.desc(&mem, 4, DATA + 0x200, 2, 0, 0);
    tx.publish(&mem, 4);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_eq!(t.device().sink().0, b"ok");
    assert_eq!(tx.used_idx(&mem), 5);
    assert_eq!(t.device().stats().malformed, 4);
    // Receive: a readable-only buffer gets nothing; the input stays queued.
    let mut rx = Ring::new(RECEIVEQ);
    rx.one(&mem, DATA, 8, false);
    push_input(&mut t, &mem, b"hi");
    assert_eq!(rx.used_elem(&mem, 0), (0, 0));
    assert_eq!(t.device().input_len(), 2);
    rx.one(&mem, DATA + 0x300, 8, true);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(RECEIVEQ));
    assert_eq!(mem.get(DATA + 0x300, 2), b"hi");
    assert!(t.is_live());
    // A broken ring: needs reset, no panic, notify storms do nothing.
    mem.put(rings(TRANSMITQ) + 0x402, &1000u16.to_le_bytes());
    for _ in 0..100 {
        wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    }
    assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert_ne!(t.interrupt_status() & INT_CONFIG_CHANGE, 0);
    assert_eq!(push_input(&mut t, &mem, b"!"), 1, "queued, not delivered");
    assert_eq!(t.device().input_len(), 1);
}

/// virtio-drivers 0.7.5's console accepts `EVENT_IDX|INDIRECT & offered`
/// (here nothing), never VERSION_1, and uses queues of 2.
#[test]
fn virtio_drivers_negotiation_without_version_1() {
    let mem = VecMemory::new();
    let mut t = bring_up(&mem, ConsoleConfig::default(), 0);
    assert_eq!(t.driver_features(), 0);
    let mut tx = Ring::new(TRANSMITQ);
    mem.put(DATA, b"starry");
    tx.one(&mem, DATA, 6, false);
    wr(&mut t, &mem, reg::QUEUE_NOTIFY, u32::from(TRANSMITQ));
    assert_eq!(t.device().sink().0, b"starry");
    let pending = rd(&mut t, reg::INTERRUPT_STATUS);
    wr(&mut t, &mem, reg::INTERRUPT_ACK, pending);
    assert!(!t.irq_level());
}
