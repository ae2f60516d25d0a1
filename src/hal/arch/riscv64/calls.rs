//! Guest calls on riscv64: SBI (crate `sbi-calls`) answered by the
//! hypervisor, harts named by vCPU id; what guests write through the SBI
//! console goes to their VM's console. Calls that pass memory (the debug
//! console's buffer, the legacy calls' hart-mask pointer) read it through
//! the VMM; the legacy pointer is guest-virtual, translated in software
//! (`rvh_vcpu::walk`) so that a wild one only fails the call.

use exit_dispatch::{CallError, GuestRequest, Ipi};
use sbi_calls::{HartMask, SbiCall, SuspendKind};

use super::irqchip::IPI_VECTOR;
use crate::hal::arch::CpuMap;
use crate::hal::upcalls;

/// ABI version of the hypervisor's own SBI extension.
const HV_ABI_VERSION: u64 = 1;
/// The most a debug-console write takes in one call (the guest writes the
/// rest with further calls, as the specification allows).
const CONSOLE_WRITE_MAX: u64 = 1024;
/// `hvip` bit of the VS software interrupt.
const VSSIP: usize = 2;

/// The hart making the call.
pub struct Caller<'a> {
    /// Its VM.
    pub vm: usize,
    /// Its vCPU (bound on this CPU).
    pub hart: &'a mut rvh_vcpu::Vcpu,
}

/// Decodes an SBI call (`eid`, `fid`, `a0..a5`) and carries out what needs
/// the hart, guest memory or the console.
pub fn decode(eid: u64, fid: u64, args: [u64; 6], cpus: &CpuMap, caller: &mut Caller<'_>) -> GuestRequest {
    match SbiCall::decode(eid, fid, args) {
        SbiCall::SetTimer(deadline) => GuestRequest::SetTimer(deadline),
        SbiCall::PutChar(byte) | SbiCall::ConsoleWriteByte(byte) => {
            console_output(caller.vm, &[byte]);
            GuestRequest::Return(0)
        }
        // Legacy: -1 in a0 (SBI_ERR_FAILED) is "no character".
        SbiCall::GetChar => GuestRequest::Fail(CallError::Failed),
        SbiCall::ConsoleWrite { len, addr } => console_write(caller.vm, addr, len),
        // No console input reaches guests: zero bytes read.
        SbiCall::ConsoleRead => GuestRequest::Return(0),
        SbiCall::ClearIpi => {
            caller.hart.clear_interrupt(VSSIP);
            GuestRequest::Return(0)
        }
        SbiCall::LegacyMaskCall { mask_addr, fence } => legacy_mask_call(caller, mask_addr, fence, cpus),
        SbiCall::BaseInfo(fid) => GuestRequest::Return(SbiCall::base_info(fid, HV_ABI_VERSION)),
        SbiCall::ProbeExtension(eid) => GuestRequest::Return(u64::from(SbiCall::extension_available(eid))),
        SbiCall::SendIpi(mask) => match mask.targets(cpus.vcpu_count()) {
            Ok(targets) => GuestRequest::SendIpi(Ipi { vector: IPI_VECTOR, targets }),
            Err(_) => GuestRequest::Fail(CallError::InvalidParameters),
        },
        SbiCall::RemoteFence(mask) => match mask.targets(cpus.vcpu_count()) {
            Ok(_) => remote_fence(),
            Err(_) => GuestRequest::Fail(CallError::InvalidParameters),
        },
        SbiCall::HartStart { hart, start, opaque } => {
            GuestRequest::CpuOn { target: cpus.vcpu(hart), entry: start, arg: opaque }
        }
        SbiCall::HartStop => GuestRequest::CpuOff,
        SbiCall::HartStatus(hart) => GuestRequest::CpuStatus { target: cpus.vcpu(hart) },
        SbiCall::HartSuspend { kind, resume, opaque } => match SuspendKind::of(kind) {
            SuspendKind::Retentive => GuestRequest::Suspend { resume: None },
            SuspendKind::NonRetentive => GuestRequest::Suspend { resume: Some((resume, opaque)) },
            SuspendKind::PlatformSpecific => GuestRequest::Fail(CallError::NotSupported),
            SuspendKind::Reserved => GuestRequest::Fail(CallError::InvalidParameters),
        },
        SbiCall::Shutdown => GuestRequest::SystemOff,
        SbiCall::Reboot => GuestRequest::SystemReset,
        SbiCall::HvNull => GuestRequest::Return(0),
        SbiCall::HvVersion => GuestRequest::Return(HV_ABI_VERSION),
        SbiCall::HvAdd([a, b, c]) => GuestRequest::Return(a.wrapping_add(b).wrapping_add(c)),
        SbiCall::HvBoots => GuestRequest::BootCount,
        SbiCall::HvDoorbell(channel) => GuestRequest::Doorbell { channel },
        SbiCall::HvChannelStatus(channel) => GuestRequest::ChannelStatus { channel },
        SbiCall::Unknown { eid, fid } => {
            debug!("unknown SBI call {eid:#x}/{fid}: answered SBI_ERR_NOT_SUPPORTED");
            GuestRequest::Fail(CallError::NotSupported)
        }
    }
}

