//! The host interrupt controller on x86_64: device interrupts are not
//! forwarded to guests yet; a CPU is kicked (its vCPU made to exit and
//! see its queue) with a fixed IPI from the local APIC.

use core::sync::atomic::{AtomicBool, Ordering};

use super::msr;
use crate::hal::ForwardError;

/// The kick's vector: above the I/O APIC's range, beside the runtime's
/// own APIC vectors (timer 0xF0, spurious 0xF1, error 0xF2, IPI 0xF3).
const KICK_VECTOR: usize = 0xF4;

const MSR_APIC_BASE: u32 = 0x1B;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const MSR_X2APIC_ICR: u32 = 0x830;
/// The xAPIC's registers: ICR low and high.
const XAPIC_BASE: usize = 0xFEE0_0000;
const XAPIC_ICR_LOW: usize = 0x300;
const XAPIC_ICR_HIGH: usize = 0x310;
/// ICR: fixed delivery, physical destination, level assert.
const ICR_ASSERT: u32 = 1 << 14;

/// Whether the host's local APIC runs in x2APIC mode (read at [`init`]).
static X2APIC: AtomicBool = AtomicBool::new(false);

/// Installs the kick's (empty) handler: the interrupt itself ends the
/// guest's run on the kicked CPU; notes the APIC's mode.
pub fn init() {
    // SAFETY: IA32_APIC_BASE exists on every x86-64 CPU; reading it has
    // no side effects.
    let base = unsafe { msr::read(MSR_APIC_BASE) };
    X2APIC.store(base & APIC_BASE_X2APIC != 0, Ordering::Relaxed);
    if !axhal::irq::register(KICK_VECTOR, || {}) {
        warn!("the CPU kick vector {KICK_VECTOR:#x} is taken: vCPUs see queued interrupts at their next exit only");
    }
}

/// Interrupts physical CPU `pcpu` (its APIC id) with the kick vector.
pub fn kick_cpu(pcpu: usize) {
    let Ok(apic_id) = u32::try_from(pcpu) else { return };
    let low = KICK_VECTOR as u32 | ICR_ASSERT;
    let irqs = axhal::asm::irqs_enabled();
    axhal::asm::disable_irqs();
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: the x2APIC's ICR exists in x2APIC mode; a fixed IPI to
        // another CPU with a vector whose handler does nothing.
        unsafe { msr::write(MSR_X2APIC_ICR, (u64::from(apic_id) << 32) | u64::from(low)) };
    } else {
        let apic = axhal::mem::phys_to_virt(XAPIC_BASE.into()).as_usize();
        // SAFETY: the xAPIC's registers are mapped at their physical
        // address's linear-map alias (the runtime uses them so); with
        // interrupts off nothing else writes the ICR in between.
        unsafe {
            ((apic + XAPIC_ICR_HIGH) as *mut u32).write_volatile(apic_id << 24);
            ((apic + XAPIC_ICR_LOW) as *mut u32).write_volatile(low);
        }
    }
    if irqs {
        axhal::asm::enable_irqs();
    }
}

/// Device interrupts are not forwarded here yet.
pub fn forward(_vm: usize, _irq: usize) -> Result<(), ForwardError> {
    Err(ForwardError::Unsupported)
}
