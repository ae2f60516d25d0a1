//! The probe guest: a bare-metal aarch64 kernel that checks, from inside a
//! VM, what the hypervisor promises its guests, and measures what its exits
//! cost. The same image boots bare on QEMU (EL1, no hypervisor) for the
//! baseline: checks that need the hypervisor are skipped there.
//!
//! Modes, chosen by the entry point (image start + 4 * mode): 0 runs the
//! conformance suite, 1 the benchmarks, 2 the isolation fault.
//! Output: `ok N name`, `not ok N name: why`, `N passed, N failed, N skipped`,
//! and `bench ...` lines that `make bench` parses.
#![no_std]
#![no_main]

mod calls;
mod console;
mod cpu;
mod gic;
mod irq;
mod suite;
mod bench;
mod workload;

use console::println;

core::arch::global_asm!(include_str!("boot.S"));

/// Where an unmapped access is tried by the isolation mode: below guest
/// RAM, in no memory region and no device of the probe's VM configs.
const UNMAPPED_GPA: usize = 0x3f00_0000;

#[unsafe(no_mangle)]
extern "C" fn probe_main(mode: u64, first_counter: u64) -> ! {
    cpu::mmu_enable(true);
    let first_line = cpu::now();
    let under_hv = cpu::el2_implemented();
    let host = if under_hv { "under a hypervisor" } else { "bare" };
    match mode {
        0 => {
            println!("probe: conformance suite ({host})");
            suite::run(under_hv);
        }
        1 => {
            println!("probe: benchmarks ({host})");
            bench::run(under_hv, first_counter, first_line);
        }
        _ => isolation(under_hv),
    }
    calls::system_off();
    println!("probe: SYSTEM_OFF returned");
    halt()
}

/// Mode 2: touches guest-physical memory outside every region. The
/// hypervisor must stop this VM; nothing after the access may run.
fn isolation(under_hv: bool) {
    if !under_hv {
        println!("probe: isolation needs a hypervisor; nothing to do bare");
        return;
    }
    println!("probe: isolation: reading unmapped guest-physical address {UNMAPPED_GPA:#x}");
    // SAFETY: deliberately invalid: the hypervisor is expected to stop the VM
    // on this access. If it does not, the value is only printed.
    let value = unsafe { (UNMAPPED_GPA as *const u32).read_volatile() };
    println!("not ok 7 isolation: the read returned {value:#x} instead of stopping the VM");
}

#[unsafe(no_mangle)]
extern "C" fn probe_secondary(context: u64) -> ! {
    suite::secondary(context)
}

#[unsafe(no_mangle)]
extern "C" fn unexpected_exception(kind: u64, esr: u64, elr: u64, far: u64) -> ! {
    println!("not ok: unexpected exception (vector {kind}, ESR {esr:#x}, ELR {elr:#x}, FAR {far:#x})");
    calls::system_off();
    halt()
}

fn halt() -> ! {
    loop {
        cpu::irq_disable();
        cpu::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("not ok: probe panicked: {info}");
    calls::system_off();
    halt()
}
