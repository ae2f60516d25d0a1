//! The probe guest: a bare-metal kernel (aarch64 at EL1, riscv64 in
//! S-mode, x86_64 in long mode) that checks, from inside a VM, what the hypervisor promises its
//! guests, and measures what its exits cost. The same image boots bare on
//! QEMU (no hypervisor) for the baseline: checks that need the hypervisor
//! are skipped there.
//!
//! Modes, chosen by the entry point (image start + 4 * mode) or, bare on
//! riscv64 where the firmware picks the entry, by a mailbox word: 0 runs
//! the conformance suite, 1 the benchmarks, 2 the isolation fault; on
//! aarch64 also 3 the fuzzer, 4 the FP/SIMD isolation check, 5 + k
//! hostile case k, 17 the physical-timer cyclic test, 18 two vCPUs on one
//! CPU (`shared`), 19 waiting for the power button, 20 spinning without
//! exits and 40 to 46 the shared-memory channel's roles (`channel`); on
//! x86_64 4 is the SSE isolation check and 5 + k its own
//! hostile cases; on riscv64 4 (f0-f31, `scounteren`, `senvcfg`), 5 + k
//! its own hostile cases, 18 and 40 to 46 (`arch::extra_mode`).
//! Output: `ok N name`, `not ok N name: why`, `N passed, N failed, N skipped`,
//! and `bench ...` lines that `make bench` parses.
#![no_std]
#![no_main]

mod arch;
mod bench;
#[cfg(not(target_arch = "x86_64"))]
mod channel;
mod console;
mod fpcheck;
mod hist;
mod irq;
#[cfg(not(target_arch = "x86_64"))]
mod shared;
mod suite;
mod workload;

use console::println;

#[unsafe(no_mangle)]
extern "C" fn probe_main(entry_mode: u64, first_counter: u64) -> ! {
    arch::init_cpu(true);
    let first_line = arch::now();
    let under_hv = arch::under_hypervisor();
    let host = if under_hv { "under a hypervisor" } else { "bare" };
    match arch::mode_override().unwrap_or(entry_mode) {
        0 => {
            println!("probe: conformance suite ({host})");
            suite::run(under_hv);
            // Check 8: the suite ends with the architecture's power-off
            // call (riscv64: the legacy one, so that it is exercised too).
            arch::suite_system_off();
        }
        1 => {
            println!("probe: benchmarks ({host})");
            bench::run(under_hv, first_counter, first_line);
        }
        2 => isolation(under_hv),
        mode => {
            if !arch::extra_mode(mode) {
                println!("probe: mode {mode} does not exist on this architecture");
            }
        }
    }
    arch::system_off();
    println!("probe: power-off returned");
    halt()
}

/// Mode 2: touches guest-physical memory outside every region. The
/// hypervisor must stop this VM; nothing after the access may run.
fn isolation(under_hv: bool) {
    if !under_hv {
        println!("probe: isolation needs a hypervisor; nothing to do bare");
        return;
    }
    let addr = arch::UNMAPPED_GPA;
    println!("probe: isolation: reading unmapped guest-physical address {addr:#x}");
    // SAFETY: deliberately invalid: the hypervisor is expected to stop the VM
    // on this access. If it does not, the value is only printed.
    let value = unsafe { (addr as *const u32).read_volatile() };
    println!("not ok 7 isolation: the read returned {value:#x} instead of stopping the VM");
}

#[unsafe(no_mangle)]
extern "C" fn probe_secondary(context: u64) -> ! {
    arch::secondary_mode(context);
    suite::secondary(context)
}

/// Reports an exception the probe did not expect and powers off.
pub fn unexpected(kind: u64, cause: u64, pc: u64, addr: u64) -> ! {
    println!("not ok: unexpected exception (vector {kind}, cause {cause:#x}, pc {pc:#x}, address {addr:#x})");
    arch::system_off();
    halt()
}

fn halt() -> ! {
    loop {
        arch::irq_disable();
        arch::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("not ok: probe panicked: {info}");
    arch::system_off();
    halt()
}
