//! Decoding of an SVM vCPU's exits into the VMM's [`Exit`]s: CPUID,
//! MSRs (the x2APIC, EFER, PAT), port I/O (the power and reset ports),
//! VMMCALL, nested page faults (RAM mapped a chunk at a time; emulated
//! memory decoded from the guest's instruction, fetched through its own
//! page tables); exceptions and instructions the guest may not have go to
//! `guard`. What is not emulated stops the VM with a line.

use exit_dispatch::{Access, Exit, GuestRequest, Ipi, MmioRead, Trap};
use svm_vcpu::exit::{self as svm_exit, Exit as SvmExit, NestedFault, PortAccess};
use svm_vcpu::npt;
use svm_vcpu::vmcb::{control, exception, misc1, save};
use svm_vcpu::x2apic::{self, Destination};
use svm_vcpu::{absent, insn, walk};

use super::guard;
use super::{
    EVENT_VALID, HIGH_BYTE, LOW_BYTE, LOW_WORD, RAX, RBX, RCX, RDX, State, SvmVcpu, V_IGN_TPR, V_INTR_PRIO, V_IRQ,
    now_tsc,
};
use crate::hal::arch::imp::calls;
use crate::hal::arch::{CpuMap, RamMap};
use crate::hal::guest_memory;

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

