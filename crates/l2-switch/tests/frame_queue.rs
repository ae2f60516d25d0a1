//! The bounded frame FIFO: order, full, oversize, in-place fill, swap.

use l2_switch::{FrameQueue, MAX_FRAME, MAX_SLOTS};

#[test]
fn fifo_order_and_wraparound() {
    let mut q = FrameQueue::new(3);
    assert_eq!((q.capacity(), q.free(), q.len()), (3, 3, 0));
    assert!(q.is_empty() && q.front().is_none());
    for round in 0u8..10 {
        assert!(q.push(&[round; 20]));
        assert!(q.push(&[round + 100; 1]));
        assert_eq!(q.front(), Some(&[round; 20][..]));
        q.pop_front();
        assert_eq!(q.front(), Some(&[round + 100][..]));
        q.pop_front();
        assert!(q.is_empty());
    }
    q.pop_front(); // empty: no-op
    assert_eq!(q.len(), 0);
}

#[test]
fn full_and_oversize_drop_and_count() {
    let mut q = FrameQueue::new(2);
    assert!(q.push(&[1; MAX_FRAME]));
    assert!(!q.push(&[2; MAX_FRAME + 1]));
    assert!(q.push(&[]));
    assert!(q.is_full());
    assert_eq!(q.free(), 0);
    assert!(!q.push(&[3; 10]));
    assert_eq!(q.dropped(), 2);
    assert_eq!(q.front().map(<[u8]>::len), Some(MAX_FRAME));
    q.pop_front();
    assert_eq!(q.front(), Some(&[][..]));
    q.clear();
    assert!(q.is_empty());
    assert_eq!(q.dropped(), 2, "clear keeps the counter");
}

#[test]
fn push_with_fills_in_place_or_leaves_queue_unchanged() {
    let mut q = FrameQueue::new(2);
    assert!(q.push_with(4, |slot| {
        assert_eq!(slot.len(), 4);
        slot.copy_from_slice(b"abcd");
        true
    }));
    assert!(!q.push_with(5, |slot| {
        slot.fill(0xee);
        false
    }));
    assert_eq!((q.len(), q.dropped()), (1, 0));
    assert!(!q.push_with(MAX_FRAME + 1, |_| panic!("not called when too long")));
    assert_eq!(q.dropped(), 1);
    assert!(q.push_with(3, |slot| {
        slot.copy_from_slice(b"xyz");
        true
    }));
    assert!(!q.push_with(1, |_| panic!("not called when full")));
    assert_eq!(q.front(), Some(&b"abcd"[..]));
    q.pop_front();
    assert_eq!(q.front(), Some(&b"xyz"[..]));
}

#[test]
fn swap_hands_a_batch_over() {
    let mut outbox = FrameQueue::new(4);
    let mut spare = FrameQueue::new(4);
    outbox.push(b"one");
    outbox.push(b"two");
    core::mem::swap(&mut outbox, &mut spare);
    assert!(outbox.is_empty());
    assert_eq!(outbox.free(), 4);
    assert_eq!(spare.len(), 2);
    assert_eq!(spare.front(), Some(&b"one"[..]));
    spare.pop_front();
    assert_eq!(spare.front(), Some(&b"two"[..]));
    assert!(outbox.push(b"three"));
}

#[test]
fn zero_and_huge_capacities() {
    let mut q = FrameQueue::new(0);
    assert!(q.is_full() && q.is_empty());
    assert!(!q.push(b"x"));
    assert_eq!(q.dropped(), 1);
    q.pop_front();
    assert_eq!(FrameQueue::new(usize::MAX).capacity(), MAX_SLOTS);
}
