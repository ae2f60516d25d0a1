//! Check 10: the virtual GIC as the GIC architecture says, where an
//! emulation most easily cuts corners: the distributor's ID register, an
//! SGI that arrives while the same one is active, pending and active state
//! through GICD_I[SC]PENDR / ISACTIVER, the sender of an SGI, and a
//! level-triggered timer interrupt that goes away with its line.
//! Interrupts stay masked at the CPU: the check polls the CPU interface.

use super::gic::{self, gicd, SPURIOUS};
use super::{calls, cpu};
use crate::suite::{Outcome, ensure, wait_for};

/// The CPU_ON context that makes the second CPU send [`SGI_BACK`] to CPU 0.
pub const SGI_BACK_CONTEXT: u64 = 0x5ec0_5610;
const SGI_SELF: u32 = 3;
const SGI_BACK: u32 = 4;
/// A PPI nothing on the machine raises.
const SPARE_PPI: u32 = 21;

/// Acknowledges interrupt `id` within `ticks`; completes and skips others.
pub(super) fn wait_ack(id: u32, ticks: u64) -> Option<u32> {
    let mut found = None;
    wait_for(ticks, || {
        let iar = gic::ack();
        match iar & 0x3ff {
            SPURIOUS => false,
            got if got == id => {
                found = Some(iar);
                true
            }
            _ => {
                gic::eoi(iar);
                false
            }
        }
    });
    found
}

/// The check (the same bare and under the hypervisor).
pub fn check() -> Outcome {
    let hz = cpu::counter_hz();
    cpu::irq_disable();
    let pidr2 = gic::pidr2();
    let version = if gic::is_v3() { 3 } else { 2 };
    ensure((pidr2 >> 4) & 0xf == version, "the distributor's PIDR2 does not report the GIC's version", u64::from(pidr2))?;

    // An SGI raised again while active becomes pending and active.
    gic::init_cpu(SGI_SELF);
    gic::send_self(SGI_SELF);
    let first = wait_ack(SGI_SELF, hz);
    ensure(first.is_some(), "a self-SGI never arrived", 0)?;
    gic::send_self(SGI_SELF);
    gic::eoi(first.unwrap_or(0));
    let second = wait_ack(SGI_SELF, hz);
    ensure(second.is_some(), "an SGI raised while the same one was active was lost", 0)?;
    gic::eoi(second.unwrap_or(0));

    pending_and_active_state(hz)?;

    // An SGI names its sender.
    gic::init_cpu(SGI_BACK);
    let started = super::cpu_on(1, super::secondary_entry(), SGI_BACK_CONTEXT);
    ensure(started.is_ok(), "starting the second CPU failed", started.err().unwrap_or(0))?;
    let back = wait_ack(SGI_BACK, hz);
    ensure(back.is_some(), "the second CPU's SGI never arrived", 0)?;
    let iar = back.unwrap_or(0);
    gic::eoi(iar);
    // A GICv2 names the sender; a GICv3 does not.
    let sender_ok = gic::is_v3() || (iar >> 10) & 7 == 1;
    ensure(sender_ok, "an SGI from CPU 1 did not name CPU 1 as its sender", u64::from(iar))?;
    ensure(wait_for(hz, || super::cpu_is_off(1)), "the second CPU did not turn off", 0)?;

    // A timer interrupt whose timer is turned off before it is taken is gone.
    super::timer_irq_enable_this_cpu();
    cpu::timer_arm(cpu::now() + hz / 1000);
    let pending = wait_for(hz, || gic::highest_pending() == gic::VTIMER_PPI);
    ensure(pending, "the timer interrupt never became pending", 0)?;
    cpu::timer_disable();
    // Another interrupt comes in (the hypervisor looks at the timer lines
    // when it injects); the timer's must not be delivered any more.
    gic::send_self(SGI_SELF);
    let mut stale = false;
    let mut sgi = false;
    wait_for(hz, || {
        let iar = gic::ack();
        match iar & 0x3ff {
            SPURIOUS => return sgi,
            id if id == gic::VTIMER_PPI => stale = true,
            id if id == SGI_SELF => sgi = true,
            _ => {}
        }
        gic::eoi(iar);
        false
    });
    ensure(sgi, "a self-SGI after the timer was disabled never arrived", 0)?;
    ensure(!stale, "a disabled timer's interrupt was still delivered", u64::from(gic::VTIMER_PPI))
}

/// The second CPU's part: send [`SGI_BACK`] to CPU 0, turn off.
pub fn send_back() -> ! {
    cpu::mmu_enable(false);
    gic::send_sgi(SGI_BACK, 1);
    calls::hvc(calls::fid::CPU_OFF, 0, 0, 0);
    loop {
        cpu::wfi();
    }
}

/// I[SC]PENDR0 (the distributor's on a GICv2, the redistributor's on a
/// GICv3) makes a disabled PPI pending and shows it, ICPENDR takes it
/// back; once enabled and pending again it is delivered, and ISACTIVER shows
/// it active until it is completed.
fn pending_and_active_state(hz: u64) -> Outcome {
    let bit = 1 << SPARE_PPI;
    gic::private_write(gicd::ICENABLER, bit);
    gic::private_write(gicd::ISPENDR, bit);
    let pending = gic::private_read(gicd::ISPENDR);
    ensure(pending & bit != 0, "GICD_ISPENDR does not show a pending, disabled PPI", u64::from(pending))?;
    gic::private_write(gicd::ICPENDR, bit);
    let cleared = gic::private_read(gicd::ISPENDR);
    ensure(cleared & bit == 0, "GICD_ICPENDR did not clear the pending PPI", u64::from(cleared))?;
    gic::init_cpu(SPARE_PPI);
    ensure(wait_ack(SPARE_PPI, hz / 100).is_none(), "a PPI whose pending state was cleared was delivered", 0)?;
    gic::private_write(gicd::ISPENDR, bit);
    let taken = wait_ack(SPARE_PPI, hz);
    ensure(taken.is_some(), "a PPI made pending through GICD_ISPENDR was not delivered", 0)?;
    let active = gic::private_read(gicd::ISACTIVER);
    gic::eoi(taken.unwrap_or(0));
    ensure(active & bit != 0, "GICD_ISACTIVER does not show the acknowledged PPI", u64::from(active))?;
    let done = gic::private_read(gicd::ISACTIVER);
    gic::private_write(gicd::ICENABLER, bit);
    ensure(done & bit == 0, "GICD_ISACTIVER still shows the PPI after its EOI", u64::from(done))
}
