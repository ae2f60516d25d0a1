//! AMD SVM vCPUs: one VMCB each, run by our world switch, with nested
//! page tables filled from the VM's RAM map on first touch, an x2APIC
//! reached through MSRs, and virtual interrupts injected when the guest
//! can take them. Its exits are decoded in `exits`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use axerrno::AxErrorKind;
use exit_dispatch::{Answer, Exit, GuestVcpu};
use spin::Mutex;
use svm_vcpu::npt::Npt;
use svm_vcpu::setup::{self, GuestStart};
use svm_vcpu::vmcb::{Segment, Vmcb, control, misc1, save};
use svm_vcpu::x2apic::X2Apic;

use super::calls;
use super::svm;
use super::svm_pages::{NptFrames, Pages};
use super::svm_switch::{self, FxArea, Gprs};

mod exits;
mod guard;
use crate::hal::{VcpuError, timer};
use crate::hal::arch::{CpuMap, RamMap, VcpuOps, VcpuSetup};

/// x86 register numbers.
const RAX: usize = 0;
const RCX: usize = 1;
const RDX: usize = 2;
const RBX: usize = 3;
const RSP: usize = 4;
/// Added to a register number: a narrower value replaces only the low
/// byte (AL), bits 8-15 (AH) or the low word (AX), as byte and word MOV
/// and IN do; without one the value is the whole register.
const LOW_BYTE: usize = 1 << 4;
const HIGH_BYTE: usize = 2 << 4;
const LOW_WORD: usize = 3 << 4;

/// EVENTINJ / EXITINTINFO: valid.
const EVENT_VALID: u64 = 1 << 31;
/// VIRTUAL_INTERRUPT: V_IRQ, V_IGN_TPR, and the priority field.
const V_IRQ: u64 = 1 << 8;
const V_IGN_TPR: u64 = 1 << 20;
const V_INTR_PRIO: u64 = 0xF << 16;
/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;

/// Numbers vCPUs, so that a CPU knows whose translations its TLB holds
/// (0 is no vCPU).
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// How a started vCPU begins.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// A Multiboot kernel's 32-bit entry: EAX magic, EBX the information.
    Multiboot { entry: u64, info: u64 },
    /// A start-up IPI: real mode at `entry` (a 4 KiB page).
    RealMode { entry: u64 },
}

/// What the CPU reaches by physical address, made with the vCPU.
struct Hw {
    vmcb: Pages,
    iopm: Pages,
    msrpm: Pages,
    npt: Npt<NptFrames>,
    /// The RAM map's generation the nested tables were made for (set at
    /// the first run).
    npt_generation: Option<u64>,
}

impl Hw {
    fn new() -> Option<Self> {
        let mut iopm = Pages::new(3)?;
        iopm.bytes().copy_from_slice(&setup::intercept_all_ports());
        let mut msrpm = Pages::new(2)?;
        msrpm.bytes().copy_from_slice(&setup::guest_msr_map());
        let npt = Npt::new(NptFrames::default()).ok()?;
        Some(Self { vmcb: Pages::new(1)?, iopm, msrpm, npt, npt_generation: None })
    }

    fn vmcb(&mut self) -> &mut Vmcb {
        self.vmcb.first_page_as()
    }
}

/// A vCPU's state; its own vCPU task is the only one that runs it, so the
/// lock is uncontended.
struct State {
    hw: Hw,
    gprs: Gprs,
    fx: Box<FxArea>,
    apic: X2Apic,
    start: Option<Start>,
    /// Interrupt vectors waiting to be injected, one bit each.
    pending: [u64; 4],
    /// Whether the exit being handled is a VMMCALL (answers go to RAX).
    in_call: bool,
    /// The interrupt injected at the last entry, and the guest's RIP then.
    injected: Option<(u64, u64)>,
    /// The guest's translations changed under it (a start, new nested
    /// tables): the next run flushes the TLB.
    flush_tlb: bool,
    /// The host timer armed for the APIC timer: its token, the APIC
    /// deadline (TSC) it is for, and the host time it fires at. Its
    /// interrupt ends the guest's run then, so the timer is delivered on
    /// time.
    host_timer: Option<HostTimer>,
    /// The guest's DR0-DR3 (DR6 and DR7 are in the VMCB): the CPU holds
    /// them while it runs, and they go with it to wherever it runs next.
    debug: [u64; 4],
    /// The CPU this vCPU ran on last.
    last_cpu: Option<usize>,
}

