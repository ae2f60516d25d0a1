//! EL1 system registers the probe uses: counter, virtual timer, interrupt
//! mask, identity map.

use core::arch::asm;

/// Counter frequency in Hz.
pub fn counter_hz() -> u64 {
    let v: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Virtual counter, ordered after earlier instructions.
pub fn now() -> u64 {
    let v: u64;
    // SAFETY: `isb` and reading CNTVCT_EL0 have no side effects.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Arms the virtual timer to fire at counter value `deadline`.
pub fn timer_arm(deadline: u64) {
    // SAFETY: programming the EL1 virtual timer only affects when PPI 27
    // becomes pending.
    unsafe {
        asm!("msr cntv_cval_el0, {}", "msr cntv_ctl_el0, {}", "isb",
             in(reg) deadline, in(reg) 1u64, options(nomem, nostack));
    }
}

/// Disables the virtual timer (its interrupt stops being asserted).
pub fn timer_disable() {
    // SAFETY: see `timer_arm`.
    unsafe { asm!("msr cntv_ctl_el0, xzr", "isb", options(nomem, nostack)) };
}

/// Unmasks IRQs at EL1.
pub fn irq_enable() {
    // SAFETY: the vector table is installed before any interrupt is enabled.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
}

/// Masks IRQs at EL1.
pub fn irq_disable() {
    // SAFETY: masking interrupts is always allowed.
    unsafe { asm!("msr daifset, #2", options(nomem, nostack)) };
}

/// Waits for an interrupt.
pub fn wfi() {
    // SAFETY: `wfi` only idles the CPU.
    unsafe { asm!("dsb sy", "wfi", options(nomem, nostack)) };
}

/// Whether EL2 is implemented: true under a hypervisor on the test
/// machine (`virtualization=on`), false on the bare baseline machine.
pub fn el2_implemented() -> bool {
    let pfr0: u64;
    // SAFETY: reading ID_AA64PFR0_EL1 has no side effects.
    unsafe { asm!("mrs {}, id_aa64pfr0_el1", out(reg) pfr0, options(nomem, nostack)) };
    (pfr0 >> 8) & 0xf != 0
}

/// One level-1 table of 1 GiB blocks: the first GiB (devices) as
/// device memory, the second (RAM) as normal write-back memory.
#[repr(C, align(4096))]
struct Table([u64; 512]);

static mut IDENTITY_MAP: Table = Table([0; 512]);

const BLOCK: u64 = 0b01;
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 0b11 << 8;
const ATTR_DEVICE: u64 = 0 << 2;
const ATTR_NORMAL: u64 = 1 << 2;
const XN: u64 = (1 << 53) | (1 << 54);

/// Turns on the MMU and caches with the identity map (built by CPU 0).
pub fn mmu_enable(build: bool) {
    let table = &raw mut IDENTITY_MAP;
    if build {
        // SAFETY: only CPU 0 builds the table, before any other CPU runs.
        unsafe {
            (*table).0[0] = BLOCK | AF | ATTR_DEVICE | XN;
            (*table).0[1] = 0x4000_0000 | BLOCK | AF | SH_INNER | ATTR_NORMAL;
        }
    }
    let mair: u64 = 0xff << 8; // attr0 device-nGnRnE, attr1 normal WB
    // T0SZ = 32 (4 GiB), inner/outer WB WA, inner shareable, 4 KiB granule,
    // no TTBR1 walks, 32-bit physical addresses.
    let tcr: u64 = 32 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23);
    // SAFETY: the table identity-maps all code, data and devices the probe
    // uses, so execution continues at the same addresses with the MMU on.
    unsafe {
        asm!(
            "msr mair_el1, {mair}",
            "msr tcr_el1, {tcr}",
            "msr ttbr0_el1, {ttbr}",
            "isb",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            "mrs {tmp}, sctlr_el1",
            "orr {tmp}, {tmp}, #(1 << 0)",
            "orr {tmp}, {tmp}, #(1 << 2)",
            "orr {tmp}, {tmp}, #(1 << 12)",
            "msr sctlr_el1, {tmp}",
            "isb",
            mair = in(reg) mair, tcr = in(reg) tcr, ttbr = in(reg) table as u64,
            tmp = out(reg) _, options(nostack),
        );
    }
}
