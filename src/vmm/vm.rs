//! One VM as the VMM keeps it: axvm's VM, its vCPUs with their power state
//! and interrupt queues, its interrupt controller, and how it ended.

use alloc::{boxed::Box, string::String, sync::Arc, vec::Vec};
use core::fmt;
use core::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

use exit_dispatch::{CpuPower, Fault};
use kspin::SpinNoIrq;
use spin::Mutex;
use vmconfig_check::Span;

use super::console::{VirtualUart, VmConsole};
use super::power::PowerButton;
use super::upcalls::VmHal;
use crate::hal::arch::{Arch, ArchOps, CpuMap, IrqChip, IrqChipOps, RamMap};
use crate::hal::{self, GuestRam, IrqQueue, VcpuError, VcpuHal};

/// axvm's VM type in this hypervisor.
pub type AxVm = axvm::AxVM<VmHal, VcpuHal>;

/// Why a VM stopped.
#[derive(Debug, Clone, Copy)]
pub enum StopReason {
    /// The guest powered off.
    PowerOff,
    /// The guest asked for a reset and its images could not be reloaded.
    ResetFailed,
    /// The guest turned its last vCPU off.
    AllVcpusOff,
    /// The guest did something the hypervisor cannot allow or handle.
    GuestFault(Fault),
    /// Stopped from the management shell.
    Stopped,
    /// The hypervisor could not run one of its vCPUs.
    VcpuFailed {
        /// vCPU id.
        vcpu: usize,
        /// What went wrong.
        failure: VcpuFailure,
    },
}

/// Why the hypervisor could not run a vCPU.
#[derive(Debug, Clone, Copy)]
pub enum VcpuFailure {
    /// Its task cannot be pinned to its physical CPU.
    Pin(usize),
    /// The arch layer refused an operation on it.
    Hal(VcpuError),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PowerOff => f.write_str("powered off"),
            Self::ResetFailed => f.write_str("asked for a reset; its images could not be reloaded: stopped"),
            Self::AllVcpusOff => f.write_str("turned its last vCPU off: stopped"),
            Self::GuestFault(fault) => write!(f, "stopped on a fault: {fault}"),
            Self::Stopped => f.write_str("stopped from the shell"),
            Self::VcpuFailed { vcpu, failure: VcpuFailure::Pin(pcpu) } => {
                write!(f, "stopped: vCPU[{vcpu}] cannot be pinned to CPU {pcpu}")
            }
            Self::VcpuFailed { vcpu, failure: VcpuFailure::Hal(e) } => write!(f, "stopped: vCPU[{vcpu}] {e}"),
        }
    }
}

/// The VM is stopping.
pub const STOP: u8 = 1;
/// The guest asked for a reset: every vCPU leaves the guest, the last one
/// reloads the images and starts vCPU 0 again.
pub const RESET: u8 = 2;

const OFF: u8 = 0;
const ON_PENDING: u8 = 1;
const ON: u8 = 2;
const SUSPENDED: u8 = 3;

/// One vCPU: the arch's vCPU, its power state, its interrupt queue.
pub struct Vcpu {
    /// The arch layer's vCPU.
    pub hw: crate::hal::arch::Vcpu,
    /// Interrupts waiting for it; its task waits here too.
    pub irqs: IrqQueue,
    power: AtomicU8,
    /// Entry and argument of the CPU_ON that started it, until it runs.
    start: Mutex<Option<(u64, u64)>>,
    /// Exits it has taken (for the shell).
    pub exits: AtomicU64,
}

impl Vcpu {
    /// A vCPU, on (the boot vCPU) or off.
    pub fn new(hw: crate::hal::arch::Vcpu, on: bool) -> Self {
        Self {
            hw,
            irqs: IrqQueue::default(),
            power: AtomicU8::new(if on { ON } else { OFF }),
            start: Mutex::new(None),
            exits: AtomicU64::new(0),
        }
    }

    /// Its power state.
    pub fn power(&self) -> CpuPower {
        match self.power.load(Ordering::Acquire) {
            OFF => CpuPower::Off,
            ON_PENDING => CpuPower::OnPending,
            SUSPENDED => CpuPower::Suspended,
            _ => CpuPower::On,
        }
    }

    /// Whether it is on or being started.
    pub fn is_up(&self) -> bool {
        self.power.load(Ordering::Acquire) != OFF
    }

