//! Floating-point isolation (mode 4): two vCPUs of one VM, placed on the
//! same hart, each fill f0..f31 with a pattern of their own, wait until the
//! other has run (so the hart switched vCPUs while the pattern was live)
//! and check every register. Any difference means the hypervisor let one
//! vCPU's registers leak into the other's.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::console::println;

/// The HSM hart_start opaque value that sends the second vCPU here.
pub const CONTEXT: u64 = 0x00F9_51DE;
const ROUNDS: u64 = 20;
/// Per vCPU: rounds done, and registers found wrong.
static TURNS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static WRONG: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static DONE: AtomicU64 = AtomicU64::new(0);

/// sstatus.FS = Dirty: S-mode may use the floating-point registers.
fn enable_fp() {
    // SAFETY: only sstatus.FS changes.
    unsafe { asm!("li {t}, 0x6000", "csrs sstatus, {t}", t = out(reg) _, options(nomem, nostack)) };
}

fn pattern(vcpu: u64, round: u64) -> u64 {
    0xA5A5_0000_0000_0000 | (vcpu << 40) | (round << 16)
}

/// Fills f0..f31 with `base + register number`.
fn fill(base: u64) {
    // SAFETY: FP is enabled; only floating-point registers are written,
    // and the compiler keeps nothing of its own in them across this.
    unsafe {
        asm!(
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "addi {t}, {b}, \\r",
            "fmv.d.x f\\r, {t}",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            options(nomem, nostack),
        );
    }
}

/// How many of f0..f31 differ from what `fill(base)` wrote.
fn count_wrong(base: u64) -> u64 {
    let wrong: u64;
    // SAFETY: FP is enabled; floating-point registers are only read.
    unsafe {
        asm!(
            "li {w}, 0",
            ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "addi {t}, {b}, \\r",
            "fmv.x.d {v}, f\\r",
            "xor {v}, {v}, {t}",
            "snez {v}, {v}",
            "add {w}, {w}, {v}",
            ".endr",
            b = in(reg) base,
            t = out(reg) _,
            v = out(reg) _,
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

/// Mode entry on the boot hart.
pub fn run() {
    let hz = super::counter_hz();
    if let Err(code) = super::cpu_on(super::second_cpu(), super::secondary_entry(), CONTEXT) {
        println!("not ok fp-isolation: starting the second vCPU was refused ({code:#x})");
        return;
    }
    worker(0);
    let start = super::now();
    while DONE.load(Ordering::Acquire) == 0 && super::now() - start < 5 * hz {
        core::hint::spin_loop();
    }
    let rounds = TURNS[0].load(Ordering::Acquire) + TURNS[1].load(Ordering::Acquire);
    let wrong = WRONG[0].load(Ordering::Acquire) + WRONG[1].load(Ordering::Acquire);
    println!("fp: {rounds} rounds on two vCPUs sharing a hart, {wrong} registers wrong");
    if wrong == 0 && rounds == 2 * ROUNDS {
        println!("ok fp-isolation");
    } else {
        println!("not ok fp-isolation");
    }
}

/// The second vCPU's part; it stops itself when done.
pub fn secondary() -> ! {
    worker(1);
    DONE.store(1, Ordering::Release);
    super::cpu_off();
    loop {
        super::wfi();
    }
}
