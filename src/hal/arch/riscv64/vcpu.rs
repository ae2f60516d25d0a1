//! Guest CPUs on riscv64: `rvh_vcpu::Vcpu` behind the interface the VMM's
//! vCPU loop and exit dispatcher use.

use alloc::vec::Vec;

use axaddrspace::device::AccessWidth;
use axaddrspace::{GuestPhysAddr, MappingFlags};
use axerrno::AxResult;
use axvcpu::AxVCpuExitReason;
use rvh_vcpu::{Exit, Vcpu};
use spin::Mutex;

use crate::vmm::vm::Vm;

/// A guest hart. Only its own vCPU task runs it; the lock is uncontended.
pub struct GuestCpu {
    cpu: Mutex<Vcpu>,
}

/// One guest hart per vCPU of the VM, all translating through its
/// stage-2 table; hart ids are vCPU ids.
pub fn create_vcpus(vm: &Vm, entry: u64) -> Vec<GuestCpu> {
    let root = vm.ept_root().as_usize() as u64;
    (0..vm.vcpu_num())
        .map(|id| GuestCpu { cpu: Mutex::new(Vcpu::new(id as u64, entry, root)) })
        .collect()
}

impl GuestCpu {
    /// Loads the hart onto this physical hart.
    pub fn bind(&self) -> AxResult {
        self.cpu.lock().bind();
        Ok(())
    }

    /// Takes the hart off this physical hart.
    pub fn unbind(&self) -> AxResult {
        self.cpu.lock().unbind();
        Ok(())
    }

    /// Sets register `x{index}` (completing the MMIO read into it, if any).
    pub fn set_gpr(&self, index: usize, value: usize) {
        self.cpu.lock().set_gpr(index, value as u64);
    }

    /// Sets `a0`.
    pub fn set_return_value(&self, value: usize) {
        self.cpu.lock().set_gpr(10, value as u64);
    }
}

fn width(bytes: usize) -> AccessWidth {
    match bytes {
        1 => AccessWidth::Byte,
        2 => AccessWidth::Word,
        4 => AccessWidth::Dword,
        _ => AccessWidth::Qword,
    }
}

/// Runs the guest until its next exit, in the VMM's terms.
pub fn enter(vcpu: &GuestCpu) -> Result<AxVCpuExitReason, core::convert::Infallible> {
    let exit = vcpu.cpu.lock().run();
    Ok(match exit {
        Exit::Ecall { eid, fid, args } => AxVCpuExitReason::Hypercall { nr: (fid << 32) | (eid & 0xffff_ffff), args },
        Exit::MmioRead { addr, access } => {
            AxVCpuExitReason::MmioRead {
                addr: GuestPhysAddr::from(addr as usize),
                width: width(access.width),
                reg: access.reg,
                reg_width: AccessWidth::Qword,
                signed_ext: access.signed,
            }
        }
        Exit::MmioWrite { addr, access, value } => {
            AxVCpuExitReason::MmioWrite { addr: GuestPhysAddr::from(addr as usize), width: width(access.width), data: value }
        }
        Exit::Interrupt(cause) => AxVCpuExitReason::ExternalInterrupt { vector: cause },
        Exit::FetchFault { addr, .. } => AxVCpuExitReason::NestedPageFault {
            addr: GuestPhysAddr::from(addr as usize),
            access_flags: MappingFlags::EXECUTE,
        },
        Exit::Fault { cause, pc } => {
            warn!("guest trap the hypervisor cannot handle: scause {cause:#x}, pc {pc:#x}");
            AxVCpuExitReason::FailEntry { hardware_entry_failure_reason: cause }
        }
    })
}

/// Starts a hart at `pc` with `a0 = hart id` and `a1 = opaque` (SBI HSM).
pub fn prepare_start(vcpu: &GuestCpu, vcpu_id: usize, pc: u64, opaque: u64) -> Result<(), core::convert::Infallible> {
    let mut cpu = vcpu.cpu.lock();
    cpu.set_entry(pc);
    cpu.set_gpr(10, vcpu_id as u64);
    cpu.set_gpr(11, opaque);
    Ok(())
}

/// Answers an SBI call: `a0` = error (0 on success), `a1` = value.
pub fn set_call_result(vcpu: &GuestCpu, result: Result<u64, u64>) {
    let mut cpu = vcpu.cpu.lock();
    match result {
        Ok(value) => {
            cpu.set_gpr(10, 0);
            cpu.set_gpr(11, value);
        }
        Err(code) => cpu.set_gpr(10, code),
    }
}

/// Programs the running hart's timer.
pub fn set_guest_timer(vcpu: &GuestCpu, deadline: u64) {
    vcpu.cpu.lock().set_timer(deadline);
}

/// Raises VS interrupt `vector` (an `hvip` bit) on the hart about to run.
pub fn inject(vcpu: &GuestCpu, vector: usize, _priority: u8) -> bool {
    vcpu.cpu.lock().raise_interrupt(vector);
    true
}

/// The host handles the interrupt that ended the run, then unmasks.
pub fn handle_host_irq(vector: usize) {
    axhal::irq::irq_handler(vector);
    // SAFETY: the interrupt that was pending has been handled; unmasking
    // returns the host to its normal state.
    unsafe { core::arch::asm!("csrsi sstatus, 2", options(nomem, nostack)) };
}

/// Nothing to clear between vCPUs (binding loads each hart's own state).
pub fn vcpu_switch_this_cpu() {}

/// Flushes this hart's guest-virtual translations.
pub fn flush_guest_tlb() {
    rvh_vcpu::flush_guest_tlb();
}
