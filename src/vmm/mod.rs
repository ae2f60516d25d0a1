//! The VM manager: creates VMs from their configs, runs their vCPUs as
//! ArceOS tasks, and ends when the last VM has stopped. It names no
//! architecture and holds no `unsafe`: both live in `hal`, below it.
//!
//! Neighbours: [`images`] (configs and images embedded at build time),
//! [`channel`] (shared-memory channels between VMs, doorbells),
//! [`create`] (a VM from its config), [`vm`] (a VM and its vCPUs),
//! [`vcpus`] (the vCPU task loop), [`guest`] (the VM as the exit
//! dispatcher sees it), [`upcalls`] (what the layers below ask of us),
//! `uplink` and `host_endpoint` (the host NIC: the switch's port and the
//! hypervisor's own endpoint).
#![deny(unsafe_code)]

mod channel;
mod console;
mod control;
mod create;
pub mod shell;
#[cfg(feature = "fs")]
mod disk;
#[cfg(feature = "fs")]
mod disk_image;
mod guest;
mod host_derived;
#[cfg(feature = "api")]
mod host_endpoint;
mod images;
mod net;
mod power;
mod upcalls;
mod uplink;
mod vcpus;
mod virtio;
mod vm;
mod window;

use alloc::{sync::Arc, vec::Vec};
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use axtask::WaitQueue;
use kspin::SpinNoIrq;

#[cfg_attr(not(feature = "api"), allow(unused_imports))]
pub use control::{Control, serve_until_shutdown};
#[cfg(feature = "api")]
pub use host_endpoint::{HostEndpoint, host_endpoint};
use vm::{StopReason, Vm};

/// Every VM that was created, running or stopped. Interrupt handlers look
/// VMs up here, so its lock keeps interrupts off.
static VMS: SpinNoIrq<Vec<Arc<Vm>>> = SpinNoIrq::new(Vec::new());
/// The config each VM was made from, by VM id (to start it again).
static SOURCES: SpinNoIrq<Vec<(usize, images::VmSource)>> = SpinNoIrq::new(Vec::new());
/// VMs that have booted and not yet stopped.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Configs rejected before their VM could start.
static REJECTED: AtomicUsize = AtomicUsize::new(0);
/// Woken whenever a VM stops.
static VM_STOPPED: WaitQueue = WaitQueue::new();

/// What happened to the VMs, printed when the hypervisor ends.
pub struct Summary {
    booted: usize,
    rejected: usize,
    faulted: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} booted, {} rejected, {} stopped on a fault",
            self.booted, self.rejected, self.faulted
        )
    }
}

/// Registers the VMM's services with the layers below; before any VM.
pub fn init() {
    static SERVICES: upcalls::Services = upcalls::Services;
    crate::hal::register(&SERVICES);
}

/// Connects the host's NIC to the switch, then creates and boots a VM for
/// each embedded config in turn, then (with the filesystem feature) for
/// each config on the boot disk. A config is checked when its VM is
/// created: one that fails is reported with one line and skipped, and the
/// VMs already booted keep running.
pub fn boot_all() {
    uplink::start();
    for embedded in images::EMBEDDED_VMS {
        let _ = boot(&images::VmSource::from(embedded));
    }
    #[cfg(feature = "fs")]
    for source in images::disk_configs() {
        let _ = boot(&source);
    }
}

/// Creates and starts a VM from `source`; its id, or why the config was
/// rejected (also reported on the console).
fn boot(source: &images::VmSource) -> Result<usize, create::VmError> {
    match create::create(source) {
        Ok(vm) => {
            VMS.lock().push(vm.clone());
            SOURCES.lock().push((vm.id, source.clone()));
            RUNNING.fetch_add(1, Ordering::AcqRel);
            vcpus::start(&vm);
            vm.channel_link_event();
            Ok(vm.id)
        }
        Err(e) => {
            REJECTED.fetch_add(1, Ordering::Relaxed);
            error!("VM config {}: {e}", source.file);
            Err(e)
        }
    }
}

/// Blocks until no VM is running, prints how each VM ended (now that no
/// guest prints any more, so the lines stay whole), and returns the tally.
pub fn wait_all_stopped() -> Summary {
    VM_STOPPED.wait_until(|| RUNNING.load(Ordering::Acquire) == 0);
    let vms = all_vms();
    let mut faulted = 0;
    for vm in &vms {
        let reason = vm.stop_reason();
        if matches!(reason, Some(StopReason::GuestFault(_) | StopReason::VcpuFailed { .. } | StopReason::ResetFailed)) {
            faulted += 1;
        }
        match reason {
            Some(reason) => println!("axvisor: VM[{}] {}: {reason}", vm.id, vm.name),
            None => println!("axvisor: VM[{}] {}: still running", vm.id, vm.name),
        }
    }
    Summary { booted: vms.len(), rejected: REJECTED.load(Ordering::Relaxed), faulted }
}

/// Called once per VM when its last vCPU task has left.
fn vm_stopped() {
    RUNNING.fetch_sub(1, Ordering::AcqRel);
    VM_STOPPED.notify_all(false);
}

/// The lowest VM id no VM has, if any is left.
fn free_id() -> Option<usize> {
    let vms = VMS.lock();
    (1..=vmconfig_check::MAX_VM_ID).find(|id| vms.iter().all(|v| v.id != *id))
}

/// Every VM created, running or not.
fn all_vms() -> Vec<Arc<Vm>> {
    VMS.lock().clone()
}

/// The VM with id `vm_id`. Callable from interrupt handlers.
fn find(vm_id: usize) -> Option<Arc<Vm>> {
    VMS.lock().iter().find(|v| v.id == vm_id).cloned()
}
