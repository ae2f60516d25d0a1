//! riscv64 vCPUs: our own `rvh_vcpu::Vcpu`, with SBI calls decoded and
//! answered here.

use alloc::vec::Vec;

use exit_dispatch::{Access, Answer, Exit, GuestVcpu, MmioRead, Trap};
use rvh_vcpu::Exit as HartExit;
use rvh_vcpu::wake::Wake;
use spin::Mutex;

use super::calls;
use crate::hal::VcpuError;
use crate::hal::arch::{CpuMap, RamMap, VcpuOps, VcpuSetup, WakeUp, loaded};

/// `a0`, `a1`: the first two argument registers.
const A0: usize = 10;
const A1: usize = 11;

/// A guest hart. Its own vCPU task runs it; another vCPU's task on the
/// same hart saves it out while its task does not run. The lock is
/// uncontended.
pub struct Vcpu {
    hart: Mutex<rvh_vcpu::Vcpu>,
    /// Its VM's id.
    vm: usize,
}

impl Vcpu {
    /// Makes this hart hold our VS state (CSRs, stage-2 table, floating
    /// point), saving whoever's it held.
    #[inline]
    fn ensure_loaded(&self) {
        loaded::load(self, |previous| previous.hart.lock().unbind(), |me| me.hart.lock().bind());
    }
}

/// One guest hart per vCPU of the VM, all translating through its
/// stage-2 table; hart ids are vCPU ids. The boot hart starts with
/// `a0` = 0 and `a1` = the device tree's address (0 without one).
pub fn create(setup: &VcpuSetup<'_>) -> Vec<Vcpu> {
    let root = setup.stage2_root.as_usize() as u64;
    (0..setup.count)
        .map(|id| {
            let mut hart = rvh_vcpu::Vcpu::new(id as u64, setup.entry, root);
            if id == 0 {
                hart.set_gpr(A1, setup.dtb.unwrap_or(0));
            }
            Vcpu { hart: Mutex::new(hart), vm: setup.vm_id }
        })
        .collect()
}

impl GuestVcpu for Vcpu {
    /// Sets `x{reg}` (completing the MMIO read into it, if any).
    fn set_gpr(&self, reg: usize, value: u64) {
        self.hart.lock().set_gpr(reg, value);
    }

    /// `a0` = error (0 on success), `a1` = value.
    fn answer(&self, answer: Answer) {
        let (error, value) = sbi_calls::encode(answer);
        let mut hart = self.hart.lock();
        hart.set_gpr(A0, error);
        if error == 0 {
            hart.set_gpr(A1, value);
        }
    }

    fn set_timer(&self, deadline: u64) {
        self.ensure_loaded();
        self.hart.lock().set_timer(deadline);
    }
}

impl VcpuOps for Vcpu {
    fn bind(&self) -> Result<(), VcpuError> {
        self.ensure_loaded();
        Ok(())
    }

    /// Takes our state off this hart if it holds it.
    fn unbind(&self) -> Result<(), VcpuError> {
        loaded::release(self, |me| me.hart.lock().unbind());
        Ok(())
    }

