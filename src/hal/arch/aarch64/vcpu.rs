//! aarch64 vCPUs: arm_vcpu's, created by axvm, with PSCI calls, GICv2
//! list-register injection and GICv3-style SGI exits decoded here.

use exit_dispatch::{Answer, GuestRequest, Ipi};

use super::{calls, irq};
use crate::hal::virt::AxvmVcpuRef;
use crate::hal::arch::CpuMap;
use crate::hal::arch::axvm_vcpu::{AxvmArch, AxvmVcpu, SendIpiExit};

/// An aarch64 vCPU.
pub type Vcpu = AxvmVcpu<Aarch64>;

/// The aarch64 hooks of an axvm vCPU.
pub struct Aarch64;

impl AxvmArch for Aarch64 {
    // No port I/O on Arm.
    const PORT_INPUT_REG: usize = 0;

    fn decode_call(nr: u64, args: [u64; 6], cpus: &CpuMap) -> GuestRequest {
        calls::decode(nr, args, cpus)
    }

    fn vcpu_of_target(target: u64, cpus: &CpuMap) -> Option<usize> {
        calls::vcpu_of_target(target, cpus)
    }

    /// An ICC_SGI1R_EL1 write: affinity prefix in `target_cpu`, a 16-bit
    /// target list below it.
    fn ipi(exit: &SendIpiExit, from: usize, cpus: &CpuMap) -> Ipi {
        let mut targets = 0u64;
        let mut add = |vcpu: usize| {
            if vcpu < 64 {
                targets |= 1 << vcpu;
            }
        };
        if exit.to_all {
            (0..64).filter(|&v| v != from && cpus.pcpu_of(v).is_some()).for_each(&mut add);
        } else {
            for bit in (0..16).filter(|b| exit.target_list & (1 << b) != 0) {
                match calls::vcpu_of_target(exit.target_cpu | bit, cpus) {
                    Some(vcpu) => add(vcpu),
                    None => debug!("vCPU[{from}]: SGI to unknown CPU {:#x} dropped", exit.target_cpu | bit),
                }
            }
        }
        if exit.to_self {
            add(from);
        }
        Ipi { vector: exit.vector as usize, targets }
    }

    fn encode(answer: Answer) -> u64 {
        calls::encode(answer)
    }

    fn inject(_vcpu: &AxvmVcpuRef, vector: usize, priority: Option<u8>) -> bool {
        irq::inject(vector, priority.unwrap_or(irq::DEFAULT_PRIORITY))
    }
}