/// See [`State::host_timer`].
#[derive(Debug, Clone, Copy)]
struct HostTimer {
    token: usize,
    deadline: u64,
    at: core::time::Duration,
}

impl Drop for State {
    fn drop(&mut self) {
        self.cancel_host_timer();
    }
}

/// An SVM vCPU.
pub struct SvmVcpu {
    id: usize,
    /// Unique among every vCPU the host ever made.
    uid: u64,
    vm: usize,
    state: Mutex<State>,
}

impl SvmVcpu {
    /// vCPU `id` of VM `vm`, off until started; `None` if the host has
    /// no memory for its VMCB, permission maps or nested page tables.
    pub fn new(vm: usize, id: usize) -> Option<Self> {
        let state = State {
            hw: Hw::new()?,
            gprs: Gprs::default(),
            fx: Box::default(),
            apic: X2Apic::new(id as u32),
            start: None,
            pending: [0; 4],
            in_call: false,
            injected: None,
            flush_tlb: true,
            host_timer: None,
            debug: [0; 4],
            last_cpu: None,
        };
        Some(Self { id, uid: NEXT_UID.fetch_add(1, Ordering::Relaxed), vm, state: Mutex::new(state) })
    }
}

/// The APIC timer's clock: the TSC (so it counts at the TSC's rate, one
/// count per nanosecond under QEMU's `-icount`, as QEMU's own APIC does).
fn now_tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Host monotonic time at TSC value `tsc`.
fn host_time_at(tsc: u64) -> core::time::Duration {
    let (now_tsc, now_ns) = (now_tsc(), axhal::time::monotonic_time_nanos());
    let ahead = axhal::time::ticks_to_nanos(tsc.saturating_sub(now_tsc));
    core::time::Duration::from_nanos(now_ns.saturating_add(ahead))
}

impl State {
    fn vmcb(&mut self) -> &mut Vmcb {
        self.hw.vmcb()
    }

    fn gpr(&mut self, reg: usize) -> u64 {
        match reg {
            RAX => self.vmcb().read_u64(save::RAX),
            RSP => self.vmcb().read_u64(save::RSP),
            _ => self.gprs.0[reg & 15],
        }
    }

    fn set_gpr(&mut self, reg: usize, value: u64) {
        let (merge, reg) = (reg & 0x30, reg & 15);
        let (field, shift) = match merge {
            LOW_BYTE => (0xFF, 0),
            HIGH_BYTE => (0xFF, 8),
            LOW_WORD => (0xFFFF, 0),
            _ => (u64::MAX, 0),
        };
        let value = (self.gpr(reg) & !(field << shift)) | ((value & field) << shift);
        match reg {
            RAX => self.vmcb().write_u64(save::RAX, value),
            RSP => self.vmcb().write_u64(save::RSP, value),
            _ => self.gprs.0[reg] = value,
        }
    }

    fn skip(&mut self, bytes: u64) {
        let vmcb = self.vmcb();
        let rip = vmcb.read_u64(save::RIP);
        vmcb.write_u64(save::RIP, rip.wrapping_add(bytes));
    }

    /// Puts the guest in its start state (registers, APIC, VMCB).
    fn apply_start(&mut self, id: usize, start: Start) {
        self.flush_tlb = true;
        self.cancel_host_timer();
        self.gprs = Gprs::default();
        *self.fx = FxArea::default();
        self.apic = X2Apic::new(id as u32);
        self.pending = [0; 4];
        self.debug = [0; 4];
        let hw = &mut self.hw;
        let (iopm, msrpm, nested_cr3) = (hw.iopm.pa(), hw.msrpm.pa(), hw.npt.root());
        let vmcb = hw.vmcb();
        *vmcb = Vmcb::default();
        let entry = match start {
            Start::Multiboot { entry, .. } | Start::RealMode { entry } => entry,
        };
        // Every vCPU shares ASID 1; the TLB is flushed whenever another
        // vCPU ran on the CPU last (`svm::switch_to`).
        let asid = 1;
        setup::prepare(vmcb, &GuestStart { asid, nested_cr3, iopm, msrpm, entry });
        if let Start::RealMode { entry } = start {
            real_mode(vmcb, entry);
        }
        if let Start::Multiboot { info, .. } = start {
            self.gprs.0[RBX] = info;
        }
    }

