//! Random descriptor tables and rings from a deterministic PRNG: no panic,
//! no hang, and every chain that is accepted respects the limits.

mod common;

use std::collections::HashSet;

use common::*;
use virtio_core::*;

const TABLES: u64 = RAM_BASE + 0x4000;
const TABLES_SIZE: u64 = 0x2000;
const END: u64 = RAM_BASE + RAM_SIZE as u64;

fn addr(rng: &mut Rng) -> u64 {
    match rng.below(11) {
        0 => rng.next(),
        10 => u64::MAX - rng.below(4096),
        1 => END - rng.below(64),
        2 => RAM_BASE - 1 - rng.below(64),
        3 => TABLES + 16 * rng.below(TABLES_SIZE / 16),
        _ => DATA + rng.below(0x7000),
    }
}

fn len(rng: &mut Rng) -> u32 {
    match rng.below(12) {
        0 => 0,
        1 => u32::MAX,
        2 => rng.next() as u32,
        3 => 16 * rng.below(20) as u32,
        _ => 1 + rng.below(512) as u32,
    }
}

fn flags(rng: &mut Rng) -> u16 {
    if rng.chance(3) {
        return rng.next() as u16;
    }
    let mut f = 0;
    if rng.chance(50) {
        f |= DESC_F_NEXT;
    }
    if rng.chance(35) {
        f |= DESC_F_WRITE;
    }
    if rng.chance(6) {
        f |= DESC_F_INDIRECT;
    }
    f
}

fn index(rng: &mut Rng, size: u16) -> u16 {
    if rng.chance(5) {
        rng.next() as u16
    } else {
        rng.below(u64::from(size)) as u16
    }
}

fn random_desc(rng: &mut Rng, mem: &VecMemory, table: u64, i: u16, entries: u16) {
    let (a, l, f, n) = (addr(rng), len(rng), flags(rng), index(rng, entries));
    Driver::desc_at(mem, table, i, a, l, f, n);
}

/// Checks one accepted chain against every limit.
fn check_chain(mem: &VecMemory, q: &Queue, cap: u64, chain: &DescriptorChain) {
    let count = chain.readable().len() + chain.writable().len();
    assert!(
        count >= 1 && count <= usize::from(q.size()),
        "{count} buffers"
    );
    let sum = |segs: &[Segment]| segs.iter().map(|s| u64::from(s.len)).sum::<u64>();
    assert_eq!(sum(chain.readable()), chain.readable_len());
    assert_eq!(sum(chain.writable()), chain.writable_len());
    assert!(chain.readable_len() + chain.writable_len() <= cap);
    for s in chain.readable().iter().chain(chain.writable()) {
        assert!(s.len > 0);
        assert_eq!(mem.check_range(s.addr, u64::from(s.len)), Ok(()));
    }
    assert!(chain.token().head() < q.size());
}

#[test]
fn ten_thousand_random_rings() {
    let mem = VecMemory::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut chains, mut empty, mut jumps) = (0u32, 0u32, 0u32);
    let mut kinds = HashSet::new();
    for _ in 0..10_000 {
        let size = 1u16 << rng.below(9);
        let mut features = 0;
        if rng.chance(60) {
            features |= VIRTIO_F_INDIRECT_DESC;
        }
        if rng.chance(50) {
            features |= VIRTIO_F_EVENT_IDX;
        }
        let mut drv = Driver::new(size);
        mem.put(USED, &[0; 4]); // The driver zeroes the used ring header.
        let mut q = drv.queue(&mem, features);
        let cap = if rng.chance(20) {
            1 + rng.below(2048)
        } else {
            DEFAULT_LEN_CAP
        };
        q.set_len_cap(cap);
        for i in 0..size {
            random_desc(&mut rng, &mem, DESC, i, size);
        }
        for i in 0..(TABLES_SIZE / 16) as u16 {
            random_desc(&mut rng, &mem, TABLES, i, 32);
        }
        for _ in 0..size {
            drv.publish(&mem, index(&mut rng, size));
        }
        let idx = if rng.chance(10) {
            rng.next() as u16
        } else {
            rng.below(u64::from(size) + 1) as u16
        };
        drv.set_avail_idx(&mem, idx);
        drv.set_used_event(&mem, rng.next() as u16);
        mem.put_u16(AVAIL, rng.next() as u16);

        // More pops than entries: each must end, and the queue must drain.
        for _ in 0..=u32::from(size) + 1 {
            match q.pop(&mem) {
                Ok(Some(chain)) => {
                    check_chain(&mem, &q, cap, &chain);
                    q.add_used(
                        &mem,
                        chain.token(),
                        chain.writable_len().min(u64::from(u32::MAX)) as u32,
                    )
                    .expect("completing a popped chain");
                    chains += 1;
                }
                Ok(None) => {
                    empty += 1;
                    break;
                }
                Err(QueueError::AvailIdxJump { .. }) => {
                    jumps += 1;
                    break;
                }
                Err(QueueError::Chain { token, error }) => {
                    kinds.insert(std::mem::discriminant(&error));
                    if let Some(token) = token {
                        q.add_used(&mem, token, 0).expect("completing a bad chain");
                    }
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(drv.used_idx(&mem), q.next_used());
        q.needs_notification(&mem).expect("rings are in RAM");
    }
    // The inputs reached every path, so the checks above were exercised.
    assert!(chains > 5_000, "{chains} chains accepted");
    assert!(
        empty > 1_000 && jumps > 500,
        "{empty} drained, {jumps} jumps"
    );
    assert_eq!(kinds.len(), 12, "every ChainError kind seen: {kinds:?}");
    println!("{chains} chains, {empty} drained, {jumps} jumps");
}
