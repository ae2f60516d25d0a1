//! x86_64 in long mode (a Multiboot kernel, identity-mapped low 4 GiB):
//! COM1 by port I/O, the TSC counter calibrated against the local APIC
//! timer, the local APIC (timer, IPIs, start-up of the second CPU by INIT
//! and SIPI) as x2APIC where CPUID offers it (the hypervisor's vCPUs) and
//! xAPIC otherwise (bare QEMU, whose x2APIC MSRs cannot be used under
//! `-icount`), the I/O APIC as the emulated MMIO device, VMMCALL
//! hypercalls and ACPI power-off.

mod drcheck;
mod fpcheck;
mod hostile;
mod hostile_cpu;

pub use fpcheck::{FP_CHECK, fp_count_wrong, fp_enable, fp_fill};

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::irq;
use crate::suite::{Outcome, ensure};

core::arch::global_asm!(include_str!("boot.S"));

/// Guest-physical address in no region and no device of the probe's VM.
pub const UNMAPPED_GPA: usize = 0x3f00_0000;
/// Name of the firmware-interface check.
pub const FIRMWARE_CHECK: &str = "cpuid-hypervisor-leaves";
/// COM1's I/O APIC pin (its ISA IRQ).
pub const UART_IRQ: u64 = 4;
/// What a start of a CPU that is already running answers (EBUSY, as the
/// hypervisor's calls would).
pub const ALREADY_ON: u64 = (-16i64) as u64;

/// Where a bare run finds its mode (`-device loader,addr=...,data=...`):
/// `MODE_MAGIC` in the low word, the mode in the high word.
const MODE_MAILBOX: usize = 0x0100_0000;
const MODE_MAGIC: u32 = 0x4d4f_4445; // "MODE"

const COM1: u16 = 0x3F8;
const IOAPIC: usize = 0xFEC0_0000;

/// Vectors the probe's interrupts come in on.
const TIMER_VECTOR: u64 = 0x40;
const IPI_VECTOR: u64 = 0x41;
const UART_VECTOR: u64 = 0x50;
const SPURIOUS_VECTOR: u64 = 0xFF;

/// Local APIC registers, by x2APIC MSR number (the xAPIC has register
/// n of the MSR 0x800 + n at offset n * 16).
const MSR_APIC_BASE: u32 = 0x1B;
const APIC_EOI: u32 = 0x80B;
const APIC_SVR: u32 = 0x80F;
const APIC_ICR: u32 = 0x830;
const APIC_LVT_TIMER: u32 = 0x832;
const APIC_LVT_LINT0: u32 = 0x835;
const APIC_LVT_LINT1: u32 = 0x836;
const APIC_INITIAL_COUNT: u32 = 0x838;
const APIC_CURRENT_COUNT: u32 = 0x839;
const APIC_DIVIDE: u32 = 0x83E;
/// The xAPIC's registers' base.
const XAPIC_BASE: usize = 0xFEE0_0000;
/// Whether the APIC runs in x2APIC mode (set by the first CPU).
static X2APIC: AtomicBool = AtomicBool::new(false);
/// The APIC timer counts at 1 GHz at divide-by-1 (QEMU's and the
/// hypervisor's alike).
const APIC_TIMER_HZ: u64 = 1_000_000_000;
const LVT_MASKED: u64 = 1 << 16;

/// Where the second CPU's real-mode start code is copied: start-up
/// vector 8.
const TRAMPOLINE: usize = 0x8000;

/// TSC ticks per second, measured at boot.
static COUNTER_HZ: AtomicU64 = AtomicU64::new(1);
/// The second CPU's first argument.
#[unsafe(no_mangle)]
static AP_CONTEXT: AtomicU64 = AtomicU64::new(0);
/// Times the second CPU came up, and whether it parked itself.
static AP_STARTS: AtomicU32 = AtomicU32::new(0);
static AP_PARKED: AtomicBool = AtomicBool::new(false);

pub(super) fn outb(port: u16, value: u8) {
    // SAFETY: the probe's ports are COM1's, the 8259s' masks and the
    // keyboard controller's command port (a reset, on purpose).
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags)) };
}

fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as in `outb`.
    unsafe { asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags)) };
    value
}

fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the probe reads only the x2APIC's MSRs and IA32_APIC_BASE,
    // which its CPU has.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

fn wrmsr(msr: u32, value: u64) {
    // SAFETY: as in `rdmsr`; the values written program the probe's own
    // APIC.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nomem, nostack, preserves_flags))
    };
}

