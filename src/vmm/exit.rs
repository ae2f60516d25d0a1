//! The one exit-dispatch function: turns each VM exit into an [`Action`]
//! for the vCPU loop. Architecture-specific decoding (hypercall numbers,
//! CPU affinities) is delegated to `hal::arch`.
//!
//! The guest is hostile: nothing here panics on guest input. An access to
//! guest-physical memory that is neither RAM nor a device stops the VM
//! with a line naming VM, vCPU and address.

use alloc::format;

use axaddrspace::device::AccessWidth;
use axvcpu::AxVCpuExitReason;

use super::vcpus;
use super::vm::{StopReason, VCpu, VmEntry};
use crate::hal::{GuestRequest, Ipi, arch};

/// What the vCPU loop does after an exit.
pub enum Action {
    /// Re-enter the guest.
    Continue,
    /// Let other host tasks run first, then re-enter the guest.
    Yield,
    /// Idle until an interrupt is queued for this vCPU.
    WaitForInterrupt,
    /// The vCPU turned itself off.
    CpuOff,
    /// Stop the whole VM.
    Stop(StopReason),
}

fn fault(entry: &VmEntry, vcpu_id: usize, what: core::fmt::Arguments<'_>) -> Action {
    Action::Stop(StopReason::Fault(format!("VM[{}] vCPU[{vcpu_id}]: {what}", entry.vm.id())))
}

/// Handles one exit of `vcpu` (id `vcpu_id`) of `entry`.
pub fn handle(entry: &VmEntry, vcpu_id: usize, vcpu: &VCpu, exit: AxVCpuExitReason) -> Action {
    if let Some(action) = irqchip_access(entry, vcpu_id, vcpu, &exit) {
        return action;
    }
    let devices = || entry.vm.get_devices();
    match exit {
        AxVCpuExitReason::Nothing => Action::Continue,
        AxVCpuExitReason::ExternalInterrupt { vector } => {
            // Host work (a timer tick, a device) may have made another
            // task runnable; an interrupt forwarded to the guest did not.
            if super::handle_host_irq(vector as usize) { Action::Continue } else { Action::Yield }
        }
        AxVCpuExitReason::MmioRead { addr, width, reg, .. } => match devices().find_mmio_dev(addr) {
            Some(dev) => match dev.handle_read(addr, width) {
                Ok(value) => {
                    vcpu.set_gpr(reg, value);
                    Action::Continue
                }
                Err(e) => fault(entry, vcpu_id, format_args!("device read at GPA {addr:?} failed: {e:?}")),
            },
            None => unmapped(entry, vcpu_id, "read", addr, width),
        },
        AxVCpuExitReason::MmioWrite { addr, width, data } => match devices().find_mmio_dev(addr) {
            Some(dev) => match dev.handle_write(addr, width, data as usize) {
                Ok(()) => Action::Continue,
                Err(e) => fault(entry, vcpu_id, format_args!("device write at GPA {addr:?} failed: {e:?}")),
            },
            None => unmapped(entry, vcpu_id, "write", addr, width),
        },
        AxVCpuExitReason::SysRegRead { addr, reg } => {
            let value = match devices().find_sys_reg_dev(addr) {
                Some(dev) => dev.handle_read(addr, AccessWidth::Qword).unwrap_or_else(|e| {
                    warn!("VM[{}] vCPU[{vcpu_id}]: system register {addr:?} read failed ({e:?}); reads as zero", entry.vm.id());
                    0
                }),
                None => {
                    warn!("VM[{}] vCPU[{vcpu_id}]: unemulated system register {addr:?} reads as zero", entry.vm.id());
                    0
                }
            };
            vcpu.set_gpr(reg, value);
            Action::Continue
        }
        AxVCpuExitReason::SysRegWrite { addr, value } => {
            let result = devices().find_sys_reg_dev(addr).map(|dev| dev.handle_write(addr, AccessWidth::Qword, value as usize));
            if !matches!(result, Some(Ok(()))) {
                warn!("VM[{}] vCPU[{vcpu_id}]: write {value:#x} to system register {addr:?} ignored", entry.vm.id());
            }
            Action::Continue
        }
        AxVCpuExitReason::IoRead { port, width } => {
            let value = devices().find_port_dev(port).and_then(|dev| dev.handle_read(port, width).ok());
            if value.is_none() {
                warn!("VM[{}] vCPU[{vcpu_id}]: read of unemulated port {port:?} reads as all ones", entry.vm.id());
            }
            vcpu.set_return_value(value.unwrap_or(usize::MAX));
            Action::Continue
        }
        AxVCpuExitReason::IoWrite { port, width, data } => {
            let result = devices().find_port_dev(port).map(|dev| dev.handle_write(port, width, data as usize));
            if !matches!(result, Some(Ok(()))) {
                warn!("VM[{}] vCPU[{vcpu_id}]: write to unemulated port {port:?} ignored", entry.vm.id());
            }
            Action::Continue
        }
        AxVCpuExitReason::Hypercall { nr, args } => {
            guest_request(entry, vcpu_id, vcpu, arch::decode_hypercall(nr, args, &entry.placements))
        }
        AxVCpuExitReason::CpuUp { target_cpu, entry_point, arg } => {
            let request = match arch::vcpu_of_target(target_cpu, &entry.placements) {
                Some(target) => GuestRequest::CpuOn { vcpu: target, entry: entry_point.as_usize() as u64, arg },
                None => GuestRequest::Return(arch::CPU_STATUS_INVALID),
            };
            guest_request(entry, vcpu_id, vcpu, request)
        }
        AxVCpuExitReason::CpuDown { .. } => Action::CpuOff,
        AxVCpuExitReason::SystemDown => Action::Stop(StopReason::PowerOff),
        AxVCpuExitReason::Halt => Action::WaitForInterrupt,
        AxVCpuExitReason::SendIPI { target_cpu, target_cpu_aux, send_to_all, send_to_self, vector } => {
            send_ipi(entry, vcpu_id, target_cpu, target_cpu_aux, send_to_all, send_to_self, vector as usize);
            Action::Continue
        }
        AxVCpuExitReason::NestedPageFault { addr, access_flags } => fault(
            entry,
            vcpu_id,
            format_args!("access ({access_flags:?}) to unmapped guest-physical address {:#x}", addr.as_usize()),
        ),
        AxVCpuExitReason::FailEntry { hardware_entry_failure_reason } => fault(
            entry,
            vcpu_id,
            format_args!("guest trap the hypervisor cannot handle, or failed entry (code {hardware_entry_failure_reason:#x})"),
        ),
        other => fault(entry, vcpu_id, format_args!("unhandled exit {other:?}")),
    }
}

