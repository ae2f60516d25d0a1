//! The GIC registers the probe touches, GICv2 or GICv3 (QEMU virt's
//! addresses; the ID register says which). Under the hypervisor the
//! distributor (and redistributors) are emulated and the CPU interface is
//! the virtual one.

use core::arch::asm;

const GICD: usize = 0x0800_0000;
const GICC: usize = 0x0801_0000;
/// GICv3: the first redistributor; CPU n's is `STRIDE` bytes further each.
const GICR: usize = 0x080a_0000;
const GICR_STRIDE: usize = 0x2_0000;
const GICR_WAKER: usize = 0x14;
/// GICv3: where a redistributor's SGI and PPI registers start, at the
/// distributor's offsets.
const GICR_SGI_BASE: usize = 0x1_0000;
/// GICv3 distributor: group registers and the routing of SPI n.
const GICD_IGROUPR: usize = 0x080;
const GICD_IROUTER: usize = 0x6000;

/// Whether the machine's GIC is a GICv3 (ID_AA64PFR0_EL1.GIC: the CPU
/// interface is system registers).
/// Read once: a hypervisor may trap ID registers (HCR_EL2.TID3), which
/// would add an exit to every GIC access.
pub fn is_v3() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => return false,
        2 => return true,
        _ => {}
    }
    let pfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { asm!("mrs {0}, id_aa64pfr0_el1", out(reg) pfr0, options(nomem, nostack)) };
    let v3 = (pfr0 >> 24) & 0xf != 0;
    KNOWN.store(if v3 { 2 } else { 1 }, Ordering::Relaxed);
    v3
}

/// This CPU's number (Aff0).
fn this_cpu() -> usize {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {0}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    (mpidr & 0xff) as usize
}

/// Where this CPU's SGI and PPI registers are: the distributor (GICv2,
/// banked) or its redistributor's SGI frame (GICv3).
fn private_base() -> usize {
    if is_v3() { GICR + this_cpu() * GICR_STRIDE + GICR_SGI_BASE } else { GICD }
}

/// Reads register `offset` of this CPU's SGIs and PPIs (ISENABLER0,
/// ISPENDR0, IPRIORITYR0-7, ...).
pub fn private_read(offset: usize) -> u32 {
    // SAFETY: the GIC's frames are mapped as device memory; `offset` is an
    // architected register of this CPU's SGIs and PPIs.
    unsafe { ((private_base() + offset) as *const u32).read_volatile() }
}

/// Writes register `offset` of this CPU's SGIs and PPIs.
pub fn private_write(offset: usize, value: u32) {
    // SAFETY: as in `private_read`.
    unsafe { ((private_base() + offset) as *mut u32).write_volatile(value) }
}

/// Distributor register offsets.
pub mod gicd {
    /// Control.
    pub const CTLR: usize = 0x000;
    /// Interrupt controller type.
    pub const TYPER: usize = 0x004;
    /// Set-enable, one bit per interrupt.
    pub const ISENABLER: usize = 0x100;
    /// Clear-enable, one bit per interrupt.
    pub const ICENABLER: usize = 0x180;
    /// Set-pending, clear-pending, set-active, one bit per interrupt.
    pub const ISPENDR: usize = 0x200;
    /// See [`ISPENDR`].
    pub const ICPENDR: usize = 0x280;
    /// See [`ISPENDR`].
    pub const ISACTIVER: usize = 0x300;
    /// Clear-active, one bit per interrupt.
    pub const ICACTIVER: usize = 0x380;
    /// Priority, one byte per interrupt.
    pub const IPRIORITYR: usize = 0x400;
    /// CPU targets, one byte per interrupt.
    pub const ITARGETSR: usize = 0x800;
    /// Software-generated interrupts.
    pub const SGIR: usize = 0xF00;
}

const GICC_CTLR: usize = 0x00;
const GICC_PMR: usize = 0x04;
const GICC_IAR: usize = 0x0C;
const GICC_EOIR: usize = 0x10;

/// Interrupt id the virtual timer raises.
pub const VTIMER_PPI: u32 = 27;
/// Interrupt id of "no pending interrupt".
pub const SPURIOUS: u32 = 1023;

/// Reads a distributor register.
pub fn gicd_read(offset: usize) -> u32 {
    // SAFETY: GICD is mapped as device memory; the offsets used are
    // architected GICv2 distributor registers.
    unsafe { ((GICD + offset) as *const u32).read_volatile() }
}

/// Writes a distributor register.
pub fn gicd_write(offset: usize, value: u32) {
    // SAFETY: as in `gicd_read`.
    unsafe { ((GICD + offset) as *mut u32).write_volatile(value) }
}

fn gicc_write(offset: usize, value: u32) {
    // SAFETY: GICC is mapped as device memory; writes to CTLR, PMR and EOIR
    // only change this CPU's interrupt state.
    unsafe { ((GICC + offset) as *mut u32).write_volatile(value) }
}

/// Enables the distributor and this CPU's interface, unmasking every
/// priority, and enables `irq` (an SGI or PPI of this CPU).
pub fn init_cpu(irq: u32) {
    init(irq, true);
}

/// As [`init_cpu`], but leaving GICR_WAKER as reset left it (GICv3): a
/// guest that never wakes its redistributor, as KVM and QEMU allow.
pub fn init_cpu_no_waker(irq: u32) {
    init(irq, false);
}

/// Reads this CPU's GICR_WAKER (GICv3).
pub fn waker() -> u32 {
    // SAFETY: GICR_WAKER of this CPU's redistributor, device memory; a
    // read has no side effects.
    unsafe { ((GICR + this_cpu() * GICR_STRIDE + GICR_WAKER) as *const u32).read_volatile() }
}

