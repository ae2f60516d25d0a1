//! Decoding of the A64 load or store that faulted on emulated memory when
//! the syndrome does not describe it (ESR ISV = 0): single-register
//! LDR/STR of every width, signed loads, unscaled, register-offset, pre-
//! and post-indexed forms. Anything else (pairs, exclusives, atomics,
//! SIMD/FP) is refused by name: the VM is stopped, never guessed at.
//! Pure logic, host-tested.

/// A decoded single-register load or store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadStore {
    /// A load (else a store).
    pub load: bool,
    /// Access size in bytes.
    pub width: u8,
    /// The transferred register (31: XZR/WZR).
    pub rt: usize,
    /// A load sign-extends.
    pub signed: bool,
    /// The register is 64 bits wide (a load into Wt clears the upper half).
    pub reg64: bool,
    /// Base register (31: SP) and the offset added to it afterwards, for
    /// the pre- and post-indexed forms.
    pub writeback: Option<(usize, i64)>,
}

/// Why an instruction cannot be emulated: the name of what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

fn bits(insn: u32, lo: u32, len: u32) -> u32 {
    (insn >> lo) & ((1 << len) - 1)
}

fn sign_extend(value: u32, len: u32) -> i64 {
    let shift = 64 - len;
    ((u64::from(value) << shift) as i64) >> shift
}

/// Decodes the instruction word `insn`.
pub fn decode(insn: u32) -> Result<LoadStore, Unsupported> {
    // Loads and stores: op0 bit 27 = 1, bit 25 = 0.
    if bits(insn, 27, 1) != 1 || bits(insn, 25, 1) != 0 {
        return Err(Unsupported("not a load or store"));
    }
    let family = bits(insn, 27, 3);
    if bits(insn, 26, 1) == 1 {
        return Err(Unsupported("SIMD/FP load or store"));
    }
    match family {
        0b101 => return Err(Unsupported("load/store pair (LDP/STP)")),
        0b001 => return Err(Unsupported("exclusive or ordered load/store")),
        0b011 => return Err(Unsupported("literal load")),
        0b111 => {}
        _ => return Err(Unsupported("unallocated load/store")),
    }
    let size = bits(insn, 30, 2);
    let opc = bits(insn, 22, 2);
    let rt = bits(insn, 0, 5) as usize;
    let rn = bits(insn, 5, 5) as usize;
    let writeback = if bits(insn, 24, 1) == 1 {
        // Unsigned immediate offset.
        None
    } else if bits(insn, 21, 1) == 1 {
        match bits(insn, 10, 2) {
            0b10 => None, // register offset
            _ => return Err(Unsupported("atomic memory operation")),
        }
    } else {
        match bits(insn, 10, 2) {
            0b00 => None, // unscaled (LDUR/STUR)
            0b10 => return Err(Unsupported("unprivileged load/store (LDTR/STTR)")),
            _ => Some((rn, sign_extend(bits(insn, 12, 9), 9))), // post (01) / pre (11)
        }
    };
    let width = 1u8 << size;
    let (load, signed, reg64) = match (opc, size) {
        (0b00, _) => (false, false, size == 3),
        (0b01, _) => (true, false, size == 3),
        (0b10, 0..=2) => (true, true, true),
        (0b11, 0..=1) => (true, true, false),
        (0b10, _) => return Err(Unsupported("prefetch (PRFM)")),
        _ => return Err(Unsupported("unallocated load/store")),
    };
    if load && writeback.is_some() && rn == rt && rn != 31 {
        return Err(Unsupported("load with writeback to its own base register"));
    }
    Ok(LoadStore { load, width, rt, signed, reg64, writeback })
}
