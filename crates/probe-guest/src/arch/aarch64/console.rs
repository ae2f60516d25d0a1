//! PL011 UART output (the host's UART, passed through under the hypervisor).

const UART_BASE: usize = 0x0900_0000;
const UART_DR: usize = 0x00;
const UART_FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;

/// Sends one byte.
pub fn put_byte(b: u8) {
    // SAFETY: the PL011 registers are mapped as device memory at UART_BASE;
    // reading FR and writing DR have no effect beyond sending the byte.
    unsafe {
        while ((UART_BASE + UART_FR) as *const u32).read_volatile() & FR_TXFF != 0 {}
        ((UART_BASE + UART_DR) as *mut u32).write_volatile(u32::from(b));
    }
}
