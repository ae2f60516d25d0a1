//! One VM as the VMM keeps it: axvm's VM, its vCPUs with their power state
//! and interrupt queues, its interrupt controller, and how it ended.

use alloc::{boxed::Box, string::String, sync::Arc, vec::Vec};
use core::fmt;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use exit_dispatch::{CpuPower, Fault};
use spin::Mutex;

use super::upcalls::VmHal;
use crate::hal::arch::{Arch, ArchOps, CpuMap, IrqChip};
use crate::hal::{self, IrqQueue, VcpuError, VcpuHal};

/// axvm's VM type in this hypervisor.
pub type AxVm = axvm::AxVM<VmHal, VcpuHal>;

/// Why a VM stopped.
#[derive(Debug, Clone, Copy)]
pub enum StopReason {
    /// The guest powered off.
    PowerOff,
    /// The guest asked for a reset (not emulated: the VM stops).
    Reset,
    /// The guest turned its last vCPU off.
    AllVcpusOff,
    /// The guest did something the hypervisor cannot allow or handle.
    GuestFault(Fault),
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

impl From<exit_dispatch::StopReason> for StopReason {
    fn from(reason: exit_dispatch::StopReason) -> Self {
        match reason {
            exit_dispatch::StopReason::PowerOff => Self::PowerOff,
            exit_dispatch::StopReason::Reset => Self::Reset,
            exit_dispatch::StopReason::Fault(fault) => Self::GuestFault(fault),
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PowerOff => f.write_str("powered off"),
            Self::Reset => f.write_str("asked for a reset (not emulated): stopped"),
            Self::AllVcpusOff => f.write_str("turned its last vCPU off: stopped"),
            Self::GuestFault(fault) => write!(f, "stopped on a fault: {fault}"),
            Self::VcpuFailed { vcpu, failure: VcpuFailure::Pin(pcpu) } => {
                write!(f, "stopped: vCPU[{vcpu}] cannot be pinned to CPU {pcpu}")
            }
            Self::VcpuFailed { vcpu, failure: VcpuFailure::Hal(e) } => write!(f, "stopped: vCPU[{vcpu}] {e}"),
        }
    }
}

const OFF: u8 = 0;
const ON_PENDING: u8 = 1;
const ON: u8 = 2;

/// One vCPU: the arch's vCPU, its power state, its interrupt queue.
pub struct Vcpu {
    /// The arch layer's vCPU.
    pub hw: crate::hal::arch::Vcpu,
    /// Interrupts waiting for it; its task waits here too.
    pub irqs: IrqQueue,
    power: AtomicU8,
    /// Entry and argument of the CPU_ON that started it, until it runs.
    start: Mutex<Option<(u64, u64)>>,
}

impl Vcpu {
    /// A vCPU, on (the boot vCPU) or off.
    pub fn new(hw: crate::hal::arch::Vcpu, on: bool) -> Self {
        Self { hw, irqs: IrqQueue::default(), power: AtomicU8::new(if on { ON } else { OFF }), start: Mutex::new(None) }
    }

    /// Its power state.
    pub fn power(&self) -> CpuPower {
        match self.power.load(Ordering::Acquire) {
            OFF => CpuPower::Off,
            ON_PENDING => CpuPower::OnPending,
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
    /// The emulated interrupt controller, if the config has one.
    pub irqchip: Option<IrqChip>,
    /// Guest-physical RAM ranges.
    pub ram: Vec<Range<u64>>,
    stop_reason: Mutex<Option<StopReason>>,
    /// Set once `stop_reason` is; read lock-free on every vCPU loop turn.
    stop_requested: AtomicBool,
    /// vCPU tasks that have not yet returned.
    pub live_tasks: AtomicUsize,
}

impl Vm {
    /// A VM whose parts are made; nothing runs yet.
    pub fn new(
        ax: Arc<AxVm>,
        name: String,
        vcpus: Box<[Vcpu]>,
        cpu_map: CpuMap,
        irqchip: Option<IrqChip>,
        ram: Vec<Range<u64>>,
    ) -> Self {
        Self {
            id: ax.id(),
            name,
            ax,
            vcpus,
            cpu_map,
            irqchip,
            ram,
            stop_reason: Mutex::new(None),
            stop_requested: AtomicBool::new(false),
            live_tasks: AtomicUsize::new(0),
        }
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
    /// another CPU is kicked, as it may be in the guest (or that CPU idle).
    /// False if there is no such vCPU or vector.
    pub fn queue_interrupt(&self, vcpu: usize, vector: usize) -> bool {
        let Some(target) = self.vcpus.get(vcpu) else { return false };
        if !target.irqs.push(vector) {
            return false;
        }
        match self.placement(vcpu) {
            Some(pcpu) if pcpu != hal::this_cpu() => Arch::kick_cpu(pcpu),
            _ => {}
        }
        true
    }

    /// Stops the VM (first reason wins) and wakes every waiting vCPU task.
    pub fn stop(&self, reason: StopReason) {
        {
            let mut r = self.stop_reason.lock();
            if r.is_some() {
                return;
            }
            *r = Some(reason);
            self.stop_requested.store(true, Ordering::Release);
        }
        let _ = self.ax.shutdown();
        Arch::release_device_irqs(self.id);
        match &reason {
            StopReason::PowerOff | StopReason::AllVcpusOff => info!("VM[{}] {} {reason}", self.id, self.name),
            StopReason::Reset => warn!("VM[{}] {} asked for a reset; reset is not emulated, stopping it", self.id, self.name),
            other => error!("VM[{}] {} {other}", self.id, self.name),
        }
        for vcpu in self.vcpus.iter() {
            vcpu.irqs.wake();
        }
    }

    /// Whether the VM has been told to stop.
    pub fn stopping(&self) -> bool {
        self.stop_requested.load(Ordering::Acquire)
    }

    /// Why the VM stopped, if it did.
    pub fn stop_reason(&self) -> Option<StopReason> {
        *self.stop_reason.lock()
    }
}
