//! A well-behaved driver: chains, copies, completions, notifications, setup.

mod common;

use common::*;
use virtio_core::*;

#[test]
fn pops_a_readable_then_writable_chain() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 3, DATA, 16, DESC_F_NEXT, 5);
    drv.desc(&mem, 5, DATA + 0x100, 512, DESC_F_NEXT | DESC_F_WRITE, 1);
    drv.desc(&mem, 1, DATA + 0x400, 1, DESC_F_WRITE, 0);
    drv.publish(&mem, 3);

    let chain = q.pop(&mem).unwrap().expect("one chain");
    assert_eq!(chain.token().head(), 3);
    assert_eq!(
        chain.readable(),
        &[Segment {
            addr: DATA,
            len: 16
        }]
    );
    assert_eq!(
        chain.writable(),
        &[
            Segment {
                addr: DATA + 0x100,
                len: 512
            },
            Segment {
                addr: DATA + 0x400,
                len: 1
            }
        ]
    );
    assert_eq!((chain.readable_len(), chain.writable_len()), (16, 513));
    assert_eq!(q.pop(&mem).unwrap(), None);
    assert_eq!(q.next_avail(), 1);
}

#[test]
fn a_recycled_chain_leaves_nothing_in_the_next_one() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 0, DATA, 16, DESC_F_NEXT, 1);
    drv.desc(&mem, 1, DATA + 0x100, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
    drv.desc(&mem, 2, DATA + 0x400, 1, DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    let first = q.pop(&mem).unwrap().expect("the first chain");
    assert_eq!((first.readable().len(), first.writable().len()), (1, 2));
    q.recycle(first);
    drv.desc(&mem, 4, DATA + 0x800, 8, 0, 0);
    drv.publish(&mem, 4);
    let second = q.pop(&mem).unwrap().expect("the second chain");
    assert_eq!(second.readable(), &[Segment { addr: DATA + 0x800, len: 8 }]);
    assert!(second.writable().is_empty());
    assert_eq!((second.readable_len(), second.writable_len()), (8, 0));
}

#[test]
fn read_at_and_write_at_span_segments() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(4);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 0, DATA, 3, DESC_F_NEXT, 1);
    drv.desc(&mem, 1, DATA + 0x10, 3, DESC_F_NEXT, 2);
    drv.desc(&mem, 2, DATA + 0x20, 2, DESC_F_WRITE | DESC_F_NEXT, 3);
    drv.desc(&mem, 3, DATA + 0x30, 4, DESC_F_WRITE, 0);
    mem.put(DATA, b"abc");
    mem.put(DATA + 0x10, b"def");
    drv.publish(&mem, 0);
    let chain = q.pop(&mem).unwrap().unwrap();

    let mut buf = [0u8; 4];
    chain.read_at(&mem, 1, &mut buf).unwrap();
    assert_eq!(&buf, b"bcde");
    chain.write_at(&mem, 1, b"WXYZ").unwrap();
    assert_eq!(mem.get(DATA + 0x20, 2), b"\0W");
    assert_eq!(mem.get(DATA + 0x30, 4), b"XYZ\0");

    let mut big = [0u8; 6];
    assert_eq!(
        chain.read_at(&mem, 1, &mut big),
        Err(BufferError::TooShort {
            needed: 7,
            available: 6
        })
    );
    assert_eq!(
        chain.write_at(&mem, u64::MAX, b"x"),
        Err(BufferError::TooShort {
            needed: u64::MAX,
            available: 6
        })
    );
    // Nothing was written by the refused copy.
    assert_eq!(mem.get(DATA + 0x30, 4), b"XYZ\0");
}

#[test]
fn add_used_fills_ring_and_publishes_index_after_release_barrier() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(4);
    let mut q = drv.queue(&mem, 0);
    for i in 0..6u16 {
        drv.desc(&mem, i % 4, DATA, 8, DESC_F_WRITE, 0);
        drv.publish(&mem, i % 4);
        let chain = q.pop(&mem).unwrap().unwrap();
        mem.barriers.borrow_mut().clear();
        q.add_used(&mem, chain.token(), 100 + u32::from(i)).unwrap();
        assert_eq!(*mem.barriers.borrow(), [Barrier::Release]);
        assert_eq!(drv.used_idx(&mem), i + 1);
        assert_eq!(
            drv.used_elem(&mem, i),
            (u32::from(i % 4), 100 + u32::from(i))
        );
    }
}