pub(super) fn trap(what: &'static str, names: &'static [&'static str; 4], values: [u64; 4]) -> Exit {
    Exit::Unhandled(Trap { what, names, values })
}

/// The low `width` bytes (1, 2, 4 or 8) of `value`.
fn low_bytes(value: u64, width: u8) -> u64 {
    value & (u64::MAX >> (64 - 8 * u32::from(width.clamp(1, 8))))
}

impl SvmVcpu {
    /// Decodes the exit the last run ended with.
    pub(super) fn decode(&self, st: &mut State, cpus: &CpuMap, ram: &RamMap) -> Exit {
        st.in_call = false;
        let vmcb = st.vmcb();
        let (code, info1, info2) =
            (vmcb.read_u64(control::EXIT_CODE), vmcb.read_u64(control::EXIT_INFO1), vmcb.read_u64(control::EXIT_INFO2));
        let rip = vmcb.read_u64(save::RIP);
        // An event whose delivery the exit cut short is delivered again.
        // One we injected whose delivery did happen (the guest left the
        // instruction it was at) is not: QEMU's TCG reports every injected
        // event here, delivered or not.
        let interrupted = vmcb.read_u64(control::EXIT_INT_INFO);
        let delivered = st.injected.take().is_some_and(|(event, at)| event == interrupted && rip != at);
        if interrupted & EVENT_VALID != 0 && !delivered {
            st.vmcb().write_u64(control::EVENT_INJECTION, interrupted);
        }
        match svm_exit::decode(code, info1, info2) {
            SvmExit::Interrupt => Exit::HostInterrupt { vector: super::super::TAKEN_BY_HOST },
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
                if absent::pmu_or_trace(msr) {
                    return guard::raise(st, exception::GP, Some(0));
                }
                let value = (st.gpr(RDX) << 32) | (st.gpr(RAX) & 0xFFFF_FFFF);
                let exit = if write {
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
                    None if write => trap("WRMSR the vCPU refuses", &["MSR", "value", "RIP", ""], [u64::from(msr), value, rip, 0]),
                    None => trap("RDMSR of an MSR the vCPU does not have", &["MSR", "RIP", "", ""], [u64::from(msr), rip, 0, 0]),
                }
            }
            SvmExit::NestedFault(fault) => nested_fault(st, fault, ram, rip),
            SvmExit::Shutdown => trap("triple fault (shutdown)", &["RIP", "", "", ""], [rip, 0, 0, 0]),
            SvmExit::InvalidState => trap("VMRUN refused the guest state", &["RIP", "", "", ""], [rip, 0, 0, 0]),
            SvmExit::Init => Exit::Nothing,
            SvmExit::Exception { vector, .. } => guard::exception(st, vector, code, rip),
            SvmExit::Undefined => guard::raise(st, exception::UD, None),
            SvmExit::Rdpmc => guard::raise(st, exception::GP, Some(0)),
            SvmExit::CacheFlush => guard::cache_flush(st, code, ram, rip),
            SvmExit::Icebp => guard::icebp(st, ram, rip),
            SvmExit::ControlRegister { .. } | SvmExit::Other(_) => {
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
        let value = low_bytes(st.gpr(RAX), width);
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
            // A timer change is taken up before the next run.
            0x800..=0x8FF => match st.apic.write(msr, value, now_tsc()).ok()? {
                x2apic::Written::Stored | x2apic::Written::Eoi | x2apic::Written::Timer => Some(Exit::Nothing),
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
    if let Some(chunk) = ram.backed_chunk(fault.gpa) {
        // A fault on a mapped chunk is an access its region's rights deny.
        if fault.present {
            return denied(fault, chunk.rights, rip);
        }
        let hpa = axhal::mem::virt_to_phys(chunk.host.into()).as_usize() as u64;
        let rights = npt::Access { write: chunk.rights.write, execute: chunk.rights.execute };
        return match st.hw.npt.map(chunk.gpa, hpa, chunk.len, rights) {
            Ok(()) => Exit::Nothing,
            Err(npt::NptError::OutOfFrames) => trap("no host memory for nested page tables", &["GPA", "RIP", "", ""], [fault.gpa, rip, 0, 0]),
            Err(_) => trap("nested page fault on mapped RAM", &["GPA", "RIP", "", ""], [fault.gpa, rip, 0, 0]),
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

/// A store to a read-only region or a fetch from a no-execute one: the
/// VM is stopped with a line saying which.
fn denied(fault: NestedFault, rights: guest_ram::Rights, rip: u64) -> Exit {
    let what = if fault.fetch && !rights.execute {
        "instruction fetch from a no-execute region"
    } else if fault.write && !rights.write {
        "write to a read-only region"
    } else {
        "nested page fault on mapped RAM"
    };
    trap(what, &["GPA", "RIP", "", ""], [fault.gpa, rip, 0, 0])
}

/// An access to emulated (or unmapped) memory: the instruction at RIP,
/// fetched through the guest's page tables and decoded, becomes a device
/// read or write, and RIP moves past it. An instruction the decoder does
/// not know stops the VM.
fn mmio(st: &mut State, gpa: u64, ram: &RamMap, rip: u64) -> Exit {
    let (Some(mode), bytes, fetched) = code_at_rip(st, ram) else {
        return trap("memory-mapped I/O from 16-bit code, not emulated", &["GPA", "RIP", "", ""], [gpa, rip, 0, 0]);
    };
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
        let value = low_bytes(value, width);
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

/// The guest's code at RIP: its mode (`None` for 16-bit code) and up to
/// 15 bytes, fetched through its page tables (how many could be).
pub(super) fn code_at_rip(st: &mut State, ram: &RamMap) -> (Option<insn::Mode>, [u8; 15], usize) {
    let vmcb = st.vmcb();
    let paging = walk::Paging {
        cr0: vmcb.read_u64(save::CR0),
        cr3: vmcb.read_u64(save::CR3),
        cr4: vmcb.read_u64(save::CR4),
        efer: vmcb.read_u64(save::EFER),
    };
    let (cs, rip) = (vmcb.segment(save::CS), vmcb.read_u64(save::RIP));
    // CS attributes: bit 9 is L, bit 10 is D.
    let (mode, linear) = if paging.efer & EFER_LMA != 0 && cs.attrib & (1 << 9) != 0 {
        (Some(insn::Mode::Long64), rip)
    } else if cs.attrib & (1 << 10) != 0 {
        (Some(insn::Mode::Protected32), cs.base.wrapping_add(rip) & 0xFFFF_FFFF)
    } else {
        (None, cs.base.wrapping_add(rip) & 0xFFFF_FFFF)
    };
    let mut bytes = [0u8; 15];
    let fetched = fetch(paging, linear, &mut bytes, ram);
    (mode, bytes, fetched)
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
