//! The VM manager: creates VMs from their configs, runs their vCPUs as
//! ArceOS tasks, and ends when the last VM has stopped.
//!
//! Neighbours: [`images`] (configs and images embedded at build time),
//! [`vm`] (a VM and its bookkeeping), [`vcpus`] (the vCPU task loop),
//! [`exit`] (the one exit-dispatch function), [`timer`] (guest timers).

#[cfg(feature = "fs")]
mod disk;
mod exit;
mod images;
pub mod timer;
mod vcpus;
pub mod vm;

use alloc::{sync::Arc, vec::Vec};
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use axerrno::{AxError, AxResult};
use axtask::WaitQueue;
use kspin::SpinNoIrq;

pub use vm::VmEntry;

/// Every VM that was created, running or stopped.
static VMS: SpinNoIrq<Vec<Arc<VmEntry>>> = SpinNoIrq::new(Vec::new());
/// VMs that have booted and not yet stopped.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Configs rejected before their VM could start.
static REJECTED: AtomicUsize = AtomicUsize::new(0);
/// Woken whenever a VM stops.
static VM_STOPPED: WaitQueue = WaitQueue::new();

#[percpu::def_percpu]
static CURRENT_VM_ID: usize = 0;
#[percpu::def_percpu]
static CURRENT_VCPU_ID: usize = 0;
/// The `VmEntry` whose vCPU runs on this CPU (0: none), for the interrupt
/// handlers that forward to it without looking the VM up.
#[percpu::def_percpu]
static CURRENT_ENTRY: usize = 0;
/// Set when the interrupt being handled was only for the guest.
#[percpu::def_percpu]
static GUEST_IRQ: bool = false;

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

/// Creates and boots a VM for every embedded config, then (with the
/// filesystem feature) for every config on the boot disk; a config that
/// fails is reported with one line and skipped.
pub fn boot_all() {
    for embedded in images::EMBEDDED_VMS {
        boot(&images::VmSource::from(embedded));
    }
    #[cfg(feature = "fs")]
    for source in images::disk_configs() {
        boot(&source);
    }
}

fn boot(source: &images::VmSource) {
    match vm::create(source) {
        Ok(entry) => {
            VMS.lock().push(entry.clone());
            RUNNING.fetch_add(1, Ordering::AcqRel);
            vcpus::start(&entry);
        }
        Err(e) => {
            REJECTED.fetch_add(1, Ordering::Relaxed);
            error!("VM config {}: {e}", source.file);
        }
    }
}

/// Blocks until no VM is running, prints how each VM ended (now that no
/// guest prints any more, so the lines stay whole), and returns the tally.
pub fn wait_all_stopped() -> Summary {
    VM_STOPPED.wait_until(|| RUNNING.load(Ordering::Acquire) == 0);
    let vms = VMS.lock();
    for vm in vms.iter() {
        println!("axvisor: VM[{}] {}: {}", vm.vm.id(), vm.name, vm.outcome());
    }
    Summary {
        booted: vms.len(),
        rejected: REJECTED.load(Ordering::Relaxed),
        faulted: vms.iter().filter(|v| v.faulted()).count(),
    }
}

/// Called once per VM when its last vCPU task has left.
fn vm_stopped() {
    RUNNING.fetch_sub(1, Ordering::AcqRel);
    VM_STOPPED.notify_all(false);
}

fn find(vm_id: usize) -> Option<Arc<VmEntry>> {
    VMS.lock().iter().find(|v| v.vm.id() == vm_id).cloned()
}

/// The (VM id, vCPU id) whose exit this CPU is handling.
pub fn current_vcpu() -> (usize, usize) {
    (CURRENT_VM_ID.read_current(), CURRENT_VCPU_ID.read_current())
}

/// Records that `entry`'s vCPU `vcpu_id` runs on this CPU. The caller
/// holds a reference to `entry` until it calls [`clear_current_vcpu`].
fn set_current_vcpu(entry: &VmEntry, vcpu_id: usize) {
    CURRENT_VM_ID.write_current(entry.vm.id());
    CURRENT_VCPU_ID.write_current(vcpu_id);
    CURRENT_ENTRY.write_current(entry as *const VmEntry as usize);
}

/// No vCPU runs on this CPU any more.
fn clear_current_vcpu() {
    CURRENT_ENTRY.write_current(0);
}

// The functions below are for arch modules that forward physical
// interrupts to guests; an architecture that forwards none leaves them unused.

/// Queues `vector` for the vCPU running on this CPU; false if none does.
/// Called from interrupt handlers: no lookup, no lock beyond the slot's.
#[allow(dead_code)]
pub fn queue_interrupt_here(vector: usize) -> bool {
    let entry = CURRENT_ENTRY.read_current() as *const VmEntry;
    if entry.is_null() {
        return false;
    }
    // SAFETY: set_current_vcpu stored a VmEntry that the vCPU task on this
    // CPU keeps alive (it holds an Arc) until clear_current_vcpu; we are
    // on this CPU, so that task has not passed clear_current_vcpu yet.
    let entry = unsafe { &*entry };
    note_guest_interrupt();
    entry.queue_interrupt(CURRENT_VCPU_ID.read_current(), vector).is_ok()
}

/// Queues forwarded device interrupt `irq` of VM `vm_id` for the vCPU the
/// guest routed it to, which takes it as its interrupt `vector` (the same
/// id, or a hart's external-interrupt line).
#[allow(dead_code)]
pub fn queue_device_interrupt(vm_id: usize, irq: usize, vector: usize) -> AxResult {
    let entry = find(vm_id).ok_or(AxError::NotFound)?;
    let target = entry.irqchip.as_ref().map_or(0, |chip| chip.device_irq_target(irq));
    entry.queue_interrupt(target, vector)
}

/// Marks the interrupt being handled as the guest's business only.
#[allow(dead_code)]
pub fn note_guest_interrupt() {
    GUEST_IRQ.write_current(true);
}

/// Handles a physical interrupt that made a vCPU exit; true if it only
/// concerned the guest (nothing for the host scheduler to do).
fn handle_host_irq(vector: usize) -> bool {
    GUEST_IRQ.write_current(false);
    crate::hal::arch::handle_host_irq(vector);
    GUEST_IRQ.read_current()
}

/// The physical CPU a vCPU is placed on.
pub fn vcpu_pcpu(vm_id: usize, vcpu_id: usize) -> Option<usize> {
    find(vm_id)?.placement(vcpu_id)
}

/// Number of vCPUs of a VM.
pub fn vcpu_count(vm_id: usize) -> Option<usize> {
    find(vm_id).map(|v| v.vm.vcpu_num())
}

/// Number of vCPUs of a VM that are on.
pub fn online_vcpus(vm_id: usize) -> Option<usize> {
    find(vm_id).map(|v| v.online_vcpus())
}

/// Queues an interrupt for a vCPU; it is injected on that vCPU's own CPU
/// right before it next enters the guest.
pub fn queue_interrupt(vm_id: usize, vcpu_id: usize, vector: usize) -> AxResult {
    let entry = find(vm_id).ok_or(AxError::NotFound)?;
    entry.queue_interrupt(vcpu_id, vector)
}

/// Wakes a vCPU that waits for an interrupt.
pub fn kick_vcpu(vm_id: usize, vcpu_id: usize) {
    if let Some(entry) = find(vm_id) {
        entry.kick(vcpu_id);
    }
}
