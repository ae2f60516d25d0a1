//! Console output through the arch module's UART.

use core::fmt::{self, Write};

/// The console as a `fmt::Write` sink.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                crate::arch::put_byte(b'\r');
            }
            crate::arch::put_byte(b);
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
