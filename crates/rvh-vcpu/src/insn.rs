//! Decoding of the load or store instruction that caused a guest-page
//! fault on emulated MMIO: 32-bit `LB..LD`, `SB..SD` and the compressed
//! `C.LW/C.LD/C.SW/C.SD` and their stack-pointer forms.

/// `wfi`: the one instruction a virtual-instruction trap is taken for.
pub const WFI: u32 = 0x1050_0073;

/// One decoded MMIO access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Bytes accessed: 1, 2, 4 or 8.
    pub width: usize,
    /// Register loaded into, or stored from (x0..x31).
    pub reg: usize,
    /// Whether a load sign-extends.
    pub signed: bool,
    /// Length of the instruction: 2 or 4 bytes.
    pub len: usize,
    /// Whether it is a store.
    pub store: bool,
}

/// Decodes `insn` (its low 16 bits for a compressed instruction); `None`
/// if it is not a load or store this decoder knows.
pub fn decode(insn: u32) -> Option<Access> {
    if insn & 0b11 == 0b11 {
        decode_32(insn)
    } else {
        decode_16(insn as u16)
    }
}

fn decode_32(insn: u32) -> Option<Access> {
    let opcode = insn & 0x7f;
    let funct3 = (insn >> 12) & 0x7;
    let rd = ((insn >> 7) & 0x1f) as usize;
    let rs2 = ((insn >> 20) & 0x1f) as usize;
    match opcode {
        0x03 => {
            let (width, signed) = match funct3 {
                0 => (1, true),
                1 => (2, true),
                2 => (4, true),
                3 => (8, false),
                4 => (1, false),
                5 => (2, false),
                6 => (4, false),
                _ => return None,
            };
            Some(Access { width, reg: rd, signed, len: 4, store: false })
        }
        0x23 if funct3 <= 3 => Some(Access { width: 1 << funct3, reg: rs2, signed: false, len: 4, store: true }),
        _ => None,
    }
}

fn decode_16(insn: u16) -> Option<Access> {
    let quadrant = insn & 0b11;
    let funct3 = (insn >> 13) & 0x7;
    // x8..x15 in the 3-bit register fields.
    let rd_prime = (((insn >> 2) & 0x7) + 8) as usize;
    let rd_full = ((insn >> 7) & 0x1f) as usize;
    let rs2_full = ((insn >> 2) & 0x1f) as usize;
    let access = |width, reg, store| Some(Access { width, reg, signed: width == 4, len: 2, store });
    match (quadrant, funct3) {
        (0b00, 0b010) => access(4, rd_prime, false), // C.LW
        (0b00, 0b011) => access(8, rd_prime, false), // C.LD
        (0b00, 0b110) => access(4, rd_prime, true),  // C.SW
        (0b00, 0b111) => access(8, rd_prime, true),  // C.SD
        (0b10, 0b010) if rd_full != 0 => access(4, rd_full, false), // C.LWSP
        (0b10, 0b011) if rd_full != 0 => access(8, rd_full, false), // C.LDSP
        (0b10, 0b110) => access(4, rs2_full, true),  // C.SWSP
        (0b10, 0b111) => access(8, rs2_full, true),  // C.SDSP
        _ => None,
    }
    .map(|a| if a.store { Access { signed: false, ..a } } else { a })
}

/// Sign- or zero-extends a loaded value of `width` bytes to 64 bits.
pub fn extend(value: u64, access: &Access) -> u64 {
    if access.width >= 8 {
        return value;
    }
    let bits = access.width as u32 * 8;
    let value = value & ((1u64 << bits) - 1);
    if access.signed && value >> (bits - 1) != 0 { value | (u64::MAX << bits) } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(width: usize, reg: usize, signed: bool, len: usize, store: bool) -> Option<Access> {
        Some(Access { width, reg, signed, len, store })
    }

    #[test]
    fn full_size_loads_and_stores() {
        assert_eq!(decode(0x0005_2503), a(4, 10, true, 4, false)); // lw a0, 0(a0)
        assert_eq!(decode(0x0005_4503), a(1, 10, false, 4, false)); // lbu a0, 0(a0)
        assert_eq!(decode(0x0005_b583), a(8, 11, false, 4, false)); // ld a1, 0(a1)
        assert_eq!(decode(0x0005_6503), a(4, 10, false, 4, false)); // lwu a0, 0(a0)
        assert_eq!(decode(0x00b5_2023), a(4, 11, false, 4, true)); // sw a1, 0(a0)
        assert_eq!(decode(0x00b5_0023), a(1, 11, false, 4, true)); // sb a1, 0(a0)
        assert_eq!(decode(0x00b5_3023), a(8, 11, false, 4, true)); // sd a1, 0(a0)
        assert_eq!(decode(0x0005_7503), None, "funct3 7 is no load");
        assert_eq!(decode(0x00b5_4023), None, "funct3 4 is no store");
        assert_eq!(decode(0x0000_0073), None, "ecall");
    }

    #[test]
    fn compressed_loads_and_stores() {
        assert_eq!(decode(0x4108), a(4, 10, true, 2, false)); // c.lw a0, 0(a0)
        assert_eq!(decode(0x6108), a(8, 10, false, 2, false)); // c.ld a0, 0(a0)
        assert_eq!(decode(0xc10c), a(4, 11, false, 2, true)); // c.sw a1, 0(a0)
        assert_eq!(decode(0xe10c), a(8, 11, false, 2, true)); // c.sd a1, 0(a0)
        assert_eq!(decode(0x4502), a(4, 10, true, 2, false)); // c.lwsp a0, 0(sp)
        assert_eq!(decode(0xc02a), a(4, 10, false, 2, true)); // c.swsp a0, 0(sp)
        assert_eq!(decode(0x0001), None, "c.nop");
        assert_eq!(decode(0x4002), None, "c.lwsp into x0 is reserved");
    }

    #[test]
    fn wfi_is_no_access() {
        assert_eq!(decode(WFI), None);
    }

    #[test]
    fn loads_extend_as_the_instruction_says() {
        let lw = Access { width: 4, reg: 10, signed: true, len: 4, store: false };
        assert_eq!(extend(0x8000_0000, &lw), 0xffff_ffff_8000_0000);
        assert_eq!(extend(0x1_7fff_ffff, &lw), 0x7fff_ffff);
        let lbu = Access { width: 1, signed: false, ..lw };
        assert_eq!(extend(0x1ff, &lbu), 0xff);
        let ld = Access { width: 8, signed: false, ..lw };
        assert_eq!(extend(u64::MAX, &ld), u64::MAX);
    }
}
