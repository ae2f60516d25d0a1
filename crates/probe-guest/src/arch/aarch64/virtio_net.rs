//! The `virtio-net` case: the polling driver of `virtq` drives two of the
//! hypervisor's virtio-net devices in one VM, `net0` and `net1`, both
//! ports of its switch (receiveq 0, transmitq 1, 12-byte header). This
//! module holds the driver side ([`Nic`]: negotiation, receive buffers
//! recycled one at a time, frames built from a sequence number and checked
//! byte by byte) and the forwarding benchmark; `virtio_net_cases` has the
//! working cases and `virtio_net_hostile` the malformed ones. Delivery is
//! synchronous: a frame net0 sends is in net1's used ring (or its backlog)
//! when the notification returns. Lines `hostile virtio-net: ...`.

use core::mem::offset_of;

use super::hostile::{finish, report};
use super::virtio_case::{Case, F_VERSION_1, Stop};
use super::virtq::{Completion, DESC_F_WRITE, Desc, Device, Dma, QUEUE_SIZE, Rings, Virtq, reg};
use crate::console::println;

pub(super) const NAME: &str = "virtio-net";
pub(super) const CASE: Case = Case(NAME);
/// The case's config puts net0 and net1 in the first two slots.
const NET0_BASE: usize = 0x0a00_0000;
const NET1_BASE: usize = 0x0a00_0200;
/// The benchmark's config has its disk in the first slot, then the NICs.
const BENCH_NET0_BASE: usize = 0x0a00_0200;
const BENCH_NET1_BASE: usize = 0x0a00_0400;
const NET_DEVICE: u32 = 1;
const RECEIVEQ: u16 = 0;
const TRANSMITQ: u16 = 1;

// Features and the link status bit (virtio 1.x §5.1.3, §5.1.4).
const F_MAC: u64 = 1 << 5;
const F_STATUS: u64 = 1 << 16;
pub(super) const FEATURES: u64 = F_VERSION_1 | F_MAC | F_STATUS;
pub(super) const S_LINK_UP: u16 = 1;
/// Config-space offsets of `mac` and `status`.
const CONFIG_MAC: usize = 0;
const CONFIG_STATUS: usize = 6;

/// `virtio_net_hdr_v1`: flags, gso_type, hdr_len, gso_size, csum_start,
/// csum_offset, num_buffers.
pub(super) const HDR: usize = 12;
pub(super) type Header = [u8; HDR];
pub(super) const PLAIN_HEADER: Header = [0; HDR];
/// The largest frame the switch forwards (with a VLAN tag).
pub(super) const MAX_FRAME: usize = 1518;
/// A frame far above it, and the transmit buffer that holds one.
pub(super) const JUMBO: usize = 9000;
const TX_BYTES: usize = HDR + JUMBO;
/// Each receive buffer holds a header and the largest frame.
pub(super) const RX_BYTES: usize = 1536;
const _: () = assert!(RX_BYTES >= HDR + MAX_FRAME);
const Q: usize = QUEUE_SIZE as usize;
/// What receive buffers hold before the device writes them.
const UNWRITTEN: u8 = 0xa5;

pub(super) type Mac = [u8; 6];
pub(super) const BROADCAST: Mac = [0xff; 6];
/// An experimental EtherType (IEEE 802 local use).
const ETHERTYPE: [u8; 2] = [0x88, 0xb5];

/// net0's MAC, the config's `guest_mac`.
pub(super) const NET0_MAC: Mac = [0x02, 0, 0, 0, 1, 1];
/// net1's: derived from the VM id (33) and its place (NIC 1).
pub(super) const NET1_MAC: Mac = [0x02, 0x41, 0x58, 0, 33, 1];

/// One frame: addresses, a sequence number and length; its payload is a
/// pattern of the sequence number, so a received frame can be checked
/// against the one sent without keeping it.
#[derive(Clone, Copy)]
pub(super) struct Frame {
    pub dst: Mac,
    pub src: Mac,
    pub seq: u32,
    pub len: usize,
}

impl Frame {
    /// Byte `i` of the frame.
    pub fn byte(&self, i: usize) -> u8 {
        match i {
            0..6 => self.dst[i],
            6..12 => self.src[i - 6],
            12..14 => ETHERTYPE[i - 12],
            14..18 => self.seq.to_be_bytes()[i - 14],
            _ => (i as u32).wrapping_mul(31).wrapping_add(self.seq) as u8,
        }
    }
}

