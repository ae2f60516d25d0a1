//! aarch64 vCPUs: our own (`a64-vcpu`), with their lazy state owned per
//! physical CPU. Each CPU records which vCPU's EL1 registers, timers,
//! FP/SIMD registers and virtual CPU interface it holds; a vCPU that finds
//! another's state there saves it into that vCPU first (eviction), so
//! vCPUs of the same or different VMs share a CPU without seeing each
//! other's registers, and a plain exit/re-entry switches nothing.

use alloc::vec::Vec;
use core::cell::UnsafeCell;

use a64_vcpu::{Exit as HwExit, VcpuConfig};
use exit_dispatch::{Access, Answer, Exit, GuestVcpu, MmioRead, Trap};

use super::{calls, irq, irqchip};
use crate::hal::VcpuError;
use crate::hal::arch::{CpuMap, RamMap, VcpuOps, VcpuSetup, loaded};



/// An aarch64 guest CPU.
pub struct Vcpu {
    state: UnsafeCell<State>,
}

struct State {
    hw: a64_vcpu::Vcpu,
    gic: irq::SavedCpuInterface,
}

// SAFETY: `state` is reached only through `Vcpu::state`, whose contract
// makes each access exclusive: the vCPU's own task (pinned to one CPU)
// uses it, or another vCPU's task on that same CPU saves it out while the
// owner's task is not running (the scheduler is cooperative and no
// reference into the state lives across a point where the owner yields).
unsafe impl Sync for Vcpu {}
// SAFETY: the state is plain data; see `Sync`.
unsafe impl Send for Vcpu {}

/// One vCPU per vCPU of the VM; vCPU 0 starts at the entry with the
/// device tree in x0, the others wait for PSCI CPU_ON.
pub fn create(setup: &VcpuSetup<'_>) -> Vec<Vcpu> {
    (0..setup.count)
        .map(|id| {
            let config = VcpuConfig {
                entry: setup.entry,
                x0: setup.dtb.unwrap_or(0),
                mpidr: id as u64,
                stage2_root: setup.stage2_root.as_usize() as u64,
                vmid: setup.vm_id as u16,
            };
            let state = State { hw: a64_vcpu::Vcpu::new(config), gic: irq::SavedCpuInterface::new(setup.vm_id) };
            Vcpu { state: UnsafeCell::new(state) }
        })
        .collect()
}

impl Vcpu {
    /// The vCPU's state, for the duration of one operation.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    fn state(&self) -> &mut State {
        // SAFETY: see the `Sync` impl: callers are the vCPU's own task or an
        // evicting task on the same CPU while the owner does not run, and
        // none keeps the reference past the method that took it.
        unsafe { &mut *self.state.get() }
    }

    /// Makes this CPU hold our state, saving whoever's it held (whose
    /// state is reached only through `state()`, as the `Sync` impl allows).
    #[inline]
    fn ensure_loaded(&self) {
        loaded::load(self, Vcpu::save_out, |me| {
            let state = me.state();
            state.hw.load();
            irq::load_cpu_interface(&state.gic);
        });
    }

    /// Moves our state out of this CPU.
    fn save_out(&self) {
        let state = self.state();
        state.hw.save();
        irq::save_cpu_interface(&mut state.gic);
    }

    /// If this CPU holds our state, takes it out (timers silenced, list
    /// registers emptied) and leaves the CPU holding nobody's.
    fn release(&self) {
        loaded::release(self, Vcpu::save_out);
    }

    #[inline(always)]
    fn decode(hw: &a64_vcpu::Vcpu, exit: HwExit, cpus: &CpuMap) -> Exit {
        match exit {
            HwExit::Call => {
                let args = [hw.gpr(1), hw.gpr(2), hw.gpr(3), hw.gpr(4), hw.gpr(5), hw.gpr(6)];
                Exit::Call(calls::decode(hw.gpr(0), args, cpus))
            }
            HwExit::MmioRead { addr, access } => Exit::MmioRead(MmioRead {
                addr,
                width: access.width,
                reg: access.rt,
                reg_64: access.reg64,
                signed: access.signed,
            }),
            HwExit::MmioWrite { addr, width, value } => Exit::MmioWrite { addr, width, value },
            HwExit::Interrupt => Exit::HostInterrupt { vector: 0 },
            HwExit::Nothing => Exit::Nothing,
            HwExit::SysRegRead { encoding, rt } => Exit::SysRegRead { id: u64::from(encoding), reg: rt },
            HwExit::SysRegWrite { encoding, value } => Exit::SysRegWrite { id: u64::from(encoding), value },
            HwExit::Wfi => Exit::Halt,
            HwExit::Wfe => Exit::Yield,
            HwExit::RamMiss { ipa, write, fetch } => {
                let access = match (fetch, write) {
                    (true, _) => Access::Execute,
                    (false, true) => Access::Write,
                    (false, false) => Access::Read,
                };
                Exit::RamMiss { addr: ipa, access }
            }
            HwExit::FetchFault { ipa, .. } => Exit::PageFault { addr: ipa, access: Access::Execute },
            HwExit::Fault { what, esr, far, hpfar, pc } => {
                Exit::Unhandled(Trap { what, names: &["ESR", "FAR", "HPFAR", "pc"], values: [esr, far, hpfar, pc] })
            }
        }
    }
}

impl GuestVcpu for Vcpu {
    fn set_gpr(&self, reg: usize, value: u64) {
        self.state().hw.set_gpr(reg, value);
    }

    fn answer(&self, answer: Answer) {
        self.state().hw.set_gpr(0, calls::encode(answer));
    }

    /// Guests program their own timers here.
    fn set_timer(&self, _deadline: u64) {}
}

impl VcpuOps for Vcpu {
    fn bind(&self) -> Result<(), VcpuError> {
        self.ensure_loaded();
        Ok(())
    }

    fn unbind(&self) -> Result<(), VcpuError> {
        self.release();
        Ok(())
    }

    #[inline]
    fn run(&self, cpus: &CpuMap, ram: &RamMap) -> Result<Exit, VcpuError> {
        self.ensure_loaded();
        let hw = &mut self.state().hw;
        let exit = hw.run(|ipa| ram.contains(ipa));
        Ok(Self::decode(hw, exit, cpus))
    }

    /// Resets the vCPU to start at `entry` with `arg` in x0 (PSCI CPU_ON).
    /// State still held by a CPU for it is dropped, so the reset state is
    /// what gets loaded.
    fn prepare_start(&self, _vcpu_id: usize, entry: u64, arg: u64) -> Result<(), VcpuError> {
        self.release();
        let state = self.state();
        state.hw.reset(entry, arg);
        state.gic.reset();
        Ok(())
    }

    /// While the vCPU is loaded its timers interrupt the host, which
    /// forwards them; once another vCPU took the CPU they are silenced, so
    /// a vCPU waiting for one needs the deadline to wake at.
    fn timer_deadline(&self) -> Option<core::time::Duration> {
        let loaded = loaded::holds(self);
        let ticks = self.state().hw.timer_deadline(loaded)?;
        Some(core::time::Duration::from_nanos(axhal::time::ticks_to_nanos(ticks)))
    }

    fn inject(&self, vector: usize, priority: Option<u8>) -> bool {
        self.ensure_loaded();
        irq::withdraw_stale_timer_irqs();
        let (intid, source) = irqchip::decode_vector(vector);
        irq::inject(intid, source, priority.unwrap_or(irq::DEFAULT_PRIORITY))
    }
}
