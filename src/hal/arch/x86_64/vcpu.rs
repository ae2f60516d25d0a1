//! x86_64 vCPUs: x86_vcpu's (VT-x), created by axvm.

use exit_dispatch::{Answer, GuestRequest, Ipi};

use super::calls;
use crate::hal::virt::AxvmVcpuRef;
use crate::hal::arch::CpuMap;
use crate::hal::arch::axvm_vcpu::{AxvmArch, AxvmVcpu, SendIpiExit};

/// An x86_64 vCPU.
pub type Vcpu = AxvmVcpu<X86_64>;

/// The x86_64 hooks of an axvm vCPU.
pub struct X86_64;

impl AxvmArch for X86_64 {
    /// RAX.
    const PORT_INPUT_REG: usize = 0;

    fn decode_call(nr: u64, _args: [u64; 6], _cpus: &CpuMap) -> GuestRequest {
        calls::decode(nr)
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