/// An MMIO access to the VM's emulated interrupt controller, handled here
/// (the hot path: no device lookup, no allocation).
fn irqchip_access(entry: &VmEntry, vcpu_id: usize, vcpu: &VCpu, exit: &AxVCpuExitReason) -> Option<Action> {
    let chip = entry.irqchip.as_ref()?;
    match *exit {
        AxVCpuExitReason::MmioRead { addr, width, reg, .. } => {
            let offset = chip.offset_of(addr.as_usize())?;
            vcpu.set_gpr(reg, chip.read(vcpu_id, offset, width.size()));
        }
        AxVCpuExitReason::MmioWrite { addr, width, data } => {
            let offset = chip.offset_of(addr.as_usize())?;
            if let Some(ipi) = chip.write(vcpu_id, offset, width.size(), data as usize) {
                raise_ipi(entry, vcpu_id, ipi);
            }
        }
        _ => return None,
    }
    Some(Action::Continue)
}

fn raise_ipi(entry: &VmEntry, from: usize, ipi: Ipi) {
    for target in (0..entry.vcpus.len()).filter(|t| ipi.targets & (1 << t) != 0) {
        if let Err(e) = entry.queue_interrupt(target, ipi.vector) {
            warn!("VM[{}] vCPU[{from}]: IPI {} to vCPU[{target}] dropped: {e:?}", entry.vm.id(), ipi.vector);
        }
    }
}

fn unmapped(entry: &VmEntry, vcpu_id: usize, kind: &str, addr: axaddrspace::GuestPhysAddr, width: AccessWidth) -> Action {
    fault(
        entry,
        vcpu_id,
        format_args!("{kind} of {} bytes at unmapped guest-physical address {:#x}", width.size(), addr.as_usize()),
    )
}

fn guest_request(entry: &VmEntry, vcpu_id: usize, vcpu: &VCpu, request: GuestRequest) -> Action {
    let answer = |result: Result<u64, u64>| {
        arch::set_call_result(vcpu, result);
        Action::Continue
    };
    match request {
        GuestRequest::Return(value) => answer(Ok(value)),
        GuestRequest::Fail(code) => answer(Err(code)),
        GuestRequest::SetTimer(deadline) => {
            arch::set_guest_timer(vcpu, deadline);
            answer(Ok(0))
        }
        GuestRequest::SendIpi(ipi) => {
            raise_ipi(entry, vcpu_id, ipi);
            answer(Ok(0))
        }
        GuestRequest::CpuOn { vcpu: target, entry: pc, arg } => {
            let started = vcpus::cpu_on(entry, target, pc, arg);
            answer(if started { Ok(0) } else { Err(arch::CPU_ON_ALREADY_ON) })
        }
        GuestRequest::CpuStatus { vcpu: target } => answer(match target.and_then(|t| entry.vcpus.get(t)) {
            Some(slot) if slot.is_online() => Ok(arch::CPU_STATUS_ON),
            Some(_) => Ok(arch::CPU_STATUS_OFF),
            None => Err(arch::CPU_STATUS_INVALID),
        }),
        GuestRequest::CpuOff => Action::CpuOff,
        GuestRequest::SystemOff => Action::Stop(StopReason::PowerOff),
        GuestRequest::SystemReset => Action::Stop(StopReason::Reset),
    }
}

#[allow(clippy::too_many_arguments)]
fn send_ipi(entry: &VmEntry, from: usize, target_cpu: u64, target_list: u64, to_all: bool, to_self: bool, vector: usize) {
    let vm_id = entry.vm.id();
    let mut deliver = |target: usize| {
        if let Err(e) = entry.queue_interrupt(target, vector) {
            warn!("VM[{vm_id}] vCPU[{from}]: IPI {vector} to vCPU[{target}] dropped: {e:?}");
        }
    };
    if to_all {
        (0..entry.vcpus.len()).filter(|t| *t != from).for_each(&mut deliver);
    } else {
        for bit in (0..16).filter(|b| target_list & (1 << b) != 0) {
            match arch::vcpu_of_target(target_cpu | bit, &entry.placements) {
                Some(target) => deliver(target),
                None => warn!("VM[{vm_id}] vCPU[{from}]: IPI to unknown CPU {:#x} dropped", target_cpu | bit),
            }
        }
    }
    if to_self {
        deliver(from);
    }
}