#[test]
fn pop_issues_acquire_barrier_before_reading_the_ring() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(4);
    let mut q = drv.queue(&mem, 0);
    assert_eq!(q.pop(&mem).unwrap(), None);
    assert!(mem.barriers.borrow().is_empty());
    drv.desc(&mem, 0, DATA, 8, 0, 0);
    drv.publish(&mem, 0);
    q.pop(&mem).unwrap().unwrap();
    assert_eq!(*mem.barriers.borrow(), [Barrier::Acquire]);
}

#[test]
fn avail_index_wraps_around_u16() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(2);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 0, DATA, 8, 0, 0);
    for _ in 0..70_000u32 {
        drv.publish(&mem, 0);
        let chain = q.pop(&mem).unwrap().unwrap();
        q.add_used(&mem, chain.token(), 0).unwrap();
    }
    assert_eq!(q.next_avail(), (70_000u32 % 65_536) as u16);
    assert_eq!(drv.used_idx(&mem), q.next_used());
}

#[test]
fn indirect_table_is_walked_when_negotiated() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(4);
    let mut q = drv.queue(&mem, VIRTIO_F_INDIRECT_DESC);
    let table = DATA + 0x1000;
    Driver::desc_at(&mem, table, 0, DATA, 16, DESC_F_NEXT, 2);
    Driver::desc_at(
        &mem,
        table,
        2,
        DATA + 0x100,
        64,
        DESC_F_NEXT | DESC_F_WRITE,
        1,
    );
    Driver::desc_at(&mem, table, 1, DATA + 0x200, 1, DESC_F_WRITE, 0);
    // The WRITE flag on the indirect descriptor itself is ignored.
    drv.desc(&mem, 2, table, 48, DESC_F_INDIRECT | DESC_F_WRITE, 0);
    drv.publish(&mem, 2);
    let chain = q.pop(&mem).unwrap().unwrap();
    assert_eq!(chain.token().head(), 2);
    assert_eq!(chain.readable().len(), 1);
    assert_eq!(chain.writable().len(), 2);
    assert_eq!(chain.writable_len(), 65);
}

#[test]
fn direct_descriptors_may_lead_to_an_indirect_table() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(4);
    let mut q = drv.queue(&mem, VIRTIO_F_INDIRECT_DESC);
    let table = DATA + 0x1000;
    Driver::desc_at(&mem, table, 0, DATA + 0x100, 8, DESC_F_WRITE, 0);
    drv.desc(&mem, 0, DATA, 8, DESC_F_NEXT, 1);
    drv.desc(&mem, 1, table, 16, DESC_F_INDIRECT, 0);
    drv.publish(&mem, 0);
    let chain = q.pop(&mem).unwrap().unwrap();
    assert_eq!((chain.readable_len(), chain.writable_len()), (8, 8));
}

#[test]
fn notification_follows_no_interrupt_flag_without_event_idx() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(4);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 0, DATA, 8, 0, 0);
    // Nothing used yet: no notification.
    assert!(!q.needs_notification(&mem).unwrap());
    drv.publish(&mem, 0);
    let c = q.pop(&mem).unwrap().unwrap();
    q.add_used(&mem, c.token(), 0).unwrap();
    mem.barriers.borrow_mut().clear();
    assert!(q.needs_notification(&mem).unwrap());
    assert_eq!(*mem.barriers.borrow(), [Barrier::Full]);
    assert!(!q.needs_notification(&mem).unwrap(), "nothing new since");

    mem.put_u16(AVAIL, AVAIL_F_NO_INTERRUPT);
    drv.publish(&mem, 0);
    let c = q.pop(&mem).unwrap().unwrap();
    q.add_used(&mem, c.token(), 0).unwrap();
    assert!(!q.needs_notification(&mem).unwrap());
}

#[test]
fn event_idx_notifies_only_when_used_event_is_crossed() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, VIRTIO_F_EVENT_IDX);
    drv.desc(&mem, 0, DATA, 8, 0, 0);
    // The driver wants an interrupt once used entry 2 is written (idx 3).
    drv.set_used_event(&mem, 2);
    let mut decisions = Vec::new();
    for _ in 0..4 {
        drv.publish(&mem, 0);
        let c = q.pop(&mem).unwrap().unwrap();
        q.add_used(&mem, c.token(), 0).unwrap();
        decisions.push(q.needs_notification(&mem).unwrap());
    }
    assert_eq!(decisions, [false, false, true, false]);

    // Two completions in one batch crossing used_event: one notification.
    drv.set_used_event(&mem, 4);
    for _ in 0..2 {
        drv.publish(&mem, 0);
        let c = q.pop(&mem).unwrap().unwrap();
        q.add_used(&mem, c.token(), 0).unwrap();
    }
    assert!(q.needs_notification(&mem).unwrap());
}