/// Every vCPU of a VM flushes its guest TLB when it is bound; one already
/// running flushes here for itself.
fn remote_fence() -> GuestRequest {
    rvh_vcpu::flush_guest_tlb();
    GuestRequest::Return(0)
}

/// Hands what the guest wrote to its VM's console.
#[inline(never)]
fn console_output(vm: usize, bytes: &[u8]) {
    if let Some(services) = upcalls::services() {
        services.console_output(vm, bytes);
    }
}

/// Reads guest RAM through the VMM.
fn read_ram(vm: usize, gpa: u64, buf: &mut [u8]) -> bool {
    upcalls::services().is_some_and(|s| s.read_guest_ram(vm, gpa, buf))
}

/// DBCN console_write: up to [`CONSOLE_WRITE_MAX`] bytes of guest RAM at
/// `addr` to the console; answers how many were written.
#[cold]
#[inline(never)]
fn console_write(vm: usize, addr: u64, len: u64) -> GuestRequest {
    let len = len.min(CONSOLE_WRITE_MAX);
    let mut buf = [0u8; CONSOLE_WRITE_MAX as usize];
    let bytes = &mut buf[..len as usize];
    if !read_ram(vm, addr, bytes) {
        return GuestRequest::Fail(CallError::InvalidParameters);
    }
    console_output(vm, bytes);
    GuestRequest::Return(len)
}

/// Legacy send_ipi and remote fences: the mask is the `unsigned long` at
/// guest-virtual `mask_addr` (0: every hart); harts the VM lacks are
/// ignored, as v0.1 has no error for them.
#[cold]
#[inline(never)]
fn legacy_mask_call(caller: &mut Caller<'_>, mask_addr: u64, fence: bool, cpus: &CpuMap) -> GuestRequest {
    let mask = if mask_addr == 0 {
        HartMask { mask: 0, base: u64::MAX }
    } else {
        let vm = caller.vm;
        let read_u64 = |gpa: u64| {
            let mut word = [0u8; 8];
            read_ram(vm, gpa, &mut word).then(|| u64::from_le_bytes(word))
        };
        let Some(gpa) = rvh_vcpu::walk::translate(caller.hart.vsatp(), mask_addr, read_u64) else {
            return GuestRequest::Fail(CallError::InvalidAddress);
        };
        let Some(mask) = read_u64(gpa) else { return GuestRequest::Fail(CallError::InvalidAddress) };
        HartMask { mask, base: 0 }
    };
    let all = HartMask { mask: 0, base: u64::MAX }.targets(cpus.vcpu_count()).unwrap_or(0);
    let targets = mask.targets(64).unwrap_or(0) & all;
    if fence { remote_fence() } else { GuestRequest::SendIpi(Ipi { vector: IPI_VECTOR, targets }) }
}
