//! vCPU tasks: one ArceOS task per vCPU, pinned to its physical CPU,
//! cycling through off → running → off until its VM stops. The loop
//! enters the guest, hands each exit to `exit_dispatch::handle`, and
//! carries out the action it returns.

use alloc::{boxed::Box, format, sync::Arc};
use core::sync::atomic::Ordering;
use core::time::Duration;

use exit_dispatch::{Action, StopReason as GuestStop};

use super::vm::{RESET, STOP, StopReason, VcpuFailure, Vm};
use crate::hal::arch::{Arch, ArchOps, IrqChipOps, VcpuOps, WakeUp};
use crate::hal::{self, Here};

/// How long a vCPU keeps a CPU it shares before it yields to the others
/// (`make TIME_SLICE_MS`).
const TIME_SLICE: Duration = Duration::from_millis(include!(concat!(env!("OUT_DIR"), "/time_slice.rs")));

/// A host timer the vCPU loop registered, if any; cancelled when dropped.
struct HostTimer(Option<usize>);

impl HostTimer {
    /// The timer at vCPU `id`'s own timer `deadline`: its interrupt makes
    /// whatever runs on this CPU exit, and it wakes the vCPU if it waits.
    fn alarm(vm: &Vm, id: usize, deadline: Option<Duration>) -> Self {
        let vm_id = vm.id;
        Self(deadline.map(|at| {
            hal::register_timer(
                at,
                Box::new(move |_| {
                    if let Some(target) = super::find(vm_id).as_ref().and_then(|vm| vm.vcpus.get(id)) {
                        target.irqs.wake();
                    }
                }),
            )
        }))
    }

    /// A vCPU's turn on a CPU it shares: a host timer interrupt at the end
    /// of its slice makes the guest exit, and the vCPU then yields. A turn
    /// on a CPU of its own has no end.
    fn turn() -> Self {
        Self(hal::cpu_shared().then(|| hal::register_timer(hal::now() + TIME_SLICE, Box::new(|_| {}))))
    }

    fn cancel(&mut self) {
        if let Some(token) = self.0.take() {
            hal::cancel_timer(token);
        }
    }
}

