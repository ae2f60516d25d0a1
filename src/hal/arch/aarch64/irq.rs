//! The host GICv2 as the hypervisor drives it: list-register injection,
//! forwarding of the guest's virtual-timer interrupt, and the maintenance
//! interrupt that re-arms it. Register frames are reached through their
//! fixed host mappings (no driver lock), so the IRQ handlers and the exit
//! path never wait on the interrupt-controller driver.

use core::sync::atomic::{AtomicUsize, Ordering};

use axvisor_api::memory::PhysAddr;
use axvisor_api::vmm::InterruptVector;

use super::super::irq_owners::IrqOwners;
use crate::hal::{ForwardError, IrqSetupError, current, upcalls};

/// Distributor registers used by the hypervisor.
const GICD_TYPER: usize = 0x004;
const GICD_IIDR: usize = 0x008;
const GICD_ISENABLER0: usize = 0x100;
const GICD_ICENABLER0: usize = 0x180;
const GICD_ITARGETSR0: usize = 0x800;
const GICD_SGIR: usize = 0xF00;
/// Hypervisor-interface registers.
const GICH_HCR: usize = 0x000;
const GICH_VTR: usize = 0x004;
const GICH_VMCR: usize = 0x008;
const GICH_APR: usize = 0x0F0;
const GICH_EISR0: usize = 0x020;
const GICH_ELRSR0: usize = 0x030;
const GICH_LR0: usize = 0x100;
/// List-register fields.
const LR_VID_MASK: u32 = 0x3ff;
const LR_EOI: u32 = 1 << 19;
const LR_PRIORITY_SHIFT: u32 = 23;
const LR_PENDING: u32 = 1 << 28;
const LR_ACTIVE: u32 = 2 << 28;
const LR_STATE_MASK: u32 = 3 << 28;
const LR_CPUID_SHIFT: u32 = 10;
const LR_CPUID_MASK: u32 = 7 << LR_CPUID_SHIFT;

/// The PPIs of the EL1 virtual and physical timers, which guests own, and
/// of the GICv2 maintenance interrupt.
pub const VTIMER_PPI: usize = 27;
/// See [`VTIMER_PPI`].
pub const PTIMER_PPI: usize = 30;
const MAINTENANCE_PPI: usize = 25;
/// The SGI one CPU sends another to make it look at a vCPU's queue.
const KICK_SGI: usize = 14;
/// CPUs whose GIC CPU-interface bit is recorded (GICv2 has 8 interfaces).
const MAX_CPUS: usize = 8;
/// Priority of interrupts injected into a VM without a virtual
/// distributor (the middle of the range).
pub const DEFAULT_PRIORITY: u8 = 0xa0;
/// List registers GICv2 can have.
const MAX_LRS: usize = 64;
/// Size of the virtual CPU interface mapped into a guest.
pub const GICV_SIZE: usize = 0x2000;

/// Host virtual addresses of the distributor and hypervisor interface,
/// physical address of the virtual CPU interface, and list-register count.
static GICD: AtomicUsize = AtomicUsize::new(0);
static GICH: AtomicUsize = AtomicUsize::new(0);
static GICV_PA: AtomicUsize = AtomicUsize::new(0);
static LIST_REGS: AtomicUsize = AtomicUsize::new(0);
/// Interrupt ids the GICv2 architecture allows.
const MAX_INTID: usize = 1020;
/// The VM that owns each physical SPI forwarded to a guest.
static SPI_OWNERS: IrqOwners<MAX_INTID> = IrqOwners::new(32);
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

