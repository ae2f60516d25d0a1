//! The host GICv3's registers as `irq.rs` uses them: the distributor, this
//! CPU's redistributor, and the virtual CPU interface's system registers
//! (ICH_*_EL2, 64-bit list registers). Frames are reached through their
//! fixed host mappings (no driver lock).

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::hal::IrqSetupError;

const GICD_TYPER: usize = 0x0004;
const GICD_IIDR: usize = 0x0008;
const GICD_ISENABLER: usize = 0x0100;
const GICD_ICENABLER: usize = 0x0180;
const GICD_IGROUPR: usize = 0x0080;
const GICD_IROUTER: usize = 0x6000;
const GICR_TYPER: usize = 0x0008;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_SGI_IGROUPR0: usize = 0x1_0080;
const GICR_SGI_ISENABLER0: usize = 0x1_0100;
const GICR_SGI_ICENABLER0: usize = 0x1_0180;
const GICR_STRIDE: usize = 0x2_0000;

/// List-register fields (HW = 0).
pub const LR_PENDING: u64 = 1 << 62;
pub const LR_ACTIVE: u64 = 1 << 63;
pub const LR_STATE_MASK: u64 = 3 << 62;
/// Maintenance interrupt when the guest deactivates it.
pub const LR_EOI: u64 = 1 << 41;
const LR_GROUP1: u64 = 1 << 60;
const LR_PRIORITY_SHIFT: u32 = 48;
const LR_VINTID_MASK: u64 = 0xffff_ffff;

/// List registers GICv3 can have.
pub const MAX_LRS: usize = 16;
/// Interrupt ids below the special ones (SGIs, PPIs, SPIs).
pub const MAX_INTID: usize = 1020;
/// CPUs whose redistributor and affinity are recorded.
const MAX_CPUS: usize = 64;

static GICD: AtomicUsize = AtomicUsize::new(0);
static GICR: AtomicUsize = AtomicUsize::new(0);
static LIST_REGS: AtomicUsize = AtomicUsize::new(0);
/// Each CPU's redistributor (host virtual address; 0: not found).
static REDIST: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// Each CPU's MPIDR_EL1 affinity fields, for SGIs (bit 63: recorded).
static AFFINITY: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn read32(addr: usize) -> u32 {
    // SAFETY: `addr` is a register in a GICv3 frame whose host mapping
    // `init` checked against the driver's.
    unsafe { (addr as *const u32).read_volatile() }
}

fn write32(addr: usize, value: u32) {
    // SAFETY: as in `read32`; the registers written here only change
    // interrupt state the hypervisor owns.
    unsafe { (addr as *mut u32).write_volatile(value) }
}

fn read64(addr: usize) -> u64 {
    // SAFETY: as in `read32` (GICR_TYPER is a 64-bit register).
    unsafe { (addr as *const u64).read_volatile() }
}

fn gicd(offset: usize) -> usize {
    GICD.load(Ordering::Relaxed) + offset
}

macro_rules! sysreg {
    (read $name:literal) => {{
        let value: u64;
        // SAFETY: reading a GIC hypervisor-interface register at EL2 has
        // no side effects.
        unsafe { core::arch::asm!(concat!("mrs {0}, ", $name), out(reg) value, options(nomem, nostack)) };
        value
    }};
    (write $name:literal, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: the virtual CPU interface's registers hold the loaded
        // vCPU's interrupt state, which the hypervisor owns.
        unsafe { core::arch::asm!(concat!("msr ", $name, ", {0}"), in(reg) value, options(nostack)) };
    }};
}

/// Finds the host GICv3 (GICD and the redistributor region in the device
/// tree) and records its frames and list-register count.
pub fn init() -> Result<(), IrqSetupError> {
    let dt = IrqSetupError::DeviceTree;
    let fdt = axhal::dtb::get_fdt().ok_or(dt("none was passed to the hypervisor"))?;
    let Some(node) = fdt.find_compatible(&["arm,gic-v3"]).next() else {
        return Err(if fdt.find_compatible(&["arm,cortex-a15-gic", "arm,gic-400"]).next().is_some() {
            dt("the host has a GICv2 and this hypervisor was built for GICv3 (build with GIC=2)")
        } else {
            dt("no GICv3")
        });
    };
    let mut regs = node.reg().ok_or(dt("the GIC node has no reg"))?;
    let gicd = regs.next().ok_or(dt("the GIC reg lacks GICD"))?.address as usize;
    let gicr = regs.next().ok_or(dt("the GIC reg lacks the redistributors"))?.address as usize;
    let (gicd_va, gicr_va) = (axhal::mem::phys_to_virt(gicd.into()).as_usize(), axhal::mem::phys_to_virt(gicr.into()).as_usize());
    let driver = rdrive::get_one::<rdif_intc::Intc>().and_then(|dev| {
        dev.lock().ok()?.typed_mut::<arm_gic_driver::v3::Gic>().map(|gic| (usize::from(gic.gicd_addr()), usize::from(gic.gicr_addr())))
    });
    if driver != Some((gicd_va, gicr_va)) {
        return Err(IrqSetupError::Driver("the GICv3 is not mapped at its linear address"));
    }
    GICD.store(gicd_va, Ordering::Relaxed);
    GICR.store(gicr_va, Ordering::Relaxed);
    LIST_REGS.store((sysreg!(read "ich_vtr_el2") & 0x1f) as usize + 1, Ordering::Relaxed);
    Ok(())
}

