//! The fuzzer's virtqueue operations on the VM's virtio-blk (RAM disk) at
//! [`BLK_BASE`] and virtio console at [`CONSOLE_BASE`]: negotiations with
//! status and feature writes in any order, register reads and writes of
//! every width, descriptor chains with random addresses (in RAM, outside
//! it, in MMIO windows, unaligned, at the top of the address space),
//! lengths (0, huge) and flags (NEXT loops, INDIRECT, WRITE anywhere),
//! chains longer than the queue, avail index jumps, notification storms
//! on valid and invalid queues, resets with a request queued and queue
//! changes while live. Every ring and buffer in RAM the devices are given
//! lies in [`SCRATCH`], which holds no part of the probe, and no address
//! the fuzzer writes names other RAM: whatever the devices do, the fuzzer
//! goes on. [`VirtioFuzz::still_serves`] then checks that both
//! devices, reset and set up by the book, serve a well-formed request.

use super::fuzz::{Rng, mmio_access};
use super::fuzz_virtio_check;
use super::fuzz_virtio_gen::*;
use super::virtio_case::{F_VERSION_1, STATUS_ALL};
use super::virtq::{
    DESC_F_NEXT, DESC_F_WRITE, Desc, STATUS_ACKNOWLEDGE, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER,
    STATUS_FEATURES_OK, reg,
};
use crate::console::println;

/// What the fuzzer did to the devices.
pub(super) struct VirtioFuzz {
    /// Per fuzzed queue: the entries its home rings are used with and the
    /// fuzzer's avail index.
    size: [u64; 3],
    avail: [u16; 3],
    ops: [u64; 2],
    well_formed: u64,
    live: u64,
    answered: u64,
    needs_reset: u64,
}

impl VirtioFuzz {
    /// Clears the home rings and fills the buffers with printable lines
    /// (what the console transmits from them is readable).
    pub(super) fn new() -> Self {
        for addr in (SCRATCH..DATA).step_by(8) {
            put(addr, 0u64);
        }
        for addr in (DATA..SCRATCH_END).step_by(8) {
            let last = addr % 64 == 56;
            put(
                addr,
                if last {
                    0x0a7e_7e7e_7e7e_7e7e_u64
                } else {
                    0x7e7e_7e7e_7e7e_7e7e
                },
            );
        }
        Self {
            size: [8; 3],
            avail: [0; 3],
            ops: [0; 2],
            well_formed: 0,
            live: 0,
            answered: 0,
            needs_reset: 0,
        }
    }

    /// One random operation, printed first.
    pub(super) fn op(&mut self, rng: &mut Rng, n: u64) {
        let q = rng.below(3) as usize;
        let d = QUEUES[q].0;
        self.ops[d] += 1;
        match rng.below(12) {
            0 | 1 => self.setup(rng, n, d),
            2 => register_write(rng, n, d),
            3 => register_read(rng, n, d),
            4..=6 => self.submit(rng, n, q),
            7 | 8 => self.well_formed(rng, n, q),
            9 => notify_storm(rng, n, d),
            10 => self.reset_mid_request(rng, n, q),
            _ => self.live_change(rng, n, q),
        }
        if device(d).read(reg::STATUS) & STATUS_DEVICE_NEEDS_RESET != 0 {
            self.needs_reset += 1;
        }
    }