/// Finds the host GIC (GICD, GICC, GICH, GICV in the device tree) and
/// records its register frames. Called once, before any VM exists.
pub fn init() -> Result<(), IrqSetupError> {
    const COMPATIBLE: &[&str] = &["arm,cortex-a15-gic", "arm,gic-400"];
    let dt = IrqSetupError::DeviceTree;
    let fdt = axhal::dtb::get_fdt().ok_or(dt("none was passed to the hypervisor"))?;
    let node = fdt.find_compatible(COMPATIBLE).next().ok_or(dt("no GICv2"))?;
    let mut regs = node.reg().ok_or(dt("the GIC node has no reg"))?;
    let mut next = || regs.next().map(|r| r.address as usize);
    let (gicd, _gicc) = (next().ok_or(dt("the GIC reg lacks GICD"))?, next());
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
    LIST_REGS.store((read(&GICH, GICH_VTR) & 0x3f) as usize + 1, Ordering::Relaxed);
    let handlers: [(usize, fn()); 4] = [
        (VTIMER_PPI, guest_vtimer_irq),
        (PTIMER_PPI, guest_ptimer_irq),
        (MAINTENANCE_PPI, maintenance_irq),
        (KICK_SGI, kick_irq),
    ];
    if !handlers.into_iter().all(|(irq, handler)| axhal::irq::register(irq, handler)) {
        return Err(IrqSetupError::Handler("cannot register the virtual-timer, maintenance and kick handlers"));
    }
    if !axhal::irq::register_irq_hook(forward_spi) {
        return Err(IrqSetupError::Handler("the host's IRQ hook is taken: device interrupts cannot be forwarded"));
    }
    Ok(())
}

/// Per-CPU setup: empty list registers, virtual CPU interface on, and the
/// forwarded PPIs enabled on this CPU.
pub fn init_this_cpu() {
    for lr in 0..LIST_REGS.load(Ordering::Relaxed) {
        write(&GICH, GICH_LR0 + 4 * lr, 0);
    }
    write(&GICH, GICH_HCR, 1);
    write(&GICD, GICD_ISENABLER0, TIMER_PPIS | (1 << MAINTENANCE_PPI) | (1 << KICK_SGI));
    // The banked ITARGETSR bytes of private interrupts name this CPU.
    if let Some(slot) = CPU_INTERFACE.get(axhal::percpu::this_cpu_id()) {
        slot.store((read(&GICD, GICD_ITARGETSR0) & 0xff) as usize, Ordering::Relaxed);
    }
}

/// Interrupts `pcpu`, so that a vCPU running or idling there sees what
/// was just queued for it.
pub fn kick_cpu(pcpu: usize) {
    let target = CPU_INTERFACE.get(pcpu).map_or(0, |slot| slot.load(Ordering::Relaxed));
    if target != 0 {
        write(&GICD, GICD_SGIR, ((target as u32) << 16) | KICK_SGI as u32);
    }
}

/// Hands physical SPI `irq` to VM `vm_id`: from now on it is enabled at the
/// host GIC and each occurrence is queued for the guest.
pub fn forward_spi_to(irq: usize, vm_id: usize) -> Result<(), ForwardError> {
    SPI_OWNERS.claim(irq, vm_id)
}

/// Enables at the host every SPI forwarded to `vm_id` (a forwarded SPI is
/// held off from its arrival until the guest completes it).
pub fn reenable_spis_of(vm_id: usize) {
    for irq in SPI_OWNERS.owned_by(vm_id) {
        write(&GICD, GICD_ISENABLER0 + 4 * (irq / 32), 1 << (irq % 32));
    }
}

/// Takes back every SPI forwarded to `vm_id`.
pub fn release_spis_of(vm_id: usize) {
    SPI_OWNERS.release_all(vm_id);
}

/// Runs after every host interrupt with its id: a forwarded SPI is held
/// off at the host until the guest EOIs it, and queued for the guest.
fn forward_spi(irq: usize) {
    let Some(vm_id) = SPI_OWNERS.owner(irq) else { return };
    write(&GICD, GICD_ICENABLER0 + 4 * (irq / 32), 1 << (irq % 32));
    current::mark_guest_only();
    if !upcalls::services().is_some_and(|vmm| vmm.device_interrupt(vm_id, irq)) {
        debug!("SPI {irq} for VM[{vm_id}] dropped: the VM is gone");
    }
}

