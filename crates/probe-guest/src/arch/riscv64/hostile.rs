//! riscv64 hostile cases (mode 5 + k), run beside other VMs by
//! `crates/qemu-boot-tests/tests/riscv64_probe.rs`:
//! - 0 `high-gpa`: loads from guest-physical 2^39, past Sv39 but inside
//!   Sv39x4's reach: the stage-2 walk must fault (the VM is stopped), not
//!   read host memory after a 4 KiB root as page-table entries;
//! - 1 `top-gpa`: stores to 0x1ff_ffff_f000, the last page below 2^41;
//! - 2 `counters`: `cycle`, `instret` and `hpmcounter3` count the host
//!   too and are absent to guests: reading each is an illegal instruction
//!   the probe's own handler takes; `time` reads. Right: power-off; wrong:
//!   a `not ok` line and its only vCPU off.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::console::println;

/// Set while a read that may be an illegal instruction runs.
static EXPECTING: AtomicBool = AtomicBool::new(false);
/// The cause of the trap the read took (0: none).
static TRAPPED: AtomicU64 = AtomicU64::new(0);
const ILLEGAL_INSTRUCTION: u64 = 2;

/// Runs hostile case `case`; false if there is no such case.
pub fn run(case: u64) -> bool {
    match case {
        0 => unmapped_access("high-gpa", 0x80_0000_0000, false),
        1 => unmapped_access("top-gpa", 0x1ff_ffff_f000, true),
        2 => counters(),
        _ => return false,
    }
    true
}

/// Touches `addr`; the hypervisor must stop the VM there.
fn unmapped_access(name: &str, addr: usize, store: bool) {
    println!("probe: hostile {name}: {} guest-physical {addr:#x}", if store { "storing to" } else { "loading from" });
    // SAFETY: deliberately outside every region: the hypervisor is expected
    // to stop the VM on this access; if it does not, the outcome is printed.
    unsafe {
        if store {
            (addr as *mut u32).write_volatile(0x5a5a_5a5a);
        } else {
            let value = (addr as *const u32).read_volatile();
            println!("probe: hostile {name}: read {value:#x}");
        }
    }
    println!("not ok hostile-{name}: the access at {addr:#x} did not stop the VM");
    super::cpu_off();
}

/// Called by the trap handler for a synchronous exception: true if it was
/// the one an `expect_trap` read waits for (it is then stepped over).
pub fn take_expected_trap(cause: u64, sepc: u64) -> bool {
    if !EXPECTING.swap(false, Ordering::AcqRel) {
        return false;
    }
    TRAPPED.store(cause, Ordering::Release);
    // SAFETY: the trap vector returns to sepc; the faulting `csrr` is
    // 4 bytes long.
    unsafe { core::arch::asm!("csrw sepc, {0}", in(reg) sepc + 4, options(nomem, nostack)) };
    true
}

/// Reads a counter CSR: `Ok(value)`, or `Err(cause)` of the trap it took.
macro_rules! read_counter {
    ($csr:literal) => {{
        TRAPPED.store(0, Ordering::Release);
        EXPECTING.store(true, Ordering::Release);
        let value: u64;
        // SAFETY: reading a counter has no side effects; a trap it takes is
        // stepped over by `take_expected_trap`.
        unsafe { core::arch::asm!(concat!("csrr {0}, ", $csr), out(reg) value, options(nostack)) };
        EXPECTING.store(false, Ordering::Release);
        match TRAPPED.load(Ordering::Acquire) {
            0 => Ok(value),
            cause => Err(cause),
        }
    }};
}

fn counters() {
    let results = [
        ("cycle", read_counter!("cycle")),
        ("instret", read_counter!("instret")),
        ("hpmcounter3", read_counter!("hpmcounter3")),
    ];
    let time = read_counter!("time");
    let mut right = true;
    for (name, result) in results {
        match result {
            Err(ILLEGAL_INSTRUCTION) => {}
            Err(cause) => {
                println!("not ok hostile-counters: reading {name} trapped with cause {cause}, not illegal instruction");
                right = false;
            }
            Ok(value) => {
                println!("not ok hostile-counters: {name} is readable ({value:#x})");
                right = false;
            }
        }
    }
    if let Err(cause) = time {
        println!("not ok hostile-counters: reading time trapped (cause {cause})");
        right = false;
    }
    if right {
        println!("ok hostile-counters: cycle, instret, hpmcounter3 absent (illegal instruction); time reads");
        super::system_off();
    }
    super::cpu_off();
}
