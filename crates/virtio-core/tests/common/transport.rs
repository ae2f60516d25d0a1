//! A test device behind the MMIO transport and a driver's register sequences.

use virtio_core::mmio::reg;
use virtio_core::*;

use super::*;

/// The features the test device offers.
pub const OFFERED: u64 = VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC | 0b101;

/// A device that answers each chain with length 0 and records its calls.
#[derive(Default)]
pub struct TestDevice {
    pub config: [u8; 8],
    pub activated: Option<u64>,
    pub resets: u32,
    pub notified: Vec<u16>,
    pub completed: u32,
    pub fail_notify: bool,
    /// A chain popped but not completed (a request in flight).
    pub held: Option<UsedToken>,
    pub hold_next: bool,
}

impl VirtioDevice for TestDevice {
    fn device_id(&self) -> u32 {
        2
    }
    fn device_features(&self) -> u64 {
        OFFERED
    }
    fn num_queues(&self) -> u16 {
        2
    }
    fn queue_max_size(&self, queue: u16) -> u16 {
        [16, 8][usize::from(queue)]
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        for (i, b) in data.iter_mut().enumerate() {
            let at = offset.saturating_add(i as u64);
            *b = usize::try_from(at)
                .ok()
                .and_then(|a| self.config.get(a))
                .copied()
                .unwrap_or(0);
        }
    }
    fn write_config(&mut self, offset: u64, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            let at = usize::try_from(offset.saturating_add(i as u64)).unwrap_or(usize::MAX);
            if let Some(slot) = self.config.get_mut(at) {
                *slot = *b;
            }
        }
    }
    fn activate(
        &mut self,
        features: u64,
        _: &mut [Queue],
        _: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        self.activated = Some(features);
        Ok(false)
    }
    fn reset(&mut self) {
        self.resets += 1;
    }
    fn queue_notify(
        &mut self,
        queue: u16,
        queues: &mut [Queue],
        mem: &dyn GuestMemory,
    ) -> Result<bool, DeviceError> {
        self.notified.push(queue);
        if self.fail_notify {
            return Err(DeviceError::Broken);
        }
        let q = &mut queues[usize::from(queue)];
        while let Some(chain) = q.pop(mem)? {
            if self.hold_next {
                self.held = Some(chain.token());
                self.hold_next = false;
                continue;
            }
            q.add_used(mem, chain.token(), 0)?;
            self.completed += 1;
        }
        Ok(q.needs_notification(mem)?)
    }
}

pub type Transport = MmioTransport<TestDevice>;

pub fn rd(t: &mut Transport, offset: u64) -> u32 {
    t.read(offset, 4) as u32
}

pub fn wr(t: &mut Transport, mem: &VecMemory, offset: u64, v: u32) {
    t.write(mem, offset, 4, u64::from(v));
}

pub fn set_features(t: &mut Transport, mem: &VecMemory, features: u64) {
    wr(t, mem, reg::DRIVER_FEATURES_SEL, 0);
    wr(t, mem, reg::DRIVER_FEATURES, features as u32);
    wr(t, mem, reg::DRIVER_FEATURES_SEL, 1);
    wr(t, mem, reg::DRIVER_FEATURES, (features >> 32) as u32);
}

/// Queue 0 of size 8 on the common rings.
pub fn setup_queue0(t: &mut Transport, mem: &VecMemory) {
    wr(t, mem, reg::QUEUE_SEL, 0);
    wr(t, mem, reg::QUEUE_NUM, 8);
    wr(t, mem, reg::QUEUE_DESC_LOW, DESC as u32);
    wr(t, mem, reg::QUEUE_DESC_HIGH, (DESC >> 32) as u32);
    wr(t, mem, reg::QUEUE_DRIVER_LOW, AVAIL as u32);
    wr(t, mem, reg::QUEUE_DRIVER_HIGH, 0);
    wr(t, mem, reg::QUEUE_DEVICE_LOW, USED as u32);
    wr(t, mem, reg::QUEUE_DEVICE_HIGH, 0);
    wr(t, mem, reg::QUEUE_READY, 1);
}

/// The Linux driver's sequence up to DRIVER_OK, with queue 0 set up.
pub fn bring_up(mem: &VecMemory, features: u64) -> Transport {
    let mut t = MmioTransport::new(TestDevice::default());
    init(&mut t, mem, features);
    t
}

/// Resets `t` and drives it to DRIVER_OK.
pub fn init(t: &mut Transport, mem: &VecMemory, features: u64) {
    wr(t, mem, reg::STATUS, 0);
    wr(t, mem, reg::STATUS, STATUS_ACKNOWLEDGE);
    wr(t, mem, reg::STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    set_features(t, mem, features);
    let s = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK;
    wr(t, mem, reg::STATUS, s);
    assert_eq!(rd(t, reg::STATUS), s, "features accepted");
    setup_queue0(t, mem);
    wr(t, mem, reg::STATUS, s | STATUS_DRIVER_OK);
    assert!(t.is_live());
}
