//! The one exit-dispatch function and the two traits it works through.

use crate::action::{Action, Fault, FaultKind, StopReason};
use crate::exit::{
    Access, Answer, CallError, CpuPower, DeviceAccess, DeviceError, Exit, GuestRequest, Ipi, MmioRead,
};

/// What the dispatcher needs from a VM.
pub trait GuestVm {
    /// The VM's id (for messages).
    fn id(&self) -> usize;
    /// How many vCPUs it has; vCPU ids are `0..vcpu_count()`.
    fn vcpu_count(&self) -> usize;
    /// The power state of a vCPU, `None` if there is no such vCPU.
    fn power(&self, vcpu: usize) -> Option<CpuPower>;
    /// Starts an off vCPU at `entry` with `arg` (the checks are done).
    fn start_vcpu(&self, vcpu: usize, entry: u64, arg: u64);
    /// Whether `gpa` is in the guest's RAM.
    fn is_ram(&self, gpa: u64) -> bool;
    /// Backs the RAM chunk that holds `gpa` (zeroed, then mapped); false
    /// if `gpa` is not RAM or it could not be mapped.
    fn back_ram(&self, gpa: u64) -> bool;
    /// Queues `vector` for `vcpu`; false if it was dropped.
    fn queue_interrupt(&self, vcpu: usize, vector: usize) -> bool;
    /// Performs an access of `vcpu` on the VM's emulated devices
    /// (interrupt controller included).
    fn emulate(&self, vcpu: usize, access: DeviceAccess) -> Emulated;
    /// How many times the VM has booted (1, plus one per reset).
    fn boots(&self) -> u64;
    /// Rings the doorbell of the VM's channel `channel` (its index among
    /// the VM's channels); the answer to the guest, or why not.
    fn ring_doorbell(&self, channel: u64) -> Result<u64, CallError>;
    /// The state of channel `channel`'s other members, as the status call
    /// answers it.
    fn channel_status(&self, channel: u64) -> Result<u64, CallError>;
}

/// What the dispatcher needs from the vCPU whose exit it handles.
pub trait GuestVcpu {
    /// Sets general-purpose register `reg`.
    fn set_gpr(&self, reg: usize, value: u64);
    /// Answers the guest call the vCPU made.
    fn answer(&self, answer: Answer);
    /// Programs the vCPU's timer for an absolute deadline.
    fn set_timer(&self, deadline: u64);
}

/// The outcome of a device access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulated {
    /// No emulated device decodes the address, register or port.
    NoDevice,
    /// A read returned this value.
    Read(u64),
    /// A write was taken.
    Written,
    /// A write was taken and raised an inter-processor interrupt.
    WrittenIpi(Ipi),
    /// The device refused the access.
    Failed(DeviceError),
}

/// Handles one exit of vCPU `vcpu_id` of `vm`.
#[inline]
pub fn handle<V: GuestVm, C: GuestVcpu>(vm: &V, vcpu_id: usize, vcpu: &C, exit: Exit) -> Action {
    let fault = |kind| Action::Stop(StopReason::Fault(Fault { vm: vm.id(), vcpu: vcpu_id, kind }));
    match exit {
        Exit::Nothing => Action::Continue,
        Exit::HostInterrupt { vector } => Action::HostInterrupt(vector),
        Exit::MmioRead(read) => {
            let access = DeviceAccess::Mmio { addr: read.addr, width: read.width, write: None };
            match vm.emulate(vcpu_id, access) {
                Emulated::Read(value) => {
                    vcpu.set_gpr(read.reg, extend(value, &read));
                    Action::Continue
                }
                Emulated::NoDevice => {
                    fault(FaultKind::Unmapped { access: Access::Read, width: Some(read.width), addr: read.addr })
                }
                Emulated::Failed(error) => fault(FaultKind::Device { access: Access::Read, addr: read.addr, error }),
                Emulated::Written | Emulated::WrittenIpi(_) => Action::Continue,
            }
        }
        Exit::MmioWrite { addr, width, value } => {
            match vm.emulate(vcpu_id, DeviceAccess::Mmio { addr, width, write: Some(value) }) {
                Emulated::NoDevice => fault(FaultKind::Unmapped { access: Access::Write, width: Some(width), addr }),
                Emulated::Failed(error) => fault(FaultKind::Device { access: Access::Write, addr, error }),
                Emulated::WrittenIpi(ipi) => {
                    raise_ipi(vm, vcpu_id, ipi);
                    Action::Continue
                }
                Emulated::Read(_) | Emulated::Written => Action::Continue,
            }
        }
        Exit::SysRegRead { id, reg } => {
            let value = match vm.emulate(vcpu_id, DeviceAccess::SysReg { id, write: None }) {
                Emulated::Read(value) => value,
                other => {
                    log::debug!("VM[{}] vCPU[{vcpu_id}]: system register {id:#x} reads as zero ({other:?})", vm.id());
                    0
                }
            };
            vcpu.set_gpr(reg, value);
            Action::Continue
        }
        Exit::SysRegWrite { id, value } => {
            if !written(vm, vcpu_id, DeviceAccess::SysReg { id, write: Some(value) }) {
                log::debug!("VM[{}] vCPU[{vcpu_id}]: write {value:#x} to system register {id:#x} ignored", vm.id());
            }
            Action::Continue
        }
        Exit::PortRead { port, width, reg } => {
            let value = match vm.emulate(vcpu_id, DeviceAccess::Port { port, width, write: None }) {
                Emulated::Read(value) => value,
                // An absent device floats the bus: all ones of the width.
                _ => u64::MAX >> (64 - 8 * u32::from(width.clamp(1, 8))),
            };
            vcpu.set_gpr(reg, value);
            Action::Continue
        }
        Exit::PortWrite { port, width, value } => {
            if !written(vm, vcpu_id, DeviceAccess::Port { port, width, write: Some(value) }) {
                log::debug!("VM[{}] vCPU[{vcpu_id}]: output to port {port:#x} ignored", vm.id());
            }
            Action::Continue
        }
        Exit::Call(request) => guest_request(vm, vcpu_id, vcpu, request),
        Exit::SendIpi(ipi) => {
            raise_ipi(vm, vcpu_id, ipi);
            Action::Continue
        }
        Exit::Halt => Action::WaitForInterrupt,
        Exit::Yield => Action::Yield,
        Exit::RamMiss { addr, access } => {
            if vm.back_ram(addr) {
                Action::Continue
            } else {
                fault(FaultKind::RamNotBacked { access, addr })
            }
        }
        Exit::PageFault { addr, access } => fault(FaultKind::Unmapped { access, width: None, addr }),
        Exit::Unhandled(trap) => fault(FaultKind::Trap(trap)),
    }
}

