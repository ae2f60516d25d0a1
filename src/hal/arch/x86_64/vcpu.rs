//! x86_64 vCPUs: AMD SVM ours (`svm_vcpu`), VT-x x86_vcpu's as axvm
//! creates them; which one is the host's choice at boot (`svm::in_use`).

use alloc::boxed::Box;
use alloc::vec::Vec;

use exit_dispatch::{Answer, Exit, GuestRequest, GuestVcpu, Ipi};

use super::calls;
use super::svm_vcpu::SvmVcpu;
use crate::hal::VcpuError;
use crate::hal::arch::axvm_vcpu::{self, AxvmArch, AxvmVcpu, SendIpiExit};
use crate::hal::arch::{CpuMap, RamMap, VcpuOps, VcpuSetup};
use crate::hal::virt::AxvmVcpuRef;

/// An x86_64 vCPU.
pub enum Vcpu {
    /// AMD SVM.
    Svm(Box<SvmVcpu>),
    /// Intel VT-x.
    Vmx(AxvmVcpu<X86_64>),
}

/// The VM's vCPUs, of the host's kind.
pub fn create(setup: &VcpuSetup<'_>, svm: bool) -> Result<Vec<Vcpu>, VcpuError> {
    if svm {
        return Ok(super::svm_vcpu::create(setup)?.into_iter().map(|v| Vcpu::Svm(Box::new(v))).collect());
    }
    Ok(axvm_vcpu::create(setup).into_iter().map(Vcpu::Vmx).collect())
}

/// Forwards a call to the vCPU of whichever kind.
macro_rules! either {
    ($self:ident, $v:ident => $e:expr) => {
        match $self {
            Vcpu::Svm($v) => $e,
            Vcpu::Vmx($v) => $e,
        }
    };
}

impl GuestVcpu for Vcpu {
    fn set_gpr(&self, reg: usize, value: u64) {
        either!(self, v => v.set_gpr(reg, value))
    }

    fn answer(&self, answer: Answer) {
        either!(self, v => v.answer(answer))
    }

    fn set_timer(&self, deadline: u64) {
        either!(self, v => v.set_timer(deadline))
    }
}

impl VcpuOps for Vcpu {
    fn bind(&self) -> Result<(), VcpuError> {
        either!(self, v => v.bind())
    }

    fn unbind(&self) -> Result<(), VcpuError> {
        either!(self, v => v.unbind())
    }

    #[inline]
    fn run(&self, cpus: &CpuMap, ram: &RamMap) -> Result<Exit, VcpuError> {
        either!(self, v => v.run(cpus, ram))
    }

    fn prepare_start(&self, vcpu_id: usize, entry: u64, arg: u64) -> Result<(), VcpuError> {
        either!(self, v => v.prepare_start(vcpu_id, entry, arg))
    }

    fn timer_deadline(&self) -> Option<core::time::Duration> {
        either!(self, v => v.timer_deadline())
    }

    fn inject(&self, vector: usize, priority: Option<u8>) -> bool {
        either!(self, v => v.inject(vector, priority))
    }
}

/// The x86_64 hooks of an axvm (VT-x) vCPU.
pub struct X86_64;

impl AxvmArch for X86_64 {
    /// RAX.
    const PORT_INPUT_REG: usize = 0;

    fn decode_call(nr: u64, args: [u64; 6], _cpus: &CpuMap) -> GuestRequest {
        calls::decode(nr, [args[0], args[1], args[2]])
    }

    /// APIC ids are vCPU ids in our x86 VMs.
    fn vcpu_of_target(target: u64, cpus: &CpuMap) -> Option<usize> {
        cpus.vcpu(target)
    }

    /// A physical-destination IPI: `target_cpu` is an APIC id.
    fn ipi(exit: &SendIpiExit, from: usize, cpus: &CpuMap) -> Ipi {
        let mut targets = 0u64;
        if exit.to_all {
            targets = (0..64).filter(|&v| v != from && cpus.pcpu_of(v).is_some()).fold(0, |t, v| t | (1 << v));
        } else if let Some(vcpu) = cpus.vcpu(exit.target_cpu).filter(|&v| v < 64) {
            targets |= 1 << vcpu;
        }
        if exit.to_self && from < 64 {
            targets |= 1 << from;
        }
        Ipi { vector: exit.vector as usize, targets }
    }

    fn encode(answer: Answer) -> u64 {
        calls::encode(answer)
    }

    /// The vCPU crate injects the interrupt.
    fn inject(vcpu: &AxvmVcpuRef, vector: usize, _priority: Option<u8>) -> bool {
        vcpu.inject_interrupt(vector).is_ok()
    }
}
