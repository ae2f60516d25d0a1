//! Floating-point isolation (mode 4): two vCPUs of one VM, placed on the
//! same physical CPU, each fill every floating-point register with a
//! pattern of their own, wait until the other has run (so the CPU switched
//! vCPUs while the pattern was live) and check every register. Any
//! difference means the hypervisor let one vCPU's registers leak into the
//! other's. The arch module fills and checks the registers.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch as cpu;
use crate::console::println;

/// The context the second vCPU is started with in this mode.
pub const CONTEXT: u64 = 0x00F9_51DE;
const ROUNDS: u64 = 20;
/// Per vCPU: rounds done, and registers found wrong.
static TURNS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static WRONG: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static DONE: AtomicU64 = AtomicU64::new(0);

fn pattern(vcpu: u64, round: u64) -> u64 {
    0xA5A5_0000_0000_0000 | (vcpu << 40) | (round << 16)
}

/// One vCPU's part: `ROUNDS` fill / wait for the other / check.
fn worker(me: usize) {
    cpu::fp_enable();
    let other = 1 - me;
    let hz = cpu::counter_hz();
    for round in 0..ROUNDS {
        let base = pattern(me as u64, round);
        cpu::fp_fill(base);
        let seen = TURNS[other].load(Ordering::Acquire);
        TURNS[me].fetch_add(1, Ordering::AcqRel);
        let start = cpu::now();
        // The other vCPU can only move while this one is switched out.
        while TURNS[other].load(Ordering::Acquire) == seen && DONE.load(Ordering::Acquire) == 0 {
            if cpu::now() - start > hz {
                break;
            }
        }
        WRONG[me].fetch_add(cpu::fp_count_wrong(base), Ordering::AcqRel);
    }
}

/// Mode entry on the first CPU. On success it returns (the caller powers
/// off); on failure it turns its CPU off, so the hypervisor reports the
/// VM as ended by its vCPUs going off rather than powered off.
pub fn run() {
    let name = cpu::FP_CHECK;
    let hz = cpu::counter_hz();
    if let Err(code) = cpu::cpu_on(cpu::second_cpu(), cpu::secondary_entry(), CONTEXT) {
        println!("not ok {name}-isolation: starting the second vCPU was refused ({code:#x})");
        return;
    }
    worker(0);
    let start = cpu::now();
    while DONE.load(Ordering::Acquire) == 0 && cpu::now() - start < 5 * hz {
        core::hint::spin_loop();
    }
    let rounds = TURNS[0].load(Ordering::Acquire) + TURNS[1].load(Ordering::Acquire);
    let wrong = WRONG[0].load(Ordering::Acquire) + WRONG[1].load(Ordering::Acquire);
    println!("{name}: {rounds} rounds on two vCPUs sharing a CPU, {wrong} registers wrong");
    if wrong == 0 && rounds == 2 * ROUNDS {
        println!("ok {name}-isolation");
    } else {
        println!("not ok {name}-isolation");
        cpu::cpu_off();
    }
}

/// The second vCPU's part; it turns itself off when done.
pub fn secondary() -> ! {
    worker(1);
    DONE.store(1, Ordering::Release);
    cpu::cpu_off();
    loop {
        cpu::wfi();
    }
}
