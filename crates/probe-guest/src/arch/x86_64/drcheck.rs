//! Debug registers kept apart (hostile case debug-registers): two vCPUs
//! of one VM on the same physical CPU each check that DR0-DR3 read 0 when
//! they start (nothing of another vCPU or VM shows), then write a pattern
//! of their own, let the other run and read theirs back, 20 rounds each.
//! DR7 stays 0x400 throughout, so no address ever arms a breakpoint.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::console::println;

/// The context the second vCPU is started with in this case.
pub const CONTEXT: u64 = 0x00D8_15DE;
const ROUNDS: u64 = 20;
/// Per vCPU: rounds done, registers found wrong, registers not 0 at start.
static TURNS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static WRONG: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static NOT_FRESH: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static DONE: AtomicU64 = AtomicU64::new(0);

/// A canonical address naming vCPU, round and register.
fn pattern(vcpu: u64, round: u64) -> u64 {
    0x0000_5D00_0000_0000 | (vcpu << 32) | (round << 8)
}

fn write_debug(base: u64) {
    // SAFETY: with DR7's enables clear the addresses arm nothing.
    unsafe {
        asm!(
            "mov dr0, {a}",
            "mov dr1, {b}",
            "mov dr2, {c}",
            "mov dr3, {d}",
            a = in(reg) base,
            b = in(reg) base + 1,
            c = in(reg) base + 2,
            d = in(reg) base + 3,
            options(nomem, nostack),
        )
    };
}

fn read_debug() -> [u64; 4] {
    let (a, b, c, d): (u64, u64, u64, u64);
    // SAFETY: reading debug registers at CPL 0 has no side effects.
    unsafe {
        asm!(
            "mov {a}, dr0",
            "mov {b}, dr1",
            "mov {c}, dr2",
            "mov {d}, dr3",
            a = out(reg) a,
            b = out(reg) b,
            c = out(reg) c,
            d = out(reg) d,
            options(nomem, nostack),
        )
    };
    [a, b, c, d]
}

fn count_wrong(base: u64) -> u64 {
    read_debug().iter().zip(base..).filter(|(seen, want)| **seen != *want).count() as u64
}

/// One vCPU's part: the fresh check, then `ROUNDS` write / wait / check.
fn worker(me: usize) {
    NOT_FRESH[me].store(read_debug().iter().filter(|&&v| v != 0).count() as u64, Ordering::Release);
    let other = 1 - me;
    let hz = super::counter_hz();
    for round in 0..ROUNDS {
        let base = pattern(me as u64, round);
        write_debug(base);
        let seen = TURNS[other].load(Ordering::Acquire);
        TURNS[me].fetch_add(1, Ordering::AcqRel);
        let start = super::now();
        // The other vCPU can only move while this one is switched out.
        while TURNS[other].load(Ordering::Acquire) == seen && DONE.load(Ordering::Acquire) == 0 {
            if super::now() - start > 2 * hz {
                break;
            }
        }
        WRONG[me].fetch_add(count_wrong(base), Ordering::AcqRel);
    }
}

/// The case on the first vCPU: says ok and powers off, or says not ok.
pub fn run() {
    println!("hostile debug-registers: DR0-DR3 on two vCPUs sharing a CPU, {ROUNDS} rounds each");
    if let Err(code) = super::cpu_on(super::second_cpu(), super::secondary_entry(), CONTEXT) {
        println!("hostile debug-registers: not ok: starting the second vCPU was refused ({code:#x})");
        return;
    }
    worker(0);
    let (start, hz) = (super::now(), super::counter_hz());
    while DONE.load(Ordering::Acquire) == 0 && super::now() - start < 5 * hz {
        core::hint::spin_loop();
    }
    let total = |counts: &[AtomicU64; 2]| counts[0].load(Ordering::Acquire) + counts[1].load(Ordering::Acquire);
    let (rounds, wrong, not_fresh) = (total(&TURNS), total(&WRONG), total(&NOT_FRESH));
    if rounds == 2 * ROUNDS && wrong == 0 && not_fresh == 0 {
        println!("hostile debug-registers: ok: {rounds} rounds, 0 registers wrong, both vCPUs started with DR0-DR3 0");
        super::system_off();
        return;
    }
    println!("hostile debug-registers: not ok: {rounds} rounds, {wrong} registers wrong, {not_fresh} not 0 at start");
}

/// The second vCPU's part; it turns itself off when done.
pub fn secondary() -> ! {
    worker(1);
    DONE.store(1, Ordering::Release);
    super::cpu_off();
    loop {
        super::wfi();
    }
}