impl Drop for HostTimer {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// How a run of a vCPU ended.
enum RunEnd {
    /// The guest turned this vCPU off; it may be started again.
    Off,
    /// The guest asked for a reset: every vCPU leaves the guest.
    Reset,
    /// The VM is stopping.
    VmStopped,
}

/// Spawns the task of every vCPU of a VM; vCPU 0 starts running at once,
/// the others wait for a CPU_ON.
pub fn start(vm: &Arc<Vm>) {
    let cpus = hal::cpu_count();
    for vcpu in 0..vm.vcpus.len() {
        let wanted = vm.placement(vcpu).unwrap_or(vcpu);
        let pcpu = if wanted < cpus {
            wanted
        } else {
            warn!("VM[{}] vCPU[{vcpu}]: physical CPU {wanted} does not exist, using CPU {}", vm.id, vcpu % cpus);
            vcpu % cpus
        };
        vm.live_tasks.fetch_add(1, Ordering::AcqRel);
        let task_vm = vm.clone();
        axtask::spawn_raw(
            move || vcpu_task(task_vm, vcpu, pcpu),
            format!("VM[{}]-vCPU[{vcpu}]", vm.id),
            axconfig::TASK_STACK_SIZE,
        );
    }
}

fn vcpu_task(vm: Arc<Vm>, id: usize, pcpu: usize) {
    let failed = |failure| StopReason::VcpuFailed { vcpu: id, failure };
    if !axtask::set_current_affinity(axtask::AxCpuMask::one_shot(pcpu)) {
        vm.stop(failed(VcpuFailure::Pin(pcpu)));
    }
    let vcpu = &vm.vcpus[id];
    loop {
        vcpu.irqs.wait_until(|| vcpu.is_up() || vm.stopping());
        if vm.stopping() {
            break;
        }
        if let Some((entry, arg)) = vcpu.take_start()
            && let Err(e) = vcpu.hw.prepare_start(id, entry, arg)
        {
            vm.stop(failed(VcpuFailure::Hal(e)));
            break;
        }
        match run(&vm, id) {
            RunEnd::Off | RunEnd::Reset => {
                vcpu.turn_off();
                if vm.flags() & RESET != 0 {
                    if vm.take_reset() {
                        reset(&vm);
                    }
                } else if vm.online_vcpus() == 0 {
                    // A VM whose last vCPU turned itself off can never run again.
                    vm.stop(StopReason::AllVcpusOff);
                }
            }
            RunEnd::VmStopped => break,
        }
    }
    vcpu.turn_off();
    if vm.live_tasks.fetch_sub(1, Ordering::AcqRel) == 1 {
        vm.ax.set_vm_status(axvm::VMStatus::Stopped);
        for dev in vm.virtio.iter() {
            dev.write_back(&vm);
        }
        info!("VM[{}] {} is down ({} KiB of its RAM backed)", vm.id, vm.name, vm.ram.lock().backed_bytes() / 1024);
        super::vm_stopped();
    }
}

/// Runs one vCPU until it is turned off or its VM stops.
fn run(vm: &Vm, id: usize) -> RunEnd {
    let vcpu = &vm.vcpus[id];
    if let Err(e) = vcpu.hw.bind() {
        vm.stop(StopReason::VcpuFailed { vcpu: id, failure: VcpuFailure::Hal(e) });
        return RunEnd::VmStopped;
    }
    let end = hal::run_here(vm.id, id, &vcpu.irqs, |here| run_loop(vm, id, here));
    if let Err(e) = vcpu.hw.unbind() {
        warn!("VM[{}] vCPU[{id}]: {e}", vm.id);
    }
    end
}

fn run_loop(vm: &Vm, id: usize, here: &Here<'_>) -> RunEnd {
    let vcpu = &vm.vcpus[id];
    let mut turn = HostTimer::turn();
    loop {
        match vm.flags() {
            0 => {}
            flags if flags & STOP != 0 => return RunEnd::VmStopped,
            _ => return RunEnd::Reset,
        }
        if vcpu.irqs.has_pending() {
            vcpu.irqs.drain(|vector| inject(vm, id, vector));
        }
        let exit = match vcpu.hw.run(&vm.cpu_map, &vm.ram_map) {
            Ok(exit) => exit,
            Err(e) => {
                vm.stop(StopReason::VcpuFailed { vcpu: id, failure: VcpuFailure::Hal(e) });
                return RunEnd::VmStopped;
            }
        };
        vcpu.exits.fetch_add(1, Ordering::Relaxed);
        match exit_dispatch::handle(vm, id, &vcpu.hw, exit) {
            Action::Continue => {}
            // Host work (a timer tick, a device) may have made another task
            // runnable, which may then claim this CPU; an interrupt that was
            // only forwarded to a guest did not.
            Action::HostInterrupt(vector) => {
                if !hal::handle_host_irq(vector) {
                    yield_turn(vm, id, here, &mut turn);
                }
            }
            // A guest spinning on a lock its other vCPU holds lets it run.
            Action::Yield => yield_turn(vm, id, here, &mut turn),
            // A stop or a reset also ends the wait, and so does the vCPU's
            // own timer.
            Action::WaitForInterrupt => suspend(vm, id, here, &mut turn),
            Action::Suspend { resume } => {
                vcpu.enter_suspend();
                suspend(vm, id, here, &mut turn);
                vcpu.leave_suspend();
                // A non-retentive suspend resumes afresh, as after a start:
                // the vCPU leaves this CPU so that its reset state is what
                // comes back.
                if let Some((entry, arg)) = resume {
                    let restarted = vcpu.hw.unbind().and_then(|()| vcpu.hw.prepare_start(id, entry, arg)).and_then(|()| vcpu.hw.bind());
                    if let Err(e) = restarted {
                        vm.stop(StopReason::VcpuFailed { vcpu: id, failure: VcpuFailure::Hal(e) });
                        return RunEnd::VmStopped;
                    }
                }
            }
            Action::CpuOff => return RunEnd::Off,
            Action::Stop(GuestStop::Reset) => {
                vm.request_reset();
                return RunEnd::Reset;
            }
            Action::Stop(GuestStop::PowerOff) => {
                vm.stop(StopReason::PowerOff);
                return RunEnd::VmStopped;
            }
            Action::Stop(GuestStop::Fault(fault)) => {
                vm.stop(StopReason::GuestFault(fault));
                return RunEnd::VmStopped;
            }
        }
    }
}

/// Ends the vCPU's turn and lets the other tasks of this CPU run; a new
/// turn begins when it is back. On a shared CPU, the vCPU's own timer
/// deadline brings a host interrupt, so the vCPU then running yields and
/// this one takes its timer interrupt in time.
fn yield_turn(vm: &Vm, id: usize, here: &Here<'_>, turn: &mut HostTimer) {
    turn.cancel();
    let now = hal::now();
    let deadline = hal::cpu_shared().then(|| vm.vcpus[id].hw.timer_deadline()).flatten().filter(|&at| at > now);
    let alarm = HostTimer::alarm(vm, id, deadline);
    axtask::yield_now();
    drop(alarm);
    here.reclaim();
    *turn = HostTimer::turn();
}

/// Waits until vCPU `id` may resume ([`VcpuOps::wake_up`]), or its VM
/// stops or resets. Where the architecture says what resumes it (an
/// interrupt it enables, pending), what is queued for it is injected and
/// the rule asked again after every wake-up: a host timer that fires
/// early, or anything else that wakes the task, is no wake-up by itself.
/// Otherwise anything queued, or its own timer due, resumes it. A timer
/// the host does not hear of wakes it through a host timer at its
/// deadline. A vCPU that waits ends its `turn` (a new one begins when it
/// is back); one with something to do at once keeps it, so that a guest
/// waiting in a loop with interrupts masked cannot renew its slice
/// forever.
fn suspend(vm: &Vm, id: usize, here: &Here<'_>, turn: &mut HostTimer) {
    let vcpu = &vm.vcpus[id];
    let due = |timer: Option<Duration>| timer.is_some_and(|at| hal::now() >= at);
    let mut waited = false;
    loop {
        if vm.flags() != 0 {
            break;
        }
        let timer = match vcpu.hw.wake_up() {
            WakeUp::Now => break,
            WakeUp::Wait { .. } if vcpu.irqs.has_pending() => {
                // What the guest's interrupt controller holds back is not
                // pending: it is queued again when let through.
                vcpu.irqs.drain(|vector| {
                    inject(vm, id, vector);
                    true
                });
                continue;
            }
            WakeUp::Wait { timer } => timer,
            WakeUp::AnyEvent => {
                let deadline = vcpu.hw.timer_deadline();
                if vcpu.irqs.has_pending() || due(deadline) {
                    break;
                }
                deadline
            }
        };
        if !waited {
            turn.cancel();
            waited = true;
        }
        let alarm = HostTimer::alarm(vm, id, timer);
        vcpu.irqs.wait_until(|| vm.flags() != 0 || vcpu.irqs.has_pending() || due(timer));
        drop(alarm);
    }
    if waited {
        here.reclaim();
        *turn = HostTimer::turn();
    }
}

/// Injects a queued `vector` unless the guest's interrupt controller holds
/// it back; true when it no longer needs to stay queued.
fn inject(vm: &Vm, id: usize, vector: usize) -> bool {
    let priority = match vm.irqchip.as_ref().map(|chip| chip.deliverable(id, vector)) {
        Some(None) => return false,
        held => held.flatten(),
    };
    vm.vcpus[id].hw.inject(vector, priority)
}

/// Restarts a VM whose guest asked for a reset, once all its vCPUs are
/// off: clean RAM with the images loaded again, a fresh interrupt
/// controller, nothing queued, its device interrupts let in again, and
/// vCPU 0 started at the entry point.
fn reset(vm: &Vm) {
    // What the guest wrote to its disks is kept; its devices start afresh.
    for dev in vm.virtio.iter() {
        dev.write_back(vm);
        dev.reset();
    }
    let reloaded = match super::create::reload(vm) {
        Ok(reloaded) => reloaded,
        Err(e) => {
            error!("VM[{}] {}: reset: {e}", vm.id, vm.name);
            vm.stop(StopReason::ResetFailed);
            return;
        }
    };
    if let Some(chip) = &vm.irqchip {
        chip.reset();
    }
    for vcpu in vm.vcpus.iter() {
        vcpu.irqs.clear();
    }
    Arch::reenable_device_irqs(vm.id);
    let boots = vm.count_boot();
    vm.channel_link_event();
    warn!(
        "VM[{}] {} asked for a reset: restarted from its images (boot {boots}; {} pieces, RAM lock held {} ns at most)",
        vm.id,
        vm.name,
        reloaded.pieces,
        reloaded.longest_hold.as_nanos()
    );
    vm.vcpus[0].request_start(vm.boot.entry, vm.boot.dtb);
}
