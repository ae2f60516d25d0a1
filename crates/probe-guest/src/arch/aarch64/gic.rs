//! The GICv2 registers the probe touches. Under the hypervisor the
//! distributor is emulated and the CPU interface is the virtual one.

const GICD: usize = 0x0800_0000;
const GICC: usize = 0x0801_0000;

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
    gicd_write(gicd::CTLR, 1);
    let word = gicd::IPRIORITYR + (irq as usize & !3);
    let shift = (irq % 4) * 8;
    gicd_write(word, (gicd_read(word) & !(0xff << shift)) | (0xa0 << shift));
    gicd_write(gicd::ISENABLER, 1 << irq);
    gicc_write(GICC_PMR, 0xff);
    gicc_write(GICC_CTLR, 1);
}

/// Enables SPI `irq`, targeted at CPU 0 with a middle priority.
pub fn route_spi(irq: u32) {
    let byte = |base: usize, value: u32| {
        let word = base + (irq as usize & !3);
        let shift = (irq % 4) * 8;
        gicd_write(word, (gicd_read(word) & !(0xff << shift)) | (value << shift));
    };
    byte(gicd::IPRIORITYR, 0xa0);
    byte(gicd::ITARGETSR, 0x01);
    gicd_write(gicd::ISENABLER + 4 * (irq as usize / 32), 1 << (irq % 32));
}

/// Acknowledges the highest-priority pending interrupt (raw IAR value).
pub fn ack() -> u32 {
    // SAFETY: reading IAR acknowledges the interrupt this handler serves.
    unsafe { ((GICC + GICC_IAR) as *const u32).read_volatile() }
}

/// Ends an interrupt acknowledged with IAR value `iar`.
pub fn eoi(iar: u32) {
    gicc_write(GICC_EOIR, iar);
}

/// Sends SGI `id` to the CPUs in `targets` (one bit per CPU interface).
pub fn send_sgi(id: u32, targets: u8) {
    gicd_write(gicd::SGIR, (u32::from(targets) << 16) | (id & 0xf));
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
    // SAFETY: reading HPPIR has no side effects.
    (unsafe { ((GICC + GICC_HPPIR) as *const u32).read_volatile() }) & 0x3ff
}