    /// Starts the nested page tables afresh if the VM's RAM was unbacked
    /// (a reset) since they were made: they would name memory the guest no
    /// longer has.
    fn refresh_npt(&mut self, ram: &RamMap) -> Result<(), VcpuError> {
        let generation = ram.generation();
        let hw = &mut self.hw;
        match hw.npt_generation {
            Some(made) if made == generation => return Ok(()),
            None => {
                hw.npt_generation = Some(generation);
                return Ok(());
            }
            Some(_) => {}
        }
        hw.npt = Npt::new(NptFrames::default()).map_err(|_| VcpuError::Enter(AxErrorKind::NoMemory))?;
        hw.npt_generation = Some(generation);
        let root = hw.npt.root();
        hw.vmcb().write_u64(control::NESTED_CR3, root);
        self.flush_tlb = true;
        Ok(())
    }

    /// Raises exception `event` (an EVENTINJ value) in the guest at its
    /// RIP. An interrupt whose delivery the exit cut short is queued again
    /// to follow it; an exception already there goes first (this one
    /// recurs when the instruction runs again).
    fn raise(&mut self, event: u64) {
        let vmcb = self.vmcb();
        let waiting = vmcb.read_u64(control::EVENT_INJECTION);
        if waiting & EVENT_VALID != 0 {
            match svm_vcpu::event::external_interrupt(waiting) {
                Some(vector) => set_bit(&mut self.pending, vector),
                None => return,
            }
        }
        let vmcb = self.vmcb();
        vmcb.write_u64(control::EVENT_INJECTION, event);
        self.injected = Some((event, vmcb.read_u64(save::RIP)));
    }

    fn cancel_host_timer(&mut self) {
        if let Some(armed) = self.host_timer.take() {
            timer::cancel(armed.token);
        }
    }

    /// Queues the APIC timer's vector if it is due, and keeps a host timer
    /// armed for its next deadline: armed anew when the deadline changed
    /// (the guest programmed the timer, a periodic one reloaded) or when
    /// the host timer came early (the two clocks' rates differ a little);
    /// cancelled when the timer stopped.
    fn service_timer(&mut self) {
        let now = now_tsc();
        if let Some(vector) = self.apic.timer_fired(now) {
            set_bit(&mut self.pending, vector);
        }
        let Some(deadline) = self.apic.timer_deadline().filter(|&d| d > now) else {
            self.cancel_host_timer();
            return;
        };
        let current = self.host_timer.is_some_and(|armed| {
            armed.deadline == deadline && axhal::time::monotonic_time() < armed.at
        });
        if !current {
            self.cancel_host_timer();
            let at = host_time_at(deadline);
            self.host_timer = Some(HostTimer { token: timer::register(at, Box::new(|_| {})), deadline, at });
        }
    }

    /// Moves one queued vector into the guest: injected now if it can take
    /// it, else announced with V_IRQ so that the guest exits when it can.
    fn deliver_interrupts(&mut self) {
        let Some(vector) = highest(&self.pending) else { return };
        let vmcb = self.vmcb();
        if vmcb.read_u64(control::EVENT_INJECTION) & EVENT_VALID != 0 {
            return;
        }
        let open = vmcb.read_u64(save::RFLAGS) & RFLAGS_IF != 0 && vmcb.read_u64(control::INTERRUPT_SHADOW) & 1 == 0;
        if open {
            let event = u64::from(vector) | EVENT_VALID;
            vmcb.write_u64(control::EVENT_INJECTION, event);
            self.injected = Some((event, vmcb.read_u64(save::RIP)));
            clear_bit(&mut self.pending, vector);
        } else {
            let vintr = vmcb.read_u64(control::VIRTUAL_INTERRUPT);
            vmcb.write_u64(control::VIRTUAL_INTERRUPT, vintr | V_IRQ | V_IGN_TPR | V_INTR_PRIO);
            vmcb.intercept(control::INTERCEPT_MISC1, misc1::VINTR);
        }
    }
}

fn set_bit(bits: &mut [u64; 4], vector: u8) {
    bits[usize::from(vector / 64)] |= 1 << (vector % 64);
}

fn clear_bit(bits: &mut [u64; 4], vector: u8) {
    bits[usize::from(vector / 64)] &= !(1 << (vector % 64));
}

fn highest(bits: &[u64; 4]) -> Option<u8> {
    (0..4).rev().find(|&i| bits[i] != 0).map(|i| (i * 64 + 63 - bits[i].leading_zeros() as usize) as u8)
}