#[repr(C, align(4096))]
pub(super) struct TxBuffer {
    bytes: [u8; TX_BYTES],
}

#[repr(C, align(4096))]
pub(super) struct RxBuffers {
    bytes: [[u8; RX_BYTES]; Q],
}

static TX: Dma<TxBuffer> = Dma::new(TxBuffer {
    bytes: [0; TX_BYTES],
});
static RX0: Dma<RxBuffers> = Dma::new(RxBuffers {
    bytes: [[0; RX_BYTES]; Q],
});
static RX1: Dma<RxBuffers> = Dma::new(RxBuffers {
    bytes: [[0; RX_BYTES]; Q],
});
static RINGS: [Dma<Rings>; 4] = [const { Dma::new(Rings::EMPTY) }; 4];

/// One NIC: its two queues and receive buffers. Receive buffer `k` (the
/// k-th given since the reset) is descriptor and buffer `k % 8`; the
/// device uses them in the order given.
pub(super) struct Nic {
    pub name: &'static str,
    pub rx: Virtq,
    pub tx: Virtq,
    buffers: &'static Dma<RxBuffers>,
    /// Receive buffers given and used buffers taken since the reset.
    given: u16,
    taken: u16,
}

/// The case's two NICs.
pub(super) struct Pair {
    pub net0: Nic,
    pub net1: Nic,
}

impl Nic {
    fn new(
        name: &'static str,
        base: usize,
        index: usize,
        buffers: &'static Dma<RxBuffers>,
    ) -> Self {
        let dev = Device::new(base);
        Self {
            name,
            rx: Virtq::on(dev, RECEIVEQ, &RINGS[2 * index]),
            tx: Virtq::on(dev, TRANSMITQ, &RINGS[2 * index + 1]),
            buffers,
            given: 0,
            taken: 0,
        }
    }

    pub fn device(&self) -> Device {
        self.rx.device()
    }

    /// The MAC in the config space, read byte by byte.
    pub fn config_mac(&self) -> Mac {
        core::array::from_fn(|i| self.device().config_u8(CONFIG_MAC + i))
    }

    /// The config space's `status`.
    pub fn link_status(&self) -> u16 {
        self.device().config_u16(CONFIG_STATUS)
    }

    fn rx_addr(&self, slot: u16) -> u64 {
        self.buffers.get() as u64 + u64::from(slot) * RX_BYTES as u64
    }

    fn rx_byte(&self, slot: u16, i: usize) -> u8 {
        let bytes = self.buffers.get() as *const u8;
        // SAFETY: `slot < 8` and `i < RX_BYTES` (callers); the device has
        // used the buffer; raw-pointer read (see `Dma`).
        unsafe { bytes.add(usize::from(slot) * RX_BYTES + i).read_volatile() }
    }

    /// Gives the device the next receive buffer, `len` bytes of it, filled
    /// with [`UNWRITTEN`]; no notification.
    pub fn give(&mut self, len: u32) {
        let slot = self.given % QUEUE_SIZE;
        let bytes = self.buffers.get() as *mut u8;
        for i in 0..RX_BYTES {
            // SAFETY: the device holds at most 7 other buffers, never this
            // one (see `outstanding`); raw-pointer writes (see `Dma`).
            unsafe {
                bytes
                    .add(usize::from(slot) * RX_BYTES + i)
                    .write_volatile(UNWRITTEN)
            };
        }
        let desc = Desc {
            addr: self.rx_addr(slot),
            len,
            flags: DESC_F_WRITE,
            next: 0,
        };
        self.rx.set_desc(slot, desc);
        self.rx.post(&[], &[slot]);
        self.given = self.given.wrapping_add(1);
    }

    /// Gives full-size buffers until the device holds 8, and notifies
    /// receiveq.
    pub fn refill(&mut self) {
        while self.outstanding() < QUEUE_SIZE {
            self.give(RX_BYTES as u32);
        }
        self.rx.notify();
    }

    /// Receive buffers the device holds.
    pub fn outstanding(&self) -> u16 {
        self.given.wrapping_sub(self.taken)
    }

    /// Used receive buffers not taken yet.
    pub fn arrived(&self) -> u16 {
        self.rx.used_idx().wrapping_sub(self.taken)
    }

    /// The next used receive buffer (waiting a bounded time): (slot it
    /// should be, id, used length), or the completion if it is not one.
    pub fn take(&mut self) -> Result<(u16, u32, u32), Completion> {
        let slot = self.taken % QUEUE_SIZE;
        match self.rx.wait_used() {
            Completion::Used { id, len } => {
                self.taken = self.taken.wrapping_add(1);
                Ok((slot, id, len))
            }
            other => Err(other),
        }
    }

