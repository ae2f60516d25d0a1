//! AxVisor: a type-1 hypervisor on the ArceOS unikernel.
//!
//! This file is the table of contents: register the VMM with the layers
//! below, enable virtualization on every CPU, create the VMs from their
//! configs, run them until none is left. Layers (see docs/architecture.md):
//! `main` → `vmm` → `hal` → ArceOS; arrows point down only.
#![no_std]
#![no_main]

#[macro_use]
extern crate log;
extern crate alloc;
#[macro_use]
extern crate axstd as std;

mod hal;
mod vmm;

#[unsafe(no_mangle)]
fn main() {
    println!("axvisor {}: a type-1 hypervisor on ArceOS", env!("CARGO_PKG_VERSION"));
    vmm::init();
    if let Err(why) = hal::enable_virtualization() {
        println!("axvisor: {why}; powering off");
        return;
    }
    vmm::boot_all();
    // With the shell the hypervisor runs until `exit`, which stops every VM.
    if cfg!(feature = "shell") {
        vmm::shell::run();
    }
    let summary = vmm::wait_all_stopped();
    println!("axvisor: all VMs stopped ({summary}); powering off");
}