/// This CPU's affinity as GICR_TYPER and ICC_SGI1R_EL1 lay it out
/// (Aff3.Aff2.Aff1.Aff0 in 32 bits).
fn this_affinity() -> u64 {
    let mpidr = sysreg!(read "mpidr_el1");
    (mpidr & 0xff_ffff) | ((mpidr >> 8) & 0xff00_0000)
}

/// Empty list registers, virtual CPU interface on, this CPU's
/// redistributor and affinity recorded, its SGIs and PPIs in Group 1
/// (IRQs, not FIQs), and those in `private` enabled.
pub fn init_this_cpu(private: &[usize]) {
    for lr in 0..lr_count() {
        write_lr(lr, 0);
    }
    sysreg!(write "ich_hcr_el2", 1);
    let cpu = axhal::percpu::this_cpu_id();
    let affinity = this_affinity();
    if let (Some(redist), Some(aff)) = (REDIST.get(cpu), AFFINITY.get(cpu)) {
        redist.store(find_redistributor(affinity), Ordering::Relaxed);
        aff.store(affinity | (1 << 63), Ordering::Relaxed);
    }
    // The host takes Group 1 only (ICC_IAR1_EL1); a private interrupt
    // left in Group 0 would come as an FIQ, which a guest's exit reports.
    if let Some(group) = enable_reg(0, GICR_SGI_IGROUPR0, 0) {
        write32(group, u32::MAX);
    }
    private.iter().for_each(|&intid| enable(intid));
}

/// The redistributor whose GICR_TYPER names `affinity` (0 if none does).
fn find_redistributor(affinity: u64) -> usize {
    let mut frame = GICR.load(Ordering::Relaxed);
    // A region holds at most a few thousand redistributors; the walk ends
    // at the one marked Last.
    for _ in 0..4096 {
        let typer = read64(frame + GICR_TYPER);
        if typer >> 32 == affinity {
            return frame;
        }
        if typer & GICR_TYPER_LAST != 0 {
            break;
        }
        frame += if typer & GICR_TYPER_VLPIS != 0 { 2 * GICR_STRIDE } else { GICR_STRIDE };
    }
    0
}

/// The register that enables or disables `intid`: this CPU's
/// redistributor for an SGI or PPI, the distributor for an SPI.
#[inline]
fn enable_reg(intid: usize, private: usize, shared: usize) -> Option<usize> {
    if intid >= 32 {
        return Some(gicd(shared + 4 * (intid / 32)));
    }
    let redist = REDIST.get(axhal::percpu::this_cpu_id())?.load(Ordering::Relaxed);
    (redist != 0).then_some(redist + private)
}

#[inline]
pub fn enable(intid: usize) {
    if let Some(reg) = enable_reg(intid, GICR_SGI_ISENABLER0, GICD_ISENABLER) {
        write32(reg, 1 << (intid % 32));
    }
}

#[inline]
pub fn disable(intid: usize) {
    if let Some(reg) = enable_reg(intid, GICR_SGI_ICENABLER0, GICD_ICENABLER) {
        write32(reg, 1 << (intid % 32));
    }
}

/// Sends SPI `intid` to this CPU (GICD_IROUTER) as a Group 1 interrupt
/// (an IRQ); false before `init` and `init_this_cpu` have run here.
pub fn route_to_this_cpu(intid: usize) -> bool {
    let recorded = AFFINITY.get(axhal::percpu::this_cpu_id()).map_or(0, |aff| aff.load(Ordering::Relaxed));
    if GICD.load(Ordering::Relaxed) == 0 || recorded >> 63 == 0 || !(32..MAX_INTID).contains(&intid) {
        return false;
    }
    // Recorded as aff3:aff2:aff1:aff0 in bits 31..0; IROUTER has aff3 at 39..32.
    let (low, aff3) = ((recorded & 0xff_ffff) as u32, ((recorded >> 24) & 0xff) as u32);
    write32(gicd(GICD_IROUTER + 8 * intid), low);
    write32(gicd(GICD_IROUTER + 8 * intid + 4), aff3);
    let group = gicd(GICD_IGROUPR + 4 * (intid / 32));
    write32(group, read32(group) | (1 << (intid % 32)));
    true
}