/// Whether `vector` is a physical interrupt forwarded to a guest, held off
/// at the host until the guest EOIs it.
fn is_forwarded(vector: usize) -> bool {
    vector == VTIMER_PPI || vector == PTIMER_PPI || SPI_OWNERS.owner(vector).is_some()
}

/// Both guest timer PPIs, as a GICD_I[SC]ENABLER0 mask.
const TIMER_PPIS: u32 = (1 << VTIMER_PPI) | (1 << PTIMER_PPI);

/// A kick: exiting the guest (or leaving idle) was all it was for.
fn kick_irq() {
    current::mark_guest_only();
}

/// A vCPU's state in the virtual CPU interface: list registers, the
/// guest's interface control (GICV_CTLR, PMR, BPR) and active priorities.
pub struct SavedCpuInterface {
    lrs: [u32; MAX_LRS],
    vmcr: u32,
    apr: u32,
}

impl Default for SavedCpuInterface {
    fn default() -> Self {
        Self { lrs: [0; MAX_LRS], vmcr: 0, apr: 0 }
    }
}

/// Moves the loaded vCPU's virtual CPU interface state into `saved` and
/// leaves the interface empty for the next vCPU. The timer PPIs are let in
/// again: the saved vCPU's timers were silenced with its state.
pub fn save_cpu_interface(saved: &mut SavedCpuInterface) {
    let lrs = LIST_REGS.load(Ordering::Relaxed).min(MAX_LRS);
    for (lr, slot) in saved.lrs.iter_mut().enumerate().take(lrs) {
        *slot = read(&GICH, GICH_LR0 + 4 * lr);
        write(&GICH, GICH_LR0 + 4 * lr, 0);
    }
    saved.vmcr = read(&GICH, GICH_VMCR);
    saved.apr = read(&GICH, GICH_APR);
    write(&GICH, GICH_APR, 0);
    write(&GICD, GICD_ISENABLER0, TIMER_PPIS);
}

/// Loads a vCPU's virtual CPU interface state saved by
/// [`save_cpu_interface`].
pub fn load_cpu_interface(saved: &SavedCpuInterface) {
    let lrs = LIST_REGS.load(Ordering::Relaxed).min(MAX_LRS);
    for (lr, value) in saved.lrs.iter().enumerate().take(lrs) {
        write(&GICH, GICH_LR0 + 4 * lr, *value);
    }
    write(&GICH, GICH_VMCR, saved.vmcr);
    write(&GICH, GICH_APR, saved.apr);
}

/// Makes interrupt `intid` pending for the vCPU loaded on this CPU, at
/// `priority` (8-bit, as the guest sees it); an SGI carries the vCPU that
/// sent it (`source`). One that is active already becomes pending and
/// active. True once it is pending (or already was); false if every list
/// register is busy, so the caller keeps it queued.
pub fn inject(intid: usize, source: usize, priority: u8) -> bool {
    if is_guest_timer(intid) && !guest_timer_firing(intid) {
        // A queued edge of a timer the guest has since disabled, masked
        // or reprogrammed: the line is low, so it is withdrawn.
        return true;
    }
    let lrs = LIST_REGS.load(Ordering::Relaxed);
    let key = (intid as u32 & LR_VID_MASK) | ((source as u32 & 7) << LR_CPUID_SHIFT);
    let mut free = None;
    let empty = empty_lrs();
    for lr in 0..lrs {
        if empty & (1 << lr) != 0 {
            free = free.or(Some(lr));
            continue;
        }
        let value = read(&GICH, GICH_LR0 + 4 * lr);
        if value & (LR_VID_MASK | LR_CPUID_MASK) == key && value & LR_STATE_MASK != 0 {
            if value & LR_STATE_MASK == LR_ACTIVE {
                write(&GICH, GICH_LR0 + 4 * lr, value | LR_PENDING);
            }
            return true;
        }
    }
    let Some(lr) = free else { return false };
    let eoi = if is_forwarded(intid) { LR_EOI } else { 0 };
    let value = key | eoi | (u32::from(priority >> 3) << LR_PRIORITY_SHIFT) | LR_PENDING;
    write(&GICH, GICH_LR0 + 4 * lr, value);
    if is_guest_timer(intid) {
        TIMERS_IN_LRS.write_current(TIMERS_IN_LRS.read_current() | timer_bit(intid));
    }
    true
}