    /// A reset and a negotiation, by the book or with status and feature
    /// writes out of order, each queue set up or not, rings at home or not.
    fn setup(&mut self, rng: &mut Rng, n: u64, d: usize) {
        let dev = device(d);
        let scrambled = rng.below(6) == 0;
        let offered = dev.device_features();
        let features = match rng.below(8) {
            0 => rng.next(),
            1 => offered | F_INDIRECT_DESC | F_EVENT_IDX,
            _ => offered & (rng.next() | F_VERSION_1),
        };
        println!(
            "fuzz {n}: virtio {} setup: features {features:#x}, scrambled {scrambled}",
            NAMES[d]
        );
        dev.write(reg::STATUS, 0);
        if scrambled {
            for _ in 0..1 + rng.below(4) {
                dev.write(reg::STATUS, rng.below(256) as u32);
            }
        } else {
            dev.write(reg::STATUS, STATUS_ACKNOWLEDGE);
            dev.write(reg::STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        }
        dev.set_driver_features(features);
        dev.write(
            reg::STATUS,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
        );
        for q in (0..QUEUES.len()).filter(|&q| QUEUES[q].0 == d) {
            if rng.below(8) != 0 {
                self.setup_queue(rng, q);
            }
        }
        let last = if scrambled {
            rng.below(256) as u32
        } else {
            STATUS_ALL
        };
        dev.write(reg::STATUS, last);
    }

    fn setup_queue(&mut self, rng: &mut Rng, q: usize) {
        let (d, index) = QUEUES[q];
        let dev = device(d);
        dev.write(reg::QUEUE_SEL, index.into());
        let size = if rng.below(4) == 0 {
            queue_size(rng)
        } else {
            dev.read(reg::QUEUE_NUM_MAX) >> rng.below(4)
        };
        dev.write(reg::QUEUE_NUM, size);
        self.size[q] = u64::from(size).clamp(1, HOME_ENTRIES);
        let rings = if rng.below(8) != 0 {
            [home(q), home(q) + AVAIL_AT, home(q) + USED_AT]
        } else {
            [ring_addr(rng), ring_addr(rng), ring_addr(rng)]
        };
        for (low, addr) in [
            reg::QUEUE_DESC_LOW,
            reg::QUEUE_DRIVER_LOW,
            reg::QUEUE_DEVICE_LOW,
        ]
        .into_iter()
        .zip(rings)
        {
            dev.write(low, addr as u32);
            dev.write(low + 4, (addr >> 32) as u32);
        }
        if rng.below(8) != 0 {
            put(home(q) + AVAIL_AT + 2, 0u16);
            put(home(q) + USED_AT + 2, 0u16);
            self.avail[q] = 0;
        }
        dev.write(reg::QUEUE_READY, 1);
    }

    /// Random descriptors in queue `q`'s home table, some chains offered,
    /// the avail index moved (now and then far), a notification.
    fn submit(&mut self, rng: &mut Rng, n: u64, q: usize) {
        let (d, index) = QUEUES[q];
        let size = self.size[q];
        let table = home(q);
        let cap = if d == 0 { 0x1_0000 } else { 512 };
        let kind = rng.below(4);
        let what = match kind {
            // Every entry NEXT to the following one, the last back to the
            // first: a chain longer than the queue.
            0 => {
                for i in 0..size {
                    let (addr, len) = buffer(rng, cap);
                    let flags = DESC_F_NEXT | (rng.below(2) as u16 * DESC_F_WRITE);
                    put_desc(
                        table + 16 * i,
                        Desc {
                            addr,
                            len,
                            flags,
                            next: ((i + 1) % size) as u16,
                        },
                    );
                }
                "a cycle through the whole table"
            }
            // An indirect descriptor to a table of random ones in SCRATCH.
            1 => {
                let at = (DATA
                    + WELL_FORMED_BYTES
                    + rng.below(SCRATCH_END - DATA - WELL_FORMED_BYTES - 0x1000))
                    & !0xf;
                let entries = 1 + rng.below(2 * size);
                for i in 0..entries {
                    put_desc(at + 16 * i, random_desc(rng, entries, cap));
                }
                let len = if rng.below(4) == 0 {
                    any_len(rng)
                } else {
                    (16 * entries) as u32
                };
                let flags = DESC_F_INDIRECT | (rng.below(4) as u16);
                put_desc(
                    table + 16 * rng.below(size),
                    Desc {
                        addr: at,
                        len,
                        flags,
                        next: rng.below(size) as u16,
                    },
                );
                "an indirect table"
            }
            _ => {
                for _ in 0..1 + rng.below(8) {
                    put_desc(table + 16 * rng.below(size), random_desc(rng, size, cap));
                }
                "random descriptors"
            }
        };
        let heads = 1 + rng.below(4);
        for _ in 0..heads {
            let head = if rng.below(8) == 0 {
                rng.next() as u16
            } else {
                rng.below(size) as u16
            };
            put(
                table + AVAIL_AT + 4 + 2 * (u64::from(self.avail[q]) % size),
                head,
            );
            self.avail[q] = self.avail[q].wrapping_add(1);
        }
        if rng.below(16) == 0 {
            let jump = size as u16 + 1 + rng.below(0x8000) as u16;
            self.avail[q] = self.avail[q].wrapping_add(jump);
        }
        put(table + AVAIL_AT + 2, self.avail[q]);
        let notify = notify_value(rng, index);
        println!(
            "fuzz {n}: virtio {} q{index}: {what}, {heads} heads, avail idx {}, notify {notify:#x}",
            NAMES[d], self.avail[q]
        );
        device(d).write(reg::QUEUE_NOTIFY, notify);
    }

    /// Stages a well-formed request at descriptors `head..` of queue `q`
    /// and offers it (without notifying); the used index before it.
    fn post_well_formed(&mut self, rng: &mut Rng, q: usize) -> (u16, u16) {
        let (d, _) = QUEUES[q];
        let size = self.size[q];
        let table = home(q);
        let head = rng.below(size) as u16;
        let desc = |i: u64| table + 16 * ((u64::from(head) + i) % size);
        let next = |i: u64| ((u64::from(head) + i + 1) % size) as u16;
        let header = DATA;
        let status = DATA + 0x10;
        let data = DATA + 0x1000;
        if d == 0 {
            let kind = if rng.below(2) == 0 { T_IN } else { T_OUT };
            let sectors = 1 + rng.below(8);
            put(header, kind);
            put(header + 4, 0u32);
            put(header + 8, rng.below(CAPACITY - sectors + 1));
            put(status, 0xffu8);
            let data_flags = if kind == T_IN { DESC_F_WRITE } else { 0 };
            put_desc(
                desc(0),
                Desc {
                    addr: header,
                    len: 16,
                    flags: DESC_F_NEXT,
                    next: next(0),
                },
            );
            let len = (512 * sectors) as u32;
            put_desc(
                desc(1),
                Desc {
                    addr: data,
                    len,
                    flags: DESC_F_NEXT | data_flags,
                    next: next(1),
                },
            );
            put_desc(
                desc(2),
                Desc {
                    addr: status,
                    len: 1,
                    flags: DESC_F_WRITE,
                    next: 0,
                },
            );
        } else {
            let text = b"fuzz: virtio-console: a well-formed line\n";
            for (i, &b) in text.iter().enumerate() {
                put(data + i as u64, b);
            }
            let flags = if QUEUES[q].1 == 0 { DESC_F_WRITE } else { 0 };
            put_desc(
                desc(0),
                Desc {
                    addr: data,
                    len: text.len() as u32,
                    flags,
                    next: 0,
                },
            );
        }
        let used = get_u16(table + USED_AT + 2);
        put(
            table + AVAIL_AT + 4 + 2 * (u64::from(self.avail[q]) % size),
            head,
        );
        self.avail[q] = self.avail[q].wrapping_add(1);
        put(table + AVAIL_AT + 2, self.avail[q]);
        (head, used)
    }

    /// A well-formed request (block) or line (console), notified; counted
    /// as answered when the used index moved.
    fn well_formed(&mut self, rng: &mut Rng, n: u64, q: usize) {
        let (d, index) = QUEUES[q];
        println!(
            "fuzz {n}: virtio {} q{index}: a well-formed request",
            NAMES[d]
        );
        let live = device(d).read(reg::STATUS) == STATUS_ALL;
        let (_, used) = self.post_well_formed(rng, q);
        device(d).write(reg::QUEUE_NOTIFY, index.into());
        // The receive queue is never answered: no input arrives.
        if q != 1 {
            self.well_formed += 1;
            self.live += u64::from(live);
            if get_u16(home(q) + USED_AT + 2) != used {
                self.answered += 1;
            }
        }
    }

    /// A request offered, the device reset before or after the
    /// notification, then notified (again).
    fn reset_mid_request(&mut self, rng: &mut Rng, n: u64, q: usize) {
        let (d, index) = QUEUES[q];
        let dev = device(d);
        let notify_first = rng.below(2) == 0;
        println!(
            "fuzz {n}: virtio {} q{index}: reset with a request queued (notified first: {notify_first})",
            NAMES[d]
        );
        self.post_well_formed(rng, q);
        if notify_first {
            dev.write(reg::QUEUE_NOTIFY, index.into());
        }
        dev.write(reg::STATUS, 0);
        dev.write(reg::QUEUE_NOTIFY, index.into());
        if rng.below(4) != 0 {
            self.setup(rng, n, d);
        }
    }

    /// The selected queue's size, rings or readiness changed while it is
    /// live, then a notification.
    fn live_change(&mut self, rng: &mut Rng, n: u64, q: usize) {
        let (d, index) = QUEUES[q];
        let dev = device(d);
        let change = rng.below(4);
        println!(
            "fuzz {n}: virtio {} q{index}: change {change} while live",
            NAMES[d]
        );
        dev.write(reg::QUEUE_SEL, index.into());
        match change {
            0 => dev.write(reg::QUEUE_NUM, queue_size(rng)),
            1 => {
                let low = [
                    reg::QUEUE_DESC_LOW,
                    reg::QUEUE_DRIVER_LOW,
                    reg::QUEUE_DEVICE_LOW,
                ][rng.below(3) as usize];
                let addr = ring_addr(rng);
                dev.write(low, addr as u32);
                dev.write(low + 4, (addr >> 32) as u32);
            }
            2 => {
                dev.write(reg::QUEUE_READY, 0);
                dev.write(reg::QUEUE_READY, 1);
            }
            _ => {
                dev.write(reg::QUEUE_READY, 0);
                self.post_well_formed(rng, q);
                dev.write(reg::QUEUE_NOTIFY, index.into());
                dev.write(reg::QUEUE_READY, 1);
            }
        }
        dev.write(reg::QUEUE_NOTIFY, index.into());
    }

    /// The summary of what was done.
    pub(super) fn summary(&self) {
        println!(
            "fuzz: virtio: {} block and {} console operations; {} well-formed requests (block, console transmit), {} to a live device, {} answered; DEVICE_NEEDS_RESET after {} operations",
            self.ops[0], self.ops[1], self.well_formed, self.live, self.answered, self.needs_reset
        );
    }

    /// After a reset and a negotiation by the book, on the probe's own
    /// rings: a block write and a read back of the same sector agree, and
    /// the console transmits a line. Prints `fuzz: ok: ...` or
    /// `not ok fuzz: ...`.
    pub(super) fn still_serves(&self) {
        fuzz_virtio_check::still_serves(1 + self.well_formed % (CAPACITY - 1));
    }
}

/// A register write of any width; the ring addresses only as
/// [`ring_addr`] gives them.
fn register_write(rng: &mut Rng, n: u64, d: usize) {
    let dev = device(d);
    let offsets = [
        0x14, 0x20, 0x24, 0x30, 0x38, 0x44, 0x50, 0x64, 0x70, 0x80, 0x90, 0xa0, 0xfc,
    ];
    let (offset, value) = match rng.below(4) {
        0 => (0x100 + rng.below(0x100), rng.next()),
        1 => (rng.below(WINDOW), rng.next()),
        _ => (
            offsets[rng.below(offsets.len() as u64) as usize],
            rng.below(0x100),
        ),
    };
    let width = 1 << rng.below(4);
    let offset = (offset & !(width - 1)).min(WINDOW - width);
    let low = offset & !7;
    if [
        reg::QUEUE_DESC_LOW,
        reg::QUEUE_DRIVER_LOW,
        reg::QUEUE_DEVICE_LOW,
    ]
    .contains(&(low as usize))
    {
        let addr = ring_addr(rng);
        println!(
            "fuzz {n}: virtio {} ring address {low:#x} = {addr:#x}",
            NAMES[d]
        );
        dev.write(low as usize, addr as u32);
        dev.write(low as usize + 4, (addr >> 32) as u32);
        return;
    }
    println!(
        "fuzz {n}: virtio {} write {offset:#x} width {width} {value:#x}",
        NAMES[d]
    );
    mmio_access(
        BLK_BASE + d * WINDOW as usize + offset as usize,
        width,
        Some(value),
    );
}

fn register_read(rng: &mut Rng, n: u64, d: usize) {
    let width = 1 << rng.below(4);
    let offset = rng.below(WINDOW) & !(width - 1);
    println!(
        "fuzz {n}: virtio {} read {offset:#x} width {width}",
        NAMES[d]
    );
    mmio_access(
        BLK_BASE + d * WINDOW as usize + offset as usize,
        width,
        None,
    );
}

/// Up to 256 notifications, of valid and invalid queues.
fn notify_storm(rng: &mut Rng, n: u64, d: usize) {
    let count = 1 + rng.below(256);
    println!("fuzz {n}: virtio {} notify storm of {count}", NAMES[d]);
    for _ in 0..count {
        let index = rng.below(2) as u16;
        device(d).write(reg::QUEUE_NOTIFY, notify_value(rng, index));
    }
}
