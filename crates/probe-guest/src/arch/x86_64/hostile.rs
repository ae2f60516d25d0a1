//! Hostile cases on x86_64: each does what a misbehaving guest would,
//! once, in a VM of its own beside a well-behaved one. The hypervisor
//! must stop this VM with a line naming VM, vCPU and cause (or answer per
//! the specification, as for an unknown hypercall); it must never panic
//! or take the host down. Lines `hostile NAME: ...` say what the case did.

use core::arch::asm;

use super::{drcheck, hostile_cpu};
use crate::console::println;

/// The cases, in entry-point order after the fixed modes (mode 5 + k).
pub const CASES: &[(&str, fn())] = &[
    ("wrmsr-reserved", wrmsr_reserved),
    ("triple-fault", triple_fault),
    ("svm-instruction", svm_instruction),
    ("xsetbv", xsetbv),
    ("string-port-io", string_port_io),
    ("mmio-unknown-instruction", mmio_unknown_instruction),
    ("fetch-unmapped", fetch_unmapped),
    ("unknown-hypercall", unknown_hypercall),
    ("keyboard-reset", keyboard_reset),
    ("read-only", read_only),
    ("no-exec", no_exec),
    ("ac-loop", hostile_cpu::ac_loop),
    ("db-loop", hostile_cpu::db_loop),
    ("undefined-instructions", hostile_cpu::undefined_instructions),
    ("cache-flush", hostile_cpu::cache_flush),
    ("pmu", hostile_cpu::pmu),
    ("debug-registers", drcheck::run),
];

/// A region the hostile configs give read access only.
const READ_ONLY: u64 = 0x0080_0000;
/// A region the hostile configs give no execute access.
const NO_EXEC: u64 = 0x0090_0000;

/// Reads, then writes, a read-only region: the read must work, the write
/// stop the VM.
fn read_only() {
    // SAFETY: the region is RAM the VM may read.
    let value = unsafe { (READ_ONLY as *const u64).read_volatile() };
    println!("hostile read-only: read {value:#x}, now writing");
    // SAFETY: deliberately refused; the hypervisor must stop the VM here.
    unsafe { (READ_ONLY as *mut u64).write_volatile(1) };
    println!("hostile read-only: not ok: the write went through");
}

/// Writes a RET into a no-execute region, then calls it.
fn no_exec() {
    // SAFETY: the region is RAM the VM may write.
    unsafe { (NO_EXEC as *mut u8).write_volatile(0xC3) };
    println!("hostile no-exec: wrote a RET at {NO_EXEC:#x}, now calling it");
    // SAFETY: deliberately refused; the hypervisor must stop the VM here.
    unsafe { asm!("call {}", in(reg) NO_EXEC, clobber_abi("C")) };
    println!("hostile no-exec: not ok: the call returned");
}

/// Writes an MSR no CPU has.
fn wrmsr_reserved() {
    println!("hostile wrmsr-reserved: WRMSR 0xc0ffee00 <- 0x1");
    // SAFETY: deliberately invalid; the hypervisor must stop the VM here.
    unsafe { asm!("wrmsr", in("ecx") 0xC0FF_EE00u32, in("eax") 1u32, in("edx") 0u32, options(nomem, nostack)) };
    println!("hostile wrmsr-reserved: not ok: the write returned");
}

/// An empty IDT, then an exception: #GP, double fault, triple fault.
fn triple_fault() {
    println!("hostile triple-fault: empty IDT, then int3");
    let pointer = [0u64; 2];
    // SAFETY: deliberately fatal; the CPU shuts down, which the
    // hypervisor must turn into a stopped VM.
    unsafe { asm!("lidt [{}]", "int3", in(reg) pointer.as_ptr(), options(nostack)) };
    println!("hostile triple-fault: not ok: the exception returned");
}

/// VMRUN inside the guest, whose CPU shows no SVM: #UD.
fn svm_instruction() {
    hostile_cpu::vmrun_undefined();
}

/// XSETBV, whose register the hypervisor does not switch, with XSAVE
/// hidden and CR4.OSXSAVE clear: the CPU must raise #UD in the guest
/// (the handler reports it and powers off); were it intercepted instead,
/// the hypervisor would stop the VM.
fn xsetbv() {
    println!("hostile xsetbv: XCR0 <- 7");
    hostile_cpu::expect_xsetbv_ud();
    // SAFETY: deliberately invalid here; see above.
    unsafe { asm!("xsetbv", in("ecx") 0u32, in("eax") 7u32, in("edx") 0u32, options(nomem, nostack)) };
    println!("hostile xsetbv: not ok: XSETBV returned");
}

/// REP OUTSB to COM1: string port I/O is not emulated.
fn string_port_io() {
    let text = b"string\n";
    println!("hostile string-port-io: REP OUTSB of {} bytes to COM1", text.len());
    // SAFETY: deliberately refused; the hypervisor must stop the VM here.
    unsafe {
        asm!("rep outsb", in("dx") 0x3F8u16, inout("rsi") text.as_ptr() => _, inout("rcx") text.len() => _, options(nostack))
    };
    println!("hostile string-port-io: not ok: REP OUTSB returned");
}

/// A read-modify-write instruction on the emulated I/O APIC.
fn mmio_unknown_instruction() {
    println!("hostile mmio-unknown-instruction: ADD to the I/O APIC's window");
    // SAFETY: deliberately not emulated; the hypervisor must stop the VM.
    unsafe { asm!("add dword ptr [{}], 1", in(reg) 0xFEC0_0010u64, options(nostack)) };
    println!("hostile mmio-unknown-instruction: not ok: the ADD returned");
}

/// Jumps to guest-physical memory no region covers.
fn fetch_unmapped() {
    let target = super::UNMAPPED_GPA as u64;
    println!("hostile fetch-unmapped: jumping to {target:#x}");
    // SAFETY: deliberately invalid; the hypervisor must stop the VM here.
    unsafe { asm!("call {}", in(reg) target, clobber_abi("C")) };
    println!("hostile fetch-unmapped: not ok: the call returned");
}

/// Resets the machine through the keyboard controller (0xFE to port
/// 0x64) on its first boot: the hypervisor must restart the VM from its
/// images; the second boot says so and powers off.
fn keyboard_reset() {
    let boots = super::hv_call(3, [0; 3]).unwrap_or(0);
    if boots < 2 {
        println!("hostile keyboard-reset: boot {boots}: pulsing the reset line");
        super::outb(0x64, 0xFE);
        super::wfi();
        println!("hostile keyboard-reset: not ok: still running after the reset");
        return;
    }
    println!("hostile keyboard-reset: ok: boot {boots} after the reset");
    super::system_off();
}

/// A hypercall number nobody defined: answered -ENOSYS, the VM goes on
/// and powers off.
fn unknown_hypercall() {
    let answer = super::hv_call(0xDEAD, [0; 3]);
    let ok = answer == Err((-38i64) as u64);
    let verdict = if ok { "ok" } else { "not ok" };
    println!("hostile unknown-hypercall: {verdict}: answered {answer:x?}");
    if ok {
        super::system_off();
    }
}
