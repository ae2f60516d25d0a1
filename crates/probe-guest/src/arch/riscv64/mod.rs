//! riscv64 in S-mode (VS-mode under the hypervisor): NS16550 UART, the
//! `time` counter with SBI TIME, SBI HSM and IPI, and the hypervisor's own
//! SBI extension.

pub mod doorbell;
mod fpcheck;
pub use fpcheck::{FP_CHECK, fp_count_wrong, fp_enable, fp_fill};
mod hostile;
mod hsm;
mod sbi;

use crate::irq;
use crate::suite::{Outcome, ensure};

core::arch::global_asm!(include_str!("boot.S"));

/// Guest-physical address in no region and no device of the probe's VM.
pub const UNMAPPED_GPA: usize = 0x3f00_0000;
/// Name of the firmware-interface check.
pub const FIRMWARE_CHECK: &str = "sbi-base-probe";
/// Where a bare run finds its mode (`-device loader,addr=...,data=...`):
/// `MODE_MAGIC` in the low word, the mode in the high word.
const MODE_MAILBOX: usize = 0x8100_0000;
const MODE_MAGIC: u32 = 0x4d4f_4445; // "MODE"
/// QEMU virt's timebase (`/cpus/timebase-frequency`).
const TIMEBASE_HZ: u64 = 10_000_000;

const UART_BASE: usize = 0x1000_0000;
const UART_LSR: usize = 5;
const LSR_THRE: u8 = 1 << 5;

const SIE_SSIE: u64 = 1 << 1;
const SIE_SEIE: u64 = 1 << 9;
const UART_IER: usize = 1;
const IER_ETBEI: u8 = 1 << 1;

/// The UART's PLIC source.
pub const UART_IRQ: u64 = UART_SOURCE as u64;
const SIE_STIE: u64 = 1 << 5;
const SSTATUS_SIE: u64 = 1 << 1;
const INTERRUPT: u64 = 1 << 63;

/// Sends one byte to the UART.
pub fn put_byte(b: u8) {
    // SAFETY: the NS16550 is at UART_BASE (passed through under the
    // hypervisor); LSR reads and THR writes only send the byte.
    unsafe {
        while ((UART_BASE + UART_LSR) as *const u8).read_volatile() & LSR_THRE == 0 {}
        (UART_BASE as *mut u8).write_volatile(b);
    }
}

/// Counter frequency in Hz.
pub fn counter_hz() -> u64 {
    TIMEBASE_HZ
}

/// The `time` counter.
pub fn now() -> u64 {
    let t: u64;
    // SAFETY: reading `time` has no side effects.
    unsafe { core::arch::asm!("rdtime {0}", out(reg) t, options(nomem, nostack)) };
    t
}

/// Arms the timer for absolute time `deadline` (SBI TIME).
pub fn timer_arm(deadline: u64) {
    sbi::set_timer(deadline);
}

fn timer_disable() {
    sbi::set_timer(u64::MAX);
}

/// Unmasks interrupts.
pub fn irq_enable() {
    // SAFETY: stvec points at the trap vector before anything unmasks.
    unsafe { core::arch::asm!("csrs sstatus, {0}", in(reg) SSTATUS_SIE, options(nomem, nostack)) };
}

/// Masks interrupts.
pub fn irq_disable() {
    // SAFETY: masking interrupts is always allowed.
    unsafe { core::arch::asm!("csrc sstatus, {0}", in(reg) SSTATUS_SIE, options(nomem, nostack)) };
}

/// Waits for an interrupt.
pub fn wfi() {
    // SAFETY: `wfi` only idles the hart.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
}

fn enable_interrupt(bits: u64) {
    // SAFETY: enabling interrupt sources the trap vector handles.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) bits, options(nomem, nostack)) };
}

/// Whether a hypervisor runs the probe: the SBI implementation is ours.
pub fn under_hypervisor() -> bool {
    sbi::impl_id() == sbi::AXVISOR_IMPL_ID
}

/// Nothing to set up: the probe runs with translation off.
pub fn init_cpu(_primary: bool) {}

/// A bare run's mode, from the mailbox the QEMU loader filled.
pub fn mode_override() -> Option<u64> {
    // SAFETY: RAM at MODE_MAILBOX exists on the probe's machines and
    // nothing else uses it; an unset mailbox holds no magic.
    let word = unsafe { (MODE_MAILBOX as *const u64).read_volatile() };
    (word as u32 == MODE_MAGIC).then_some(word >> 32)
}

/// The hypervisor's call `fid`: `Ok(a1)` or `Err(a0)`.
pub fn hv_call(fid: u64, args: [u64; 3]) -> Result<u64, u64> {
    sbi::call(sbi::EID_HYPERVISOR, fid, args)
}