/// Real mode at `entry`: CS base `entry`, IP 0, 64 KiB segments.
fn real_mode(vmcb: &mut Vmcb, entry: u64) {
    let code = Segment { selector: (entry >> 4) as u16, attrib: 0x9B, limit: 0xFFFF, base: entry };
    vmcb.set_segment(save::CS, code);
    for data in [save::DS, save::ES, save::FS, save::GS, save::SS] {
        vmcb.set_segment(data, Segment { selector: 0, attrib: 0x93, limit: 0xFFFF, base: 0 });
    }
    vmcb.write_u64(save::CR0, 0x10);
    vmcb.write_u64(save::RIP, 0);
    vmcb.write_u64(save::RAX, 0);
}

impl GuestVcpu for SvmVcpu {
    /// `reg` may carry a merge kind (`LOW_BYTE`, ...) from the exit that
    /// asked for the value.
    fn set_gpr(&self, reg: usize, value: u64) {
        self.state.lock().set_gpr(reg, value);
    }

    /// A VMMCALL's answer goes to RAX; other exits that make calls (a
    /// start-up IPI, the power ports) have no one to answer.
    fn answer(&self, answer: Answer) {
        let mut st = self.state.lock();
        if st.in_call {
            st.set_gpr(RAX, calls::encode(answer));
        }
    }

    /// The guest programs its own (emulated) timer.
    fn set_timer(&self, _deadline: u64) {}
}

impl VcpuOps for SvmVcpu {
    /// Nothing of a vCPU stays in the CPU between runs.
    fn bind(&self) -> Result<(), VcpuError> {
        Ok(())
    }

    fn unbind(&self) -> Result<(), VcpuError> {
        Ok(())
    }

    fn run(&self, cpus: &CpuMap, ram: &RamMap) -> Result<Exit, VcpuError> {
        let host_vmcb = svm::host_vmcb();
        if host_vmcb == 0 {
            return Err(VcpuError::Enter(AxErrorKind::BadState));
        }
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if let Some(start) = st.start.take() {
            st.apply_start(self.id, start);
        }
        st.refresh_npt(ram)?;
        st.service_timer();
        st.deliver_interrupts();
        let vmcb_pa = st.hw.vmcb.pa();
        let irqs = axhal::asm::irqs_enabled();
        axhal::asm::disable_irqs();
        // What the CPU holds (TLB entries, DR0-DR3) is another vCPU's, or
        // this one's from before it ran elsewhere.
        let cpu = axhal::percpu::this_cpu_id();
        let moved = st.last_cpu.replace(cpu) != Some(cpu);
        let flush = core::mem::take(&mut st.flush_tlb) | svm::switch_to(self.uid) | moved;
        st.vmcb().write_u32(control::TLB_CONTROL, if flush { setup::tlb::FLUSH_ALL } else { setup::tlb::KEEP });
        if flush {
            svm_switch::load_debug(&st.debug);
        }
        // SAFETY: SVM is on for this CPU (its host page exists), interrupts
        // are off, the VMCB was prepared by `apply_start` and maps through
        // nested tables that hold only this VM's RAM.
        unsafe { svm_switch::run(&mut st.gprs, &mut st.fx, vmcb_pa, host_vmcb) };
        st.debug = svm_switch::save_debug();
        if irqs {
            // A physical interrupt that ended the run is taken here.
            axhal::asm::enable_irqs();
        }
        Ok(self.decode(st, cpus, ram))
    }

    fn prepare_start(&self, vcpu_id: usize, entry: u64, arg: u64) -> Result<(), VcpuError> {
        let start = if vcpu_id == 0 { Start::Multiboot { entry, info: arg } } else { Start::RealMode { entry } };
        self.state.lock().start = Some(start);
        Ok(())
    }

    fn timer_deadline(&self) -> Option<core::time::Duration> {
        self.state.lock().apic.timer_deadline().map(host_time_at)
    }

    fn inject(&self, vector: usize, _priority: Option<u8>) -> bool {
        let Ok(vector) = u8::try_from(vector) else { return false };
        set_bit(&mut self.state.lock().pending, vector);
        true
    }
}

/// The VM's vCPUs; vCPU 0, the bootstrap processor, starts at the
/// kernel's Multiboot entry with the boot information's address in EBX.
pub fn create(setup: &VcpuSetup<'_>) -> Result<Vec<SvmVcpu>, VcpuError> {
    let vcpus: Option<Vec<SvmVcpu>> = (0..setup.count).map(|id| SvmVcpu::new(setup.vm_id, id)).collect();
    let vcpus = vcpus.ok_or(VcpuError::Create(AxErrorKind::NoMemory))?;
    if let Some(bsp) = vcpus.first() {
        bsp.prepare_start(0, setup.entry, setup.dtb.unwrap_or(0))?;
    }
    Ok(vcpus)
}
