//! The smallest ArceOS guest: prints one line and returns, which powers the
//! (virtual) machine off.
#![no_std]
#![no_main]

#[macro_use]
extern crate axstd as std;

#[unsafe(no_mangle)]
fn main() {
    println!("Hello, world! (ArceOS guest)");
}