/// Starts hart `target` at `entry` with `a1 = context` (SBI HSM).
pub fn cpu_on(target: u64, entry: u64, context: u64) -> Result<(), u64> {
    sbi::call(sbi::EID_HSM, 0, [target, entry, context]).map(|_| ())
}

/// The refusal code for starting a hart that is already started
/// (SBI_ERR_ALREADY_AVAILABLE).
pub const ALREADY_ON: u64 = (-6i64) as u64;

/// Whether hart `target` is stopped (SBI HSM status).
pub fn cpu_is_off(target: u64) -> bool {
    sbi::call(sbi::EID_HSM, 2, [target, 0, 0]) == Ok(1)
}

/// Stops the calling hart; returns only on failure.
pub fn cpu_off() {
    let _ = sbi::call(sbi::EID_HSM, 1, [0; 3]);
}

/// Powers the machine (or VM) off; returns only on failure.
pub fn system_off() {
    let _ = sbi::call(sbi::EID_SRST, 0, [0; 3]);
}

/// The suite's power-off (check 8): the legacy SBI v0.1 shutdown (0x08),
/// which SRST replaced; returns only on failure.
pub fn suite_system_off() {
    sbi::legacy_shutdown();
}

/// Lets this hart take the timer interrupt.
pub fn timer_irq_enable_this_cpu() {
    enable_interrupt(SIE_STIE);
}

/// Lets this hart take the IPI.
pub fn ipi_enable_this_cpu() {
    enable_interrupt(SIE_SSIE);
}

/// Sends an IPI to hart `target` (SBI sPI).
pub fn send_ipi(target: u64) {
    let _ = sbi::call(sbi::EID_IPI, 0, [1 << target, 0, 0]);
}

const PLIC_BASE: usize = 0x0c00_0000;
/// The UART's PLIC source on QEMU virt.
const UART_SOURCE: usize = 10;

/// The hart the probe booted on (`a0` at entry), written by `boot.S`.
#[unsafe(no_mangle)]
static BOOT_HART: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn boot_hart() -> u64 {
    BOOT_HART.load(core::sync::atomic::Ordering::Relaxed)
}

/// The hart the probe booted on.
pub fn first_cpu() -> u64 {
    boot_hart()
}

/// The hart the SMP check starts: the other one of the two.
pub fn second_cpu() -> u64 {
    if boot_hart() == 0 { 1 } else { 0 }
}

/// The boot hart's supervisor context at the PLIC.
fn plic_context() -> usize {
    2 * boot_hart() as usize + 1
}

fn plic_read(offset: usize) -> u32 {
    // SAFETY: the PLIC frame is at PLIC_BASE (emulated under the
    // hypervisor); the offsets used are its architected registers.
    unsafe { ((PLIC_BASE + offset) as *const u32).read_volatile() }
}

fn plic_write(offset: usize, value: u32) {
    // SAFETY: as in `plic_read`.
    unsafe { ((PLIC_BASE + offset) as *mut u32).write_volatile(value) }
}

fn uart_ier(value: u8) {
    // SAFETY: IER only enables the UART's own interrupts.
    unsafe { ((UART_BASE + UART_IER) as *mut u8).write_volatile(value) }
}

/// Enables the UART source for the boot hart at the PLIC and the transmit-empty
/// interrupt at the UART.
pub fn uart_irq_arm() {
    plic_write(4 * UART_SOURCE, 1);
    plic_write(0x2000 + 0x80 * plic_context(), 1 << UART_SOURCE);
    plic_write(0x20_0000 + 0x1000 * plic_context(), 0);
    enable_interrupt(SIE_SEIE);
    irq_enable();
    uart_ier(IER_ETBEI);
}

/// Masks the UART's interrupts again.
pub fn uart_irq_disarm() {
    uart_ier(0);
    plic_write(0x2000 + 0x80 * plic_context(), 0);
}

/// Claims the external interrupt, silences the UART, completes it.
fn external_interrupt() {
    let claim = 0x20_0000 + 0x1000 * plic_context() + 4;
    let source = plic_read(claim);
    if source as usize == UART_SOURCE {
        uart_ier(0);
        irq::on_device(UART_IRQ);
    } else if doorbell::is_doorbell(source) {
        crate::channel::on_doorbell();
    } else if source != 0 {
        irq::on_other(u64::from(source));
    }
    if source != 0 {
        plic_write(claim, source);
    }
}

/// One emulated-MMIO read (the benchmark's): a PLIC priority register.
pub fn mmio_read() -> Option<u32> {
    Some(plic_read(4 * UART_SOURCE))
}

