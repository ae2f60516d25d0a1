//! PL011 UART output (the host's UART, passed through under the hypervisor).

use core::fmt::{self, Write};

const UART_BASE: usize = 0x0900_0000;
const UART_DR: usize = 0x00;
const UART_FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;

fn put_byte(b: u8) {
    // SAFETY: the PL011 registers are mapped as device memory at UART_BASE;
    // reading FR and writing DR have no effect beyond sending the byte.
    unsafe {
        while ((UART_BASE + UART_FR) as *const u32).read_volatile() & FR_TXFF != 0 {}
        ((UART_BASE + UART_DR) as *mut u32).write_volatile(u32::from(b));
    }
}

/// The console as a `fmt::Write` sink.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put_byte(b'\r');
            }
            put_byte(b);
        }
        Ok(())
    }
}

/// Prints formatted text (one CPU prints at a time in this probe).
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::Console, $($arg)*);
    }};
}
pub(crate) use println;
