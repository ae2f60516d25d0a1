//! The virtio-mmio transport, version 2 (virtio 1.x §4.2.2), as a register
//! model: the caller forwards the guest's MMIO accesses and sets the
//! device's interrupt line to [`MmioTransport::irq_level`] after each call.
//!
//! `FEATURES_OK` takes when the driver accepted only offered features;
//! `VIRTIO_F_VERSION_1` is not required of it (virtio-drivers 0.7.5 never
//! accepts it), and the modern, little-endian layout is used regardless.

use alloc::vec::Vec;

use crate::device::{
    DeviceError, STATUS_DEVICE_NEEDS_RESET, STATUS_DRIVER_OK, STATUS_FEATURES_OK, VirtioDevice,
};
use crate::memory::GuestMemory;
use crate::queue::Queue;

/// Register offsets of the virtio-mmio layout.
pub mod reg {
    /// "virt" in little-endian.
    pub const MAGIC_VALUE: u64 = 0x000;
    /// Transport version (2).
    pub const VERSION: u64 = 0x004;
    /// Virtio device ID.
    pub const DEVICE_ID: u64 = 0x008;
    /// Vendor ID.
    pub const VENDOR_ID: u64 = 0x00c;
    /// 32 bits of the device features, selected by `DEVICE_FEATURES_SEL`.
    pub const DEVICE_FEATURES: u64 = 0x010;
    /// Which 32 bits `DEVICE_FEATURES` shows.
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    /// 32 bits of the driver's features, selected by `DRIVER_FEATURES_SEL`.
    pub const DRIVER_FEATURES: u64 = 0x020;
    /// Which 32 bits `DRIVER_FEATURES` sets.
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    /// Which queue the `QUEUE_*` registers address.
    pub const QUEUE_SEL: u64 = 0x030;
    /// Maximum size of the selected queue (0: no such queue).
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    /// Size of the selected queue.
    pub const QUEUE_NUM: u64 = 0x038;
    /// Whether the selected queue is enabled.
    pub const QUEUE_READY: u64 = 0x044;
    /// Written with a queue index: new buffers are available.
    pub const QUEUE_NOTIFY: u64 = 0x050;
    /// Pending interrupt causes (bit 0 used buffer, bit 1 config change).
    pub const INTERRUPT_STATUS: u64 = 0x060;
    /// Clears the interrupt causes written as 1.
    pub const INTERRUPT_ACK: u64 = 0x064;
    /// Device status.
    pub const STATUS: u64 = 0x070;
    /// Descriptor table address, low 32 bits.
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    /// Descriptor table address, high 32 bits.
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    /// Avail ring (driver area) address, low 32 bits.
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    /// Avail ring (driver area) address, high 32 bits.
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    /// Used ring (device area) address, low 32 bits.
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    /// Used ring (device area) address, high 32 bits.
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    /// Shared memory region length, low (all ones: no region).
    pub const SHM_LEN_LOW: u64 = 0x0b0;
    /// Shared memory region base, high (all ones: no region).
    pub const SHM_BASE_HIGH: u64 = 0x0bc;
    /// Changes whenever the device changes its configuration space.
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    /// Start of the device configuration space.
    pub const CONFIG: u64 = 0x100;
}

/// `MagicValue`: "virt".
pub const MAGIC: u32 = 0x7472_6976;
/// The transport version modelled.
pub const VERSION: u32 = 2;
/// The size of the MMIO window to map for one device.
pub const MMIO_SIZE: u64 = 0x200;
/// Interrupt status bit: the device used buffers.
pub const INT_USED_BUFFER: u32 = 1;
/// Interrupt status bit: the configuration changed (or the device broke).
pub const INT_CONFIG_CHANGE: u32 = 2;

/// A virtio-mmio device: registers, negotiated state and queues around a
/// [`VirtioDevice`].
#[derive(Debug)]
pub struct MmioTransport<D> {
    device: D,
    queues: Vec<Queue>,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    interrupt_status: u32,
    config_generation: u32,
}

impl<D: VirtioDevice> MmioTransport<D> {
    /// Wraps `device`, with its queues disabled.
    pub fn new(device: D) -> Self {
        let queues = (0..device.num_queues())
            .map(|i| Queue::new(device.queue_max_size(i)))
            .collect();
        Self {
            device,
            queues,
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            interrupt_status: 0,
            config_generation: 0,
        }
    }

    /// The device model.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The device model, mutably (to configure it, not to touch queues).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// The queues.
    pub fn queues(&self) -> &[Queue] {
        &self.queues
    }

    /// The device status.
    pub fn status(&self) -> u32 {
        self.status
    }

    /// The features the driver accepted.
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// Pending interrupt causes.
    pub fn interrupt_status(&self) -> u32 {
        self.interrupt_status
    }

    /// The level of the device's interrupt line.
    pub fn irq_level(&self) -> bool {
        self.interrupt_status != 0
    }

