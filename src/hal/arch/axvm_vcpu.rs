//! vCPUs as axvm creates them (x86_vcpu), for the architectures that use
//! them: running one, decoding its exits into [`Exit`] with the
//! arch's [`AxvmArch`] hooks, and answering its calls.

use alloc::vec::Vec;
use core::marker::PhantomData;

use axaddrspace::device::AccessWidth;
use axaddrspace::{GuestPhysAddr, MappingFlags};
use axvcpu::{AxArchVCpu, AxVCpuExitReason};
use exit_dispatch::{Access, Answer, Exit, GuestRequest, GuestVcpu, Ipi, MmioRead, Trap};

use super::{CpuMap, RamMap, VcpuOps, VcpuSetup};
use crate::hal::VcpuError;
use crate::hal::virt::AxvmVcpuRef;

/// What an architecture adds to an axvm vCPU.
pub trait AxvmArch: 'static {
    /// The register a port input lands in.
    const PORT_INPUT_REG: usize;
    /// Decodes a hypercall exit (`nr`, arguments) into a request.
    fn decode_call(nr: u64, args: [u64; 6], cpus: &CpuMap) -> GuestRequest;
    /// The vCPU a CPU_ON target names.
    fn vcpu_of_target(target: u64, cpus: &CpuMap) -> Option<usize>;
    /// The IPI a trapped interrupt-controller register write raised.
    fn ipi(exit: &SendIpiExit, from: usize, cpus: &CpuMap) -> Ipi;
    /// The value a call answer leaves in the first argument register.
    fn encode(answer: Answer) -> u64;
    /// Makes `vector` pending for `vcpu` on this CPU.
    fn inject(vcpu: &AxvmVcpuRef, vector: usize, priority: Option<u8>) -> bool;
}

/// The fields of axvcpu's IPI exit.
pub struct SendIpiExit {
    /// Target CPU (or affinity prefix).
    pub target_cpu: u64,
    /// Target list within that prefix.
    #[allow(dead_code, reason = "only affinity-routed IPIs have a list")]
    pub target_list: u64,
    /// To every vCPU but the sender.
    pub to_all: bool,
    /// To the sender as well.
    pub to_self: bool,
    /// The vector.
    pub vector: u64,
}

/// An axvm vCPU with its architecture's hooks.
pub struct AxvmVcpu<A> {
    vcpu: AxvmVcpuRef,
    id: usize,
    arch: PhantomData<A>,
}

// SAFETY: a vCPU is run, bound and written only by its own vCPU task; other
// tasks reach it only through the VM's interrupt queues (the contract
// axvm's own VM type relies on when it shares its vCPU list).
unsafe impl<A> Send for AxvmVcpu<A> {}
// SAFETY: see `Send`.
unsafe impl<A> Sync for AxvmVcpu<A> {}

/// The VM's vCPUs, in vCPU-id order.
pub fn create<A>(setup: &VcpuSetup<'_>) -> Vec<AxvmVcpu<A>> {
    let vcpus = setup.axvm_vcpus.iter().cloned().enumerate();
    vcpus.map(|(id, vcpu)| AxvmVcpu { vcpu, id, arch: PhantomData }).collect()
}

fn bytes(width: AccessWidth) -> u8 {
    width.size() as u8
}

fn access_of(flags: MappingFlags) -> Access {
    if flags.contains(MappingFlags::EXECUTE) {
        Access::Execute
    } else if flags.contains(MappingFlags::WRITE) {
        Access::Write
    } else {
        Access::Read
    }
}

