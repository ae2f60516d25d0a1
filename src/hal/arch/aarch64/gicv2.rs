//! The host GICv2's registers as `irq.rs` uses them: the distributor,
//! the hypervisor interface (GICH) and its 32-bit list registers. Frames
//! are reached through their fixed host mappings (no driver lock).

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::hal::IrqSetupError;

const GICD_TYPER: usize = 0x004;
const GICD_IIDR: usize = 0x008;
const GICD_ISENABLER0: usize = 0x100;
const GICD_ICENABLER0: usize = 0x180;
const GICD_ITARGETSR0: usize = 0x800;
const GICD_SGIR: usize = 0xF00;
const GICH_HCR: usize = 0x000;
const GICH_VTR: usize = 0x004;
const GICH_VMCR: usize = 0x008;
const GICH_APR: usize = 0x0F0;
const GICH_EISR0: usize = 0x020;
const GICH_ELRSR0: usize = 0x030;
const GICH_LR0: usize = 0x100;

/// List-register fields.
pub const LR_PENDING: u64 = 1 << 28;
pub const LR_ACTIVE: u64 = 2 << 28;
pub const LR_STATE_MASK: u64 = 3 << 28;
/// Maintenance interrupt when the guest deactivates it.
pub const LR_EOI: u64 = 1 << 19;
const LR_VID_MASK: u64 = 0x3ff;
const LR_PRIORITY_SHIFT: u32 = 23;
const LR_CPUID_SHIFT: u32 = 10;
const LR_CPUID_MASK: u64 = 7 << LR_CPUID_SHIFT;

/// List registers GICv2 can have.
pub const MAX_LRS: usize = 64;
/// Interrupt ids the GICv2 architecture allows.
pub const MAX_INTID: usize = 1020;
/// Size of the virtual CPU interface mapped into a guest.
pub const GICV_SIZE: usize = 0x2000;
/// CPUs whose CPU-interface bit is recorded (GICv2 has 8 interfaces).
const MAX_CPUS: usize = 8;

static GICD: AtomicUsize = AtomicUsize::new(0);
static GICH: AtomicUsize = AtomicUsize::new(0);
static GICV_PA: AtomicUsize = AtomicUsize::new(0);
static GICC_PA: AtomicUsize = AtomicUsize::new(0);
static LIST_REGS: AtomicUsize = AtomicUsize::new(0);
/// Each CPU's own bit in GICD_ITARGETSR/SGIR target lists (0: unknown).
static CPU_INTERFACE: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

fn read(base: &AtomicUsize, offset: usize) -> u32 {
    let reg = (base.load(Ordering::Relaxed) + offset) as *const u32;
    // SAFETY: `init` stored the host mapping of a GICv2 register frame
    // (checked against the driver's mapping); `offset` is a register in it.
    unsafe { reg.read_volatile() }
}

fn write(base: &AtomicUsize, offset: usize, value: u32) {
    let reg = (base.load(Ordering::Relaxed) + offset) as *mut u32;
    // SAFETY: as in `read`; the registers written here only change
    // interrupt state the hypervisor owns.
    unsafe { reg.write_volatile(value) }
}

/// Finds the host GICv2 (GICD, GICC, GICH, GICV in the device tree) and
/// records its register frames.
pub fn init() -> Result<(), IrqSetupError> {
    const COMPATIBLE: &[&str] = &["arm,cortex-a15-gic", "arm,gic-400"];
    let dt = IrqSetupError::DeviceTree;
    let fdt = axhal::dtb::get_fdt().ok_or(dt("none was passed to the hypervisor"))?;
    let Some(node) = fdt.find_compatible(COMPATIBLE).next() else {
        return Err(if fdt.find_compatible(&["arm,gic-v3"]).next().is_some() {
            dt("the host has a GICv3 and this hypervisor was built for GICv2 (build with GIC=3)")
        } else {
            dt("no GICv2")
        });
    };
    let mut regs = node.reg().ok_or(dt("the GIC node has no reg"))?;
    let mut next = || regs.next().map(|r| r.address as usize);
    let (gicd, gicc) = (next().ok_or(dt("the GIC reg lacks GICD"))?, next());
    let gich = next().ok_or(dt("the GIC has no hypervisor interface (GICH)"))?;
    let gicv = next().ok_or(dt("the GIC has no virtual CPU interface (GICV)"))?;
    let gicd_va = axhal::mem::phys_to_virt(gicd.into()).as_usize();
    let driver_gicd = rdrive::get_one::<rdif_intc::Intc>()
        .and_then(|dev| dev.lock().ok()?.typed_mut::<arm_gic_driver::v2::Gic>().map(|gic| usize::from(gic.gicd_addr())));
    if driver_gicd != Some(gicd_va) {
        return Err(IrqSetupError::Driver("the GIC is not mapped at its linear address"));
    }
    GICD.store(gicd_va, Ordering::Relaxed);
    GICH.store(axhal::mem::phys_to_virt(gich.into()).as_usize(), Ordering::Relaxed);
    GICV_PA.store(gicv, Ordering::Relaxed);
    GICC_PA.store(gicc.unwrap_or(0), Ordering::Relaxed);
    LIST_REGS.store((read(&GICH, GICH_VTR) & 0x3f) as usize + 1, Ordering::Relaxed);
    Ok(())
}

