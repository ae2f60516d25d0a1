//! Mode 39: a GICv3 guest that never writes GICR_WAKER. Its redistributor
//! stays as reset left it (ProcessorSleep set on QEMU and here), yet, as
//! under KVM and bare on QEMU, a self-SGI and the virtual timer's PPI are
//! delivered. Interrupts stay masked at the CPU: the mode polls the CPU
//! interface. Output: `ok N name` / `not ok N name: why`, then the tally.

use super::cpu;
use super::gic::{self, VTIMER_PPI};
use super::gicconf::wait_ack;
use crate::console::println;
use crate::suite::{Outcome, ensure};

/// The SGI the mode sends itself.
const SGI: u32 = 5;

/// A check's name and body.
type Check = (&'static str, fn() -> Outcome);

/// Runs the checks; the caller powers off.
pub fn run() {
    println!("probe: GICv3 guest that never writes GICR_WAKER");
    if !gic::is_v3() {
        println!("probe: no-waker needs a GICv3; nothing to do");
        return;
    }
    cpu::irq_disable();
    let checks: [Check; 3] = [
        ("no-waker-sgi", self_sgi),
        ("no-waker-timer-ppi", timer_ppi),
        ("no-waker-state", waker_state),
    ];
    let mut failed = 0;
    for (n, (name, check)) in checks.iter().enumerate() {
        match check() {
            Ok(()) => println!("ok {} {name}", n + 1),
            Err(why) => {
                failed += 1;
                println!("not ok {} {name}: {} (saw {:#x})", n + 1, why.0, why.1);
            }
        }
    }
    println!(
        "{} passed, {failed} failed, 0 skipped",
        checks.len() - failed
    );
}

/// An SGI to itself arrives.
fn self_sgi() -> Outcome {
    gic::init_cpu_no_waker(SGI);
    gic::send_self(SGI);
    let iar = wait_ack(SGI, cpu::counter_hz());
    ensure(
        iar.is_some(),
        "a self-SGI never arrived with the redistributor never woken",
        u64::from(gic::waker()),
    )?;
    gic::eoi(iar.unwrap_or(0));
    Ok(())
}

/// The virtual timer's PPI arrives 1 ms after it is armed.
fn timer_ppi() -> Outcome {
    let hz = cpu::counter_hz();
    gic::init_cpu_no_waker(VTIMER_PPI);
    cpu::timer_arm(cpu::now() + hz / 1000);
    let iar = wait_ack(VTIMER_PPI, hz);
    cpu::timer_disable();
    ensure(
        iar.is_some(),
        "the timer PPI never arrived with the redistributor never woken",
        u64::from(gic::waker()),
    )?;
    gic::eoi(iar.unwrap_or(0));
    Ok(())
}

/// GICR_WAKER, still untouched: ChildrenAsleep (bit 2) equals
/// ProcessorSleep (bit 1), whatever the reset value (KVM reads zero,
/// QEMU and this hypervisor both bits set).
fn waker_state() -> Outcome {
    let waker = gic::waker();
    println!("probe: GICR_WAKER reads {waker:#x}");
    ensure(
        (waker >> 2) & 1 == (waker >> 1) & 1,
        "ChildrenAsleep differs from ProcessorSleep",
        u64::from(waker),
    )
}
