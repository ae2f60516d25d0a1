//! The smallest ArceOS guest: prints one line and returns, which powers the
//! (virtual) machine off. The line carries the time since the machine's
//! reset (the counter starts at reset; under `-icount shift=0` one
//! nanosecond is one instruction), which `make bench` reads as the boot
//! figure.
#![no_std]
#![no_main]

#[macro_use]
extern crate axstd as std;

use std::os::arceos::api::time::ax_monotonic_time;

#[unsafe(no_mangle)]
fn main() {
    let since_reset = ax_monotonic_time();
    println!("Hello, world! (ArceOS guest) [{} ns after reset]", since_reset.as_nanos());
}