fn init(irq: u32, wake: bool) {
    let word = gicd::IPRIORITYR + (irq as usize & !3);
    let shift = (irq % 4) * 8;
    if !is_v3() {
        gicd_write(gicd::CTLR, 1);
        gicd_write(word, (gicd_read(word) & !(0xff << shift)) | (0xa0 << shift));
        gicd_write(gicd::ISENABLER, 1 << irq);
        gicc_write(GICC_PMR, 0xff);
        gicc_write(GICC_CTLR, 1);
        return;
    }
    // Affinity routing and Group 1; the redistributor awake; the
    // interrupt in Group 1; the CPU interface's Group 1 on.
    gicd_write(gicd::CTLR, (1 << 4) | (1 << 1));
    if wake {
        let waker = GICR + this_cpu() * GICR_STRIDE + GICR_WAKER;
        // SAFETY: GICR_WAKER of this CPU's redistributor, device memory.
        unsafe {
            (waker as *mut u32).write_volatile(0);
            while (waker as *const u32).read_volatile() & (1 << 2) != 0 {}
        }
    }
    private_write(GICD_IGROUPR, private_read(GICD_IGROUPR) | (1 << irq));
    private_write(word, (private_read(word) & !(0xff << shift)) | (0xa0 << shift));
    private_write(gicd::ISENABLER, 1 << irq);
    // SAFETY: the ICC registers of this CPU's interface; SRE (system
    // registers) is how a GICv3 interface is used.
    unsafe {
        asm!("mrs {t}, icc_sre_el1", "orr {t}, {t}, #1", "msr icc_sre_el1, {t}", "isb", t = out(reg) _, options(nostack));
        asm!("msr icc_pmr_el1, {0}", "msr icc_igrpen1_el1, {1}", "isb", in(reg) 0xffu64, in(reg) 1u64, options(nostack));
    }
}

/// Enables SPI `irq`, targeted at CPU 0 with a middle priority.
pub fn route_spi(irq: u32) {
    let byte = |base: usize, value: u32| {
        let word = base + (irq as usize & !3);
        let shift = (irq % 4) * 8;
        gicd_write(word, (gicd_read(word) & !(0xff << shift)) | (value << shift));
    };
    byte(gicd::IPRIORITYR, 0xa0);
    if is_v3() {
        let group = GICD_IGROUPR + 4 * (irq as usize / 32);
        gicd_write(group, gicd_read(group) | (1 << (irq % 32)));
        gicd_write(GICD_IROUTER + 8 * irq as usize, 0);
        gicd_write(GICD_IROUTER + 8 * irq as usize + 4, 0);
    } else {
        byte(gicd::ITARGETSR, 0x01);
    }
    gicd_write(gicd::ISENABLER + 4 * (irq as usize / 32), 1 << (irq % 32));
}

/// Acknowledges the highest-priority pending interrupt (raw IAR value).
pub fn ack() -> u32 {
    if is_v3() {
        let iar: u64;
        // SAFETY: reading IAR acknowledges the interrupt this handler serves.
        unsafe { asm!("mrs {0}, icc_iar1_el1", out(reg) iar, options(nostack)) };
        return iar as u32;
    }
    // SAFETY: reading IAR acknowledges the interrupt this handler serves.
    unsafe { ((GICC + GICC_IAR) as *const u32).read_volatile() }
}

/// Ends an interrupt acknowledged with IAR value `iar`.
pub fn eoi(iar: u32) {
    if is_v3() {
        // SAFETY: completes the interrupt this CPU acknowledged.
        unsafe { asm!("msr icc_eoir1_el1, {0}", "isb", in(reg) u64::from(iar), options(nostack)) };
    } else {
        gicc_write(GICC_EOIR, iar);
    }
}

/// Sends SGI `id` to the CPUs in `targets` (one bit per CPU: GICv2 CPU
/// interface, GICv3 Aff0).
pub fn send_sgi(id: u32, targets: u8) {
    if is_v3() {
        let value = (u64::from(id & 0xf) << 24) | u64::from(targets);
        // SAFETY: ICC_SGI1R_EL1 raises an SGI; no memory is involved.
        unsafe { asm!("msr icc_sgi1r_el1, {0}", "isb", in(reg) value, options(nostack)) };
    } else {
        gicd_write(gicd::SGIR, (u32::from(targets) << 16) | (id & 0xf));
    }
}

/// Sends SGI `id` to this CPU.
pub fn send_self(id: u32) {
    if is_v3() {
        send_sgi(id, 1 << this_cpu());
    } else {
        gicd_write(gicd::SGIR, (2 << 24) | id);
    }
}

/// Peripheral ID 2 of the distributor: the architecture revision in
/// bits 7:4.
pub fn pidr2() -> u32 {
    gicd_read(if is_v3() { 0xFFE8 } else { 0xFE8 })
}

/// Acknowledges and completes the highest-priority pending interrupt, if
/// any (even with interrupts masked at the CPU); its id.
pub fn pending_ack() -> Option<u32> {
    let iar = ack();
    if iar & 0x3ff == SPURIOUS {
        return None;
    }
    eoi(iar);
    Some(iar & 0x3ff)
}

/// The highest-priority pending interrupt's id, without acknowledging it.
pub fn highest_pending() -> u32 {
    const GICC_HPPIR: usize = 0x18;
    if is_v3() {
        let id: u64;
        // SAFETY: reading HPPIR has no side effects.
        unsafe { asm!("mrs {0}, icc_hppir1_el1", out(reg) id, options(nomem, nostack)) };
        return id as u32 & 0x3ff;
    }
    // SAFETY: reading HPPIR has no side effects.
    (unsafe { ((GICC + GICC_HPPIR) as *const u32).read_volatile() }) & 0x3ff
}
