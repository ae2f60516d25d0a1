//! Guest-virtual to guest-physical translation through the guest's own
//! VS-stage page tables (Sv39, Sv48, Sv57), done in software so that a
//! wild pointer the guest passes can only make it fail, never trap the
//! host. Pure: the caller supplies the reads of guest memory.

/// `vsatp.MODE` values.
const MODE_BARE: u64 = 0;
const MODE_SV39: u64 = 8;
const MODE_SV48: u64 = 9;
const MODE_SV57: u64 = 10;

const PTE_V: u64 = 1 << 0;
const PTE_R: u64 = 1 << 1;
const PTE_W: u64 = 1 << 2;
const PTE_X: u64 = 1 << 3;
/// PTE bits 53..10: the physical page number.
const PTE_PPN: u64 = ((1 << 44) - 1) << 10;

/// Translates `va` with the tables `vsatp` names; `read` returns the
/// 64-bit word at a guest-physical address, or `None` if it is not RAM.
/// `None` for an address the tables do not map or a malformed entry.
pub fn translate(vsatp: u64, va: u64, read: impl Fn(u64) -> Option<u64>) -> Option<u64> {
    let levels = match vsatp >> 60 {
        MODE_BARE => return Some(va),
        MODE_SV39 => 3,
        MODE_SV48 => 4,
        MODE_SV57 => 5,
        _ => return None,
    };
    let va_bits = 12 + 9 * levels;
    // The address must be the sign extension of its low `va_bits` bits.
    let shift = 64 - va_bits;
    if ((va << shift) as i64 >> shift) as u64 != va {
        return None;
    }
    let mut table = (vsatp & ((1 << 44) - 1)) << 12;
    for level in (0..levels).rev() {
        let index = (va >> (12 + 9 * level)) & 0x1ff;
        let pte = read(table + index * 8)?;
        if pte & PTE_V == 0 || (pte & PTE_W != 0 && pte & PTE_R == 0) {
            return None;
        }
        let ppn = (pte & PTE_PPN) >> 10;
        if pte & (PTE_R | PTE_X) != 0 {
            // A leaf: at `level` > 0 a superpage whose low PPN bits are 0.
            let low_bits = 9 * level;
            if ppn & ((1 << low_bits) - 1) != 0 {
                return None;
            }
            let offset_bits = 12 + low_bits;
            return Some((ppn << 12) | (va & ((1 << offset_bits) - 1)));
        }
        table = ppn << 12;
    }
    None
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::collections::HashMap;

    use super::translate;

    const SV39: u64 = 8 << 60;
    const V: u64 = 1;
    const RWX: u64 = 0b1110;
    const RW: u64 = 0b0110;

    /// Guest memory of page-table words.
    struct Tables(HashMap<u64, u64>);

    impl Tables {
        fn read(&self, gpa: u64) -> Option<u64> {
            self.0.get(&gpa).copied()
        }
    }

    fn pte(pa: u64, flags: u64) -> u64 {
        ((pa >> 12) << 10) | flags | V
    }

    /// Sv39 at root 0x8010_0000: VA 0x4000_1234 -> 4 KiB page at
    /// 0x8050_0000; VA 0x8000_0000.. -> a 1 GiB superpage at 0x8000_0000.
    fn tables() -> Tables {
        let (root, l1, l0) = (0x8010_0000u64, 0x8010_1000u64, 0x8010_2000u64);
        let mut m = HashMap::new();
        m.insert(root + 8, pte(l1, 0)); // VPN2 = 1 (0x4000_0000)
        m.insert(l1, pte(l0, 0)); // VPN1 = 0
        m.insert(l0 + 8, pte(0x8050_0000, RW)); // VPN0 = 1
        m.insert(root + 2 * 8, pte(0x8000_0000, RWX)); // VPN2 = 2: 1 GiB leaf
        m.insert(root + 3 * 8, pte(0x8020_0000, RWX)); // misaligned 1 GiB leaf
        m.insert(root + 4 * 8, pte(0x8060_0000, 0b0100)); // W without R
        Tables(m)
    }

    #[test]
    fn bare_mode_is_the_identity() {
        assert_eq!(translate(0, 0x8020_0000, |_| None), Some(0x8020_0000));
    }

    #[test]
    fn sv39_pages_and_superpages() {
        let t = tables();
        let satp = SV39 | (0x8010_0000 >> 12);
        assert_eq!(translate(satp, 0x4000_1234, |a| t.read(a)), Some(0x8050_0234));
        assert_eq!(translate(satp, 0x8123_4567, |a| t.read(a)), Some(0x8123_4567), "1 GiB leaf keeps 30 offset bits");
    }

    #[test]
    fn unmapped_malformed_and_non_canonical_addresses_fail() {
        let t = tables();
        let satp = SV39 | (0x8010_0000 >> 12);
        assert_eq!(translate(satp, 0x4000_0000, |a| t.read(a)), None, "VPN0 = 0 has no entry");
        assert_eq!(translate(satp, 0x0000_1000, |a| t.read(a)), None, "VPN2 = 0 has no entry");
        assert_eq!(translate(satp, 0xc000_0000, |a| t.read(a)), None, "misaligned superpage");
        assert_eq!(translate(satp, 0x1_0000_0000, |a| t.read(a)), None, "W without R is reserved");
        assert_eq!(translate(satp, 0x40_0000_0000, |a| t.read(a)), None, "not sign-extended from bit 38");
        assert_eq!(translate(satp, 0xffff_ffc0_0000_0000, |_| None), None, "canonical, but the table is not RAM");
        assert_eq!(translate(3 << 60, 0x1000, |a| t.read(a)), None, "reserved mode");
    }
}