fn written<V: GuestVm>(vm: &V, vcpu_id: usize, access: DeviceAccess) -> bool {
    match vm.emulate(vcpu_id, access) {
        Emulated::Written | Emulated::Read(_) => true,
        Emulated::WrittenIpi(ipi) => {
            raise_ipi(vm, vcpu_id, ipi);
            true
        }
        Emulated::NoDevice | Emulated::Failed(_) => false,
    }
}

/// The value a load of `read.width` bytes leaves in its register.
#[inline]
fn extend(value: u64, read: &MmioRead) -> u64 {
    let bits = 8 * u32::from(read.width.clamp(1, 8));
    let raw = if bits == 64 { value } else { value & ((1 << bits) - 1) };
    if !read.signed && (read.reg_64 || bits <= 32) {
        return raw;
    }
    let extended = if read.signed && bits < 64 && raw >> (bits - 1) & 1 == 1 { raw | (u64::MAX << bits) } else { raw };
    if read.reg_64 { extended } else { extended & 0xffff_ffff }
}

fn guest_request<V: GuestVm, C: GuestVcpu>(vm: &V, vcpu_id: usize, vcpu: &C, request: GuestRequest) -> Action {
    let answer = |answer| {
        vcpu.answer(answer);
        Action::Continue
    };
    match request {
        GuestRequest::Return(value) => answer(Answer::Value(value)),
        GuestRequest::Fail(error) => answer(Answer::Error(error)),
        GuestRequest::SetTimer(deadline) => {
            vcpu.set_timer(deadline);
            answer(Answer::Value(0))
        }
        GuestRequest::SendIpi(ipi) => {
            raise_ipi(vm, vcpu_id, ipi);
            answer(Answer::Value(0))
        }
        GuestRequest::CpuOn { target, entry, arg } => answer(match cpu_on(vm, target, entry, arg) {
            Ok(()) => Answer::Value(0),
            Err(error) => Answer::Error(error),
        }),
        GuestRequest::CpuStatus { target } => answer(match target.and_then(|t| vm.power(t)) {
            Some(power) => Answer::Status(power),
            None => Answer::Error(CallError::InvalidParameters),
        }),
        GuestRequest::CpuOff => Action::CpuOff,
        GuestRequest::Suspend { resume: None } => {
            vcpu.answer(Answer::Value(0));
            Action::Suspend { resume: None }
        }
        GuestRequest::Suspend { resume: Some((entry, arg)) } => {
            if vm.is_ram(entry) {
                Action::Suspend { resume: Some((entry, arg)) }
            } else {
                answer(Answer::Error(CallError::InvalidAddress))
            }
        }
        GuestRequest::SystemOff => Action::Stop(StopReason::PowerOff),
        GuestRequest::SystemReset => Action::Stop(StopReason::Reset),
        GuestRequest::BootCount => answer(Answer::Value(vm.boots())),
        GuestRequest::Doorbell { channel } => answer(vm.ring_doorbell(channel).map_or_else(Answer::Error, Answer::Value)),
        GuestRequest::ChannelStatus { channel } => {
            answer(vm.channel_status(channel).map_or_else(Answer::Error, Answer::Value))
        }
    }
}

/// Starts `target` at `entry` after the checks PSCI CPU_ON and SBI
/// hart_start make, in the order they make them.
fn cpu_on<V: GuestVm>(vm: &V, target: Option<usize>, entry: u64, arg: u64) -> Result<(), CallError> {
    let target = target.ok_or(CallError::InvalidParameters)?;
    match vm.power(target).ok_or(CallError::InvalidParameters)? {
        CpuPower::On | CpuPower::Suspended => return Err(CallError::AlreadyOn),
        CpuPower::OnPending => return Err(CallError::OnPending),
        CpuPower::Off => {}
    }
    if !vm.is_ram(entry) {
        return Err(CallError::InvalidAddress);
    }
    vm.start_vcpu(target, entry, arg);
    Ok(())
}

/// Queues `ipi` for each of its targets that exists; others are dropped.
fn raise_ipi<V: GuestVm>(vm: &V, from: usize, ipi: Ipi) {
    let count = vm.vcpu_count().min(64);
    let mut targets = ipi.targets;
    while targets != 0 {
        let target = targets.trailing_zeros() as usize;
        targets &= targets - 1;
        if target >= count {
            log::debug!("VM[{}] vCPU[{from}]: IPI {} to missing vCPU[{target}] dropped", vm.id(), ipi.vector);
        } else if !vm.queue_interrupt(target, ipi.vector) {
            log::debug!("VM[{}] vCPU[{from}]: IPI {} to vCPU[{target}] dropped", vm.id(), ipi.vector);
        }
    }
}
