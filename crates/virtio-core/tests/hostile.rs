//! A hostile driver: every malformed ring gives a typed error, never a
//! panic, and never a hang.

mod common;

use common::*;
use virtio_core::*;

/// Pops once and returns the chain error.
fn chain_error(q: &mut Queue, mem: &impl GuestMemory) -> ChainError {
    match q.pop(mem) {
        Err(QueueError::Chain { error, .. }) => error,
        other => panic!("expected a chain error, got {other:?}"),
    }
}

#[test]
fn descriptor_loops_stop_at_queue_size() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    // a -> b -> a
    drv.desc(&mem, 0, DATA, 8, DESC_F_NEXT, 1);
    drv.desc(&mem, 1, DATA, 8, DESC_F_NEXT, 0);
    // c -> c
    drv.desc(&mem, 2, DATA, 8, DESC_F_NEXT | DESC_F_WRITE, 2);
    drv.publish(&mem, 0);
    drv.publish(&mem, 2);
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::TooManyDescriptors { limit: 8 }
    );
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::TooManyDescriptors { limit: 8 }
    );
    assert_eq!(
        q.pop(&mem),
        Ok(None),
        "bad entries are consumed, not retried"
    );
}

#[test]
fn loop_inside_an_indirect_table_stops() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(4);
    let mut q = drv.queue(&mem, VIRTIO_F_INDIRECT_DESC);
    let table = DATA + 0x1000;
    Driver::desc_at(&mem, table, 0, DATA, 8, DESC_F_NEXT, 1);
    Driver::desc_at(&mem, table, 1, DATA, 8, DESC_F_NEXT, 0);
    drv.desc(&mem, 0, table, 32, DESC_F_INDIRECT, 0);
    drv.publish(&mem, 0);
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::TooManyDescriptors { limit: 4 }
    );
}

#[test]
fn chain_longer_than_queue_through_indirect_is_refused() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(4);
    let mut q = drv.queue(&mem, VIRTIO_F_INDIRECT_DESC);
    let table = DATA + 0x1000;
    for i in 0..4u16 {
        Driver::desc_at(
            &mem,
            table,
            i,
            DATA,
            8,
            if i < 3 { DESC_F_NEXT } else { 0 },
            i + 1,
        );
    }
    // Two direct buffers, then a table of four: six buffers in a queue of four.
    drv.desc(&mem, 0, DATA, 8, DESC_F_NEXT, 1);
    drv.desc(&mem, 1, DATA, 8, DESC_F_NEXT, 2);
    drv.desc(&mem, 2, table, 64, DESC_F_INDIRECT, 0);
    drv.publish(&mem, 0);
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::TooManyDescriptors { limit: 4 }
    );
    // The same table alone fits exactly.
    drv.publish(&mem, 2);
    assert_eq!(q.pop(&mem).unwrap().unwrap().readable_len(), 32);
}

#[test]
fn indices_out_of_range_are_refused() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, VIRTIO_F_INDIRECT_DESC);
    drv.desc(&mem, 0, DATA, 8, DESC_F_NEXT, 8);
    drv.publish(&mem, 0);
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::NextOutOfRange {
            next: 8,
            entries: 8
        }
    );

    drv.desc(&mem, 1, DATA, 8, DESC_F_NEXT, u16::MAX);
    drv.publish(&mem, 1);
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::NextOutOfRange {
            next: u16::MAX,
            entries: 8
        }
    );

    let table = DATA + 0x1000;
    Driver::desc_at(&mem, table, 0, DATA, 8, DESC_F_NEXT, 2);
    drv.desc(&mem, 2, table, 32, DESC_F_INDIRECT, 0);
    drv.publish(&mem, 2);
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::NextOutOfRange {
            next: 2,
            entries: 2
        }
    );

    drv.publish(&mem, 9);
    assert_eq!(
        q.pop(&mem),
        Err(QueueError::Chain {
            token: None,
            error: ChainError::HeadOutOfRange { head: 9, size: 8 }
        })
    );
}

#[test]
fn buffers_outside_ram_are_refused() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    let end = RAM_BASE + RAM_SIZE as u64;
    let cases = [
        (0, 8),             // below RAM
        (RAM_BASE - 4, 8),  // straddles its start
        (end - 4, 8),       // straddles its end
        (0x0900_0000, 4),   // a device's MMIO window
        (end, 1),           // just past it
        (DATA, u32::MAX),   // huge length from inside RAM
        (u64::MAX - 16, 8), // top of the address space
    ];
    for (addr, len) in cases {
        drv.desc(&mem, 0, addr, len, 0, 0);
        drv.publish(&mem, 0);
        let err = chain_error(&mut q, &mem);
        assert_eq!(
            err,
            ChainError::Memory(MemError {
                gpa: addr,
                len: u64::from(len)
            })
        );
    }
    // Exactly the last byte of RAM is fine.
    drv.desc(&mem, 0, end - 1, 1, 0, 0);
    drv.publish(&mem, 0);
    assert!(q.pop(&mem).unwrap().is_some());
}