    /// Takes whatever arrived unexpectedly (already reported) and gives
    /// the buffers back, so that the next frame lands in a known buffer.
    pub fn discard(&mut self) {
        for _ in 0..self.arrived() {
            let _ = self.take();
        }
        self.refill();
    }

    /// Takes the next used receive buffer and checks it holds `frame`:
    /// the expected head, used length 12 + frame, a header all zero but
    /// num_buffers 1, the frame's bytes. `Stop` if none came; else whether
    /// it did (a line says what differed).
    pub fn receive(&mut self, what: &str, frame: &Frame) -> Result<bool, Stop> {
        let (slot, id, len) = match self.take() {
            Ok(used) => used,
            Err(completion) => {
                println!("hostile {NAME}: {what}: nothing arrived on {}", self.name);
                return CASE.completed(what, completion).and(Err(Stop));
            }
        };
        let header: Header = core::array::from_fn(|i| self.rx_byte(slot, i));
        let num_buffers = u16::from_le_bytes([header[10], header[11]]);
        let header_ok = header[..10].iter().all(|&b| b == 0) && num_buffers == 1;
        let wrong = if u32::from(slot) == id {
            (0..frame.len.min(RX_BYTES - HDR))
                .filter(|&i| self.rx_byte(slot, HDR + i) != frame.byte(i))
                .count()
        } else {
            0
        };
        let ok =
            u32::from(slot) == id && len as usize == HDR + frame.len && header_ok && wrong == 0;
        if !ok {
            println!(
                "hostile {NAME}: {what}: head {id} (expected {slot}), used length {len} (expected {}), header {header:02x?}, {wrong} bytes differ",
                HDR + frame.len
            );
        }
        Ok(ok)
    }
}

/// The case's NICs.
pub(super) fn pair() -> Pair {
    Pair {
        net0: Nic::new("net0", NET0_BASE, 0, &RX0),
        net1: Nic::new("net1", NET1_BASE, 1, &RX1),
    }
}

/// Resets `nic`, brings it to DRIVER_OK with both queues set up and no
/// receive buffer given; `verbose` reports every step, else only a wrong
/// one.
pub(super) fn negotiate(nic: &mut Nic, verbose: bool) -> Result<(), Stop> {
    let dev = nic.device();
    let status = nic.rx.reset();
    nic.tx.reset_rings();
    nic.given = 0;
    nic.taken = 0;
    let offered = CASE.offered_features(dev, status, verbose)?;
    CASE.accept_features(
        dev,
        offered & FEATURES,
        "FEATURES_OK reads back set (VERSION_1, MAC, STATUS)",
        verbose,
    )?;
    for (q, name) in [
        (&mut nic.rx, "queue 0 (receiveq)"),
        (&mut nic.tx, "queue 1 (transmitq)"),
    ] {
        let setup = q.setup();
        let ok = setup.ready_before == 0
            && setup.num_max >= u32::from(QUEUE_SIZE)
            && setup.ready_after == 1;
        if verbose || !ok {
            println!(
                "hostile {NAME}: {}: {name}: QueueReady {} before, QueueNumMax {}, QueueReady {} after",
                nic.name, setup.ready_before, setup.num_max, setup.ready_after
            );
        }
        CASE.step(verbose, name, ok, setup.ready_after.into())?;
    }
    CASE.driver_ok(dev, verbose)
}

/// Writes `header` and the first `len` bytes of `frame` (up to [`JUMBO`])
/// into the transmit buffer; the addresses of header and frame.
pub(super) fn stage(header: &Header, frame: &Frame) -> (u64, u64) {
    let bytes = TX.get() as *mut u8;
    for (i, &b) in header.iter().enumerate() {
        // SAFETY: `i < HDR`; no transmit chain is in flight; raw-pointer
        // writes (see `Dma`).
        unsafe { bytes.add(i).write_volatile(b) };
    }
    for i in 0..frame.len.min(JUMBO) {
        // SAFETY: `HDR + i < TX_BYTES`; as above.
        unsafe { bytes.add(HDR + i).write_volatile(frame.byte(i)) };
    }
    let base = TX.get() as u64 + offset_of!(TxBuffer, bytes) as u64;
    (base, base + HDR as u64)
}