#[test]
fn event_idx_publishes_avail_event_after_each_pop() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, VIRTIO_F_EVENT_IDX);
    drv.desc(&mem, 0, DATA, 8, 0, 0);
    drv.publish(&mem, 0);
    drv.publish(&mem, 0);
    q.pop(&mem).unwrap().unwrap();
    assert_eq!(drv.avail_event(&mem), 1);
    mem.barriers.borrow_mut().clear();
    q.pop(&mem).unwrap().unwrap();
    assert_eq!(drv.avail_event(&mem), 2);
    assert_eq!(*mem.barriers.borrow(), [Barrier::Acquire, Barrier::Full]);
}

#[test]
fn validate_checks_size_alignment_and_placement() {
    let mem = VecMemory::new();
    let setup = |size: u16, desc: u64, avail: u64, used: u64| {
        let mut q = Queue::new(16);
        q.set_size(size);
        q.set_desc_table(desc);
        q.set_avail_ring(avail);
        q.set_used_ring(used);
        q
    };
    assert_eq!(setup(16, DESC, AVAIL, USED).validate(&mem), Ok(()));
    for size in [0, 3, 12, 32] {
        assert_eq!(
            setup(size, DESC, AVAIL, USED).validate(&mem),
            Err(QueueError::BadSize { size, max: 16 })
        );
    }
    let cases = [
        (DESC + 8, AVAIL, USED, RingPart::Descriptors),
        (DESC, AVAIL + 1, USED, RingPart::Avail),
        (DESC, AVAIL, USED + 2, RingPart::Used),
    ];
    for (d, a, u, part) in cases {
        let err = setup(16, d, a, u).validate(&mem).unwrap_err();
        assert!(
            matches!(err, QueueError::Misaligned { part: p, .. } if p == part),
            "{err:?}"
        );
    }
    let end = RAM_BASE + RAM_SIZE as u64;
    let cases = [
        (end - 16 * 15, AVAIL, USED, RingPart::Descriptors),
        (DESC, end - 36, USED, RingPart::Avail),
        (DESC, AVAIL, end - 132, RingPart::Used),
        (DESC, AVAIL, u64::MAX - 3, RingPart::Used),
    ];
    for (d, a, u, part) in cases {
        let err = setup(16, d, a, u).validate(&mem).unwrap_err();
        assert!(
            matches!(err, QueueError::Ring { part: p, .. } if p == part),
            "{err:?}"
        );
    }
    // Exactly fitting at the end of RAM is fine (avail 6 + 2 * 16 = 38 bytes).
    assert_eq!(setup(16, end - 256, end - 38, USED).validate(&mem), Ok(()));
}

#[test]
fn max_size_is_capped_and_setters_ignored_while_enabled() {
    assert_eq!(Queue::new(u16::MAX).max_size(), MAX_QUEUE_SIZE);
    let mem = VecMemory::new();
    let drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    q.set_size(4);
    q.set_desc_table(0);
    q.set_avail_ring(0);
    q.set_used_ring(0);
    assert_eq!(q.size(), 8);
    assert_eq!(q.addresses(), (DESC, AVAIL, USED));
    q.disable();
    q.set_size(4);
    assert_eq!(q.size(), 4);
}

#[test]
fn reset_keeps_max_size_and_len_cap() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    q.set_len_cap(8);
    q.reset();
    assert!(!q.ready());
    assert_eq!((q.max_size(), q.size(), q.addresses()), (8, 8, (0, 0, 0)));
    q.set_desc_table(DESC);
    q.set_avail_ring(AVAIL);
    q.set_used_ring(USED);
    q.enable(&mem).unwrap();
    drv.desc(&mem, 0, DATA, 9, 0, 0);
    drv.publish(&mem, 0);
    assert!(matches!(
        q.pop(&mem),
        Err(QueueError::Chain {
            error: ChainError::TooLong { cap: 8 },
            ..
        })
    ));
}
