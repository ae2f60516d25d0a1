//! A polling virtio-mmio (version 2) driver core for the probe's virtio
//! cases: [`Device`] reaches the registers (status, features, config
//! space), [`Virtq`] drives one split virtqueue of [`QUEUE_SIZE`] entries
//! on [`Rings`] in the probe's own memory. Every request is one descriptor
//! chain from descriptor 0, submitted and waited for (a bounded poll)
//! before the next, so the rings never hold more than one request; a queue
//! the device fills on its own (a receive queue) is given buffers with
//! [`Virtq::offer`] instead. Its neighbours `virtio_blk` (queue 0) and
//! `virtio_console` (queues 0 and 1) are the cases that use it.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::{offset_of, size_of};

/// Register offsets of the virtio-mmio layout (virtio 1.x §4.2.2).
pub mod reg {
    pub const MAGIC_VALUE: usize = 0x000;
    pub const VERSION: usize = 0x004;
    pub const DEVICE_ID: usize = 0x008;
    pub const DEVICE_FEATURES: usize = 0x010;
    pub const DEVICE_FEATURES_SEL: usize = 0x014;
    pub const DRIVER_FEATURES: usize = 0x020;
    pub const DRIVER_FEATURES_SEL: usize = 0x024;
    pub const QUEUE_SEL: usize = 0x030;
    pub const QUEUE_NUM_MAX: usize = 0x034;
    pub const QUEUE_NUM: usize = 0x038;
    pub const QUEUE_READY: usize = 0x044;
    pub const QUEUE_NOTIFY: usize = 0x050;
    pub const INTERRUPT_STATUS: usize = 0x060;
    pub const INTERRUPT_ACK: usize = 0x064;
    pub const STATUS: usize = 0x070;
    pub const QUEUE_DESC_LOW: usize = 0x080;
    pub const QUEUE_DESC_HIGH: usize = 0x084;
    pub const QUEUE_DRIVER_LOW: usize = 0x090;
    pub const QUEUE_DRIVER_HIGH: usize = 0x094;
    pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
    pub const QUEUE_DEVICE_HIGH: usize = 0x0a4;
    pub const CONFIG: usize = 0x100;
}

/// Device status bits.
pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;
pub const STATUS_DEVICE_NEEDS_RESET: u32 = 64;

/// Descriptor flags.
pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;

/// Entries of each queue.
pub const QUEUE_SIZE: u16 = 8;
const Q: usize = QUEUE_SIZE as usize;
/// Polls of the used ring before a request counts as timed out.
pub const POLLS: u64 = 10_000_000;
/// Every this many polls the Status register is read too.
const STATUS_EVERY: u64 = 4096;

/// Memory the probe shares with a device: read and written only through
/// raw pointers with volatile accesses, by the one vCPU of the case.
pub struct Dma<T>(UnsafeCell<T>);

// SAFETY: only the case's single vCPU touches the contents, through raw
// pointers (never references) and volatile accesses; the device reads and
// writes them only between a notify and the completion the vCPU waits for.
unsafe impl<T> Sync for Dma<T> {}

impl<T> Dma<T> {
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// The contents; their address is also their guest-physical address
    /// (the probe's identity map).
    pub fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// One descriptor of the table.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Desc {
    pub addr: u64,
    pub len: u32,
    pub flags: u16,
    pub next: u16,
}

impl Desc {
    const EMPTY: Self = Self {
        addr: 0,
        len: 0,
        flags: 0,
        next: 0,
    };
}

