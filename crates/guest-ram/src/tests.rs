extern crate std;

use std::vec::Vec;

use crate::*;

const MIB: u64 = 0x10_0000;

/// A region with every chunk backed.
fn backed(gpa: u64, size: u64) -> Chunks {
    let mut chunks = Chunks::new(gpa, size);
    for index in 0..chunks.count() {
        chunks.set_backed(index);
    }
    chunks
}

#[test]
fn ram_map_holds_its_ranges_and_nothing_else() {
    let (low, high) = (backed(0x4000_0000, 128 * MIB), backed(0x8000_0000, 4096));
    let map = RamMap::new([(&low, 0x1000_0000), (&high, 0x2000_0000)]);
    assert!(map.contains(0x4000_0000) && map.contains(0x47ff_ffff) && map.contains(0x8000_0fff));
    assert!(!map.contains(0x3fff_ffff) && !map.contains(0x4800_0000) && !map.contains(0x8000_1000));
    assert!(!RamMap::default().contains(0));
    // A region that would run past the address space ends there.
    assert!(RamMap::new([(&Chunks::new(u64::MAX - 10, 100), 0)]).contains(u64::MAX - 1));
}

#[test]
fn host_addresses_come_only_for_ranges_inside_one_region() {
    let (low, high) = (backed(0x4000_0000, 128 * MIB), backed(0x4800_0000, 4096));
    let map = RamMap::new([(&low, 0x1000_0000), (&high, 0x2000_0000)]);
    assert_eq!(map.host_address(0x4000_0000, 4), Some(0x1000_0000));
    assert_eq!(map.host_address(0x47ff_fffc, 4), Some(0x17ff_fffc));
    assert_eq!(map.host_address(0x4800_0ffe, 2), Some(0x2000_0ffe));
    // Regions that touch in guest space are apart in host space.
    assert_eq!(map.host_address(0x47ff_fffe, 4), None);
    assert_eq!(map.host_address(0x3fff_fffe, 4), None);
    assert_eq!(map.host_address(0x4800_0ffe, 4), None);
    assert_eq!(map.host_address(u64::MAX - 1, 4), None);
    assert_eq!(RamMap::default().host_address(0, 1), None);
}

#[test]
fn host_addresses_come_only_for_backed_chunks() {
    let mut chunks = Chunks::new(0x4000_0000, 8 * MIB);
    let map = RamMap::new([(&chunks, 0x1000_0000)]);
    assert_eq!(map.host_address(0x4000_0000, 4), None, "nothing backed yet");
    chunks.set_backed(1);
    assert_eq!(map.host_address(0x4020_0000, 4), Some(0x1020_0000), "the map sees the chunk backed");
    assert_eq!(map.host_address(0x401f_fffe, 4), None, "a range into an unbacked chunk");
    chunks.set_backed(0);
    assert_eq!(map.host_address(0x401f_fffe, 4), Some(0x101f_fffe));
    chunks.take_backed();
    assert_eq!(map.host_address(0x4020_0000, 4), None, "a reset unbacks it for the map too");
}

#[test]
fn aligned_region_is_whole_chunks() {
    let chunks = Chunks::new(0x4000_0000, 128 * MIB);
    assert_eq!(chunks.count(), 64);
    assert_eq!(
        chunks.chunk(0),
        Some(Chunk {
            index: 0,
            gpa: 0x4000_0000,
            len: CHUNK,
            offset: 0
        })
    );
    assert_eq!(
        chunks.chunk(63),
        Some(Chunk {
            index: 63,
            gpa: 0x47e0_0000,
            len: CHUNK,
            offset: 126 * MIB
        })
    );
    assert_eq!(chunks.chunk(64), None);
    assert_eq!(chunks.chunk_of(0x4021_2345).map(|c| c.index), Some(1));
    assert_eq!(chunks.chunk_of(0x4800_0000), None);
    assert_eq!(chunks.chunk_of(0x3fff_ffff), None);
}

#[test]
fn unaligned_edges_make_short_chunks_inside_the_region() {
    // 1 MiB into a chunk, 3.5 MiB long: [1, 2) [2, 4) [4, 4.5) MiB.
    let chunks = Chunks::new(0x4010_0000, 3 * MIB + MIB / 2);
    assert_eq!(chunks.count(), 3);
    let all: Vec<_> = (0..3).filter_map(|i| chunks.chunk(i)).collect();
    assert_eq!(
        all[0],
        Chunk {
            index: 0,
            gpa: 0x4010_0000,
            len: MIB,
            offset: 0
        }
    );
    assert_eq!(
        all[1],
        Chunk {
            index: 1,
            gpa: 0x4020_0000,
            len: CHUNK,
            offset: MIB
        }
    );
    assert_eq!(
        all[2],
        Chunk {
            index: 2,
            gpa: 0x4040_0000,
            len: MIB / 2,
            offset: 3 * MIB
        }
    );
    assert_eq!(all.iter().map(|c| c.len).sum::<u64>(), chunks.size());
    assert_eq!(chunks.chunk_of(0x4047_ffff).map(|c| c.index), Some(2));
    assert_eq!(
        chunks.chunk_of(0x4048_0000).map(|c| c.index),
        None,
        "past the end"
    );
}