/// Sends SGI `sgi` to physical CPU `pcpu` (ICC_SGI1R_EL1).
pub fn send_sgi(pcpu: usize, sgi: usize) {
    let recorded = AFFINITY.get(pcpu).map_or(0, |aff| aff.load(Ordering::Relaxed));
    if recorded >> 63 == 0 {
        return;
    }
    let (aff0, aff1, aff2, aff3) = (recorded & 0xff, (recorded >> 8) & 0xff, (recorded >> 16) & 0xff, (recorded >> 24) & 0xff);
    let value = (aff3 << 48) | ((aff0 / 16) << 44) | (aff2 << 32) | ((sgi as u64 & 0xf) << 24) | (aff1 << 16) | (1 << (aff0 % 16));
    sysreg!(write "icc_sgi1r_el1", value);
}

#[inline]
pub fn lr_count() -> usize {
    LIST_REGS.load(Ordering::Relaxed)
}

macro_rules! each_lr {
    ($lr:expr, $do:ident $(, $value:expr)?) => {
        match $lr {
            0 => each_lr!(@ $do "ich_lr0_el2" $(, $value)?),
            1 => each_lr!(@ $do "ich_lr1_el2" $(, $value)?),
            2 => each_lr!(@ $do "ich_lr2_el2" $(, $value)?),
            3 => each_lr!(@ $do "ich_lr3_el2" $(, $value)?),
            4 => each_lr!(@ $do "ich_lr4_el2" $(, $value)?),
            5 => each_lr!(@ $do "ich_lr5_el2" $(, $value)?),
            6 => each_lr!(@ $do "ich_lr6_el2" $(, $value)?),
            7 => each_lr!(@ $do "ich_lr7_el2" $(, $value)?),
            8 => each_lr!(@ $do "ich_lr8_el2" $(, $value)?),
            9 => each_lr!(@ $do "ich_lr9_el2" $(, $value)?),
            10 => each_lr!(@ $do "ich_lr10_el2" $(, $value)?),
            11 => each_lr!(@ $do "ich_lr11_el2" $(, $value)?),
            12 => each_lr!(@ $do "ich_lr12_el2" $(, $value)?),
            13 => each_lr!(@ $do "ich_lr13_el2" $(, $value)?),
            14 => each_lr!(@ $do "ich_lr14_el2" $(, $value)?),
            15 => each_lr!(@ $do "ich_lr15_el2" $(, $value)?),
            _ => each_lr!(@ $do none $(, $value)?),
        }
    };
    (@ read none) => { 0 };
    (@ write none, $value:expr) => { { let _ = $value; } };
    (@ read $name:literal) => { sysreg!(read $name) };
    (@ write $name:literal, $value:expr) => { sysreg!(write $name, $value) };
}

#[inline]
pub fn read_lr(lr: usize) -> u64 {
    each_lr!(lr, read)
}

#[inline]
pub fn write_lr(lr: usize, value: u64) {
    each_lr!(lr, write, value)
}

/// List registers that hold nothing, one bit each.
#[inline]
pub fn elrsr() -> u64 {
    sysreg!(read "ich_elrsr_el2")
}

/// List registers whose EOI maintenance is due, one bit each.
#[inline]
pub fn eisr() -> u64 {
    sysreg!(read "ich_eisr_el2")
}

/// A pending Group 1 list-register entry for `intid` (a GICv3 does not
/// tell the guest an SGI's sender: `_source` is not recorded).
#[inline]
pub fn lr_value(intid: usize, _source: usize, priority: u8, eoi: bool) -> u64 {
    lr_key(intid, 0) | if eoi { LR_EOI } else { 0 } | (u64::from(priority) << LR_PRIORITY_SHIFT) | LR_GROUP1 | LR_PENDING
}

#[inline]
pub fn lr_key(intid: usize, _source: usize) -> u64 {
    intid as u64 & LR_VINTID_MASK
}

#[inline]
pub fn lr_key_of(value: u64) -> u64 {
    value & LR_VINTID_MASK
}

#[inline]
pub fn lr_intid(value: u64) -> usize {
    (value & LR_VINTID_MASK) as usize
}

/// The interface's control state: ICH_VMCR_EL2 and the active
/// priorities of both groups.
/// The saved form of [`read_control`].
pub type Control = [u64; 3];

pub fn read_control() -> Control {
    [sysreg!(read "ich_vmcr_el2"), sysreg!(read "ich_ap0r0_el2"), sysreg!(read "ich_ap1r0_el2")]
}

pub fn write_control(control: Control) {
    sysreg!(write "ich_vmcr_el2", control[0]);
    sysreg!(write "ich_ap0r0_el2", control[1]);
    sysreg!(write "ich_ap1r0_el2", control[2]);
}

pub fn host_iidr() -> u32 {
    read32(gicd(GICD_IIDR))
}

pub fn host_typer() -> u32 {
    read32(gicd(GICD_TYPER))
}

/// Host-physical address of the distributor.
pub fn gicd_pa() -> usize {
    axhal::mem::virt_to_phys(GICD.load(Ordering::Relaxed).into()).as_usize()
}

/// GICv3 guests have no memory-mapped CPU interface.
pub fn gicc_pa() -> usize {
    0
}

/// Host-physical address of the first redistributor.
pub fn gicr_pa() -> usize {
    axhal::mem::virt_to_phys(GICR.load(Ordering::Relaxed).into()).as_usize()
}