#[repr(C)]
struct Avail {
    flags: u16,
    idx: u16,
    ring: [u16; Q],
    used_event: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct UsedElem {
    id: u32,
    len: u32,
}

#[repr(C)]
struct Used {
    flags: u16,
    idx: u16,
    ring: [UsedElem; Q],
    avail_event: u16,
}

/// The three rings of one queue in one page: the descriptor table 16-byte
/// aligned, the avail ring 2-byte, the used ring 4-byte (virtio 1.x §2.7).
#[repr(C, align(4096))]
pub struct Rings {
    desc: [Desc; Q],
    avail: Avail,
    used: Used,
}

const _: () = assert!(size_of::<Desc>() == 16);
const _: () = assert!(offset_of!(Rings, avail) % 2 == 0 && offset_of!(Rings, used) % 4 == 0);

impl Rings {
    /// Empty rings, for a `static Dma<Rings>`.
    pub const EMPTY: Self = Self {
        desc: [Desc::EMPTY; Q],
        avail: Avail {
            flags: 0,
            idx: 0,
            ring: [0; Q],
            used_event: 0,
        },
        used: Used {
            flags: 0,
            idx: 0,
            ring: [UsedElem { id: 0, len: 0 }; Q],
            avail_event: 0,
        },
    };
}

/// The rings of [`Virtq::new`]'s queue 0.
static RINGS: Dma<Rings> = Dma::new(Rings::EMPTY);

/// Full-system barriers between the probe's memory and the device.
fn dmb() {
    // SAFETY: a barrier only orders memory accesses.
    unsafe { asm!("dmb sy", options(nostack, preserves_flags)) };
}

fn dsb() {
    // SAFETY: a barrier only orders and completes memory accesses.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// A virtio-mmio device window.
#[derive(Clone, Copy)]
pub struct Device(usize);

impl Device {
    /// The window at guest-physical (= virtual) `base`.
    pub const fn new(base: usize) -> Self {
        Self(base)
    }

    /// A 32-bit register read.
    pub fn read(self, offset: usize) -> u32 {
        // SAFETY: the window is the virtio-mmio device the case's config
        // gives this VM, device memory in the probe's map; a 32-bit load
        // of a register has no effect on the probe's memory.
        unsafe { ((self.0 + offset) as *const u32).read_volatile() }
    }

    /// A 32-bit register write.
    pub fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`; the device touches only the rings and
        // buffers the probe hands it.
        unsafe { ((self.0 + offset) as *mut u32).write_volatile(value) }
    }

    /// Writes the status and reads it back.
    pub fn set_status(self, status: u32) -> u32 {
        self.write(reg::STATUS, status);
        self.read(reg::STATUS)
    }

    /// The 64 bits of the device's features.
    pub fn device_features(self) -> u64 {
        self.write(reg::DEVICE_FEATURES_SEL, 0);
        let low = self.read(reg::DEVICE_FEATURES);
        self.write(reg::DEVICE_FEATURES_SEL, 1);
        let high = self.read(reg::DEVICE_FEATURES);
        u64::from(high) << 32 | u64::from(low)
    }

    /// Writes the 64 bits of the driver's features.
    pub fn set_driver_features(self, features: u64) {
        self.write(reg::DRIVER_FEATURES_SEL, 0);
        self.write(reg::DRIVER_FEATURES, features as u32);
        self.write(reg::DRIVER_FEATURES_SEL, 1);
        self.write(reg::DRIVER_FEATURES, (features >> 32) as u32);
    }

    /// A 64-bit configuration-space field, as two 32-bit reads.
    pub fn config_u64(self, offset: usize) -> u64 {
        let low = self.read(reg::CONFIG + offset);
        let high = self.read(reg::CONFIG + offset + 4);
        u64::from(high) << 32 | u64::from(low)
    }

    /// A configuration-space byte, read as one 8-bit access.
    pub fn config_u8(self, offset: usize) -> u8 {
        // SAFETY: as in `read`, an 8-bit load of the configuration space.
        unsafe { ((self.0 + reg::CONFIG + offset) as *const u8).read_volatile() }
    }

    /// A 16-bit configuration-space field, read as one 16-bit access.
    pub fn config_u16(self, offset: usize) -> u16 {
        // SAFETY: as in `read`, an aligned 16-bit load of the
        // configuration space.
        unsafe { ((self.0 + reg::CONFIG + offset) as *const u16).read_volatile() }
    }

    /// Acknowledges what InterruptStatus shows; returns it.
    pub fn ack_interrupt(self) -> u32 {
        let pending = self.read(reg::INTERRUPT_STATUS);
        if pending != 0 {
            self.write(reg::INTERRUPT_ACK, pending);
        }
        pending
    }
}

/// How a submitted chain ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// In the used ring: the head `id` with `len` bytes written.
    Used { id: u32, len: u32 },
    /// Not completed; Status has DEVICE_NEEDS_RESET (value attached).
    NeedsReset(u32),
    /// Neither within [`POLLS`] polls.
    TimedOut,
}

/// One queue of a device, driven one chain at a time.
pub struct Virtq {
    device: Device,
    index: u16,
    rings: &'static Dma<Rings>,
    next_avail: u16,
    last_used: u16,
    /// InterruptStatus seen (and acknowledged) at the last completion.
    pub last_interrupt: u32,
}

/// The result of setting a queue up.
pub struct QueueSetup {
    /// QueueReady before the setup (must be 0).
    pub ready_before: u32,
    /// QueueNumMax.
    pub num_max: u32,
    /// QueueReady read back after writing 1 (0 if not attempted).
    pub ready_after: u32,
}

impl Virtq {
    /// Queue 0 of `device`, on this module's rings.
    pub fn new(device: Device) -> Self {
        Self::on(device, 0, &RINGS)
    }

    /// Queue `index` of `device`, on `rings` (each queue needs its own).
    pub fn on(device: Device, index: u16, rings: &'static Dma<Rings>) -> Self {
        Self {
            device,
            index,
            rings,
            next_avail: 0,
            last_used: 0,
            last_interrupt: 0,
        }
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Resets the device (Status 0) and this queue's rings; returns Status
    /// read back.
    pub fn reset(&mut self) -> u32 {
        let status = self.device.set_status(0);
        self.reset_rings();
        status
    }

    /// Empties this queue's rings: after a device reset (by any `Virtq` of
    /// the device).
    pub fn reset_rings(&mut self) {
        let rings = self.rings.get();
        // SAFETY: the device is reset, so nothing else uses the rings;
        // writes through the raw pointer of the static (see `Dma`).
        unsafe {
            (&raw mut (*rings).avail.idx).write_volatile(0);
            (&raw mut (*rings).used.idx).write_volatile(0);
        }
        self.next_avail = 0;
        self.last_used = 0;
    }

    /// Selects the queue and, if it offers [`QUEUE_SIZE`] entries, sets it
    /// up with the rings and enables it.
    pub fn setup(&mut self) -> QueueSetup {
        let dev = self.device;
        dev.write(reg::QUEUE_SEL, self.index.into());
        let ready_before = dev.read(reg::QUEUE_READY);
        let num_max = dev.read(reg::QUEUE_NUM_MAX);
        let mut setup = QueueSetup {
            ready_before,
            num_max,
            ready_after: 0,
        };
        if num_max < u32::from(QUEUE_SIZE) || ready_before != 0 {
            return setup;
        }
        let base = self.rings.get() as u64;
        let desc = base + offset_of!(Rings, desc) as u64;
        let avail = base + offset_of!(Rings, avail) as u64;
        let used = base + offset_of!(Rings, used) as u64;
        dev.write(reg::QUEUE_NUM, u32::from(QUEUE_SIZE));
        for (low, addr) in [
            (reg::QUEUE_DESC_LOW, desc),
            (reg::QUEUE_DRIVER_LOW, avail),
            (reg::QUEUE_DEVICE_LOW, used),
        ] {
            dev.write(low, addr as u32);
            dev.write(low + 4, (addr >> 32) as u32);
        }
        const _: () = assert!(reg::QUEUE_DESC_HIGH == reg::QUEUE_DESC_LOW + 4);
        const _: () = assert!(reg::QUEUE_DRIVER_HIGH == reg::QUEUE_DRIVER_LOW + 4);
        const _: () = assert!(reg::QUEUE_DEVICE_HIGH == reg::QUEUE_DEVICE_LOW + 4);
        dsb();
        dev.write(reg::QUEUE_READY, 1);
        setup.ready_after = dev.read(reg::QUEUE_READY);
        setup
    }

    /// Submits `chain` as descriptors 0.. (each but the last linked to the
    /// next) and waits for it.
    pub fn submit(&mut self, chain: &[(u64, u32, bool)]) -> Completion {
        let mut descs = [Desc::EMPTY; Q];
        let n = chain.len().min(Q);
        for (i, &(addr, len, device_writes)) in chain.iter().take(n).enumerate() {
            let write = if device_writes { DESC_F_WRITE } else { 0 };
            let next = if i + 1 < n { DESC_F_NEXT } else { 0 };
            descs[i] = Desc {
                addr,
                len,
                flags: write | next,
                next: (i + 1) as u16,
            };
        }
        self.submit_raw(&descs[..n])
    }

    /// Writes `descs` verbatim as descriptors 0.., offers head 0 and waits
    /// for the device.
    pub fn submit_raw(&mut self, descs: &[Desc]) -> Completion {
        self.offer(descs, &[0]);
        self.wait()
    }

    /// Writes `descs` verbatim as descriptors 0.., offers the chains at
    /// `heads` and notifies the device without waiting. Only for a queue
    /// whose earlier chains are all completed or were offered here, with
    /// at most [`QUEUE_SIZE`] of them outstanding and their descriptors
    /// left as they are.
    pub fn offer(&mut self, descs: &[Desc], heads: &[u16]) {
        self.post(descs, heads);
        self.notify();
    }

    /// [`Virtq::offer`] without the notification: the chains wait in the
    /// avail ring until [`Virtq::notify`] (or a reset drops them).
    pub fn post(&mut self, descs: &[Desc], heads: &[u16]) {
        let rings = self.rings.get();
        // SAFETY: the device has completed every earlier chain whose
        // descriptors are rewritten here (see above), and reads the new
        // avail entries only after the index below; writes through the raw
        // pointer of the static (see `Dma`).
        unsafe {
            for (i, d) in descs.iter().take(Q).enumerate() {
                (&raw mut (*rings).desc[i]).write_volatile(*d);
            }
            for &head in heads.iter().take(Q) {
                let slot = usize::from(self.next_avail % QUEUE_SIZE);
                (&raw mut (*rings).avail.ring[slot]).write_volatile(head);
                self.next_avail = self.next_avail.wrapping_add(1);
            }
        }
        dmb();
        // SAFETY: as above.
        unsafe { (&raw mut (*rings).avail.idx).write_volatile(self.next_avail) };
        dsb();
    }

    /// Writes descriptor `index` alone: one no chain the device holds
    /// uses (a receive queue recycling a buffer it got back).
    pub fn set_desc(&mut self, index: u16, desc: Desc) {
        let rings = self.rings.get();
        let slot = usize::from(index % QUEUE_SIZE);
        // SAFETY: the device holds no chain through this descriptor (see
        // above); write through the raw pointer of the static (see `Dma`).
        unsafe { (&raw mut (*rings).desc[slot]).write_volatile(desc) };
    }

    /// Notifies the device of this queue.
    pub fn notify(&self) {
        self.device.write(reg::QUEUE_NOTIFY, self.index.into());
    }

    /// Waits for the next completion after [`Virtq::post`] and
    /// [`Virtq::notify`].
    pub fn wait_used(&mut self) -> Completion {
        self.wait()
    }

    /// The used index the device has published.
    pub fn used_idx(&self) -> u16 {
        // SAFETY: reading the used index the device writes (see `Dma`).
        unsafe { (&raw const (*self.rings.get()).used.idx).read_volatile() }
    }

    fn wait(&mut self) -> Completion {
        let rings = self.rings.get();
        for poll in 0..POLLS {
            // SAFETY: reading the used index the device writes (see `Dma`).
            let idx = unsafe { (&raw const (*rings).used.idx).read_volatile() };
            if idx != self.last_used {
                dmb();
                let slot = usize::from(self.last_used % QUEUE_SIZE);
                // SAFETY: the device wrote this element before the index.
                let elem = unsafe { (&raw const (*rings).used.ring[slot]).read_volatile() };
                self.last_used = self.last_used.wrapping_add(1);
                self.last_interrupt = self.device.ack_interrupt();
                return Completion::Used {
                    id: elem.id,
                    len: elem.len,
                };
            }
            if poll % STATUS_EVERY == 0 {
                let status = self.device.read(reg::STATUS);
                if status & STATUS_DEVICE_NEEDS_RESET != 0 {
                    self.last_interrupt = self.device.ack_interrupt();
                    return Completion::NeedsReset(status);
                }
            }
            core::hint::spin_loop();
        }
        Completion::TimedOut
    }
}
