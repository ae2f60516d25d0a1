//! Decoding of the guest instruction behind a nested page fault on
//! emulated memory (a local APIC, a device model), for CPUs that give no
//! decode assist (QEMU's TCG): the bytes at the guest's RIP, fetched by
//! the hypervisor, become the access and the instruction's length.
//!
//! The MOV forms compilers use for device registers are decoded, in
//! 32-bit and 64-bit code: 88/89/8A/8B (register), C6/C7 (immediate),
//! 0F B6/B7 (zero-extending loads), with operand-size, REX and segment
//! prefixes. Anything else is `None`: the VM is stopped with a line, never
//! guessed at.

/// Where a store's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A general-purpose register (0 RAX .. 15 R15); for a byte store
    /// without REX, 4-7 name AH, CH, DH, BH (see [`Access::high_byte`]).
    Register(u8),
    /// An immediate, already sign-extended to the width.
    Immediate(u64),
}

/// What the instruction does to memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// A store (else a load into `register`).
    pub write: bool,
    /// Bytes accessed: 1, 2, 4 or 8.
    pub width: u8,
    /// For a store, the value's source.
    pub source: Source,
    /// For a load, the destination register.
    pub register: u8,
    /// A load zero-extends into a 32-bit register (MOVZX; a 32-bit load
    /// clears the upper half too, as the CPU does).
    pub zero_extend_to: u8,
    /// The register is AH/CH/DH/BH (byte forms without REX, 4-7).
    pub high_byte: bool,
    /// The instruction's length in bytes.
    pub len: u8,
}

/// The CPU mode the instruction runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 32-bit protected mode (default operand and address size 32).
    Protected32,
    /// 64-bit mode (REX prefixes; default operand size 32).
    Long64,
}

/// The length of ModRM + SIB + displacement starting at `bytes[0]` (the
/// ModRM byte), for 32/64-bit addressing.
fn modrm_len(bytes: &[u8]) -> Option<usize> {
    let modrm = *bytes.first()?;
    let (mode, rm) = (modrm >> 6, modrm & 7);
    if mode == 3 {
        // A register operand: not a memory access.
        return None;
    }
    let mut len = 1;
    let mut disp = match mode {
        1 => 1,
        2 => 4,
        _ => 0,
    };
    if rm == 4 {
        let sib = *bytes.get(1)?;
        len += 1;
        if mode == 0 && sib & 7 == 5 {
            disp = 4;
        }
    } else if mode == 0 && rm == 5 {
        // disp32 (RIP-relative in 64-bit mode).
        disp = 4;
    }
    Some(len + disp)
}

fn immediate(bytes: &[u8], width: u8) -> Option<u64> {
    let take = usize::from(width.min(4));
    let raw = bytes.get(..take)?;
    let mut buf = [0u8; 8];
    buf[..take].copy_from_slice(raw);
    let value = u64::from_le_bytes(buf);
    Some(match width {
        1 => value & 0xff,
        2 => value & 0xffff,
        4 => value & 0xffff_ffff,
        // imm32 sign-extended to 64 bits.
        _ => value as u32 as i32 as i64 as u64,
    })
}

/// Decodes the instruction at the start of `bytes` (up to 15 of them).
pub fn decode(bytes: &[u8], mode: Mode) -> Option<Access> {
    let mut at = 0;
    let mut operand16 = false;
    let mut rex = 0u8;
    loop {
        match *bytes.get(at)? {
            0x66 => operand16 = true,
            0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 => {}
            b @ 0x40..=0x4F if mode == Mode::Long64 => {
                rex = b;
                at += 1;
                break;
            }
            _ => break,
        }
        at += 1;
        if at >= 15 {
            return None;
        }
    }
    let rex_w = rex & 8 != 0;
    let reg_ext = if rex & 4 != 0 { 8 } else { 0 };
    let wide = if rex_w { 8 } else if operand16 { 2 } else { 4 };
    let opcode = *bytes.get(at)?;
    at += 1;
    let (write, width, form) = match opcode {
        0x88 => (true, 1, Form::Reg),
        0x89 => (true, wide, Form::Reg),
        0x8A => (false, 1, Form::Reg),
        0x8B => (false, wide, Form::Reg),
        0xC6 => (true, 1, Form::Imm),
        0xC7 => (true, wide, Form::Imm),
        0x0F => {
            let second = *bytes.get(at)?;
            at += 1;
            match second {
                0xB6 => (false, 1, Form::ZeroExtend),
                0xB7 => (false, 2, Form::ZeroExtend),
                _ => return None,
            }
        }
        _ => return None,
    };
    let modrm = *bytes.get(at)?;
    let reg = ((modrm >> 3) & 7) + reg_ext;
    at += modrm_len(bytes.get(at..)?)?;
    if at > bytes.len() {
        // The displacement was cut off.
        return None;
    }
    let high_byte = width == 1 && rex == 0 && form != Form::ZeroExtend && (4..8).contains(&reg);
    let (source, register, zero_extend_to) = match form {
        Form::Reg if write => (Source::Register(reg), 0, 0),
        Form::Reg => (Source::Register(0), reg, if width == 4 { 8 } else { 0 }),
        Form::Imm => {
            // C6/C7 take /0 only.
            if (modrm >> 3) & 7 != 0 {
                return None;
            }
            let value = immediate(bytes.get(at..)?, width)?;
            at += usize::from(width.min(4));
            (Source::Immediate(value), 0, 0)
        }
        Form::ZeroExtend => (Source::Register(0), reg, if rex_w { 8 } else if operand16 { 2 } else { 4 }),
    };
    if at > 15 {
        return None;
    }
    Some(Access { write, width, source, register, zero_extend_to, high_byte, len: at as u8 })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Reg,
    Imm,
    ZeroExtend,
}

/// The length of the instruction at the start of `bytes` if it is
/// `opcode` (INVD 0F 08, WBINVD 0F 09, WBNOINVD F3 0F 09, ICEBP F1)
/// after any legacy prefixes and, in 64-bit mode, a REX prefix; `None`
/// if it is not (or is cut off, or longer than 15 bytes).
pub fn length_of(bytes: &[u8], mode: Mode, opcode: &[u8]) -> Option<u8> {
    let mut at = 0;
    loop {
        match *bytes.get(at)? {
            0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0x66 | 0x67 | 0xF0 | 0xF2 | 0xF3 => at += 1,
            0x40..=0x4F if mode == Mode::Long64 => {
                at += 1;
                break;
            }
            _ => break,
        }
    }
    let end = at + opcode.len();
    (bytes.get(at..end)? == opcode && end <= 15).then_some(end as u8)
}
