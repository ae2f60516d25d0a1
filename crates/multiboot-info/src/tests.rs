extern crate std;

use crate::*;

const MIB: u64 = 0x10_0000;

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

#[test]
fn one_region_from_zero_gives_both_memory_sizes_and_a_one_entry_map() {
    let info = build(0x9000, &[(0, 128 * MIB)], None).unwrap();
    assert_eq!(u32_at(&info, FLAGS), FLAG_MEM | FLAG_MMAP);
    assert_eq!(u32_at(&info, MEM_LOWER), 640, "conventional memory stops at 640 KiB");
    assert_eq!(u32_at(&info, MEM_UPPER), 127 * 1024, "upper memory from 1 MiB to the end");
    assert_eq!(u32_at(&info, MMAP_LENGTH), 24);
    assert_eq!(u32_at(&info, MMAP_ADDR), 0x9000 + 0x80, "the map's address is a guest address");
    let entry = MMAP_OFFSET;
    assert_eq!(u32_at(&info, entry), 20, "size leaves itself out");
    assert_eq!((u64_at(&info, entry + 4), u64_at(&info, entry + 12)), (0, 128 * MIB));
    assert_eq!(u32_at(&info, entry + 20), AVAILABLE);
    assert_eq!(info.len(), MMAP_OFFSET + 24);
}

#[test]
fn upper_memory_stops_at_the_first_gap_and_every_region_is_mapped() {
    let ram = [(0, 16 * MIB), (32 * MIB, 16 * MIB)];
    let info = build(0x1000, &ram, None).unwrap();
    assert_eq!(u32_at(&info, MEM_UPPER), 15 * 1024);
    assert_eq!(u32_at(&info, MMAP_LENGTH), 48);
    assert_eq!(u64_at(&info, MMAP_OFFSET + 24 + 4), 32 * MIB);
}

#[test]
fn ram_that_starts_high_has_no_lower_or_upper_memory() {
    let info = build(0x8000_0000, &[(0x4000_0000, 64 * MIB)], None).unwrap();
    assert_eq!(u32_at(&info, MEM_LOWER), 0);
    assert_eq!(u32_at(&info, MEM_UPPER), 0);
}

#[test]
fn a_command_line_is_copied_with_its_nul_and_flagged() {
    let info = build(0x9000, &[(0, 8 * MIB)], Some(b"console=ttyS0")).unwrap();
    assert_eq!(u32_at(&info, FLAGS) & FLAG_CMDLINE, FLAG_CMDLINE);
    let at = (u32_at(&info, CMDLINE) - 0x9000) as usize;
    assert_eq!(&info[at..], b"console=ttyS0\0");
}

#[test]
fn information_that_would_reach_past_4g_is_refused() {
    assert_eq!(build(0xFFFF_FFF0, &[(0, MIB)], None), Err(InfoError::Above4G { at: 0xFFFF_FFF0 }));
    assert_eq!(build(u64::MAX, &[], None), Err(InfoError::Above4G { at: u64::MAX }));
}