#[test]
fn a_region_smaller_than_a_chunk_is_one_chunk() {
    let chunks = Chunks::new(0x9000_1000, 0x3000);
    assert_eq!(chunks.count(), 1);
    assert_eq!(
        chunks.chunk(0),
        Some(Chunk {
            index: 0,
            gpa: 0x9000_1000,
            len: 0x3000,
            offset: 0
        })
    );
    assert_eq!(Chunks::new(0x9000_0000, 0).count(), 0);
}

#[test]
fn chunks_in_a_range_are_the_ones_it_touches() {
    let chunks = Chunks::new(0x4000_0000, 16 * MIB);
    let touched = |gpa, len| {
        chunks
            .chunks_in(gpa, len)
            .map(|it| it.map(|c| c.index).collect::<Vec<_>>())
    };
    assert_eq!(touched(0x4020_0000, 0x1000), Some(std::vec![1]));
    assert_eq!(
        touched(0x401f_f000, 0x2000),
        Some(std::vec![0, 1]),
        "straddles a boundary"
    );
    assert_eq!(touched(0x4000_0000, 16 * MIB), Some((0..8).collect()));
    assert_eq!(touched(0x4000_0000, 0), Some(std::vec![]));
    assert_eq!(touched(0x40ff_f000, 0x2000), None, "runs past the region");
    assert_eq!(touched(0x3fff_f000, 0x2000), None, "starts before it");
    assert_eq!(touched(u64::MAX, 2), None, "wraps");
}

#[test]
fn backed_chunks_are_remembered_and_taken_back() {
    let mut chunks = Chunks::new(0x4000_0000, 255 * MIB);
    assert_eq!(chunks.backed_bytes(), 0);
    for i in [0, 63, 64, 127] {
        assert!(!chunks.is_backed(i));
        chunks.set_backed(i);
        assert!(chunks.is_backed(i));
    }
    chunks.set_backed(0);
    chunks.set_backed(1000); // no such chunk: ignored
    assert_eq!(
        chunks.backed_bytes(),
        3 * CHUNK + MIB,
        "the last chunk is 1 MiB"
    );
    let taken: Vec<_> = chunks
        .take_backed()
        .into_iter()
        .map(|c| (c.index, c.gpa))
        .collect();
    assert_eq!(
        taken,
        [
            (0, 0x4000_0000),
            (63, 0x47e0_0000),
            (64, 0x4800_0000),
            (127, 0x4fe0_0000)
        ]
    );
    assert_eq!(chunks.backed_bytes(), 0);
    assert!(chunks.take_backed().is_empty());
}

#[test]
fn backed_chunks_are_found_whole_and_cut_at_region_edges() {
    // A region that starts and ends inside chunks: its edge chunks are short.
    let mut chunks = Chunks::new(0x4010_0000, 4 * MIB);
    let read_only = Rights { write: false, execute: false };
    let map = RamMap::with_rights([(&chunks, 0x1000_0000, read_only)]);
    assert_eq!(map.backed_chunk(0x4010_0000), None, "nothing backed yet");
    let chunk = |gpa, len, host| Some(BackedChunk { gpa, len, host, rights: read_only });
    for index in 0..chunks.count() {
        chunks.set_backed(index);
    }
    assert_eq!(map.backed_chunk(0x4010_0000), chunk(0x4010_0000, MIB, 0x1000_0000));
    assert_eq!(map.backed_chunk(0x403f_ffff), chunk(0x4020_0000, 2 * MIB, 0x1010_0000));
    assert_eq!(map.backed_chunk(0x404f_ffff), chunk(0x4040_0000, MIB, 0x1030_0000));
    let all = RamMap::new([(&chunks, 0x1000_0000)]);
    assert_eq!(all.backed_chunk(0x4010_0000).map(|c| c.rights), Some(Rights::ALL), "new gives every right");
    assert_eq!(map.backed_chunk(0x4050_0000), None, "past the region");
    assert_eq!(map.backed_chunk(0x400f_ffff), None, "before it");
    let generation = map.generation();
    chunks.take_backed();
    assert_eq!(map.backed_chunk(0x4020_0000), None, "unbacked again");
    assert_ne!(map.generation(), generation, "the map says its chunks were unbacked");
}

#[test]
fn a_range_is_backed_within_one_chunk_only_when_that_chunk_is_backed() {
    let mut chunks = Chunks::new(0x4010_0000, 4 * MIB);
    // The second chunk is [0x4020_0000, 0x4040_0000).
    chunks.set_backed(1);
    assert!(chunks.backed_within(0x4020_0000, 16));
    assert!(chunks.backed_within(0x403f_fff0, 16));
    assert!(!chunks.backed_within(0x403f_fff8, 16), "runs into the unbacked third chunk");
    assert!(!chunks.backed_within(0x401f_fff8, 16), "starts in the unbacked first chunk");
    assert!(!chunks.backed_within(0x4020_0000, 0), "an empty range");
    assert!(!chunks.backed_within(0x4050_0000, 16), "past the region");
    assert!(!chunks.backed_within(u64::MAX - 4, 16), "wraps");
    chunks.set_backed(2);
    assert!(!chunks.backed_within(0x403f_fff8, 16), "two chunks, even both backed");
}
