//! vCPU tasks: one ArceOS task per vCPU, pinned to its physical CPU,
//! cycling through off → running → off until its VM stops.

use alloc::{format, sync::Arc};
use core::sync::atomic::Ordering;

use super::exit::{self, Action};
use super::vm::{StopReason, VCpu, VmEntry};

/// How a run of a vCPU ended.
enum RunEnd {
    /// The guest turned this vCPU off; it may be started again.
    Off,
    /// The VM is stopping.
    VmStopped,
}

/// Spawns the task of every vCPU of a VM; vCPU 0 starts running at once,
/// the others wait for a CPU_ON.
pub fn start(entry: &Arc<VmEntry>) {
    let cpus = axhal::cpu_num();
    for vcpu_id in 0..entry.vcpus.len() {
        let wanted = entry.placement(vcpu_id).unwrap_or(vcpu_id);
        let pcpu = if wanted < cpus {
            wanted
        } else {
            warn!("VM[{}] vCPU[{vcpu_id}]: physical CPU {wanted} does not exist, using CPU {}", entry.vm.id(), vcpu_id % cpus);
            vcpu_id % cpus
        };
        entry.live_tasks.fetch_add(1, Ordering::AcqRel);
        let task_entry = entry.clone();
        axtask::spawn_raw(
            move || vcpu_task(task_entry, vcpu_id, pcpu),
            format!("VM[{}]-vCPU[{vcpu_id}]", entry.vm.id()),
            axconfig::TASK_STACK_SIZE,
        );
    }
}

fn vcpu_task(entry: Arc<VmEntry>, vcpu_id: usize, pcpu: usize) {
    if !axtask::set_current_affinity(axtask::AxCpuMask::one_shot(pcpu)) {
        entry.stop(StopReason::Fault(format!("vCPU[{vcpu_id}] cannot be pinned to CPU {pcpu}")));
    }
    let slot = &entry.vcpus[vcpu_id];
    match entry.cpus.get(vcpu_id) {
        None => entry.stop(StopReason::Fault(format!("vCPU[{vcpu_id}] was not created"))),
        Some(vcpu) => loop {
            slot.wake.wait_until(|| slot.is_online() || entry.stopping());
            if entry.stopping() {
                break;
            }
            let start = slot.start.lock().take();
            if let Some((pc, arg)) = start
                && let Err(e) = crate::hal::arch::prepare_start(vcpu, vcpu_id, pc, arg)
            {
                entry.stop(StopReason::Fault(format!("vCPU[{vcpu_id}] entry {pc:#x}: {e:?}")));
                break;
            }
            match run(&entry, vcpu_id, vcpu) {
                RunEnd::Off => slot.set_online(false),
                RunEnd::VmStopped => break,
            }
        },
    }
    slot.set_online(false);
    if entry.live_tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
        entry.vm.set_vm_status(axvm::VMStatus::Stopped);
        info!("VM[{}] {} is down", entry.vm.id(), entry.name);
        super::vm_stopped();
    }
}

/// Runs one vCPU until it is turned off or its VM stops.
fn run(entry: &VmEntry, vcpu_id: usize, vcpu: &VCpu) -> RunEnd {
    let vm_id = entry.vm.id();
    let slot = &entry.vcpus[vcpu_id];
    crate::hal::arch::vcpu_switch_this_cpu();
    if let Err(e) = vcpu.bind() {
        entry.stop(StopReason::Fault(format!("vCPU[{vcpu_id}] cannot be bound: {e:?}")));
        return RunEnd::VmStopped;
    }
    super::set_current_vcpu(entry, vcpu_id);
    let end = loop {
        if entry.stopping() {
            break RunEnd::VmStopped;
        }
        if slot.has_pending() {
            slot.drain_pending(|vector| inject(entry, vcpu_id, vcpu, vector));
        }
        let exit_reason = match crate::hal::arch::enter(vcpu) {
            Ok(reason) => reason,
            Err(e) => {
                entry.stop(StopReason::Fault(format!("vCPU[{vcpu_id}] could not enter the guest: {e:?}")));
                break RunEnd::VmStopped;
            }
        };
        match exit::handle(entry, vcpu_id, vcpu, exit_reason) {
            Action::Continue => {}
            // Another task may run on this CPU meanwhile and claim it.
            Action::Yield => {
                axtask::yield_now();
                super::set_current_vcpu(entry, vcpu_id);
            }
            Action::WaitForInterrupt => {
                slot.wake.wait_until(|| slot.has_pending() || entry.stopping());
                super::set_current_vcpu(entry, vcpu_id);
            }
            Action::CpuOff => break RunEnd::Off,
            Action::Stop(reason) => {
                entry.stop(reason);
                break RunEnd::VmStopped;
            }
        }
    };
    super::clear_current_vcpu();
    if let Err(e) = vcpu.unbind() {
        warn!("VM[{vm_id}] vCPU[{vcpu_id}]: unbind failed: {e:?}");
    }
    crate::hal::arch::vcpu_switch_this_cpu();
    end
}

/// Injects a queued `vector` unless the guest's interrupt controller holds
/// it back (disabled); true when it no longer needs to stay queued.
fn inject(entry: &VmEntry, vcpu_id: usize, vcpu: &VCpu, vector: usize) -> bool {
    let priority = match &entry.irqchip {
        Some(chip) => match chip.deliverable(vcpu_id, vector) {
            Some(priority) => priority,
            None => return false,
        },
        None => DEFAULT_PRIORITY,
    };
    crate::hal::arch::inject(vcpu, vector, priority)
}

/// Priority of interrupts injected into a VM without an emulated
/// interrupt controller (the middle of the range).
const DEFAULT_PRIORITY: u8 = 0xa0;

/// Starts `target` at `pc` with `arg`; false if it is already on.
pub fn cpu_on(entry: &VmEntry, target: usize, pc: u64, arg: u64) -> bool {
    let Some(slot) = entry.vcpus.get(target) else {
        return false;
    };
    if slot.is_online() {
        return false;
    }
    *slot.start.lock() = Some((pc, arg));
    slot.set_online(true);
    slot.wake.notify_one(false);
    true
}
