//! AxVisor: a type-1 hypervisor on the ArceOS unikernel.
//!
//! This file is the table of contents: register the VMM with the layers
//! below, enable virtualization on every CPU, create the VMs from their
//! configs, run them until none is left (managed from the shell or the
//! API: until told to power off). Layers (see docs/architecture.md):
//! `main` → `api` (feature `api`) → `vmm` → `hal` → ArceOS; arrows point
//! down only.
#![no_std]
#![no_main]

#[macro_use]
extern crate log;
extern crate alloc;
#[macro_use]
extern crate axstd as std;

#[cfg(feature = "api")]
mod api;
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
    // The management API, before the VMs ask for their addresses.
    #[cfg(feature = "api")]
    let managed = api::start();
    #[cfg(not(feature = "api"))]
    let managed = false;
    vmm::boot_all();
    // Managed from the shell or the API, the hypervisor outlives its VMs
    // until `exit` or `POST /api/shutdown`, which stop every VM.
    if cfg!(feature = "shell") {
        vmm::shell::run();
    } else if managed {
        vmm::serve_until_shutdown();
    }
    let summary = vmm::wait_all_stopped();
    println!("axvisor: all VMs stopped ({summary}); powering off");
}
