//! The smallest ArceOS guest: prints one line and returns, which powers the
//! (virtual) machine off. The line carries the time since the machine's
//! reset (the counter starts at reset; under `-icount shift=0` one
//! nanosecond is one instruction), which `make bench` reads as the boot
//! figure.
#![no_std]
#![no_main]

#[macro_use]
extern crate axstd as std;

/// Nanoseconds since the machine's reset.
#[cfg(not(target_arch = "x86_64"))]
fn since_reset_ns() -> u128 {
    std::os::arceos::api::time::ax_monotonic_time().as_nanos()
}

/// Nanoseconds since the machine's reset: the TSC, which counts from reset
/// (ArceOS's own clock starts at its init) and which this guest's
/// platform config takes for 1 GHz, as QEMU runs it under `-icount`.
#[cfg(target_arch = "x86_64")]
fn since_reset_ns() -> u128 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    u128::from(unsafe { core::arch::x86_64::_rdtsc() })
}

#[unsafe(no_mangle)]
fn main() {
    println!("Hello, world! (ArceOS guest) [{} ns after reset]", since_reset_ns());
}