/// List registers free for a new interrupt, one bit each. One the guest
/// EOI'd stays out of use until its maintenance interrupt has re-enabled
/// what it forwarded.
fn empty_lrs() -> u32 {
    read(&GICH, GICH_ELRSR0) & !read(&GICH, GICH_EISR0)
}

/// The pending and active bits, one per interrupt id `32 * word + bit`,
/// that the list registers of the vCPU loaded here hold.
pub fn lr_states(word: usize) -> (u32, u32) {
    let (mut pending, mut active) = (0u32, 0u32);
    for lr in 0..LIST_REGS.load(Ordering::Relaxed) {
        let value = read(&GICH, GICH_LR0 + 4 * lr);
        let intid = (value & LR_VID_MASK) as usize;
        if intid / 32 != word {
            continue;
        }
        let bit = 1 << (intid % 32);
        if value & LR_PENDING != 0 {
            pending |= bit;
        }
        if value & LR_ACTIVE != 0 {
            active |= bit;
        }
    }
    (pending, active)
}

/// Changes the state of every list register of the vCPU loaded here that
/// holds `intid`: `clear` bits go, `set` bits come (LR_PENDING,
/// LR_ACTIVE). A register left empty lets in again the physical
/// interrupt it was holding off. False if no register holds `intid`.
fn change_lrs(intid: usize, clear: u32, set: u32) -> bool {
    let mut found = false;
    for lr in 0..LIST_REGS.load(Ordering::Relaxed) {
        let value = read(&GICH, GICH_LR0 + 4 * lr);
        if (value & LR_VID_MASK) as usize != intid || value & LR_STATE_MASK == 0 {
            continue;
        }
        found = true;
        let state = (value & LR_STATE_MASK & !clear) | set;
        if state == 0 {
            write(&GICH, GICH_LR0 + 4 * lr, 0);
            if value & LR_EOI != 0 {
                write(&GICD, GICD_ISENABLER0 + 4 * (intid / 32), 1 << (intid % 32));
            }
        } else {
            write(&GICH, GICH_LR0 + 4 * lr, (value & !LR_STATE_MASK) | state);
        }
    }
    found
}

/// The guest cleared `intid`'s pending state (GICD_ICPENDR).
pub fn clear_pending(intid: usize) {
    change_lrs(intid, LR_PENDING, 0);
}

/// The guest cleared `intid`'s active state (GICD_ICACTIVER).
pub fn clear_active(intid: usize) {
    change_lrs(intid, LR_ACTIVE, 0);
}

/// The guest set `intid` active (GICD_ISACTIVER), at `priority`.
pub fn set_active(intid: usize, priority: u8) {
    if change_lrs(intid, 0, LR_ACTIVE) {
        return;
    }
    let empty = empty_lrs();
    if let Some(lr) = (0..LIST_REGS.load(Ordering::Relaxed)).find(|lr| empty & (1 << lr) != 0) {
        let value = (intid as u32 & LR_VID_MASK) | (u32::from(priority >> 3) << LR_PRIORITY_SHIFT) | LR_ACTIVE;
        write(&GICH, GICH_LR0 + 4 * lr, value);
    }
}

/// Which guest timer interrupts (bit 0 virtual, bit 1 physical) this CPU
/// put in a list register; injection then checks their lines.
#[percpu::def_percpu]
static TIMERS_IN_LRS: u8 = 0;

fn timer_bit(ppi: usize) -> u8 {
    if ppi == VTIMER_PPI { 1 } else { 2 }
}

fn is_guest_timer(intid: usize) -> bool {
    intid == VTIMER_PPI || intid == PTIMER_PPI
}