/// Empty list registers, virtual CPU interface on, this CPU's bit in
/// target lists recorded, and the SGIs and PPIs in `private` enabled.
pub fn init_this_cpu(private: &[usize]) {
    for lr in 0..lr_count() {
        write_lr(lr, 0);
    }
    write(&GICH, GICH_HCR, 1);
    // The banked ITARGETSR bytes of private interrupts name this CPU.
    if let Some(slot) = CPU_INTERFACE.get(axhal::percpu::this_cpu_id()) {
        slot.store((read(&GICD, GICD_ITARGETSR0) & 0xff) as usize, Ordering::Relaxed);
    }
    private.iter().for_each(|&intid| enable(intid));
}

/// Enables `intid` at the distributor (an SGI or PPI: on this CPU).
#[inline]
pub fn enable(intid: usize) {
    write(&GICD, GICD_ISENABLER0 + 4 * (intid / 32), 1 << (intid % 32));
}

/// Disables `intid` at the distributor (an SGI or PPI: on this CPU).
#[inline]
pub fn disable(intid: usize) {
    write(&GICD, GICD_ICENABLER0 + 4 * (intid / 32), 1 << (intid % 32));
}

/// Sends SPI `intid` to this CPU (GICD_ITARGETSR); false before `init`
/// and `init_this_cpu` have run here.
pub fn route_to_this_cpu(intid: usize) -> bool {
    if GICD.load(Ordering::Relaxed) == 0 || !(32..MAX_INTID).contains(&intid) {
        return false;
    }
    // With one CPU interface (GICD_TYPER.CPUNumber 0) the target
    // registers are RAZ/WI: every interrupt goes to that CPU.
    if (read(&GICD, GICD_TYPER) >> 5) & 0x7 == 0 {
        return true;
    }
    let cpu = CPU_INTERFACE.get(axhal::percpu::this_cpu_id()).map_or(0, |slot| slot.load(Ordering::Relaxed));
    if cpu == 0 {
        return false;
    }
    let (offset, shift) = (GICD_ITARGETSR0 + (intid & !3), 8 * (intid % 4));
    let targets = read(&GICD, offset) & !(0xff << shift);
    write(&GICD, offset, targets | ((cpu as u32) << shift));
    true
}

/// Sends SGI `sgi` to physical CPU `pcpu`.
pub fn send_sgi(pcpu: usize, sgi: usize) {
    let target = CPU_INTERFACE.get(pcpu).map_or(0, |slot| slot.load(Ordering::Relaxed));
    if target != 0 {
        write(&GICD, GICD_SGIR, ((target as u32) << 16) | sgi as u32);
    }
}

#[inline]
pub fn lr_count() -> usize {
    LIST_REGS.load(Ordering::Relaxed)
}

#[inline]
pub fn read_lr(lr: usize) -> u64 {
    u64::from(read(&GICH, GICH_LR0 + 4 * lr))
}

#[inline]
pub fn write_lr(lr: usize, value: u64) {
    write(&GICH, GICH_LR0 + 4 * lr, value as u32);
}

/// List registers that hold nothing, one bit each.
#[inline]
pub fn elrsr() -> u64 {
    u64::from(read(&GICH, GICH_ELRSR0))
}

/// List registers whose EOI maintenance is due, one bit each.
#[inline]
pub fn eisr() -> u64 {
    u64::from(read(&GICH, GICH_EISR0))
}

/// A pending list-register entry for `intid` from SGI sender `source`.
#[inline]
pub fn lr_value(intid: usize, source: usize, priority: u8, eoi: bool) -> u64 {
    lr_key(intid, source) | if eoi { LR_EOI } else { 0 } | (u64::from(priority >> 3) << LR_PRIORITY_SHIFT) | LR_PENDING
}

/// The identity bits of an entry: interrupt id and SGI sender.
#[inline]
pub fn lr_key(intid: usize, source: usize) -> u64 {
    (intid as u64 & LR_VID_MASK) | ((source as u64 & 7) << LR_CPUID_SHIFT)
}

/// The identity bits of list-register value `value`.
#[inline]
pub fn lr_key_of(value: u64) -> u64 {
    value & (LR_VID_MASK | LR_CPUID_MASK)
}

#[inline]
pub fn lr_intid(value: u64) -> usize {
    (value & LR_VID_MASK) as usize
}

/// The interface's control state (GICH_VMCR, GICH_APR).
/// The saved form of [`read_control`].
pub type Control = [u64; 2];

pub fn read_control() -> Control {
    [u64::from(read(&GICH, GICH_VMCR)), u64::from(read(&GICH, GICH_APR))]
}

pub fn write_control(control: Control) {
    write(&GICH, GICH_VMCR, control[0] as u32);
    write(&GICH, GICH_APR, control[1] as u32);
}

/// Physical address of the host's virtual CPU interface.
pub fn gicv_base() -> usize {
    GICV_PA.load(Ordering::Relaxed)
}

pub fn host_iidr() -> u32 {
    read(&GICD, GICD_IIDR)
}

pub fn host_typer() -> u32 {
    read(&GICD, GICD_TYPER)
}

/// Host-physical address of the distributor.
pub fn gicd_pa() -> usize {
    axhal::mem::virt_to_phys(GICD.load(Ordering::Relaxed).into()).as_usize()
}

/// Host-physical address of the CPU interface.
pub fn gicc_pa() -> usize {
    GICC_PA.load(Ordering::Relaxed)
}

/// GICv2 has no redistributor.
pub fn gicr_pa() -> usize {
    0
}
