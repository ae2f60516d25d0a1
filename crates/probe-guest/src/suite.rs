//! The conformance checks. Each prints `ok N name`, `not ok N name: why` or
//! `ok N name # skip why`; the run ends with `N passed, N failed, N skipped`.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::calls::{self, fid, hvc, ret};
use crate::console::println;
use crate::gic::{self, gicd};
use crate::irq::{OTHER_IRQS, SGIS, TIMER_ENTRY, TIMER_IRQS, LAST_OTHER};
use crate::cpu;

/// Why a check failed: what was wrong and the value seen.
pub struct Fail(&'static str, u64);

type Outcome = Result<(), Fail>;

fn ensure(cond: bool, what: &'static str, seen: u64) -> Outcome {
    if cond { Ok(()) } else { Err(Fail(what, seen)) }
}

struct Tally {
    passed: u32,
    failed: u32,
    skipped: u32,
}

impl Tally {
    fn record(&mut self, n: u32, name: &str, outcome: Option<Outcome>) {
        match outcome {
            Some(Ok(())) => {
                self.passed += 1;
                println!("ok {n} {name}");
            }
            Some(Err(Fail(what, seen))) => {
                self.failed += 1;
                println!("not ok {n} {name}: {what} (saw {seen:#x})");
            }
            None => {
                self.skipped += 1;
                println!("ok {n} {name} # skip: needs the hypervisor");
            }
        }
    }
}

/// Runs every check; `under_hv` enables those that need the hypervisor.
pub fn run(under_hv: bool) {
    let mut tally = Tally { passed: 0, failed: 0, skipped: 0 };
    let hz = cpu::counter_hz();
    tally.record(1, "hypercall", under_hv.then(hypercall));
    tally.record(2, "emulated-mmio", Some(emulated_mmio()));
    tally.record(3, "virtual-timer-interrupt", Some(timer_interrupt(hz)));
    tally.record(4, "wfi-wakeup", Some(wfi_wakeup(hz)));
    tally.record(5, "smp-cpu-on-sgi", Some(smp(hz)));
    tally.record(6, "psci-version-features", Some(psci_info()));
    // Check 7 (isolation) runs as its own VM; check 8 is this power-off,
    // which the host side sees.
    println!("# 8 system-off: requesting SYSTEM_OFF now");
    println!("{} passed, {} failed, {} skipped", tally.passed, tally.failed, tally.skipped);
}

fn hypercall() -> Outcome {
    let version = hvc(calls::HV_CALL_VERSION, 0, 0, 0);
    ensure(version == calls::HV_ABI_VERSION, "version call returned the wrong ABI version", version)?;
    let null = hvc(calls::HV_CALL_NULL, 7, 7, 7);
    ensure(null == 0, "null call did not return 0", null)?;
    let sum = hvc(calls::HV_CALL_ADD, 0x1000, 0x200, 0x30);
    ensure(sum == 0x1230, "add call returned the wrong sum", sum)?;
    let wrapped = hvc(calls::HV_CALL_ADD, u64::MAX, 2, 0);
    ensure(wrapped == 1, "add call did not wrap", wrapped)?;
    let unknown = hvc(psci::HV_CALL_BASE + 0xff, 0, 0, 0);
    ensure(unknown == ret::NOT_SUPPORTED, "unknown call not answered NOT_SUPPORTED", unknown)
}

/// The GICv2 distributor as the architecture specifies it: TYPER counts
/// this machine's CPUs and some SPIs; enable bits set through ISENABLER
/// read back and clear through ICENABLER; priorities are stored.
fn emulated_mmio() -> Outcome {
    let bit = 1u32 << gic::VTIMER_PPI;
    let typer = gicd_read(gicd::TYPER);
    let cpus = (typer >> 5) & 7;
    ensure(cpus == SUITE_CPUS - 1, "TYPER.CPUNumber is not the CPU count - 1", u64::from(typer))?;
    ensure(typer & 0x1f >= 1, "TYPER reports no SPIs", u64::from(typer))?;
    gic::gicd_write(gicd::ISENABLER, bit);
    let set = gicd_read(gicd::ISENABLER);
    ensure(set & bit != 0, "ISENABLER bit did not read back set", u64::from(set))?;
    gic::gicd_write(gicd::ICENABLER, bit);
    let cleared = gicd_read(gicd::ISENABLER);
    ensure(cleared & bit == 0, "ICENABLER did not clear the enable bit", u64::from(cleared))?;
    let word = gicd::IPRIORITYR + 24; // interrupts 24..27
    let old = gicd_read(word);
    gic::gicd_write(word, (old & 0x00ff_ffff) | 0x8000_0000);
    let prio = gicd_read(word) >> 24;
    ensure(prio == 0x80, "IPRIORITYR byte did not read back", u64::from(prio))?;
    gic::gicd_write(word, old);
    Ok(())
}

/// CPUs (vCPUs) the suite's machine has: the SMP check starts the second.
const SUITE_CPUS: u32 = 2;

fn gicd_read(offset: usize) -> u32 {
    gic::gicd_read(offset)
}

/// Waits until `done` or until `ticks` counter ticks have passed.
fn wait_for(ticks: u64, mut done: impl FnMut() -> bool) -> bool {
    let start = cpu::now();
    while !done() {
        if cpu::now().wrapping_sub(start) > ticks {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

fn timer_interrupt(hz: u64) -> Outcome {
    gic::init_cpu(gic::VTIMER_PPI);
    cpu::irq_enable();
    let before = TIMER_IRQS.load(Ordering::Acquire);
    let deadline = cpu::now() + hz / 1000;
    cpu::timer_arm(deadline);
    let fired = wait_for(hz, || TIMER_IRQS.load(Ordering::Acquire) != before);
    ensure(fired, "no timer interrupt within 1 s", 0)?;
    let entry = TIMER_ENTRY.load(Ordering::Relaxed);
    ensure(entry >= deadline, "handler ran before the deadline", deadline - entry)?;
    let others = OTHER_IRQS.load(Ordering::Relaxed);
    ensure(others == 0, "unexpected interrupt id", u64::from(LAST_OTHER.load(Ordering::Relaxed)))
}

fn wfi_wakeup(hz: u64) -> Outcome {
    let before = TIMER_IRQS.load(Ordering::Acquire);
    let start = cpu::now();
    let deadline = start + hz / 200;
    cpu::timer_arm(deadline);
    let mut wakeups = 0u64;
    while TIMER_IRQS.load(Ordering::Acquire) == before {
        cpu::wfi();
        wakeups += 1;
        ensure(cpu::now() - start < hz, "not woken by the timer within 1 s", wakeups)?;
    }
    let woke = cpu::now();
    ensure(woke >= deadline, "woke before the deadline", deadline - woke)
}

/// Set by the second CPU to the context id CPU_ON gave it.
static SECONDARY_UP: AtomicU64 = AtomicU64::new(0);
const CONTEXT: u64 = 0x5ec0_0001;
const SGI_ID: u32 = 1;

unsafe extern "C" {
    fn secondary_entry();
}

fn smp(hz: u64) -> Outcome {
    let target = 1; // MPIDR affinity of the second CPU
    let entry = secondary_entry as *const () as u64;
    let r = hvc(fid::CPU_ON, target, entry, CONTEXT);
    ensure(r == ret::SUCCESS, "CPU_ON failed", r)?;
    let up = wait_for(hz, || SECONDARY_UP.load(Ordering::Acquire) != 0);
    ensure(up, "second CPU did not start within 1 s", 0)?;
    let context = SECONDARY_UP.load(Ordering::Acquire);
    ensure(context == CONTEXT, "second CPU got the wrong context id", context)?;
    let again = hvc(fid::CPU_ON, target, entry, CONTEXT);
    ensure(again == ret::ALREADY_ON, "second CPU_ON not answered ALREADY_ON", again)?;
    let sent = cpu::now();
    gic::send_sgi(SGI_ID, 1 << 1);
    let got = wait_for(hz, || SGIS.load(Ordering::Acquire) != 0);
    ensure(got, "SGI did not reach the second CPU within 1 s", 0)?;
    println!("# 5 smp: SGI handled on the second CPU {} us after it was sent", (cpu::now() - sent) * 1_000_000 / hz);
    // The second CPU turns itself off after the SGI.
    let off = wait_for(hz, || hvc(fid::AFFINITY_INFO, target, 0, 0) == 1);
    ensure(off, "second CPU not reported off after CPU_OFF", hvc(fid::AFFINITY_INFO, target, 0, 0))
}

/// The second CPU: announce itself, wait for the SGI, turn itself off.
pub fn secondary(context: u64) -> ! {
    cpu::mmu_enable(false);
    gic::init_cpu(SGI_ID);
    cpu::irq_enable();
    SECONDARY_UP.store(context, Ordering::Release);
    while SGIS.load(Ordering::Acquire) == 0 {
        cpu::wfi();
    }
    cpu::irq_disable();
    hvc(fid::CPU_OFF, 0, 0, 0);
    println!("not ok 5 smp-cpu-on-sgi: CPU_OFF returned");
    loop {
        cpu::wfi();
    }
}

fn psci_info() -> Outcome {
    let version = hvc(fid::VERSION, 0, 0, 0);
    ensure(version >> 16 >= 1 && version >> 32 == 0, "PSCI version below 1.0", version)?;
    let cpu_on = hvc(fid::FEATURES, fid::CPU_ON, 0, 0);
    ensure(cpu_on == ret::SUCCESS, "FEATURES(CPU_ON) not SUCCESS", cpu_on)?;
    let off = hvc(fid::FEATURES, fid::SYSTEM_OFF, 0, 0);
    ensure(off == ret::SUCCESS, "FEATURES(SYSTEM_OFF) not SUCCESS", off)?;
    let bogus = hvc(fid::FEATURES, 0x8400_001f, 0, 0);
    ensure(bogus == ret::NOT_SUPPORTED, "FEATURES(undefined id) not NOT_SUPPORTED", bogus)
}