    /// Requests a start at `entry` with `arg`, and wakes its task.
    pub fn request_start(&self, entry: u64, arg: u64) {
        *self.start.lock() = Some((entry, arg));
        self.power.store(ON_PENDING, Ordering::Release);
        self.irqs.wake();
    }

    /// The pending start request, taken by the vCPU's task; it is on now.
    pub fn take_start(&self) -> Option<(u64, u64)> {
        let start = self.start.lock().take();
        self.power.store(ON, Ordering::Release);
        start
    }

    /// It suspends itself (SBI hart_suspend): other vCPUs see it so.
    pub fn enter_suspend(&self) {
        let _ = self.power.compare_exchange(ON, SUSPENDED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// It woke from a suspend.
    pub fn leave_suspend(&self) {
        let _ = self.power.compare_exchange(SUSPENDED, ON, Ordering::AcqRel, Ordering::Acquire);
    }

    /// It turned off.
    pub fn turn_off(&self) {
        self.power.store(OFF, Ordering::Release);
    }
}

/// A VM and what the VMM tracks beside axvm.
pub struct Vm {
    /// VM id.
    pub id: usize,
    /// Name from the config.
    pub name: String,
    /// axvm's VM.
    pub ax: Arc<AxVm>,
    /// The vCPUs, indexed by vCPU id.
    pub vcpus: Box<[Vcpu]>,
    /// Physical CPU of each vCPU.
    pub cpu_map: CpuMap,
    /// Where the guest's RAM is (read on the exit path without a lock).
    pub ram_map: RamMap,
    /// The guest's RAM, backed chunk by chunk on first touch.
    pub ram: SpinNoIrq<GuestRam>,
    /// The emulated interrupt controller, if the config has one.
    pub irqchip: Option<IrqChip>,
    /// The emulated UART, if the config has a console device.
    pub uart: Option<VirtualUart>,
    /// Its power button, if the config has one.
    pub power_button: Option<PowerButton>,
    /// Its own virtio devices.
    pub virtio: Vec<super::virtio::VirtioMmio>,
    /// Host ranges of the devices passed through to it.
    pub passthrough: Vec<Span>,
    /// Where the guest's console output goes.
    pub console: VmConsole,
    /// What to load where when the VM (re)boots.
    pub boot: super::create::BootImages,
    /// Times the VM has booted (1, plus one per reset).
    boots: AtomicU64,
    stop_reason: Mutex<Option<StopReason>>,
    /// [`STOP`] once `stop_reason` is set, [`RESET`] while a reset is
    /// pending; read lock-free on every vCPU loop turn.
    flags: AtomicU8,
    /// vCPU tasks that have not yet returned.
    pub live_tasks: AtomicUsize,
    /// When it was created (host time).
    pub created: core::time::Duration,
    /// Its shared-memory channels, in config order (last: the pages go
    /// after everything that maps them).
    pub channels: Vec<super::channel::Membership>,
}

/// The emulated devices a VM has beside its RAM.
pub struct VmDevices {
    /// Its interrupt controller, if the config has one.
    pub irqchip: Option<IrqChip>,
    /// Its UART, if the config has a console device.
    pub uart: Option<VirtualUart>,
    /// Its power button, if the config has one.
    pub power_button: Option<PowerButton>,
    /// Host ranges of the devices passed through to it.
    pub passthrough: Vec<Span>,
    /// Its own virtio devices.
    pub virtio: Vec<super::virtio::VirtioMmio>,
    /// Its shared-memory channels, in config order.
    pub channels: Vec<super::channel::Membership>,
}

impl Vm {
    /// A VM whose parts are made; nothing runs yet.
    pub fn new(
        ax: Arc<AxVm>,
        name: String,
        vcpus: Box<[Vcpu]>,
        cpu_map: CpuMap,
        ram: GuestRam,
        devices: VmDevices,
        boot: super::create::BootImages,
    ) -> Self {
        Self {
            id: ax.id(),
            console: VmConsole::new(ax.id(), &name),
            uart: devices.uart,
            power_button: devices.power_button,
            passthrough: devices.passthrough,
            virtio: devices.virtio,
            name,
            ax,
            vcpus,
            cpu_map,
            ram_map: ram.map(),
            ram: SpinNoIrq::new(ram),
            irqchip: devices.irqchip,
            boot,
            boots: AtomicU64::new(1),
            stop_reason: Mutex::new(None),
            flags: AtomicU8::new(0),
            live_tasks: AtomicUsize::new(0),
            created: hal::now(),
            channels: devices.channels,
        }
    }

    /// Whether its passthrough devices are still its own: until its last
    /// vCPU task has left.
    pub fn holds_devices(&self) -> bool {
        self.ax.vm_status() != axvm::VMStatus::Stopped
    }

    /// Physical CPU a vCPU runs on.
    pub fn placement(&self, vcpu: usize) -> Option<usize> {
        self.cpu_map.pcpu_of(vcpu)
    }

    /// vCPUs that are on.
    pub fn online_vcpus(&self) -> usize {
        self.vcpus.iter().filter(|v| v.is_up()).count()
    }

    /// Queues `vector` for `vcpu` and wakes it if it waits; a vCPU on
    /// another CPU is kicked, as it may be in the guest (or that CPU idle),
    /// unless `vector` was queued for it already (it was kicked then).
    /// False if there is no such vCPU or vector.
    pub fn queue_interrupt(&self, vcpu: usize, vector: usize) -> bool {
        let Some(target) = self.vcpus.get(vcpu) else { return false };
        let Some(queued) = target.irqs.push(vector) else { return false };
        if queued.needs_kick() {
            self.kick(vcpu);
        }
        true
    }

    /// Raises device interrupt `irq` of this VM's own (emulated) devices on
    /// the vCPU its interrupt controller routes it to.
    pub fn raise_device_irq(&self, irq: usize) {
        if let Some((target, vector)) = self.irqchip.as_ref().and_then(|chip| chip.device_irq_route(irq)) {
            self.queue_interrupt(target, vector);
        }
    }

    /// Interrupts the physical CPU of `vcpu` if it is another one: the vCPU
    /// may be in the guest, or that CPU idle.
    fn kick(&self, vcpu: usize) {
        match self.placement(vcpu) {
            Some(pcpu) if pcpu != hal::this_cpu() => Arch::kick_cpu(pcpu),
            _ => {}
        }
    }

    /// Stops the VM (first reason wins) and wakes every waiting vCPU task.
    pub fn stop(&self, reason: StopReason) {
        {
            let mut r = self.stop_reason.lock();
            if r.is_some() {
                return;
            }
            *r = Some(reason);
            self.flags.fetch_or(STOP, Ordering::AcqRel);
        }
        let _ = self.ax.shutdown();
        Arch::release_device_irqs(self.id);
        super::net::detach_vm(self.id);
        self.console.flush();
        match &reason {
            StopReason::PowerOff | StopReason::AllVcpusOff | StopReason::Stopped => {
                info!("VM[{}] {} {reason}", self.id, self.name)
            }
            other => error!("VM[{}] {} {other}", self.id, self.name),
        }
        for vcpu in self.vcpus.iter() {
            vcpu.irqs.wake();
        }
        self.channel_link_event();
    }

    /// Whether the VM has been told to stop.
    pub fn stopping(&self) -> bool {
        self.flags.load(Ordering::Acquire) & STOP != 0
    }

    /// [`STOP`] and [`RESET`] as they are now (one load, for the vCPU loop).
    pub fn flags(&self) -> u8 {
        self.flags.load(Ordering::Acquire)
    }

    /// The guest asked for a reset: every vCPU is made to leave the guest.
    pub fn request_reset(&self) {
        if self.flags.fetch_or(RESET, Ordering::AcqRel) & RESET == 0 {
            for (id, vcpu) in self.vcpus.iter().enumerate() {
                vcpu.irqs.wake();
                self.kick(id);
            }
        }
    }

    /// Takes the pending reset if every vCPU is off (true for one caller).
    pub fn take_reset(&self) -> bool {
        self.vcpus.iter().all(|v| !v.is_up())
            && self.flags.fetch_and(!RESET, Ordering::AcqRel) & RESET != 0
    }

    /// Times the VM has booted.
    pub fn boots(&self) -> u64 {
        self.boots.load(Ordering::Acquire)
    }

    /// Counts a new boot.
    pub fn count_boot(&self) -> u64 {
        self.boots.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Why the VM stopped, if it did.
    pub fn stop_reason(&self) -> Option<StopReason> {
        *self.stop_reason.lock()
    }
}
