//! AMD SVM vCPUs: one VMCB each, run by our world switch, with nested
//! page tables filled from the VM's RAM map on first touch, an x2APIC
//! reached through MSRs, and exits decoded into the VMM's [`Exit`]s.
//! Nothing a guest does here panics: what is not emulated stops its VM
//! with a line naming the cause.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use axerrno::AxErrorKind;
use exit_dispatch::{Access, Answer, Exit, GuestRequest, GuestVcpu, Ipi, MmioRead, Trap};
use spin::Mutex;
use svm_vcpu::exit::{self as svm_exit, Exit as SvmExit, NestedFault, PortAccess};
use svm_vcpu::npt::{self, Npt};
use svm_vcpu::setup::{self, GuestStart};
use svm_vcpu::vmcb::{Segment, Vmcb, control, misc1, save};
use svm_vcpu::x2apic::{self, Destination, X2Apic};
use svm_vcpu::{insn, walk};

use super::calls;
use super::svm;
use super::svm_pages::{NptFrames, Pages};
use super::svm_switch::{self, FxArea, Gprs};
use crate::hal::{VcpuError, guest_memory, timer};
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

const MSR_TSC: u32 = 0x10;
const MSR_PAT: u32 = 0x277;
const MSR_EFER: u32 = 0xC000_0080;
/// EFER bits a guest may set: SCE, LME, LMA, NXE, SVME (kept set).
const EFER_ALLOWED: u64 = 1 | 1 << 8 | 1 << 10 | 1 << 11 | 1 << 12;
const EFER_SVME: u64 = 1 << 12;
const EFER_LMA: u64 = 1 << 10;

/// ACPI PM1a control (QEMU's q35: 0x604; SLP_EN with S5 powers off),
/// the keyboard controller (0xFE resets) and the PCI reset register.
const PORT_PM1A: u16 = 0x604;
const PM1A_SLEEP_S5: u64 = 0x2000;
const PORT_KBC: u16 = 0x64;
const KBC_RESET: u64 = 0xFE;
const PORT_RESET_CONTROL: u16 = 0xCF9;

/// EVENTINJ / EXITINTINFO: valid.
const EVENT_VALID: u64 = 1 << 31;
/// VIRTUAL_INTERRUPT: V_IRQ, V_IGN_TPR, and the priority field.
const V_IRQ: u64 = 1 << 8;
const V_IGN_TPR: u64 = 1 << 20;
const V_INTR_PRIO: u64 = 0xF << 16;
/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;

/// Bumped when guest RAM is unmapped (a VM reset): every vCPU then starts
/// its nested page tables afresh.
static NPT_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Drops every vCPU's nested translations at its next run.
pub fn npt_removed() {
    NPT_EPOCH.fetch_add(1, Ordering::Release);
}

/// How a started vCPU begins.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// A Multiboot kernel's 32-bit entry: EAX magic, EBX the information.
    Multiboot { entry: u64, info: u64 },
    /// A start-up IPI: real mode at `entry` (a 4 KiB page).
    RealMode { entry: u64 },
}

/// What the CPU reaches by physical address, made at the first bind.
struct Hw {
    vmcb: Pages,
    iopm: Pages,
    msrpm: Pages,
    npt: Npt<NptFrames>,
    npt_epoch: u64,
}

impl Hw {
    fn new() -> Option<Self> {
        let mut iopm = Pages::new(3)?;
        iopm.bytes().fill(0xFF);
        let mut msrpm = Pages::new(2)?;
        let map = <&mut [u8; 2 * 4096]>::try_from(msrpm.bytes()).ok()?;
        map.fill(0xFF);
        for msr in setup::SWITCHED_MSRS {
            setup::pass_msr(map, msr);
        }
        let npt = Npt::new(NptFrames::default()).ok()?;
        Some(Self { vmcb: Pages::new(1)?, iopm, msrpm, npt, npt_epoch: NPT_EPOCH.load(Ordering::Acquire) })
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
    /// The host timer armed for the APIC timer's deadline (its token and
    /// host time): its interrupt ends the guest's run then, so the timer
    /// is delivered on time.
    host_timer: Option<(usize, core::time::Duration)>,
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some((token, _)) = self.host_timer.take() {
            timer::cancel(token);
        }
    }
}

/// An SVM vCPU.
pub struct SvmVcpu {
    id: usize,
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
            host_timer: None,
        };
        Some(Self { id, vm, state: Mutex::new(state) })
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