fn cpuid(leaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid(leaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// Sends one byte to COM1.
pub fn put_byte(b: u8) {
    while inb(COM1 + 5) & (1 << 5) == 0 {}
    outb(COM1, b);
}

/// Counter frequency in Hz.
pub fn counter_hz() -> u64 {
    COUNTER_HZ.load(Ordering::Relaxed)
}

/// The time-stamp counter.
pub fn now() -> u64 {
    // SAFETY: RDTSC only reads the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Arms the APIC timer (one-shot) for absolute counter time `deadline`.
pub fn timer_arm(deadline: u64) {
    let ticks = deadline.saturating_sub(now());
    let ns = u128::from(ticks) * u128::from(APIC_TIMER_HZ) / u128::from(counter_hz());
    apic_write(APIC_INITIAL_COUNT, ns.clamp(1, u128::from(u32::MAX)) as u64);
}

/// Unmasks interrupts.
pub fn irq_enable() {
    // SAFETY: the IDT is loaded before anything unmasks.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

/// Masks interrupts.
pub fn irq_disable() {
    // SAFETY: masking interrupts is always allowed.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// Waits for an interrupt (with interrupts unmasked by the caller).
pub fn wfi() {
    // SAFETY: HLT only idles the CPU until an interrupt.
    unsafe { asm!("hlt", options(nomem, nostack)) };
}

/// Whether a hypervisor runs the probe: CPUID says so, with our signature.
pub fn under_hypervisor() -> bool {
    cpuid(1)[2] & (1 << 31) != 0 && cpuid(0x4000_0000)[1..] == signature()
}

/// The hypervisor's CPUID signature, as EBX, ECX, EDX.
fn signature() -> [u32; 3] {
    let bytes = b"AxVisor SVM ";
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    [word(0), word(4), word(8)]
}

/// One interrupt-descriptor table for both CPUs: 256 gates to the stubs.
static mut IDT: [u64; 512] = [0; 512];

/// Loads the IDT (built by the first CPU) and turns on this CPU's x2APIC;
/// the first CPU also calibrates the counter.
pub fn init_cpu(primary: bool) {
    let idt = &raw mut IDT;
    if primary {
        unsafe extern "C" {
            fn interrupt_stubs();
        }
        let stubs = interrupt_stubs as *const () as u64;
        for vector in 0..256 {
            let handler = stubs + 16 * vector as u64;
            // Present, DPL 0, 64-bit interrupt gate, selector 0x08.
            let low = (handler & 0xFFFF) | (0x08 << 16) | (0x8E00 << 32) | ((handler >> 16) & 0xFFFF) << 48;
            // SAFETY: only the first CPU writes the table, before any
            // other CPU runs and before interrupts are unmasked.
            unsafe {
                (*idt)[2 * vector] = low;
                (*idt)[2 * vector + 1] = handler >> 32;
            }
        }
    }
    let pointer: [u64; 2] = [(4096 - 1) | ((idt as u64) << 16), (idt as u64) >> 48];
    // SAFETY: the pointer names the IDT above, which lives forever.
    unsafe { asm!("lidt [{}]", in(reg) pointer.as_ptr().cast::<u8>().add(0), options(readonly, nostack)) };
    if primary {
        X2APIC.store(cpuid(1)[2] & (1 << 21) != 0, Ordering::Relaxed);
    }
    let x2apic = if X2APIC.load(Ordering::Relaxed) { 1 << 10 } else { 0 };
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | x2apic | (1 << 11));
    apic_write(APIC_SVR, 0x100 | SPURIOUS_VECTOR);
    // The firmware's 8259s stay out: masked, and LINT0/LINT1 masked.
    if primary {
        outb(0x21, 0xFF);
        outb(0xA1, 0xFF);
    }
    apic_write(APIC_LVT_LINT0, LVT_MASKED);
    apic_write(APIC_LVT_LINT1, LVT_MASKED);
    apic_write(APIC_DIVIDE, 0b1011);
    apic_write(APIC_LVT_TIMER, LVT_MASKED | TIMER_VECTOR);
    if primary {
        calibrate();
    }
}

/// Measures TSC ticks against the APIC timer: three rounds of 10 ms, each
/// from a TSC read and an APIC count read made back to back at both ends
/// (so a CPU taken away in between does not count), the median kept.
fn calibrate() {
    apic_write(APIC_INITIAL_COUNT, u64::from(u32::MAX));
    let sample = || (now(), apic_read(APIC_CURRENT_COUNT));
    let mut rounds = [0u64; 3];
    for round in &mut rounds {
        let (t0, c0) = sample();
        let (mut t1, mut c1) = (t0, c0);
        while c0.saturating_sub(c1) < APIC_TIMER_HZ / 100 {
            (t1, c1) = sample();
        }
        *round = ((u128::from(t1 - t0) * u128::from(APIC_TIMER_HZ)) / u128::from(c0 - c1)) as u64;
    }
    apic_write(APIC_INITIAL_COUNT, 0);
    rounds.sort_unstable();
    COUNTER_HZ.store(rounds[1].max(1), Ordering::Relaxed);
}

/// A bare run's mode, from the mailbox the QEMU loader filled (a VM's
/// mode is its entry point, and its RAM may end below the mailbox).
pub fn mode_override() -> Option<u64> {
    if under_hypervisor() {
        return None;
    }
    // SAFETY: RAM at MODE_MAILBOX exists on the probe's machines and
    // nothing else uses it; an unset mailbox holds no magic.
    let word = unsafe { (MODE_MAILBOX as *const u64).read_volatile() };
    (word as u32 == MODE_MAGIC).then_some(word >> 32)
}

/// The hypervisor's call `nr` (VMMCALL): `Ok(RAX)`, or `Err` with the
/// negative errno it answered.
pub fn hv_call(nr: u64, args: [u64; 3]) -> Result<u64, u64> {
    let ret: u64;
    // SAFETY: VMMCALL only asks the hypervisor; RBX is saved around it
    // (the compiler reserves it).
    unsafe {
        asm!(
            "xchg rbx, {b}",
            "vmmcall",
            "xchg rbx, {b}",
            b = inout(reg) args[0] => _,
            inout("rax") nr => ret,
            in("rcx") args[1],
            in("rdx") args[2],
            options(nostack),
        )
    };
    if (ret as i64) < 0 && (ret as i64) > -4096 { Err(ret) } else { Ok(ret) }
}

/// Sends an ICR command to the APIC with id `target`.
fn send_icr(target: u64, command: u64) {
    if X2APIC.load(Ordering::Relaxed) {
        wrmsr(APIC_ICR, (target << 32) | command);
    } else {
        xapic_write(APIC_ICR + 1, (target as u32) << 24);
        xapic_write(APIC_ICR, command as u32);
        // Wait until the xAPIC took the command (delivery status clear).
        while xapic_read(APIC_ICR) & (1 << 12) != 0 {
            core::hint::spin_loop();
        }
    }
}

/// The xAPIC's register of x2APIC number `msr`.
fn xapic_register(msr: u32) -> usize {
    XAPIC_BASE + ((msr as usize - 0x800) << 4)
}

fn xapic_write(msr: u32, value: u32) {
    // SAFETY: the xAPIC's registers are at XAPIC_BASE (identity-mapped);
    // the probe writes only its own APIC's.
    unsafe { (xapic_register(msr) as *mut u32).write_volatile(value) };
}

fn xapic_read(msr: u32) -> u32 {
    // SAFETY: as in `xapic_write`.
    unsafe { (xapic_register(msr) as *const u32).read_volatile() }
}

/// Writes local APIC register `msr` (its x2APIC number) in the APIC's mode.
fn apic_write(msr: u32, value: u64) {
    if X2APIC.load(Ordering::Relaxed) { wrmsr(msr, value) } else { xapic_write(msr, value as u32) }
}

/// Reads local APIC register `msr` (its x2APIC number).
fn apic_read(msr: u32) -> u64 {
    if X2APIC.load(Ordering::Relaxed) { rdmsr(msr) } else { u64::from(xapic_read(msr)) }
}

/// Starts the second CPU: INIT, then a start-up IPI at the trampoline
/// (`entry` is always the trampoline here). A CPU that is already running
/// ignores a start-up IPI, which the probe checks and answers ALREADY_ON.
pub fn cpu_on(target: u64, _entry: u64, context: u64) -> Result<(), u64> {
    let starts = AP_STARTS.load(Ordering::Acquire);
    if starts > 0 {
        send_icr(target, 0x4600 | (TRAMPOLINE as u64 >> 12));
        let hz = counter_hz();
        crate::suite::wait_for(hz / 100, || false);
        return if AP_STARTS.load(Ordering::Acquire) == starts { Err(ALREADY_ON) } else { Ok(()) };
    }
    unsafe extern "C" {
        static ap_trampoline: u8;
        static ap_trampoline_end: u8;
    }
    let (start, end) = (&raw const ap_trampoline as usize, &raw const ap_trampoline_end as usize);
    // SAFETY: the trampoline's bytes are the image's; its copy goes to
    // low RAM nothing else of the probe uses.
    unsafe { core::ptr::copy_nonoverlapping(start as *const u8, TRAMPOLINE as *mut u8, end - start) };
    AP_CONTEXT.store(context, Ordering::Release);
    AP_PARKED.store(false, Ordering::Release);
    // INIT, 10 ms, start-up; a second start-up if the first went unseen
    // (the sequence the MP specification gives: on a machine the INIT may
    // reach the CPU late).
    let hz = counter_hz();
    send_icr(target, 0x4500);
    crate::suite::wait_for(hz / 100, || false);
    send_icr(target, 0x4600 | (TRAMPOLINE as u64 >> 12));
    if !crate::suite::wait_for(hz / 100, || AP_STARTS.load(Ordering::Acquire) > starts) {
        send_icr(target, 0x4600 | (TRAMPOLINE as u64 >> 12));
    }
    Ok(())
}

/// Whether the second CPU parked itself (x86 has no query for another
/// CPU's state: the CPU says so before it halts for good).
pub fn cpu_is_off(_target: u64) -> bool {
    AP_PARKED.load(Ordering::Acquire)
}

/// Parks the calling CPU: interrupts masked, halted for good.
pub fn cpu_off() {
    AP_PARKED.store(true, Ordering::Release);
    loop {
        irq_disable();
        wfi();
    }
}

/// Powers the machine (or VM) off through ACPI PM1a (S5); returns only
/// on failure. The machine may take a moment to act on the write (QEMU
/// does so between instructions), so a second passes before that.
pub fn system_off() {
    // SAFETY: writing SLP_TYP S5 | SLP_EN to PM1a_CNT powers off.
    unsafe { asm!("out dx, ax", in("dx") 0x604u16, in("ax") 0x2000u16, options(nomem, nostack, preserves_flags)) };
    crate::suite::wait_for(counter_hz(), || false);
}

/// The suite's power-off (check 8): the same ACPI write.
pub fn suite_system_off() {
    system_off();
}

/// Lets this CPU take the timer interrupt.
pub fn timer_irq_enable_this_cpu() {
    apic_write(APIC_LVT_TIMER, TIMER_VECTOR);
}

/// IPIs need no enabling beyond the APIC's.
pub fn ipi_enable_this_cpu() {}

/// Sends the probe's IPI to CPU `target`.
pub fn send_ipi(target: u64) {
    send_icr(target, 0x4000 | IPI_VECTOR);
}

/// The CPU the SMP check starts.
pub fn second_cpu() -> u64 {
    1
}

fn ioapic_write(reg: u32, value: u32) {
    // SAFETY: the I/O APIC's IOREGSEL and IOWIN at IOAPIC (emulated under
    // the hypervisor); writes only program its redirection table.
    unsafe {
        (IOAPIC as *mut u32).write_volatile(reg);
        ((IOAPIC + 0x10) as *mut u32).write_volatile(value);
    }
}

fn ioapic_read(reg: u32) -> u32 {
    // SAFETY: as in `ioapic_write`.
    unsafe {
        (IOAPIC as *mut u32).write_volatile(reg);
        ((IOAPIC + 0x10) as *const u32).read_volatile()
    }
}

/// Routes COM1's pin to the probe's vector on CPU 0 and enables the
/// transmit-empty interrupt at the UART.
pub fn uart_irq_arm() {
    let pin = UART_IRQ as u32;
    ioapic_write(0x10 + 2 * pin + 1, 0);
    ioapic_write(0x10 + 2 * pin, UART_VECTOR as u32);
    irq_enable();
    // MCR: DTR, RTS, OUT2 (the PC's interrupt enable); IER: THRE.
    outb(COM1 + 4, 0x0B);
    outb(COM1 + 1, 0x02);
}

/// Masks the UART's interrupts again.
pub fn uart_irq_disarm() {
    outb(COM1 + 1, 0);
    ioapic_write(0x10 + 2 * UART_IRQ as u32, 1 << 16);
}

/// One emulated-MMIO read (the benchmark's): the I/O APIC's window.
pub fn mmio_read() -> Option<u32> {
    // SAFETY: as in `ioapic_read`; IOREGSEL keeps what it was set to.
    Some(unsafe { ((IOAPIC + 0x10) as *const u32).read_volatile() })
}

/// Check 2: the I/O APIC as the 82093AA says: 24 redirection entries,
/// an entry's vector and mask read back, read-only bits stay clear.
pub fn emulated_mmio_check() -> Option<Outcome> {
    Some(ioapic_check())
}

fn ioapic_check() -> Outcome {
    let version = ioapic_read(1);
    ensure((version >> 16) & 0xFF == 23, "not 24 redirection entries", u64::from(version))?;
    let entry = 0x10 + 2 * 10;
    ioapic_write(entry, 0x1_0045 | 1 << 12);
    let read = ioapic_read(entry);
    ensure(read & 0x1_10FF == 0x1_0045, "entry 10 did not read back", u64::from(read))?;
    ensure(read & (1 << 12) == 0, "delivery status is writable", u64::from(read))?;
    ioapic_write(entry, 1 << 16);
    Ok(())
}

/// Check 6: CPUID as the hypervisor promises it: the hypervisor bit and
/// its signature leaf, x2APIC shown, SVM and VMX hidden. Bare, only that
/// CPUID answers.
pub fn firmware_check() -> Outcome {
    let max = cpuid(0)[0];
    ensure(max >= 1, "no CPUID leaf 1", u64::from(max))?;
    if !under_hypervisor() {
        return Ok(());
    }
    let leaf1 = cpuid(1);
    ensure(leaf1[2] & (1 << 21) != 0, "x2APIC not shown", u64::from(leaf1[2]))?;
    ensure(leaf1[2] & (1 << 5) == 0, "VMX shown", u64::from(leaf1[2]))?;
    let ext = cpuid(0x8000_0001);
    ensure(ext[2] & (1 << 2) == 0, "SVM shown", u64::from(ext[2]))?;
    ensure(cpuid(0x8000_000A) == [0; 4], "SVM feature leaf not empty", 0)
}

/// Address of the second CPU's entry: the trampoline.
pub fn secondary_entry() -> u64 {
    TRAMPOLINE as u64
}

/// The second CPU says it is up (each start counts).
pub fn secondary_started() {
    AP_STARTS.fetch_add(1, Ordering::AcqRel);
}

fn eoi() {
    apic_write(APIC_EOI, 0);
}

/// Exceptions that push an error code.
const WITH_ERROR_CODE: u64 = 1 << 8 | 1 << 10 | 1 << 11 | 1 << 12 | 1 << 13 | 1 << 14 | 1 << 17 | 1 << 21;

#[unsafe(no_mangle)]
extern "C" fn x86_trap(vector: u64, frame: *const u64) {
    match vector {
        TIMER_VECTOR => {
            irq::on_timer();
            eoi();
        }
        IPI_VECTOR => {
            irq::on_ipi();
            eoi();
        }
        UART_VECTOR => {
            outb(COM1 + 1, 0);
            irq::on_device(UART_IRQ);
            eoi();
        }
        SPURIOUS_VECTOR => {}
        0..32 => {
            let pushed_code = WITH_ERROR_CODE & (1 << vector) != 0;
            // SAFETY: the CPU (or the stub, with 0) pushed the error code
            // at `frame`, RIP after it.
            let (error_code, rip) = unsafe { (frame.read(), frame.add(1).read()) };
            if hostile_cpu::expected(vector, frame.cast_mut(), pushed_code.then_some(error_code)) {
                return;
            }
            let cr2: u64;
            // SAFETY: reading CR2 has no side effects.
            unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
            crate::unexpected(vector, error_code, rip, cr2)
        }
        other => {
            irq::on_other(other);
            eoi();
        }
    }
}

/// Modes past the common ones: 4 the SSE isolation check, 5 + k the
/// hostile cases.
pub fn extra_mode(mode: u64) -> bool {
    if mode == 4 {
        crate::fpcheck::run();
        return true;
    }
    match hostile::CASES.get(mode.wrapping_sub(5) as usize) {
        Some((name, case)) => {
            crate::console::println!("probe: hostile case {name}");
            case();
            true
        }
        None => false,
    }
}

/// The second CPU counts its start, then goes to the SSE isolation check
/// if it was started for it, else to the suite's check.
pub fn secondary_mode(context: u64) {
    secondary_started();
    if context == crate::fpcheck::CONTEXT {
        crate::fpcheck::secondary();
    }
    if context == drcheck::CONTEXT {
        drcheck::secondary();
    }
}

/// Check 10 is about the GIC.
pub fn gic_conformance_check() -> Option<Outcome> {
    None
}

/// Check 12 is about the Arm physical timer.
pub fn physical_timer_check() -> Option<Outcome> {
    None
}

/// No virtio-blk benchmark here.
pub fn virtio_blk_bench(iters: u64) -> Option<(u64, u64)> {
    let _ = iters;
    None
}

/// No virtio-net benchmark here.
pub fn virtio_net_bench(frames: u64) -> Option<[u64; 2]> {
    let _ = frames;
    None
}

/// No Arm physical timer to benchmark.
pub fn physical_timer_bench() -> Option<(u32, u64, u64, u64)> {
    None
}

/// Check 11 is about SBI.
pub fn sbi_conformance_check() -> Option<Outcome> {
    None
}