/// Check 2: the PLIC as the specification says: 3-bit priorities stored,
/// a context's enable bits and threshold read back, claiming with nothing
/// pending returns 0.
pub fn emulated_mmio_check() -> Option<Outcome> {
    Some(plic())
}

fn plic() -> Outcome {
    let priority = 4 * UART_SOURCE;
    plic_write(priority, 0xff);
    let wide = plic_read(priority);
    ensure(wide == 7, "priority is not 3 bits wide", u64::from(wide))?;
    plic_write(priority, 5);
    ensure(plic_read(priority) == 5, "priority did not read back", u64::from(plic_read(priority)))?;
    let enable = 0x2000 + 0x80 * plic_context();
    plic_write(enable, 1 << UART_SOURCE);
    let set = plic_read(enable);
    ensure(set == 1 << UART_SOURCE, "enable bit did not read back", u64::from(set))?;
    let threshold = 0x20_0000 + 0x1000 * plic_context();
    plic_write(threshold, 3);
    ensure(plic_read(threshold) == 3, "threshold did not read back", u64::from(plic_read(threshold)))?;
    let claimed = plic_read(threshold + 4);
    ensure(claimed == 0, "claim returned a source with nothing pending", u64::from(claimed))?;
    plic_write(enable, 0);
    plic_write(threshold, 0);
    plic_write(priority, 0);
    Ok(())
}

/// Check 6: SBI BASE answers valid values: spec version at least 0.2, the
/// extensions the probe uses are there, an undefined one is not.
pub fn firmware_check() -> Outcome {
    let version = sbi::call(sbi::EID_BASE, 0, [0; 3]).unwrap_or(0);
    ensure(version >= 2, "SBI spec version below 0.2", version)?;
    for eid in [sbi::EID_TIME, sbi::EID_IPI, sbi::EID_HSM, sbi::EID_SRST] {
        let available = sbi::call(sbi::EID_BASE, 3, [eid, 0, 0]).unwrap_or(0);
        ensure(available != 0, "a needed extension is not offered", eid)?;
    }
    let bogus = sbi::call(sbi::EID_BASE, 3, [0x0bad_0000, 0, 0]).unwrap_or(1);
    ensure(bogus == 0, "an undefined extension is reported available", bogus)
}

/// Address of the second hart's entry.
pub fn secondary_entry() -> u64 {
    unsafe extern "C" {
        fn secondary_entry();
    }
    secondary_entry as *const () as u64
}

#[unsafe(no_mangle)]
extern "C" fn trap_handler(scause: u64, sepc: u64, stval: u64) {
    match scause {
        c if c == INTERRUPT | 5 => {
            timer_disable();
            irq::on_timer();
        }
        c if c == INTERRUPT | 1 => {
            // SAFETY: clearing the pending software interrupt acknowledges it.
            unsafe { core::arch::asm!("csrc sip, {0}", in(reg) SIE_SSIE, options(nomem, nostack)) };
            irq::on_ipi();
        }
        c if c == INTERRUPT | 9 => external_interrupt(),
        c if c & INTERRUPT != 0 => irq::on_other(c & !INTERRUPT),
        c if hostile::take_expected_trap(c, sepc) => {}
        _ => crate::unexpected(0, scause, sepc, stval),
    }
}

/// Modes past the common ones: 4 floating-point (and S-level CSR)
/// isolation, 5 + k hostile case k, 18 two vCPUs on one CPU, 40 to 46
/// the shared-memory channel's roles. False if `mode` is none of them.
pub fn extra_mode(mode: u64) -> bool {
    match mode {
        4 => crate::fpcheck::run(),
        5..=16 => return hostile::run(mode - 5),
        18 => crate::shared::run(),
        crate::channel::FIRST_MODE..=crate::channel::LAST_MODE => crate::channel::run(mode),
        _ => return false,
    }
    true
}

/// A second hart started for one of the extra modes goes there instead
/// of the suite's check.
pub fn secondary_mode(context: u64) {
    match context {
        crate::fpcheck::CONTEXT => crate::fpcheck::secondary(),
        crate::shared::CONTEXT => crate::shared::secondary(),
        hsm::CONTEXT => hsm::secondary(),
        _ => {}
    }
}

/// Check 10 is about the GIC.
pub fn gic_conformance_check() -> Option<crate::suite::Outcome> {
    None
}

/// Check 12 is about the Arm physical timer.
pub fn physical_timer_check() -> Option<crate::suite::Outcome> {
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

/// Check 11: SBI conformance (see `sbi::conformance`).
pub fn sbi_conformance_check() -> Option<crate::suite::Outcome> {
    Some(sbi::conformance(boot_hart(), under_hypervisor()))
}