    #[inline]
    fn run(&self, cpus: &CpuMap, ram: &RamMap) -> Result<Exit, VcpuError> {
        self.ensure_loaded();
        let mut hart = self.hart.lock();
        hart.trap_wfi(super::wfi_traps());
        // Guest memory for decoding an instruction.
        // SAFETY: `ram` is the map of this vCPU's VM, borrowed from it for
        // this call; the VM's RAM lives as long as the VM.
        let read = |gpa: u64, buf: &mut [u8]| unsafe { crate::hal::read_mapped(ram, gpa, buf) };
        let exit = match hart.run() {
            HartExit::DataMiss { addr, store } if ram.contains(addr) => {
                let access = if store { Access::Write } else { Access::Read };
                return Ok(Exit::RamMiss { addr, access });
            }
            HartExit::DataMiss { addr, store } => hart.emulate_access(addr, store, &read),
            HartExit::VirtualInstruction { bits, .. } => hart.virtual_instruction(bits, &read),
            HartExit::FetchFault { addr, .. } if ram.contains(addr) => {
                return Ok(Exit::RamMiss { addr, access: Access::Execute });
            }
            exit => exit,
        };
        Ok(match exit {
            HartExit::Ecall { eid, fid, args } => {
                Exit::Call(calls::decode(eid, fid, args, cpus, &mut calls::Caller { vm: self.vm, hart: &mut hart }))
            }
            HartExit::MmioRead { addr, access } => Exit::MmioRead(MmioRead {
                addr,
                width: access.width as u8,
                reg: access.reg,
                reg_64: true,
                signed: access.signed,
            }),
            HartExit::MmioWrite { addr, access, value } => Exit::MmioWrite { addr, width: access.width as u8, value },
            HartExit::Interrupt(cause) => Exit::HostInterrupt { vector: cause as usize },
            HartExit::Wfi => Exit::Halt,
            HartExit::Reflected { .. } => Exit::Nothing,
            HartExit::FetchFault { addr, .. } => Exit::PageFault { addr, access: Access::Execute },
            // Only reached for emulated memory, after `emulate_access`.
            HartExit::DataMiss { addr, store } => {
                Exit::PageFault { addr, access: if store { Access::Write } else { Access::Read } }
            }
            // Only reached unresolved if `virtual_instruction` was skipped.
            HartExit::VirtualInstruction { pc, .. } => Exit::Unhandled(Trap {
                what: "virtual instruction the hypervisor does not emulate",
                names: &["pc", "", "", ""],
                values: [pc, 0, 0, 0],
            }),
            HartExit::Fault { cause, pc } => Exit::Unhandled(Trap {
                what: "guest trap the hypervisor cannot handle",
                names: &["scause", "pc", "", ""],
                values: [cause, pc, 0, 0],
            }),
        })
    }

    /// Starts the hart afresh at `pc` with `a0 = hart id`, `a1 = opaque`
    /// (SBI HSM hart_start, or a reset).
    fn prepare_start(&self, vcpu_id: usize, pc: u64, opaque: u64) -> Result<(), VcpuError> {
        // The fresh state is loaded on the next run, not the old one kept.
        self.unbind()?;
        self.hart.lock().reset(vcpu_id as u64, pc, opaque);
        Ok(())
    }

    /// `vstimecmp` raises the guest's timer interrupt in hardware (Sstc),
    /// which the host never sees.
    fn timer_deadline(&self) -> Option<core::time::Duration> {
        let deadline = self.hart.lock().timer_deadline(loaded::holds(self));
        (deadline != u64::MAX).then(|| core::time::Duration::from_nanos(axhal::time::ticks_to_nanos(deadline)))
    }

    /// The rule of `rvh_vcpu::wake`: only an interrupt the guest enables,
    /// pending, resumes it (its timer by `time >= vstimecmp`, whatever a
    /// host timer said); one that enables none resumes on any event.
    fn wake_up(&self) -> WakeUp {
        let bound = loaded::holds(self);
        let mut hart = self.hart.lock();
        match hart.interrupts(bound).wake() {
            Wake::Now => {
                if bound {
                    hart.settle_timer();
                }
                WakeUp::Now
            }
            Wake::Wait { timer } => WakeUp::Wait {
                timer: timer.map(|at| core::time::Duration::from_nanos(axhal::time::ticks_to_nanos(at))),
            },
            Wake::AnyEvent => WakeUp::AnyEvent,
        }
    }

    /// Raises VS interrupt `vector` (an `hvip` bit) on the hart about to run.
    fn inject(&self, vector: usize, _priority: Option<u8>) -> bool {
        self.ensure_loaded();
        self.hart.lock().raise_interrupt(vector);
        true
    }
}
