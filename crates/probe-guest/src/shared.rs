//! Two vCPUs on one physical CPU (mode 18; bare, two CPUs for the
//! baseline). Measures what a switch between them costs, as an IPI
//! ping-pong where each side waits in WFI, and the timer latency of a vCPU
//! whose CPU a vCPU spinning with interrupts masked (never exiting by
//! itself) shares. Prints `bench` lines like the benchmark mode.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::arch as cpu;
use crate::bench;
use crate::console::println;
use crate::irq::IPIS;

/// The second CPU's context id in this mode.
pub const CONTEXT: u64 = 0x5348_4152;
/// Ping-pong round trips (two switches each).
const ROUNDS: u32 = 500;

/// What the second CPU does: answer IPIs, spin, or turn off.
static PHASE: AtomicU32 = AtomicU32::new(PING_PONG);
const PING_PONG: u32 = 0;
const SPIN: u32 = 1;
const DONE: u32 = 2;
/// Set by the second CPU once it takes IPIs.
static SECOND_READY: AtomicU32 = AtomicU32::new(0);

/// Waits in WFI until `IPIS` reaches `count`; false after a second.
fn wait_ipis(count: u32, hz: u64) -> bool {
    let start = cpu::now();
    while IPIS.load(Ordering::Acquire) < count {
        if cpu::now() - start > hz {
            return false;
        }
        cpu::wfi();
    }
    true
}

/// The first CPU's part.
pub fn run() {
    let hz = cpu::counter_hz();
    println!("probe: two vCPUs on one CPU ({})", if cpu::under_hypervisor() { "under a hypervisor" } else { "bare" });
    println!("bench name=counter_hz value={hz}");
    if let Err(code) = cpu::cpu_on(cpu::second_cpu(), cpu::secondary_entry(), CONTEXT) {
        println!("bench name=vcpu_switch error=cpu-on-refused-{code:#x}");
        return;
    }
    let start = cpu::now();
    while SECOND_READY.load(Ordering::Acquire) == 0 {
        if cpu::now() - start > hz {
            println!("bench name=vcpu_switch error=second-cpu-silent");
            return;
        }
        core::hint::spin_loop();
    }
    cpu::ipi_enable_this_cpu();
    cpu::irq_enable();
    let start = cpu::now();
    for round in 1..=ROUNDS {
        cpu::send_ipi(cpu::second_cpu());
        if !wait_ipis(2 * round, hz) {
            println!("bench name=vcpu_switch error=no-answer-in-round-{round}");
            return;
        }
    }
    let ticks = cpu::now() - start;
    cpu::irq_disable();
    println!("bench name=vcpu_switch iters={} ticks={ticks}", 2 * ROUNDS);
    // The second CPU leaves its wait and spins with interrupts masked.
    PHASE.store(SPIN, Ordering::Release);
    cpu::send_ipi(cpu::second_cpu());
    bench::timer_latency(hz, "timer_latency_shared");
    PHASE.store(DONE, Ordering::Release);
    println!("bench done");
}

/// The second CPU's part: answers each IPI with one, then spins.
pub fn secondary() -> ! {
    cpu::init_cpu(false);
    cpu::ipi_enable_this_cpu();
    cpu::irq_enable();
    SECOND_READY.store(1, Ordering::Release);
    let mut next = 1;
    loop {
        while IPIS.load(Ordering::Acquire) < next {
            cpu::wfi();
        }
        if PHASE.load(Ordering::Acquire) != PING_PONG {
            break;
        }
        cpu::send_ipi(cpu::first_cpu());
        next += 2;
    }
    cpu::irq_disable();
    while PHASE.load(Ordering::Acquire) == SPIN {
        core::hint::spin_loop();
    }
    cpu::cpu_off();
    loop {
        cpu::wfi();
    }
}
