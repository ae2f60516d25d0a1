//! AMD SVM on the host: detection (CPUID), and enabling on each CPU
//! (EFER.SVME, the host save area VMRUN uses, and the page the world
//! switch keeps the host's VMLOAD state in).

use core::sync::atomic::{AtomicBool, Ordering};

use axalloc::{UsageKind, global_allocator};
use memory_addr::PAGE_SIZE_4K;

use super::msr;

/// EFER, its SVM-enable bit; VM_CR, its SVM-disable (firmware lock) bit;
/// the host save area's physical address.
const MSR_EFER: u32 = 0xC000_0080;
const EFER_SVME: u64 = 1 << 12;
const MSR_VM_CR: u32 = 0xC001_0114;
const VM_CR_SVMDIS: u64 = 1 << 4;
const MSR_VM_HSAVE_PA: u32 = 0xC001_0117;

/// Whether this host virtualizes through SVM (set by [`detect`]).
static IN_USE: AtomicBool = AtomicBool::new(false);

fn cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid(leaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// Reads one of the SVM MSRs above.
fn rdmsr(msr: u32) -> u64 {
    // SAFETY: EFER, VM_CR and VM_HSAVE_PA exist on every CPU that reports
    // SVM (checked before any of them is read).
    unsafe { msr::read(msr) }
}

/// Writes one of the SVM MSRs above.
fn wrmsr(msr: u32, value: u64) {
    // SAFETY: as for `rdmsr`; the values written (SVME, the save area's
    // address) only enable SVM on this CPU.
    unsafe { msr::write(msr, value) }
}

/// Why SVM cannot be used here, or `Ok` once the host is marked as using
/// it: the CPU offers SVM (CPUID 8000_0001h ECX bit 2) with nested paging
/// (8000_000Ah EDX bit 0), and the firmware has not locked it off.
pub fn detect() -> Result<(), &'static str> {
    let (max_extended, ..) = cpuid(0x8000_0000);
    if max_extended < 0x8000_000A || cpuid(0x8000_0001).2 & (1 << 2) == 0 {
        return Err("the CPU offers neither VT-x nor AMD SVM");
    }
    if cpuid(0x8000_000A).3 & 1 == 0 {
        return Err("the CPU offers SVM without nested paging");
    }
    if rdmsr(MSR_VM_CR) & VM_CR_SVMDIS != 0 {
        return Err("SVM is disabled by the firmware (VM_CR.SVMDIS)");
    }
    IN_USE.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether the host virtualizes through SVM.
pub fn in_use() -> bool {
    IN_USE.load(Ordering::Relaxed)
}

/// Physical address of this CPU's page for the host's VMLOAD state.
#[percpu::def_percpu]
static HOST_VMCB: u64 = 0;

/// The vCPU (by its unique number) that ran last on this CPU.
#[percpu::def_percpu]
static LAST_RUN: u64 = 0;

/// Records that vCPU `uid` runs on this CPU now; whether another one ran
/// here last (its translations may still be in the TLB: every VM's
/// vCPUs share one ASID, so the TLB is flushed whenever they change).
pub fn switch_to(uid: u64) -> bool {
    let switched = LAST_RUN.read_current() != uid;
    LAST_RUN.write_current(uid);
    switched
}

/// A zeroed page kept for the host's lifetime; its physical address.
fn host_page(what: &'static str) -> Result<u64, &'static str> {
    let page = global_allocator().alloc_pages(1, PAGE_SIZE_4K, UsageKind::VirtMem).map_err(|_| what)?;
    // SAFETY: `page` is a freshly allocated 4 KiB page that nothing else
    // references.
    unsafe { core::ptr::write_bytes(page as *mut u8, 0, PAGE_SIZE_4K) };
    Ok(axhal::mem::virt_to_phys(page.into()).as_usize() as u64)
}

/// Turns SVM on for this CPU: EFER.SVME, a host save area for VMRUN and a
/// page for the host's VMLOAD state; CR4.OSFXSR, so that the guests'
/// SSE registers are switched with their x87 state.
pub fn enable_this_cpu() -> Result<(), &'static str> {
    let save_area = host_page("no memory for the SVM host save area")?;
    let host_vmcb = host_page("no memory for the SVM host state page")?;
    HOST_VMCB.write_current(host_vmcb);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    wrmsr(MSR_VM_HSAVE_PA, save_area);
    // SAFETY: setting CR4.OSFXSR only lets FXSAVE/FXRSTOR cover the SSE
    // registers; the host itself uses no SSE.
    unsafe { core::arch::asm!("mov {t}, cr4", "or {t}, 0x200", "mov cr4, {t}", t = out(reg) _, options(nomem, nostack)) };
    info!("AMD SVM on for CPU {} (host save area at {save_area:#x})", axhal::percpu::this_cpu_id());
    Ok(())
}

/// Physical address of this CPU's page for the host's VMLOAD state (0
/// before [`enable_this_cpu`] ran here).
pub fn host_vmcb() -> u64 {
    HOST_VMCB.read_current()
}

/// Whether SVM is on for this CPU.
pub fn enabled_here() -> bool {
    rdmsr(MSR_EFER) & EFER_SVME != 0
}
