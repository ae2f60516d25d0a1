//! The pending and active registers of a virtual GIC (I[SC]PENDR,
//! I[SC]ACTIVER), which the register models leave to us: that state lives
//! in the loaded vCPU's list registers and in its interrupt queue. Shared
//! by the GICv2 and GICv3 models.

use core::ops::Range;

use super::irq;
use crate::hal::{current, upcalls};

/// Which of the four registers an access names.
#[derive(Clone, Copy)]
pub enum StateReg {
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
}

/// The state register and word a 32-bit access at `offset` (from the
/// start of the frame holding them) names.
pub fn state_reg(offset: usize, width: u8) -> Option<(StateReg, usize)> {
    let word = (offset & 0x7f) / 4;
    let reg = match offset {
        _ if width != 4 || !offset.is_multiple_of(4) => return None,
        0x200..0x280 => StateReg::SetPending,
        0x280..0x300 => StateReg::ClearPending,
        0x300..0x380 => StateReg::SetActive,
        0x380..0x400 => StateReg::ClearActive,
        _ => return None,
    };
    Some((reg, word))
}

/// A register word as the vCPU loaded here sees it: its list registers,
/// and for pending also what is queued for it (each interrupt id under
/// the queue vectors `vectors` gives).
pub fn read(reg: StateReg, word: usize, vectors: impl Fn(usize) -> Range<usize>) -> u32 {
    let (pending, active) = irq::lr_states(word);
    match reg {
        StateReg::SetActive | StateReg::ClearActive => active,
        StateReg::SetPending | StateReg::ClearPending => (0..32)
            .filter(|bit| vectors(32 * word + bit).any(current::queued_here))
            .fold(pending, |bits, bit| bits | (1 << bit)),
    }
}

/// What the GIC model decides for a state write by vCPU `writer` of VM
/// `vm`.
pub struct StateWrite<V, P, T> {
    /// The VM.
    pub vm: usize,
    /// The writing vCPU (the one loaded here).
    pub writer: usize,
    /// Interrupt ids the GIC has.
    pub irqs: usize,
    /// Queue vectors an interrupt id sits under.
    pub vectors: V,
    /// Its priority for the writing vCPU.
    pub priority: P,
    /// The vCPU a set-pending write makes it pending for, if any.
    pub target: T,
}

/// Makes `intid` pending for `target`: queued here if that is the writer,
/// else on the target vCPU.
fn set_pending(vm: usize, writer: usize, target: usize, intid: usize) {
    if target == writer {
        current::queue_here(intid);
    } else if let Some(vmm) = upcalls::services() {
        vmm.queue_interrupt(vm, target, intid);
    }
}

/// A guest write of `value` to word `word` of `reg`.
pub fn write<V, P, T>(reg: StateReg, word: usize, value: u32, model: StateWrite<V, P, T>)
where
    V: Fn(usize) -> Range<usize>,
    P: Fn(usize) -> u8,
    T: Fn(usize) -> Option<usize>,
{
    for bit in (0..32).filter(|bit| value & (1 << bit) != 0) {
        let intid = 32 * word + bit;
        if intid >= model.irqs {
            break;
        }
        match reg {
            StateReg::SetPending => {
                if let Some(target) = (model.target)(intid) {
                    set_pending(model.vm, model.writer, target, intid);
                }
            }
            StateReg::ClearPending => {
                irq::clear_pending(intid);
                (model.vectors)(intid).for_each(current::unqueue_here);
            }
            StateReg::SetActive => irq::set_active(intid, (model.priority)(intid)),
            StateReg::ClearActive => irq::clear_active(intid),
        }
    }
}
