//! A virtual PLIC (RISC-V Platform-Level Interrupt Controller) as the
//! guest sees it: priorities, pending bits, per-context enables and
//! thresholds, claim and complete. Contexts follow QEMU virt's numbering:
//! context `2h + 1` is hart `h`'s supervisor context (even ones, machine
//! mode, exist but never interrupt a guest).
//!
//! Pure register logic: the hypervisor marks device interrupts pending,
//! asks which harts have an interrupt to take (their VSEIP), and learns
//! from [`Effect::Completed`] when to let the physical interrupt in again.
//! Undefined accesses read as zero and are ignored; they never fail.
#![no_std]
#![deny(unsafe_code)]

/// Interrupt sources modelled: 1..=127 (0 means "none").
pub const SOURCES: usize = 128;
/// Harts (so 2 × HARTS contexts) one controller serves.
pub const MAX_HARTS: usize = 8;
const CONTEXTS: usize = 2 * MAX_HARTS;
const WORDS: usize = SOURCES / 32;

/// Register offsets.
pub mod offset {
    /// Source priorities, one word per source.
    pub const PRIORITY: usize = 0x0;
    /// Pending bits.
    pub const PENDING: usize = 0x1000;
    /// Enable bits, 0x80 bytes per context.
    pub const ENABLE: usize = 0x2000;
    /// Threshold and claim/complete, 0x1000 bytes per context.
    pub const CONTEXT: usize = 0x20_0000;
    /// Size of the register frame for `MAX_HARTS` harts.
    pub const FRAME_SIZE: usize = CONTEXT + 0x1000 * super::CONTEXTS;
}

/// Priorities are 3 bits wide (as on QEMU virt).
const PRIORITY_MASK: u32 = 7;

/// What a write did that the hypervisor must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the register state.
    None,
    /// The guest completed this source: the device's interrupt may come in again.
    Completed(u32),
}

/// The PLIC of one VM.
pub struct Plic {
    harts: usize,
    priority: [u32; SOURCES],
    pending: [u32; WORDS],
    /// Claimed and not yet completed.
    active: [u32; WORDS],
    enable: [[u32; WORDS]; CONTEXTS],
    threshold: [u32; CONTEXTS],
}

fn bit(words: &[u32; WORDS], source: usize) -> bool {
    words[source / 32] & (1 << (source % 32)) != 0
}

fn set_bit(words: &mut [u32; WORDS], source: usize, on: bool) {
    if on {
        words[source / 32] |= 1 << (source % 32);
    } else {
        words[source / 32] &= !(1 << (source % 32));
    }
}

impl Plic {
    /// A controller for `harts` harts (clamped to 1..=MAX_HARTS), all off.
    pub fn new(harts: usize) -> Self {
        Self {
            harts: harts.clamp(1, MAX_HARTS),
            priority: [0; SOURCES],
            pending: [0; WORDS],
            active: [0; WORDS],
            enable: [[0; WORDS]; CONTEXTS],
            threshold: [0; CONTEXTS],
        }
    }

    /// The supervisor context of `hart`.
    pub fn context_of(hart: usize) -> usize {
        2 * hart + 1
    }

    fn context_exists(&self, context: usize) -> bool {
        context < 2 * self.harts
    }

    /// A device raised `source`; false if there is no such source.
    pub fn raise(&mut self, source: usize) -> bool {
        if !(1..SOURCES).contains(&source) {
            return false;
        }
        set_bit(&mut self.pending, source, true);
        true
    }

    /// The source `context` would claim now, if any: the highest
    /// priority above the threshold, the lowest id among equals.
    fn best(&self, context: usize) -> Option<usize> {
        if !self.context_exists(context) {
            return None;
        }
        let mut best: Option<usize> = None;
        for word in 0..WORDS {
            let mut candidates = self.pending[word] & self.enable[context][word] & !self.active[word];
            while candidates != 0 {
                let source = word * 32 + candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let priority = self.priority[source];
                if priority > self.threshold[context] && best.is_none_or(|b| priority > self.priority[b]) {
                    best = Some(source);
                }
            }
        }
        best
    }

    /// Whether `hart`'s supervisor context has an interrupt to take (the
    /// hart's external-interrupt line).
    pub fn line(&self, hart: usize) -> bool {
        self.best(Self::context_of(hart)).is_some()
    }

    /// A guest read of a 32-bit register at `offset`.
    pub fn read(&mut self, offset: usize) -> u32 {
        match self.decode(offset) {
            Some(Reg::Priority(s)) => self.priority[s],
            Some(Reg::Pending(w)) => self.pending[w],
            Some(Reg::Enable(c, w)) => self.enable[c][w],
            Some(Reg::Threshold(c)) => self.threshold[c],
            Some(Reg::Claim(c)) => match self.best(c) {
                Some(s) => {
                    set_bit(&mut self.pending, s, false);
                    set_bit(&mut self.active, s, true);
                    s as u32
                }
                None => 0,
            },
            None => 0,
        }
    }

    /// A guest write of a 32-bit register at `offset`.
    pub fn write(&mut self, offset: usize, value: u32) -> Effect {
        match self.decode(offset) {
            Some(Reg::Priority(s)) if s != 0 => self.priority[s] = value & PRIORITY_MASK,
            Some(Reg::Enable(c, w)) => self.enable[c][w] = if w == 0 { value & !1 } else { value },
            Some(Reg::Threshold(c)) => self.threshold[c] = value & PRIORITY_MASK,
            Some(Reg::Claim(c)) => {
                let s = value as usize;
                if (1..SOURCES).contains(&s) && bit(&self.active, s) && bit(&self.enable[c], s) {
                    set_bit(&mut self.active, s, false);
                    return Effect::Completed(value);
                }
            }
            // Pending bits are read-only; source 0 does not exist.
            _ => {}
        }
        Effect::None
    }

    fn decode(&self, offset: usize) -> Option<Reg> {
        use offset::*;
        if !offset.is_multiple_of(4) {
            return None;
        }
        let reg = match offset {
            o if o < PENDING => Reg::Priority(o / 4),
            o if o < PENDING + 4 * WORDS => Reg::Pending((o - PENDING) / 4),
            o if (ENABLE..CONTEXT).contains(&o) => {
                let (c, w) = ((o - ENABLE) / 0x80, (o - ENABLE) % 0x80 / 4);
                if w >= WORDS {
                    return None;
                }
                Reg::Enable(c, w)
            }
            o if o >= CONTEXT => match (o - CONTEXT) % 0x1000 {
                0 => Reg::Threshold((o - CONTEXT) / 0x1000),
                4 => Reg::Claim((o - CONTEXT) / 0x1000),
                _ => return None,
            },
            _ => return None,
        };
        let context = match reg {
            Reg::Enable(c, _) | Reg::Threshold(c) | Reg::Claim(c) => Some(c),
            _ => None,
        };
        match (reg, context) {
            (Reg::Priority(s), _) if s >= SOURCES => None,
            (_, Some(c)) if !self.context_exists(c) => None,
            _ => Some(reg),
        }
    }
}

#[derive(Clone, Copy)]
enum Reg {
    Priority(usize),
    Pending(usize),
    Enable(usize, usize),
    Threshold(usize),
    Claim(usize),
}

#[cfg(test)]
mod tests;
