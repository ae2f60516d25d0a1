//! PL011 UART output (the host's UART, passed through under the hypervisor).

const UART_BASE: usize = 0x0900_0000;
const UART_DR: usize = 0x00;
const UART_FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;
const UART_IMSC: usize = 0x38;
const UART_ICR: usize = 0x44;
const INT_TX: u32 = 1 << 5;

/// The UART's interrupt id (SPI 1).
pub const UART_IRQ: u64 = 33;

/// Sends one byte.
pub fn put_byte(b: u8) {
    // SAFETY: the PL011 registers are mapped as device memory at UART_BASE;
    // reading FR and writing DR have no effect beyond sending the byte.
    unsafe {
        while ((UART_BASE + UART_FR) as *const u32).read_volatile() & FR_TXFF != 0 {}
        ((UART_BASE + UART_DR) as *mut u32).write_volatile(u32::from(b));
    }
}

fn uart_write(offset: usize, value: u32) {
    // SAFETY: IMSC and ICR only mask and clear the UART's own interrupts.
    unsafe { ((UART_BASE + offset) as *mut u32).write_volatile(value) }
}

/// Routes the UART interrupt to this CPU at the GIC and unmasks the
/// transmit interrupt at the UART.
pub fn uart_irq_arm() {
    super::gic::route_spi(UART_IRQ as u32);
    uart_write(UART_IMSC, INT_TX);
}

/// Masks the UART's interrupts again.
pub fn uart_irq_disarm() {
    uart_write(UART_IMSC, 0);
}

/// Silences the transmit interrupt (masked and cleared).
pub fn uart_irq_ack() {
    uart_write(UART_IMSC, 0);
    uart_write(UART_ICR, INT_TX);
}