#[test]
fn zero_length_and_wrapping_buffers_are_refused() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 0, DATA, 0, 0, 0);
    drv.publish(&mem, 0);
    assert_eq!(chain_error(&mut q, &mem), ChainError::ZeroLength);

    drv.desc(&mem, 0, DATA, 8, DESC_F_NEXT, 1);
    drv.desc(&mem, 1, DATA, 0, DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    assert_eq!(chain_error(&mut q, &mem), ChainError::ZeroLength);

    drv.desc(&mem, 0, u64::MAX - 3, 8, 0, 0);
    drv.publish(&mem, 0);
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::AddressOverflow {
            addr: u64::MAX - 3,
            len: 8
        }
    );
}

/// RAM that claims the whole first 1 TiB, to test lengths no Vec can hold.
struct WideMemory(VecMemory);

impl GuestMemory for WideMemory {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.0.read(gpa, buf)
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemError> {
        self.0.write(gpa, data)
    }
    fn check_range(&self, gpa: u64, len: u64) -> Result<(), MemError> {
        match gpa.checked_add(len) {
            Some(end) if end <= 1 << 40 => Ok(()),
            _ => Err(MemError { gpa, len }),
        }
    }
}

#[test]
fn total_length_is_capped_at_4_gib_by_default() {
    let mem = WideMemory(VecMemory::new());
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem.0, 0);
    drv.desc(&mem.0, 0, 0, u32::MAX, DESC_F_NEXT, 1);
    drv.desc(&mem.0, 1, 0, 1, DESC_F_NEXT | DESC_F_WRITE, 2);
    drv.desc(&mem.0, 2, 0, 1, DESC_F_WRITE, 0);
    drv.publish(&mem.0, 1);
    drv.publish(&mem.0, 0);
    assert!(q.pop(&mem).unwrap().is_some());
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::TooLong {
            cap: DEFAULT_LEN_CAP
        }
    );

    // Eight buffers of 4 GiB: refused at the second, no u32 or u64 overflow.
    for i in 0..8u16 {
        drv.desc(&mem.0, i, 0, u32::MAX, DESC_F_NEXT, (i + 1) % 8);
    }
    drv.publish(&mem.0, 0);
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::TooLong {
            cap: DEFAULT_LEN_CAP
        }
    );

    q.set_len_cap(u64::MAX);
    drv.desc(&mem.0, 7, 0, u32::MAX, 0, 0);
    drv.publish(&mem.0, 0);
    assert_eq!(
        q.pop(&mem).unwrap().unwrap().readable_len(),
        8 * u64::from(u32::MAX)
    );
}

#[test]
fn caller_cap_limits_the_chain() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    q.set_len_cap(100);
    drv.desc(&mem, 0, DATA, 60, DESC_F_NEXT, 1);
    drv.desc(&mem, 1, DATA, 40, DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    assert!(q.pop(&mem).unwrap().is_some());
    drv.desc(&mem, 1, DATA, 41, DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    assert_eq!(chain_error(&mut q, &mem), ChainError::TooLong { cap: 100 });
}

#[test]
fn readable_after_writable_is_refused() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 0, DATA, 8, DESC_F_NEXT | DESC_F_WRITE, 1);
    drv.desc(&mem, 1, DATA, 8, 0, 0);
    drv.publish(&mem, 0);
    assert_eq!(chain_error(&mut q, &mem), ChainError::ReadableAfterWritable);
}

