//! Starry-OS as a guest: ArceOS brings up the platform, finds the first
//! virtio-blk device and mounts its ext4 filesystem as `/`; this `main`
//! then runs the root filesystem's `/init` script with its `/bin/sh` as the
//! first user process. When it exits, Starry flushes the disk and the
//! machine powers off.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{string::String, vec::Vec};

/// The first user process. The shell is named, not left to `/init`'s `#!`
/// line: Starry would give a script started through its `#!` line itself
/// as `/proc/self/exe`, and busybox re-executes that to run some commands.
const INIT: [&str; 2] = ["/bin/sh", "/init"];

#[unsafe(no_mangle)]
fn main() {
    let args: Vec<String> = INIT.iter().map(|arg| String::from(*arg)).collect();
    starry_kernel::entry::init(&args, &[]);
}