fn trap(what: &'static str, names: &'static [&'static str; 4], values: [u64; 4]) -> Exit {
    Exit::Unhandled(Trap { what, names, values })
}

impl State {
    fn hw(&mut self) -> &mut Hw {
        &mut self.hw
    }

    fn vmcb(&mut self) -> &mut Vmcb {
        self.hw().vmcb()
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
        if let Some((token, _)) = self.host_timer.take() {
            timer::cancel(token);
        }
        self.gprs = Gprs::default();
        *self.fx = FxArea::default();
        self.apic = X2Apic::new(id as u32);
        self.pending = [0; 4];
        let hw = self.hw();
        let (iopm, msrpm, nested_cr3) = (hw.iopm.pa(), hw.msrpm.pa(), hw.npt.root());
        let vmcb = hw.vmcb();
        *vmcb = Vmcb::default();
        let entry = match start {
            Start::Multiboot { entry, .. } | Start::RealMode { entry } => entry,
        };
        let asid = 1;
        setup::prepare(vmcb, &GuestStart { asid, nested_cr3, iopm, msrpm, entry });
        if let Start::RealMode { entry } = start {
            real_mode(vmcb, entry);
        }
        if let Start::Multiboot { info, .. } = start {
            self.gprs.0[RBX] = info;
        }
    }

    /// Rebuilds the nested page tables if guest RAM was unmapped since.
    fn refresh_npt(&mut self) -> Result<(), VcpuError> {
        let epoch = NPT_EPOCH.load(Ordering::Acquire);
        let hw = self.hw();
        if hw.npt_epoch == epoch {
            return Ok(());
        }
        hw.npt = Npt::new(NptFrames::default()).map_err(|_| VcpuError::Enter(AxErrorKind::NoMemory))?;
        hw.npt_epoch = epoch;
        let root = hw.npt.root();
        let vmcb = hw.vmcb();
        vmcb.write_u64(control::NESTED_CR3, root);
        vmcb.write_u32(control::TLB_CONTROL, 3);
        Ok(())
    }

    /// Arms a host timer for the APIC timer's deadline (none if it is
    /// stopped or masked), replacing the one armed before.
    fn arm_host_timer(&mut self) {
        if let Some((token, _)) = self.host_timer.take() {
            timer::cancel(token);
        }
        if let Some(deadline) = self.apic.timer_deadline() {
            let at = host_time_at(deadline);
            self.host_timer = Some((timer::register(at, Box::new(|_| {})), at));
        }
    }

    /// Arms the host timer again if it came before the APIC timer is due
    /// (the two clocks' rates differ a little).
    fn keep_host_timer(&mut self) {
        let fired_early = |(_, at): (usize, core::time::Duration)| axhal::time::monotonic_time() >= at;
        let pending = self.apic.timer_deadline().is_some_and(|deadline| deadline > now_tsc());
        if pending && self.host_timer.is_none_or(fired_early) {
            self.arm_host_timer();
        }
    }

    /// Moves the APIC timer's interrupt, if due, and one queued vector
    /// into the guest: injected now if it can take it, else announced
    /// with V_IRQ so that the guest exits when it can.
    fn deliver_interrupts(&mut self) {
        if let Some(vector) = self.apic.timer_fired(now_tsc()) {
            set_bit(&mut self.pending, vector);
            // A periodic timer has its next deadline now.
            self.arm_host_timer();
        }
        let Some(vector) = highest(&self.pending) else { return };
        let vmcb = self.vmcb();
        if vmcb.read_u64(control::EVENT_INJECTION) & EVENT_VALID != 0 {
            return;
        }
        let open = vmcb.read_u64(save::RFLAGS) & RFLAGS_IF != 0 && vmcb.read_u64(control::INTERRUPT_SHADOW) & 1 == 0;
        if open {
            vmcb.write_u64(control::EVENT_INJECTION, u64::from(vector) | EVENT_VALID);
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

impl SvmVcpu {
    /// Decodes the exit the last run ended with.
    fn decode(&self, st: &mut State, cpus: &CpuMap, ram: &RamMap) -> Exit {
        st.in_call = false;
        let vmcb = st.vmcb();
        let (code, info1, info2) =
            (vmcb.read_u64(control::EXIT_CODE), vmcb.read_u64(control::EXIT_INFO1), vmcb.read_u64(control::EXIT_INFO2));
        // An event whose delivery the exit cut short is delivered again.
        let interrupted = vmcb.read_u64(control::EXIT_INT_INFO);
        if interrupted & EVENT_VALID != 0 {
            vmcb.write_u64(control::EVENT_INJECTION, interrupted);
        }
        let rip = vmcb.read_u64(save::RIP);
        trace!("VM[{}] vCPU[{}]: exit {code:#x} ({:#x}, {:#x}) at {rip:#x}, interrupted {interrupted:#x}", self.vm, self.id, info1, info2);
        match svm_exit::decode(code, info1, info2) {
            SvmExit::Interrupt => Exit::HostInterrupt { vector: super::TAKEN_BY_HOST },
            SvmExit::Nmi => Exit::Nothing,
            SvmExit::InterruptWindow => {
                let vmcb = st.vmcb();
                let vintr = vmcb.read_u64(control::VIRTUAL_INTERRUPT);
                vmcb.write_u64(control::VIRTUAL_INTERRUPT, vintr & !(V_IRQ | V_IGN_TPR | V_INTR_PRIO));
                let misc = vmcb.read_u32(control::INTERCEPT_MISC1);
                vmcb.write_u32(control::INTERCEPT_MISC1, misc & !misc1::VINTR);
                Exit::Nothing
            }
            SvmExit::Cpuid => {
                let (leaf, sub) = (st.gpr(RAX) as u32, st.gpr(RCX) as u32);
                let host = core::arch::x86_64::__cpuid_count(leaf, sub);
                let regs = svm_vcpu::cpuid::filter(leaf, [host.eax, host.ebx, host.ecx, host.edx], self.id as u32);
                for (reg, value) in [RAX, RBX, RCX, RDX].into_iter().zip(regs) {
                    st.set_gpr(reg, u64::from(value));
                }
                st.skip(2);
                Exit::Nothing
            }
            SvmExit::Hlt => {
                st.skip(1);
                Exit::Halt
            }
            SvmExit::Vmmcall => {
                st.skip(3);
                st.in_call = true;
                let args = [RBX, RCX, RDX].map(|r| st.gpr(r));
                Exit::Call(calls::decode(st.gpr(RAX), args))
            }
            SvmExit::Port(access) => self.port(st, access),
            SvmExit::Msr { write } => {
                let msr = st.gpr(RCX) as u32;
                let exit = if write {
                    let value = (st.gpr(RDX) << 32) | (st.gpr(RAX) & 0xFFFF_FFFF);
                    self.wrmsr(st, msr, value, cpus)
                } else {
                    match self.rdmsr(st, msr) {
                        Some(value) => {
                            st.set_gpr(RAX, value & 0xFFFF_FFFF);
                            st.set_gpr(RDX, value >> 32);
                            Some(Exit::Nothing)
                        }
                        None => None,
                    }
                };
                match exit {
                    Some(exit) => {
                        st.skip(2);
                        exit
                    }
                    None if write => trap("WRMSR the vCPU refuses", &["MSR", "value", "RIP", ""], [u64::from(msr), (st.gpr(RDX) << 32) | (st.gpr(RAX) & 0xFFFF_FFFF), rip, 0]),
                    None => trap("RDMSR of an MSR the vCPU does not have", &["MSR", "RIP", "", ""], [u64::from(msr), rip, 0, 0]),
                }
            }
            SvmExit::NestedFault(fault) => nested_fault(st, fault, ram, rip),
            SvmExit::Shutdown => trap("triple fault (shutdown)", &["RIP", "", "", ""], [rip, 0, 0, 0]),
            SvmExit::InvalidState => trap("VMRUN refused the guest state", &["RIP", "", "", ""], [rip, 0, 0, 0]),
            SvmExit::Init => Exit::Nothing,
            SvmExit::SvmInstruction | SvmExit::Exception { .. } | SvmExit::ControlRegister { .. } | SvmExit::Other(_) => {
                trap(svm_exit::name(code), &["exit code", "RIP", "", ""], [code, rip, 0, 0])
            }
        }
    }

    fn port(&self, st: &mut State, access: PortAccess) -> Exit {
        let rip = st.vmcb().read_u64(save::RIP);
        if access.string {
            return trap("string port I/O (INS/OUTS), not emulated", &["port", "RIP", "", ""], [u64::from(access.port), rip, 0, 0]);
        }
        st.vmcb().write_u64(save::RIP, access.next_rip);
        let width = access.size;
        if access.input {
            let reg = match width {
                1 => RAX + LOW_BYTE,
                2 => RAX + LOW_WORD,
                _ => RAX,
            };
            return Exit::PortRead { port: access.port, width, reg };
        }
        let value = st.gpr(RAX) & (u64::MAX >> (64 - 8 * u32::from(width)));
        let request = match (access.port, value) {
            (PORT_PM1A, v) if v & PM1A_SLEEP_S5 == PM1A_SLEEP_S5 => Some(GuestRequest::SystemOff),
            (PORT_KBC, KBC_RESET) => Some(GuestRequest::SystemReset),
            (PORT_RESET_CONTROL, v) if v & 0x4 != 0 => Some(GuestRequest::SystemReset),
            _ => None,
        };
        match request {
            Some(request) => Exit::Call(request),
            None => Exit::PortWrite { port: access.port, width, value },
        }
    }

    fn rdmsr(&self, st: &mut State, msr: u32) -> Option<u64> {
        match msr {
            x2apic::MSR_APIC_BASE => Some(st.apic.apic_base()),
            0x800..=0x8FF => st.apic.read(msr, now_tsc()).ok(),
            MSR_EFER => Some(st.vmcb().read_u64(save::EFER) & !EFER_SVME),
            MSR_PAT => Some(st.vmcb().read_u64(save::G_PAT)),
            MSR_TSC => Some(now_tsc()),
            _ => None,
        }
    }

    /// A WRMSR's effect; `None` if the vCPU refuses it.
    fn wrmsr(&self, st: &mut State, msr: u32, value: u64, cpus: &CpuMap) -> Option<Exit> {
        match msr {
            x2apic::MSR_APIC_BASE => st.apic.set_apic_base(value).ok().map(|()| Exit::Nothing),
            0x800..=0x8FF => match st.apic.write(msr, value, now_tsc()).ok()? {
                x2apic::Written::Stored | x2apic::Written::Eoi => Some(Exit::Nothing),
                x2apic::Written::Timer => {
                    st.arm_host_timer();
                    Some(Exit::Nothing)
                }
                x2apic::Written::Ipi(ipi) => Some(self.ipi(ipi, cpus)),
            },
            MSR_EFER if value & !EFER_ALLOWED == 0 => {
                st.vmcb().write_u64(save::EFER, value | EFER_SVME);
                Some(Exit::Nothing)
            }
            // Each byte one of the memory types 0, 1, 4, 5, 6, 7.
            MSR_PAT if value.to_le_bytes().iter().all(|&t| matches!(t, 0 | 1 | 4..=7)) => {
                st.vmcb().write_u64(save::G_PAT, value);
                Some(Exit::Nothing)
            }
            _ => None,
        }
    }

    /// The exit an x2APIC IPI makes: an interrupt for the vCPUs it names,
    /// or a start-up that starts one (INIT only readies it, which an off
    /// vCPU already is).
    fn ipi(&self, ipi: x2apic::Ipi, cpus: &CpuMap) -> Exit {
        let all = (0..cpus.vcpu_count().min(64)).fold(0u64, |t, v| t | 1 << v);
        let targets = |to: Destination| match to {
            Destination::Apic(id) => cpus.vcpu(u64::from(id)).filter(|&v| v < 64).map_or(0, |v| 1 << v),
            Destination::ToSelf => 1 << self.id.min(63),
            Destination::All => all,
            Destination::Others => all & !(1 << self.id.min(63)),
        };
        match ipi {
            x2apic::Ipi::Fixed { vector, to } => Exit::SendIpi(Ipi { vector: usize::from(vector), targets: targets(to) }),
            x2apic::Ipi::Init { .. } => Exit::Nothing,
            x2apic::Ipi::Startup { page, to: Destination::Apic(id) } => {
                Exit::Call(GuestRequest::CpuOn { target: cpus.vcpu(u64::from(id)), entry: u64::from(page) << 12, arg: 0 })
            }
            x2apic::Ipi::Startup { .. } => {
                debug!("VM[{}] vCPU[{}]: a start-up IPI to more than one vCPU is ignored", self.vm, self.id);
                Exit::Nothing
            }
        }
    }
}

/// A nested page fault: RAM is mapped a chunk at a time (RAM not backed
/// yet goes to the VMM first); anything else is an access to emulated or
/// unmapped memory.
fn nested_fault(st: &mut State, fault: NestedFault, ram: &RamMap, rip: u64) -> Exit {
    let access = if fault.fetch {
        Access::Execute
    } else if fault.write {
        Access::Write
    } else {
        Access::Read
    };
    if let Some((gpa, len, host)) = ram.backed_chunk(fault.gpa) {
        let hpa = axhal::mem::virt_to_phys(host.into()).as_usize() as u64;
        let rwx = npt::Access { write: true, execute: true };
        return match st.hw().npt.map(gpa, hpa, len, rwx) {
            Ok(()) => Exit::Nothing,
            Err(npt::NptError::OutOfFrames) => trap("no host memory for nested page tables", &["GPA", "RIP", "", ""], [fault.gpa, rip, 0, 0]),
            Err(_) => trap("nested page fault on mapped RAM", &["GPA", "error code", "RIP", ""], [fault.gpa, u64::from(fault.present), rip, 0]),
        };
    }
    if ram.contains(fault.gpa) {
        return Exit::RamMiss { addr: fault.gpa, access };
    }
    if fault.fetch {
        return Exit::PageFault { addr: fault.gpa, access };
    }
    mmio(st, fault.gpa, ram, rip)
}

/// An access to emulated (or unmapped) memory: the instruction at RIP,
/// fetched through the guest's page tables and decoded, becomes a device
/// read or write, and RIP moves past it. An instruction the decoder does
/// not know stops the VM.
fn mmio(st: &mut State, gpa: u64, ram: &RamMap, rip: u64) -> Exit {
    let vmcb = st.vmcb();
    let paging = walk::Paging {
        cr0: vmcb.read_u64(save::CR0),
        cr3: vmcb.read_u64(save::CR3),
        cr4: vmcb.read_u64(save::CR4),
        efer: vmcb.read_u64(save::EFER),
    };
    let cs = vmcb.segment(save::CS);
    // CS attributes: bit 9 is L, bit 10 is D.
    let (mode, linear) = if paging.efer & EFER_LMA != 0 && cs.attrib & (1 << 9) != 0 {
        (insn::Mode::Long64, rip)
    } else if cs.attrib & (1 << 10) != 0 {
        (insn::Mode::Protected32, cs.base.wrapping_add(rip) & 0xFFFF_FFFF)
    } else {
        return trap("memory-mapped I/O from 16-bit code, not emulated", &["GPA", "RIP", "", ""], [gpa, rip, 0, 0]);
    };
    let mut bytes = [0u8; 15];
    let fetched = fetch(paging, linear, &mut bytes, ram);
    let Some(access) = insn::decode(&bytes[..fetched], mode) else {
        let word = u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]);
        return trap("an access to unmapped or emulated memory by an instruction the hypervisor does not emulate", &["GPA", "RIP", "instruction bytes", ""], [gpa, rip, word, 0]);
    };
    st.skip(u64::from(access.len));
    let width = access.width;
    if access.write {
        let value = match access.source {
            insn::Source::Immediate(value) => value,
            insn::Source::Register(reg) if access.high_byte => st.gpr(usize::from(reg - 4)) >> 8,
            insn::Source::Register(reg) => st.gpr(usize::from(reg)),
        };
        let value = value & (u64::MAX >> (64 - 8 * u32::from(width)));
        return Exit::MmioWrite { addr: gpa, width, value };
    }
    let reg = usize::from(access.register);
    let reg = match (width, access.zero_extend_to) {
        (1, 0) if access.high_byte => reg - 4 + HIGH_BYTE,
        (1, 0) => reg + LOW_BYTE,
        (2, 0) | (_, 2) => reg + LOW_WORD,
        _ => reg,
    };
    Exit::MmioRead(MmioRead { addr: gpa, width, reg, reg_64: true, signed: false })
}

/// Copies the guest's bytes at linear address `linear` into `buf`, a page
/// at a time through its page tables; how many it could fetch.
fn fetch(paging: walk::Paging, linear: u64, buf: &mut [u8], ram: &RamMap) -> usize {
    let read_u64 = |gpa: u64| {
        let mut word = [0u8; 8];
        // SAFETY: `ram` is the running VM's map, whose RAM outlives its
        // vCPUs' runs.
        unsafe { guest_memory::read_mapped(ram, gpa, &mut word) }.then(|| u64::from_le_bytes(word))
    };
    let (mut done, len) = (0, buf.len());
    while done < len {
        let at = linear.wrapping_add(done as u64);
        let Some(gpa) = walk::translate(paging, at, read_u64) else { break };
        let in_page = (0x1000 - (at & 0xFFF)) as usize;
        let part = &mut buf[done..(done + in_page).min(len)];
        // SAFETY: as above.
        if !unsafe { guest_memory::read_mapped(ram, gpa, part) } {
            break;
        }
        done += part.len();
    }
    done
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
        st.refresh_npt()?;
        st.deliver_interrupts();
        st.keep_host_timer();
        let vmcb_pa = st.hw().vmcb.pa();
        let irqs = axhal::asm::irqs_enabled();
        axhal::asm::disable_irqs();
        // SAFETY: SVM is on for this CPU (its host page exists), interrupts
        // are off, the VMCB was prepared by `apply_start` and maps through
        // nested tables that hold only this VM's RAM.
        unsafe { svm_switch::run(&mut st.gprs, &mut st.fx, vmcb_pa, host_vmcb) };
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