#[test]
fn malformed_indirect_descriptors_are_refused() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let table = DATA + 0x1000;
    Driver::desc_at(&mem, table, 0, DATA, 8, 0, 0);

    let mut plain = drv.queue(&mem, 0);
    drv.desc(&mem, 0, table, 16, DESC_F_INDIRECT, 0);
    drv.publish(&mem, 0);
    assert_eq!(
        chain_error(&mut plain, &mem),
        ChainError::IndirectNotNegotiated
    );

    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, VIRTIO_F_INDIRECT_DESC);
    for len in [0, 8, 17, 16 * 9, u32::MAX] {
        drv.desc(&mem, 0, table, len, DESC_F_INDIRECT, 0);
        drv.publish(&mem, 0);
        assert_eq!(
            chain_error(&mut q, &mem),
            ChainError::BadIndirectLen { len }
        );
    }

    drv.desc(&mem, 0, table, 16, DESC_F_INDIRECT | DESC_F_NEXT, 1);
    drv.publish(&mem, 0);
    assert_eq!(chain_error(&mut q, &mem), ChainError::IndirectWithNext);

    Driver::desc_at(&mem, table, 0, table, 16, DESC_F_INDIRECT, 0);
    drv.desc(&mem, 0, table, 16, DESC_F_INDIRECT, 0);
    drv.publish(&mem, 0);
    assert_eq!(chain_error(&mut q, &mem), ChainError::NestedIndirect);

    drv.desc(&mem, 0, 0x1000, 16, DESC_F_INDIRECT, 0);
    drv.publish(&mem, 0);
    assert_eq!(
        chain_error(&mut q, &mem),
        ChainError::Memory(MemError {
            gpa: 0x1000,
            len: 16
        })
    );
}

#[test]
fn avail_idx_jumping_past_queue_size_is_reported() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 0, DATA, 8, 0, 0);
    drv.set_avail_idx(&mem, 9);
    assert_eq!(
        q.pop(&mem),
        Err(QueueError::AvailIdxJump {
            avail_idx: 9,
            next_avail: 0
        })
    );
    // Going backwards looks like a huge jump too.
    drv.set_avail_idx(&mem, u16::MAX);
    assert!(matches!(q.pop(&mem), Err(QueueError::AvailIdxJump { .. })));
    assert_eq!(q.next_avail(), 0, "nothing consumed");
    // A full ring (exactly the size) is fine.
    drv.set_avail_idx(&mem, 8);
    for _ in 0..8 {
        assert!(q.pop(&mem).unwrap().is_some());
    }
    assert_eq!(q.pop(&mem), Ok(None));
}

#[test]
fn used_ring_outside_ram_or_failing_is_an_error() {
    let mem = VecMemory::new();
    let mut q = Queue::new(8);
    q.set_desc_table(DESC);
    q.set_avail_ring(AVAIL);
    q.set_used_ring(RAM_BASE + RAM_SIZE as u64 - 64);
    let err = q.enable(&mem).unwrap_err();
    assert!(
        matches!(
            err,
            QueueError::Ring {
                part: RingPart::Used,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!q.ready());

    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 0, DATA, 8, DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    let chain = q.pop(&mem).unwrap().unwrap();
    mem.refuse_writes.set(true);
    let err = q.add_used(&mem, chain.token(), 8).unwrap_err();
    assert!(
        matches!(
            err,
            QueueError::Ring {
                part: RingPart::Used,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(q.next_used(), 0);
    assert_eq!(
        chain.write_at(&mem, 0, b"x"),
        Err(BufferError::Memory(MemError { gpa: DATA, len: 1 }))
    );
}

#[test]
fn queue_that_is_not_ready_refuses_everything() {
    let mem = VecMemory::new();
    let mut q = Queue::new(8);
    assert_eq!(q.pop(&mem), Err(QueueError::NotReady));
    assert_eq!(q.needs_notification(&mem), Err(QueueError::NotReady));
    let mut zero = Queue::new(0);
    assert_eq!(
        zero.enable(&mem),
        Err(QueueError::BadSize { size: 0, max: 0 })
    );
}

#[test]
fn reset_mid_request_drops_the_completion() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 0, DATA, 8, DESC_F_WRITE, 0);
    drv.publish(&mem, 0);
    let chain = q.pop(&mem).unwrap().unwrap();
    q.reset();
    assert_eq!(
        q.add_used(&mem, chain.token(), 8),
        Err(QueueError::NotReady)
    );
    // Set up again over the same rings: the old token is still refused.
    let mut q2 = q.clone();
    q2.set_desc_table(DESC);
    q2.set_avail_ring(AVAIL);
    q2.set_used_ring(USED);
    q2.enable(&mem).unwrap();
    assert_eq!(
        q2.add_used(&mem, chain.token(), 8),
        Err(QueueError::StaleToken)
    );
    assert_eq!(drv.used_idx(&mem), 0);
}

#[test]
fn a_bad_chain_can_be_completed_with_length_zero() {
    let mem = VecMemory::new();
    let mut drv = Driver::new(8);
    let mut q = drv.queue(&mem, 0);
    drv.desc(&mem, 5, 0, 8, 0, 0);
    drv.publish(&mem, 5);
    let Err(QueueError::Chain {
        token: Some(token), ..
    }) = q.pop(&mem)
    else {
        panic!("expected a chain error with a token");
    };
    q.add_used(&mem, token, 0).unwrap();
    assert_eq!(drv.used_elem(&mem, 0), (5, 0));
}
