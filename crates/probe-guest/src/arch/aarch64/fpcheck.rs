//! FP/SIMD isolation: two vCPUs of one VM, placed on the same physical CPU,
//! each fill V0..V31 with a pattern of their own, wait until the other has
//! run (so the physical CPU switched vCPUs while the pattern was live) and
//! check every register. Any difference means the hypervisor let one
//! vCPU's registers leak into the other's.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use super::calls::{self, fid};
use crate::console::println;

/// The CPU_ON context that sends the second vCPU here.
pub const CONTEXT: u64 = 0x00F9_51DE;
const ROUNDS: u64 = 20;
/// Per vCPU: rounds done, and registers found wrong.
static TURNS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static WRONG: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static DONE: AtomicU64 = AtomicU64::new(0);

fn enable_fp() {
    // SAFETY: CPACR_EL1.FPEN = 0b11 lets EL1 use FP/SIMD; nothing else.
    unsafe { asm!("mrs {t}, cpacr_el1", "orr {t}, {t}, #(3 << 20)", "msr cpacr_el1, {t}", "isb", t = out(reg) _, options(nomem, nostack)) };
}

fn pattern(vcpu: u64, round: u64) -> u64 {
    0xA5A5_0000_0000_0000 | (vcpu << 40) | (round << 16)
}

/// Fills V0..V31 with `base + register number` in both halves.
fn fill(base: u64) {
    // SAFETY: FP/SIMD is enabled; only vector registers are written.
    unsafe {
        asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "add {t}, {b}, #\\r",
            "fmov d\\r, {t}",
            "fmov v\\r\\().d[1], {t}",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            options(nomem, nostack),
        );
    }
}

/// How many of V0..V31 differ from what `fill(base)` wrote.
fn count_wrong(base: u64) -> u64 {
    let wrong: u64;
    // SAFETY: FP/SIMD is enabled; vector registers are only read.
    unsafe {
        asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "mov {w}, #0",
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "add {t}, {b}, #\\r",
            "fmov {lo}, d\\r",
            "mov {hi}, v\\r\\().d[1]",
            "cmp {lo}, {t}",
            "ccmp {hi}, {t}, #0, eq",
            "cinc {w}, {w}, ne",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            lo = out(reg) _,
            hi = out(reg) _,
            w = out(reg) wrong,
            options(nomem, nostack),
        );
    }
    wrong
}

/// One vCPU's part: `ROUNDS` fill / wait for the other / check.
fn worker(me: usize) {
    enable_fp();
    let other = 1 - me;
    let hz = super::counter_hz();
    for round in 0..ROUNDS {
        let base = pattern(me as u64, round);
        fill(base);
        let seen = TURNS[other].load(Ordering::Acquire);
        TURNS[me].fetch_add(1, Ordering::AcqRel);
        let start = super::now();
        // The other vCPU can only move while this one is switched out.
        while TURNS[other].load(Ordering::Acquire) == seen && DONE.load(Ordering::Acquire) == 0 {
            if super::now() - start > hz {
                break;
            }
        }
        WRONG[me].fetch_add(count_wrong(base), Ordering::AcqRel);
    }
}

/// Mode entry on vCPU 0.
pub fn run() {
    let hz = super::counter_hz();
    let started = calls::hvc(fid::CPU_ON, 1, super::secondary_entry(), CONTEXT);
    if started != 0 {
        println!("not ok fp-simd: CPU_ON of the second vCPU refused ({started:#x})");
        return;
    }
    worker(0);
    let start = super::now();
    while DONE.load(Ordering::Acquire) == 0 && super::now() - start < 5 * hz {
        core::hint::spin_loop();
    }
    let rounds = TURNS[0].load(Ordering::Acquire) + TURNS[1].load(Ordering::Acquire);
    let wrong = WRONG[0].load(Ordering::Acquire) + WRONG[1].load(Ordering::Acquire);
    println!("fp-simd: {rounds} rounds on two vCPUs sharing a CPU, {wrong} registers wrong");
    if wrong == 0 && rounds == 2 * ROUNDS {
        println!("ok fp-simd-isolation");
        calls::system_off();
    } else {
        // CPU_OFF of the last vCPU: the hypervisor's report shows it.
        println!("not ok fp-simd-isolation");
        calls::hvc(fid::CPU_OFF, 0, 0, 0);
    }
}

/// The second vCPU's part; it turns itself off when done.
pub fn secondary() -> ! {
    worker(1);
    DONE.store(1, Ordering::Release);
    calls::hvc(fid::CPU_OFF, 0, 0, 0);
    loop {
        super::wfi();
    }
}