    /// Whether the device is live: `DRIVER_OK` and not broken.
    pub fn is_live(&self) -> bool {
        self.status & (STATUS_DRIVER_OK | STATUS_DEVICE_NEEDS_RESET) == STATUS_DRIVER_OK
    }

    /// Marks the device broken (`DEVICE_NEEDS_RESET`) and tells a live
    /// driver through a configuration-change interrupt.
    pub fn set_needs_reset(&mut self) {
        self.status |= STATUS_DEVICE_NEEDS_RESET;
        if self.status & STATUS_DRIVER_OK != 0 {
            self.interrupt_status |= INT_CONFIG_CHANGE;
        }
    }

    /// The device changed its configuration space.
    pub fn config_changed(&mut self) {
        self.config_generation = self.config_generation.wrapping_add(1);
        if self.status & STATUS_DRIVER_OK != 0 {
            self.interrupt_status |= INT_CONFIG_CHANGE;
        }
    }

    /// Runs host-side device work (e.g. console input) on a live device,
    /// with the same outcome handling as a queue notification.
    pub fn run_device<F>(&mut self, mem: &dyn GuestMemory, f: F)
    where
        F: FnOnce(&mut D, &mut [Queue], &dyn GuestMemory) -> Result<bool, DeviceError>,
    {
        if self.is_live() {
            let result = f(&mut self.device, &mut self.queues, mem);
            self.settle(result);
        }
    }

    /// A guest read of `width` bytes at `offset`; unknown offsets and
    /// wrong widths read as zero.
    pub fn read(&mut self, offset: u64, width: usize) -> u64 {
        if offset >= reg::CONFIG {
            let mut buf = [0u8; 8];
            if let Some(data) = config_slice(&mut buf, width) {
                self.device.read_config(offset - reg::CONFIG, data);
            }
            return u64::from_le_bytes(buf);
        }
        if width != 4 || !offset.is_multiple_of(4) {
            return 0;
        }
        u64::from(self.read_reg(offset))
    }

    fn read_reg(&self, offset: u64) -> u32 {
        let queue = self.selected();
        match offset {
            reg::MAGIC_VALUE => MAGIC,
            reg::VERSION => VERSION,
            reg::DEVICE_ID => self.device.device_id(),
            reg::VENDOR_ID => self.device.vendor_id(),
            reg::DEVICE_FEATURES => half(self.device.device_features(), self.device_features_sel),
            reg::QUEUE_NUM_MAX => queue.map_or(0, |q| u32::from(q.max_size())),
            reg::QUEUE_READY => queue.map_or(0, |q| u32::from(q.ready())),
            reg::INTERRUPT_STATUS => self.interrupt_status,
            reg::STATUS => self.status,
            reg::SHM_LEN_LOW..=reg::SHM_BASE_HIGH => u32::MAX,
            reg::CONFIG_GENERATION => self.config_generation,
            _ => 0,
        }
    }

    /// A guest write of `width` bytes of `value` at `offset`; unknown
    /// offsets, wrong widths and changes to an enabled queue are ignored.
    pub fn write(&mut self, mem: &dyn GuestMemory, offset: u64, width: usize, value: u64) {
        if offset >= reg::CONFIG {
            let buf = value.to_le_bytes();
            if width <= buf.len() && config_width(width) {
                self.device
                    .write_config(offset - reg::CONFIG, &buf[..width]);
            }
            return;
        }
        if width != 4 || !offset.is_multiple_of(4) {
            return;
        }
        // Only the low 32 bits of a 4-byte write are meaningful.
        let v = value as u32;
        match offset {
            reg::DEVICE_FEATURES_SEL => self.device_features_sel = v,
            reg::DRIVER_FEATURES => self.write_driver_features(v),
            reg::DRIVER_FEATURES_SEL => self.driver_features_sel = v,
            reg::QUEUE_SEL => self.queue_sel = v,
            reg::QUEUE_NUM => self.with_queue(|q| q.set_size(v.try_into().unwrap_or(0))),
            reg::QUEUE_READY => self.write_queue_ready(mem, v),
            reg::QUEUE_NOTIFY => self.notify(mem, v),
            reg::INTERRUPT_ACK => self.interrupt_status &= !v,
            reg::STATUS => self.write_status(mem, v),
            reg::QUEUE_DESC_LOW | reg::QUEUE_DESC_HIGH => {
                let high = offset == reg::QUEUE_DESC_HIGH;
                self.with_queue(|q| q.set_desc_table(merge(q.addresses().0, v, high)));
            }
            reg::QUEUE_DRIVER_LOW | reg::QUEUE_DRIVER_HIGH => {
                let high = offset == reg::QUEUE_DRIVER_HIGH;
                self.with_queue(|q| q.set_avail_ring(merge(q.addresses().1, v, high)));
            }
            reg::QUEUE_DEVICE_LOW | reg::QUEUE_DEVICE_HIGH => {
                let high = offset == reg::QUEUE_DEVICE_HIGH;
                self.with_queue(|q| q.set_used_ring(merge(q.addresses().2, v, high)));
            }
            _ => {}
        }
    }