/// Whether the loaded guest's timer behind `ppi` asserts its interrupt:
/// enabled, not masked, condition met.
fn guest_timer_firing(ppi: usize) -> bool {
    let ctl: u64;
    // SAFETY: reading the loaded guest's timer control has no side effects.
    unsafe {
        if ppi == VTIMER_PPI {
            core::arch::asm!("mrs {0}, cntv_ctl_el0", out(reg) ctl, options(nomem, nostack));
        } else {
            core::arch::asm!("mrs {0}, cntp_ctl_el0", out(reg) ctl, options(nomem, nostack));
        }
    }
    ctl & 0b111 == 0b101
}

/// When interrupts are injected: a timer interrupt still pending in a list
/// register whose timer the guest has since turned off, masked or moved
/// loses its pending state (the timers are level-triggered); a register
/// left empty lets the physical PPI in again.
#[inline]
pub fn withdraw_stale_timer_irqs() {
    let injected = TIMERS_IN_LRS.read_current();
    if injected == 0 {
        return;
    }
    // A timer whose line is still high keeps its list register.
    for ppi in [VTIMER_PPI, PTIMER_PPI] {
        if injected & timer_bit(ppi) != 0 && !guest_timer_firing(ppi) {
            change_lrs(ppi, LR_PENDING, 0);
            TIMERS_IN_LRS.write_current(TIMERS_IN_LRS.read_current() & !timer_bit(ppi));
        }
    }
}

/// A guest timer fired on this CPU: hold the physical PPI off until the
/// guest EOIs its virtual copy, and queue that copy for the vCPU whose
/// timer state is loaded here.
fn guest_timer_irq(ppi: usize) {
    write(&GICD, GICD_ICENABLER0, 1 << ppi);
    if !current::queue_here(ppi) {
        debug!("guest timer PPI {ppi} fired with no vCPU on this CPU");
    }
}

fn guest_vtimer_irq() {
    guest_timer_irq(VTIMER_PPI);
}

fn guest_ptimer_irq() {
    guest_timer_irq(PTIMER_PPI);
}

/// A guest EOI'd a list register marked for maintenance: free it and
/// re-enable the physical PPI it forwarded.
fn maintenance_irq() {
    current::mark_guest_only();
    let done = read(&GICH, GICH_EISR0);
    for lr in (0..LIST_REGS.load(Ordering::Relaxed)).filter(|lr| done & (1 << lr) != 0) {
        let vector = (read(&GICH, GICH_LR0 + 4 * lr) & LR_VID_MASK) as usize;
        write(&GICH, GICH_LR0 + 4 * lr, 0);
        if is_forwarded(vector) {
            write(&GICD, GICD_ISENABLER0 + 4 * (vector / 32), 1 << (vector % 32));
        }
    }
}

/// Physical address of the host's virtual CPU interface.
pub fn gicv_base() -> usize {
    GICV_PA.load(Ordering::Relaxed)
}

/// Host GICD_IIDR, reported by the virtual distributor.
pub fn host_iidr() -> u32 {
    read(&GICD, GICD_IIDR)
}

/// Host GICD_TYPER.
pub fn host_typer() -> u32 {
    read(&GICD, GICD_TYPER)
}

#[axvisor_api::api_mod_impl(axvisor_api::arch)]
mod arch_api_impl {
    use super::*;

    extern fn hardware_inject_virtual_interrupt(vector: InterruptVector) {
        if !inject(vector as usize, 0, DEFAULT_PRIORITY) {
            warn!("virtual interrupt {vector} not injected: every list register is busy");
        }
    }

    extern fn read_vgicd_typer() -> u32 {
        host_typer()
    }

    extern fn read_vgicd_iidr() -> u32 {
        host_iidr()
    }

    extern fn get_host_gicd_base() -> PhysAddr {
        PhysAddr::from(axhal::mem::virt_to_phys(GICD.load(Ordering::Relaxed).into()).as_usize())
    }

    extern fn get_host_gicr_base() -> PhysAddr {
        // GICv2 has no redistributor.
        PhysAddr::from(0)
    }
}
