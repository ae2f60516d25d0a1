//! Tests of the guest page-table walk.

use std::collections::HashMap;

use crate::walk::{Paging, translate};

const PG: u64 = 1 << 31;
const LMA: u64 = 1 << 10;
const PAE: u64 = 1 << 5;
const PSE: u64 = 1 << 4;

/// Guest memory of 8-byte words.
struct Memory(HashMap<u64, u64>);

impl Memory {
    fn read(&self, addr: u64) -> Option<u64> {
        self.0.get(&addr).copied()
    }
}

#[test]
fn paging_off_is_the_identity() {
    let paging = Paging { cr0: 0x11, cr3: 0, cr4: 0, efer: 0 };
    assert_eq!(translate(paging, 0x1234_5678, |_| None), Some(0x1234_5678));
}

#[test]
fn long_mode_walks_four_levels_and_stops_at_large_pages() {
    let gva: u64 = 0xFFFF_8000_0020_1234;
    let (l4, l3, l2, l1) = ((gva >> 39) & 0x1FF, (gva >> 30) & 0x1FF, (gva >> 21) & 0x1FF, (gva >> 12) & 0x1FF);
    let mut mem = Memory(HashMap::new());
    mem.0.insert(0x1000 + 8 * l4, 0x2000 | 3);
    mem.0.insert(0x2000 + 8 * l3, 0x3000 | 3);
    mem.0.insert(0x3000 + 8 * l2, 0x4000 | 3);
    mem.0.insert(0x4000 + 8 * l1, 0x0077_7000 | 3 | (1 << 63));
    let paging = Paging { cr0: PG | 1, cr3: 0x1000, cr4: PAE, efer: LMA | (1 << 8) };
    assert_eq!(translate(paging, gva, |a| mem.read(a)), Some(0x0077_7234), "NX and flag bits are not address bits");
    // The same directory entry as a 2 MiB page.
    mem.0.insert(0x3000 + 8 * l2, 0x0060_0000 | 0x83);
    assert_eq!(translate(paging, gva, |a| mem.read(a)), Some(0x0060_1234));
    // A 1 GiB page at the PDPT.
    mem.0.insert(0x2000 + 8 * l3, 0x4000_0000 | 0x83);
    assert_eq!(translate(paging, gva, |a| mem.read(a)), Some(0x4020_1234));
    // Not present, and unreadable tables.
    mem.0.insert(0x1000 + 8 * l4, 0x2000);
    assert_eq!(translate(paging, gva, |a| mem.read(a)), None);
    assert_eq!(translate(paging, gva, |_| None), None);
}

#[test]
fn pae_walks_the_pdpt_then_two_levels() {
    let gva: u64 = 0xC040_2010;
    let mut mem = Memory(HashMap::new());
    mem.0.insert(0x5000 + 8 * 3, 0x6000 | 1);
    mem.0.insert(0x6000 + 8 * ((gva >> 21) & 0x1FF), 0x7000 | 3);
    mem.0.insert(0x7000 + 8 * ((gva >> 12) & 0x1FF), 0x0012_3000 | 3);
    let paging = Paging { cr0: PG | 1, cr3: 0x5000, cr4: PAE, efer: 0 };
    assert_eq!(translate(paging, gva, |a| mem.read(a)), Some(0x0012_3010));
}

#[test]
fn legacy_32_bit_walks_two_levels_and_4m_pages_with_pse() {
    let gva: u64 = 0x0080_3004;
    let mut mem = Memory(HashMap::new());
    mem.0.insert(0x8000 + 4 * (gva >> 22), 0x9000 | 3);
    mem.0.insert(0x9000 + 4 * ((gva >> 12) & 0x3FF), 0x00AB_C000 | 3);
    let paging = Paging { cr0: PG | 1, cr3: 0x8000, cr4: 0, efer: 0 };
    assert_eq!(translate(paging, gva, |a| mem.read(a)), Some(0x00AB_C004));
    mem.0.insert(0x8000 + 4 * (gva >> 22), 0x0C00_0000 | 0x83);
    let pse = Paging { cr4: PSE, ..paging };
    assert_eq!(translate(pse, gva, |a| mem.read(a)), Some(0x0C00_3004));
}