impl<A: AxvmArch> AxvmVcpu<A> {
    #[inline]
    fn decode(&self, reason: AxVCpuExitReason, cpus: &CpuMap) -> Exit {
        use AxVCpuExitReason as R;
        let gpa = |addr: GuestPhysAddr| addr.as_usize() as u64;
        match reason {
            R::Nothing => Exit::Nothing,
            R::ExternalInterrupt { vector } => Exit::HostInterrupt { vector: vector as usize },
            R::MmioRead { addr, width, reg, reg_width, signed_ext } => Exit::MmioRead(MmioRead {
                addr: gpa(addr),
                width: bytes(width),
                reg,
                reg_64: reg_width == AccessWidth::Qword,
                signed: signed_ext,
            }),
            R::MmioWrite { addr, width, data } => Exit::MmioWrite { addr: gpa(addr), width: bytes(width), value: data },
            R::SysRegRead { addr, reg } => Exit::SysRegRead { id: addr.addr() as u64, reg },
            R::SysRegWrite { addr, value } => Exit::SysRegWrite { id: addr.addr() as u64, value },
            R::IoRead { port, width } => {
                Exit::PortRead { port: port.number(), width: bytes(width), reg: A::PORT_INPUT_REG }
            }
            R::IoWrite { port, width, data } => Exit::PortWrite { port: port.number(), width: bytes(width), value: data },
            R::Hypercall { nr, args } => Exit::Call(A::decode_call(nr, args, cpus)),
            R::CpuUp { target_cpu, entry_point, arg } => Exit::Call(GuestRequest::CpuOn {
                target: A::vcpu_of_target(target_cpu, cpus),
                entry: gpa(entry_point),
                arg,
            }),
            R::CpuDown { .. } => Exit::Call(GuestRequest::CpuOff),
            R::SystemDown => Exit::Call(GuestRequest::SystemOff),
            R::Halt => Exit::Halt,
            R::SendIPI { target_cpu, target_cpu_aux, send_to_all, send_to_self, vector } => {
                let exit = SendIpiExit {
                    target_cpu,
                    target_list: target_cpu_aux,
                    to_all: send_to_all,
                    to_self: send_to_self,
                    vector,
                };
                Exit::SendIpi(A::ipi(&exit, self.id, cpus))
            }
            R::NestedPageFault { addr, access_flags } => Exit::PageFault { addr: gpa(addr), access: access_of(access_flags) },
            R::FailEntry { hardware_entry_failure_reason } => Exit::Unhandled(Trap {
                what: "guest trap the hypervisor cannot handle, or failed entry",
                names: &["code", "", "", ""],
                values: [hardware_entry_failure_reason, 0, 0, 0],
            }),
            _ => Exit::Unhandled(Trap { what: "exit the hypervisor does not know", names: Trap::NO_NAMES, values: [0; 4] }),
        }
    }
}

impl<A: AxvmArch> GuestVcpu for AxvmVcpu<A> {
    fn set_gpr(&self, reg: usize, value: u64) {
        self.vcpu.set_gpr(reg, value as usize);
    }

    fn answer(&self, answer: Answer) {
        self.vcpu.set_return_value(A::encode(answer) as usize);
    }

    /// Guests program their own timer on these architectures.
    fn set_timer(&self, _deadline: u64) {}
}

impl<A: AxvmArch> VcpuOps for AxvmVcpu<A> {
    fn bind(&self) -> Result<(), VcpuError> {
        self.vcpu.bind().map_err(VcpuError::Bind)
    }

    fn unbind(&self) -> Result<(), VcpuError> {
        self.vcpu.unbind().map_err(VcpuError::Unbind)
    }

    /// The vCPU task bound this vCPU and is the only one that runs it, so
    /// axvcpu's per-entry state bookkeeping (a RefCell round trip and a
    /// per-CPU current-vCPU pointer nobody reads) is left out.
    #[inline]
    /// axvm's x86 vCPUs never see a RAM miss: their RAM is backed at
    /// creation (`ArchOps::ram_on_first_touch` is false).
    fn run(&self, cpus: &CpuMap, _ram: &RamMap) -> Result<Exit, VcpuError> {
        let reason = self.vcpu.get_arch_vcpu().run().map_err(VcpuError::Enter)?;
        Ok(self.decode(reason, cpus))
    }

    /// The host programs these guests' timers itself.
    fn timer_deadline(&self) -> Option<core::time::Duration> {
        None
    }

    fn prepare_start(&self, _vcpu_id: usize, entry: u64, arg: u64) -> Result<(), VcpuError> {
        self.vcpu.set_entry(GuestPhysAddr::from(entry as usize)).map_err(VcpuError::Entry)?;
        self.vcpu.set_return_value(arg as usize);
        Ok(())
    }

    fn inject(&self, vector: usize, priority: Option<u8>) -> bool {
        A::inject(&self.vcpu, vector, priority)
    }
}