    fn selected(&self) -> Option<&Queue> {
        self.queues.get(usize::try_from(self.queue_sel).ok()?)
    }

    fn with_queue(&mut self, f: impl FnOnce(&mut Queue)) {
        let index = usize::try_from(self.queue_sel).ok();
        if let Some(q) = index.and_then(|i| self.queues.get_mut(i)) {
            f(q);
        }
    }

    fn write_driver_features(&mut self, v: u32) {
        if self.status & STATUS_FEATURES_OK != 0 {
            return;
        }
        let v = u64::from(v);
        match self.driver_features_sel {
            0 => self.driver_features = (self.driver_features & !0xffff_ffff) | v,
            1 => self.driver_features = (self.driver_features & 0xffff_ffff) | (v << 32),
            _ => {}
        }
    }

    /// A queue is enabled only after FEATURES_OK (virtio 1.x §3.1.1), so
    /// that it takes negotiated features only, never bits the driver wrote
    /// and then took back.
    fn write_queue_ready(&mut self, mem: &dyn GuestMemory, v: u32) {
        let features = self.driver_features;
        let negotiated = self.status & STATUS_FEATURES_OK != 0;
        let mut broken = false;
        self.with_queue(|q| {
            if v == 0 {
                q.disable();
            } else if !q.ready() && negotiated {
                q.set_features(features);
                broken = q.enable(mem).is_err();
            }
        });
        if broken {
            self.set_needs_reset();
        }
    }

    fn notify(&mut self, mem: &dyn GuestMemory, v: u32) {
        let Ok(queue) = u16::try_from(v) else { return };
        let ready = self
            .queues
            .get(usize::from(queue))
            .is_some_and(Queue::ready);
        if self.is_live() && ready {
            let result = self.device.queue_notify(queue, &mut self.queues, mem);
            self.settle(result);
        }
    }

    /// Acts on a device call's outcome.
    fn settle(&mut self, result: Result<bool, DeviceError>) {
        match result {
            Ok(true) => self.interrupt_status |= INT_USED_BUFFER,
            Ok(false) => {}
            Err(_) => self.set_needs_reset(),
        }
    }

    /// Whether the driver accepted only offered features.
    ///
    /// `VIRTIO_F_VERSION_1` is offered but not required: virtio-drivers
    /// 0.7.5 (ArceOS, Starry) never accepts it, yet drives a version-2
    /// header with the modern registers and rings. The layout is the modern
    /// one and every field little-endian either way; Linux accepts it.
    fn features_acceptable(&self) -> bool {
        self.driver_features & !self.device.device_features() == 0
    }

    fn write_status(&mut self, mem: &dyn GuestMemory, v: u32) {
        if v == 0 {
            self.reset();
            return;
        }
        let old = self.status & !STATUS_DEVICE_NEEDS_RESET;
        let mut new = v & 0xff & !STATUS_DEVICE_NEEDS_RESET;
        if new & old != old {
            return; // Only a reset clears status bits.
        }
        let added = new & !old;
        if added & STATUS_FEATURES_OK != 0 && !self.features_acceptable() {
            new &= !STATUS_FEATURES_OK;
        }
        if added & STATUS_DRIVER_OK != 0 && new & STATUS_FEATURES_OK == 0 {
            new &= !STATUS_DRIVER_OK;
        }
        self.status = new | (self.status & STATUS_DEVICE_NEEDS_RESET);
        if new & !old & STATUS_DRIVER_OK != 0 && self.is_live() {
            let features = self.driver_features;
            let result = self.device.activate(features, &mut self.queues, mem);
            self.settle(result);
        }
    }

    /// Device reset (the driver wrote 0 to Status).
    pub fn reset(&mut self) {
        self.device.reset();
        for q in &mut self.queues {
            q.reset();
        }
        self.status = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.interrupt_status = 0;
    }
}

/// Bits `32 * sel ..` of `features`.
fn half(features: u64, sel: u32) -> u32 {
    match sel {
        0 => features as u32,
        1 => (features >> 32) as u32,
        _ => 0,
    }
}

/// `old` with its low or high 32 bits replaced by `v`.
fn merge(old: u64, v: u32, high: bool) -> u64 {
    if high {
        (old & 0xffff_ffff) | (u64::from(v) << 32)
    } else {
        (old & !0xffff_ffff) | u64::from(v)
    }
}

fn config_width(width: usize) -> bool {
    matches!(width, 1 | 2 | 4 | 8)
}

fn config_slice(buf: &mut [u8; 8], width: usize) -> Option<&mut [u8]> {
    config_width(width).then_some(&mut buf[..width])
}
