//! The conformance checks. Each prints `ok N name`, `not ok N name: why` or
//! `ok N name # skip: why`; the run ends with `N passed, N failed, N skipped`.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch;
use crate::console::println;
use crate::irq::{DEVICE_IRQS, IPIS, LAST_DEVICE, LAST_OTHER, OTHER_IRQS, TIMER_ENTRY, TIMER_IRQS};

/// Why a check failed: what was wrong and the value seen.
pub struct Fail(pub &'static str, pub u64);

/// The result of one check.
pub type Outcome = Result<(), Fail>;

/// Fails with `what` (and the value seen) unless `cond` holds.
pub fn ensure(cond: bool, what: &'static str, seen: u64) -> Outcome {
    if cond { Ok(()) } else { Err(Fail(what, seen)) }
}

struct Tally {
    passed: u32,
    failed: u32,
    skipped: u32,
}

impl Tally {
    fn record(&mut self, n: u32, name: &str, outcome: Result<Outcome, &str>) {
        match outcome {
            Ok(Ok(())) => {
                self.passed += 1;
                println!("ok {n} {name}");
            }
            Ok(Err(Fail(what, seen))) => {
                self.failed += 1;
                println!("not ok {n} {name}: {what} (saw {seen:#x})");
            }
            Err(why) => {
                self.skipped += 1;
                println!("ok {n} {name} # skip: {why}");
            }
        }
    }
}

/// Runs every check; `under_hv` enables those that need the hypervisor.
pub fn run(under_hv: bool) {
    let mut tally = Tally { passed: 0, failed: 0, skipped: 0 };
    let hz = arch::counter_hz();
    let needs_hv = |check: fn() -> Outcome| if under_hv { Ok(check()) } else { Err("needs the hypervisor") };
    tally.record(1, "hypercall", needs_hv(hypercall));
    tally.record(2, "emulated-mmio", arch::emulated_mmio_check().ok_or("no emulated device on this architecture yet"));
    tally.record(3, "virtual-timer-interrupt", Ok(timer_interrupt(hz)));
    tally.record(4, "wfi-wakeup", Ok(wfi_wakeup(hz)));
    tally.record(5, "smp-cpu-on-ipi", Ok(smp(hz)));
    tally.record(6, arch::FIRMWARE_CHECK, Ok(arch::firmware_check()));
    tally.record(9, "device-interrupt", Ok(device_interrupt(hz)));
    tally.record(10, "gic-conformance", arch::gic_conformance_check().ok_or("no GIC on this architecture"));
    tally.record(11, "sbi-conformance", arch::sbi_conformance_check().ok_or("no SBI on this architecture"));
    tally.record(12, "physical-timer-cyclic", arch::physical_timer_check().ok_or("no EL1 physical timer on this architecture"));
    // Check 7 (isolation) runs as its own VM; check 8 is this power-off,
    // which the host side sees.
    println!("# 8 system-off: requesting power-off now");
    println!("{} passed, {} failed, {} skipped", tally.passed, tally.failed, tally.skipped);
}

const HV_NULL: u64 = 0;
const HV_VERSION: u64 = 1;
const HV_ADD: u64 = 2;
const HV_UNKNOWN: u64 = 0xff;
/// The doorbell of a shared-memory channel: refused to a VM without one.
const HV_DOORBELL: u64 = 4;
/// The hypervisor ABI version the probe is written against.
const HV_ABI_VERSION: u64 = 1;

fn hypercall() -> Outcome {
    let version = arch::hv_call(HV_VERSION, [0; 3]).unwrap_or_else(|e| e);
    ensure(version == HV_ABI_VERSION, "version call returned the wrong ABI version", version)?;
    let null = arch::hv_call(HV_NULL, [7; 3]);
    ensure(null == Ok(0), "null call did not return 0", null.unwrap_or_else(|e| e))?;
    let sum = arch::hv_call(HV_ADD, [0x1000, 0x200, 0x30]);
    ensure(sum == Ok(0x1230), "add call returned the wrong sum", sum.unwrap_or_else(|e| e))?;
    let wrapped = arch::hv_call(HV_ADD, [u64::MAX, 2, 0]);
    ensure(wrapped == Ok(1), "add call did not wrap", wrapped.unwrap_or_else(|e| e))?;
    let doorbell = arch::hv_call(HV_DOORBELL, [0; 3]);
    ensure(doorbell.is_err(), "doorbell of a VM without channels not refused", doorbell.unwrap_or_else(|e| e))?;
    let unknown = arch::hv_call(HV_UNKNOWN, [0; 3]);
    ensure(unknown.is_err(), "unknown call not refused as not supported", unknown.unwrap_or_else(|e| e))
}

/// Waits until `done` or until `ticks` counter ticks have passed.
pub fn wait_for(ticks: u64, mut done: impl FnMut() -> bool) -> bool {
    let start = arch::now();
    while !done() {
        if arch::now().wrapping_sub(start) > ticks {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

fn timer_interrupt(hz: u64) -> Outcome {
    arch::timer_irq_enable_this_cpu();
    arch::irq_enable();
    let before = TIMER_IRQS.load(Ordering::Acquire);
    let deadline = arch::now() + hz / 1000;
    arch::timer_arm(deadline);
    let fired = wait_for(hz, || TIMER_IRQS.load(Ordering::Acquire) != before);
    ensure(fired, "no timer interrupt within 1 s", 0)?;
    let entry = TIMER_ENTRY.load(Ordering::Relaxed);
    ensure(entry >= deadline, "handler ran before the deadline", deadline - entry)?;
    let others = OTHER_IRQS.load(Ordering::Relaxed);
    ensure(others == 0, "unexpected interrupt id", LAST_OTHER.load(Ordering::Relaxed))
}

fn wfi_wakeup(hz: u64) -> Outcome {
    let before = TIMER_IRQS.load(Ordering::Acquire);
    let start = arch::now();
    let deadline = start + hz / 200;
    arch::timer_arm(deadline);
    let mut wakeups = 0u64;
    while TIMER_IRQS.load(Ordering::Acquire) == before {
        arch::wfi();
        wakeups += 1;
        ensure(arch::now() - start < hz, "not woken by the timer within 1 s", wakeups)?;
    }
    let woke = arch::now();
    ensure(woke >= deadline, "woke before the deadline", deadline - woke)
}

/// The UART's transmit interrupt, through the (virtual) interrupt
/// controller: raised, taken, acknowledged at the device and completed.
fn device_interrupt(hz: u64) -> Outcome {
    let before = DEVICE_IRQS.load(Ordering::Acquire);
    arch::uart_irq_arm();
    crate::arch::put_byte(b'\n');
    let got = wait_for(hz, || DEVICE_IRQS.load(Ordering::Acquire) != before);
    arch::uart_irq_disarm();
    ensure(got, "no UART interrupt within 1 s", 0)?;
    let id = LAST_DEVICE.load(Ordering::Relaxed);
    ensure(id == arch::UART_IRQ, "the interrupt came with the wrong id", id)
}

/// Set by the second CPU to the context id it was started with.
static SECONDARY_UP: AtomicU64 = AtomicU64::new(0);
const CONTEXT: u64 = 0x5ec0_0001;

fn smp(hz: u64) -> Outcome {
    let entry = arch::secondary_entry();
    let r = arch::cpu_on(arch::second_cpu(), entry, CONTEXT);
    ensure(r.is_ok(), "starting the second CPU failed", r.err().unwrap_or(0))?;
    let up = wait_for(hz, || SECONDARY_UP.load(Ordering::Acquire) != 0);
    ensure(up, "second CPU did not start within 1 s", 0)?;
    let context = SECONDARY_UP.load(Ordering::Acquire);
    ensure(context == CONTEXT, "second CPU got the wrong context value", context)?;
    let again = arch::cpu_on(arch::second_cpu(), entry, CONTEXT);
    ensure(again == Err(arch::ALREADY_ON), "second start not refused as already on", again.err().unwrap_or(0))?;
    let sent = arch::now();
    arch::send_ipi(arch::second_cpu());
    let got = wait_for(hz, || IPIS.load(Ordering::Acquire) != 0);
    ensure(got, "IPI did not reach the second CPU within 1 s", 0)?;
    println!("# 5 smp: IPI handled on the second CPU {} us after it was sent", (arch::now() - sent) * 1_000_000 / hz);
    // The second CPU turns itself off after the IPI.
    let off = wait_for(hz, || arch::cpu_is_off(arch::second_cpu()));
    ensure(off, "second CPU not reported off after it stopped", 0)
}

/// The second CPU: announce itself, wait for the IPI, turn itself off.
pub fn secondary(context: u64) -> ! {
    arch::init_cpu(false);
    arch::ipi_enable_this_cpu();
    arch::irq_enable();
    SECONDARY_UP.store(context, Ordering::Release);
    while IPIS.load(Ordering::Acquire) == 0 {
        arch::wfi();
    }
    arch::irq_disable();
    arch::cpu_off();
    println!("not ok 5 smp-cpu-on-ipi: turning the second CPU off returned");
    loop {
        arch::wfi();
    }
}
