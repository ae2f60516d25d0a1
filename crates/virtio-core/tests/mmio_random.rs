//! Random register accesses from a deterministic PRNG: the model's
//! invariants hold whatever the guest writes.

mod common;

use common::transport::*;
use common::*;
use virtio_core::mmio::reg;
use virtio_core::*;

#[test]
fn ten_thousand_random_register_accesses() {
    let mem = VecMemory::new();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut t = bring_up(&mem, OFFERED);
    let offsets = [
        reg::DEVICE_FEATURES_SEL,
        reg::DRIVER_FEATURES,
        reg::DRIVER_FEATURES_SEL,
        reg::QUEUE_SEL,
        reg::QUEUE_NUM,
        reg::QUEUE_READY,
        reg::QUEUE_NOTIFY,
        reg::INTERRUPT_ACK,
        reg::STATUS,
        reg::QUEUE_DESC_LOW,
        reg::QUEUE_DESC_HIGH,
        reg::QUEUE_DRIVER_LOW,
        reg::QUEUE_DRIVER_HIGH,
        reg::QUEUE_DEVICE_LOW,
        reg::QUEUE_DEVICE_HIGH,
        reg::CONFIG,
        reg::CONFIG + 6,
    ];
    let mut drv = Driver::new(8);
    let (mut live, mut notified) = (0u32, 0usize);
    for _ in 0..10_000 {
        let offset = if rng.chance(10) {
            rng.below(0x300)
        } else {
            offsets[rng.below(17) as usize]
        };
        let width = if rng.chance(90) {
            4
        } else {
            rng.below(9) as usize
        };
        let value = match rng.below(6) {
            0 => rng.next(),
            1 => rng.below(3),
            2 => u64::from(
                STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK,
            ),
            3 => [DESC, AVAIL, USED][rng.below(3) as usize] & 0xffff_ffff,
            _ => 1 << rng.below(33),
        };
        let value = if offset == reg::QUEUE_NOTIFY && rng.chance(50) {
            0
        } else {
            value
        };
        t.write(&mem, offset, width, value);
        let _ = t.read(rng.below(0x300), [1, 2, 4, 8][rng.below(4) as usize]);
        if rng.chance(2) {
            init(&mut t, &mem, OFFERED);
            drv.avail_idx = 0;
            mem.put(USED, &[0; 4]);
        }
        if rng.chance(5) {
            drv.desc(&mem, rng.below(8) as u16, DATA, 8, DESC_F_WRITE, 0);
            drv.publish(&mem, rng.below(9) as u16);
        }
        // Invariants of the model, whatever the guest wrote.
        let s = t.status();
        if s & STATUS_DRIVER_OK != 0 {
            assert_ne!(s & STATUS_FEATURES_OK, 0);
        }
        if s & STATUS_FEATURES_OK != 0 {
            let f = t.driver_features();
            assert!(f & !OFFERED == 0, "{f:#x}");
        }
        for q in t.queues() {
            if q.ready() {
                assert_eq!(q.validate(&mem), Ok(()));
            }
        }
        assert!(t.interrupt_status() & !3 == 0);
        live += u32::from(t.is_live());
        notified = t.device().notified.len();
    }
    assert!(
        live > 1000 && notified > 100,
        "{live} live steps, {notified} notifies"
    );
    println!("{live} live steps, {notified} notifies");
}