/// Sends `frame` from `nic` as header and frame in two descriptors; the
/// used length of the transmit chain (`Stop` if it was not completed).
pub(super) fn send(nic: &mut Nic, what: &str, frame: &Frame) -> Result<u32, Stop> {
    send_cut(nic, what, frame, &[HDR])
}

/// Sends `frame` from `nic` with a plain header, header and frame one
/// run of bytes cut into descriptors at the offsets `cuts` (ascending,
/// at most 3); the transmit chain's used length.
pub(super) fn send_cut(
    nic: &mut Nic,
    what: &str,
    frame: &Frame,
    cuts: &[usize],
) -> Result<u32, Stop> {
    let (base, _) = stage(&PLAIN_HEADER, frame);
    let mut chain = [(0u64, 0u32, false); 4];
    let mut start = 0;
    let ends = cuts.iter().take(3).copied().chain([HDR + frame.len]);
    let mut n = 0;
    for (piece, end) in chain.iter_mut().zip(ends) {
        *piece = (base + start as u64, end.saturating_sub(start) as u32, false);
        start = end;
        n += 1;
    }
    CASE.completed(what, nic.tx.submit(&chain[..n]))
}

/// A unicast frame net0 -> net1 of `len` bytes numbered `seq`.
pub(super) fn to_net1(seq: u32, len: usize) -> Frame {
    Frame {
        dst: NET1_MAC,
        src: NET0_MAC,
        seq,
        len,
    }
}

/// Runs the case and ends it.
pub fn run() {
    let _ = steps();
    finish();
}

fn steps() -> Result<(), Stop> {
    let mut p = pair();
    for nic in [&p.net0, &p.net1] {
        CASE.identify(nic.device(), NET_DEVICE, "DeviceID is 1 (network)")?;
    }
    for nic in [&mut p.net0, &mut p.net1] {
        negotiate(nic, true)?;
        let offered = nic.device().device_features();
        report(
            NAME,
            "the features offered are VERSION_1, MAC and STATUS, nothing else",
            offered == FEATURES,
            offered,
        );
    }
    super::virtio_net_cases::run(&mut p)?;
    super::virtio_net_hostile::run(&mut p)
}

/// Frames of each size the benchmark forwards.
const BENCH_SIZES: [usize; 2] = [64, 1514];

/// The benchmark: for each of [`BENCH_SIZES`], `frames` frames net0 ->
/// net1, counter ticks from just before the transmit notification until
/// the frame is in net1's used ring, summed; `None` when no NICs answer
/// at the benchmark's slots (a bare machine) or a frame goes astray.
pub fn bench(frames: u64) -> Option<[u64; 2]> {
    for base in [BENCH_NET0_BASE, BENCH_NET1_BASE] {
        let dev = Device::new(base);
        if dev.read(reg::MAGIC_VALUE) != 0x7472_6976 || dev.read(reg::DEVICE_ID) != NET_DEVICE {
            return None;
        }
    }
    let mut net0 = Nic::new("net0", BENCH_NET0_BASE, 0, &RX0);
    let mut net1 = Nic::new("net1", BENCH_NET1_BASE, 1, &RX1);
    negotiate(&mut net0, false).ok()?;
    negotiate(&mut net1, false).ok()?;
    let dst = net1.config_mac();
    let src = net0.config_mac();
    net1.refill();
    let mut ticks = [0u64; 2];
    for (total, len) in ticks.iter_mut().zip(BENCH_SIZES) {
        let frame = Frame {
            dst,
            src,
            seq: 0,
            len,
        };
        let (header, _) = stage(&PLAIN_HEADER, &frame);
        let desc = Desc {
            addr: header,
            len: (HDR + len) as u32,
            flags: 0,
            next: 0,
        };
        for _ in 0..frames {
            net0.tx.post(&[desc], &[0]);
            let before = net1.rx.used_idx();
            let start = super::cpu::now();
            net0.tx.notify();
            let mut polls = 0u64;
            while net1.rx.used_idx() == before {
                polls += 1;
                if polls > super::virtq::POLLS {
                    println!("bench name=virtio_net_forward error=frame-not-delivered");
                    return None;
                }
            }
            *total += super::cpu::now() - start;
            let sent = net0.tx.wait_used();
            let got = net1.take();
            if !matches!(sent, Completion::Used { .. })
                || !matches!(got, Ok((_, _, l)) if l as usize == HDR + len)
            {
                println!("bench name=virtio_net_forward error=frame-not-as-sent");
                return None;
            }
            net1.refill();
        }
    }
    Some(ticks)
}
