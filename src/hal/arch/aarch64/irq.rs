//! The host GIC as the hypervisor drives it: list-register injection,
//! forwarding of the guest timers' and devices' interrupts, and the
//! maintenance interrupt that re-arms them. The registers themselves are
//! `gic` (`gicv2.rs`, or `gicv3.rs` with the `gicv3` feature); nothing
//! here waits on the interrupt-controller driver, so the IRQ handlers and
//! the exit path never block.

use axvisor_api::memory::PhysAddr;
use axvisor_api::vmm::InterruptVector;

#[cfg_attr(feature = "gicv3", path = "gicv3.rs")]
#[cfg_attr(not(feature = "gicv3"), path = "gicv2.rs")]
mod gic;

#[cfg(not(feature = "gicv3"))]
pub use gic::{GICV_SIZE, gicv_base};
use gic::{LR_ACTIVE, LR_EOI, LR_PENDING, LR_STATE_MASK, MAX_INTID, MAX_LRS};

use super::super::irq_owners::IrqOwners;
use crate::hal::{ForwardError, IrqSetupError, current, upcalls};

/// The PPIs of the EL1 virtual and physical timers, which guests own, and
/// of the maintenance interrupt.
pub const VTIMER_PPI: usize = 27;
/// See [`VTIMER_PPI`].
pub const PTIMER_PPI: usize = 30;
const MAINTENANCE_PPI: usize = 25;
/// The SGI one CPU sends another to make it look at a vCPU's queue.
const KICK_SGI: usize = 14;
/// Priority of interrupts injected into a VM without a virtual
/// distributor (the middle of the range).
pub const DEFAULT_PRIORITY: u8 = 0xa0;

/// The GIC architecture this build drives, which VMs get too.
#[cfg(feature = "gicv3")]
pub const GIC_VERSION: guest_fdt::GicVersion = guest_fdt::GicVersion::V3;
/// See above.
#[cfg(not(feature = "gicv3"))]
pub const GIC_VERSION: guest_fdt::GicVersion = guest_fdt::GicVersion::V2;

/// The VM that owns each physical SPI forwarded to a guest.
static SPI_OWNERS: IrqOwners<MAX_INTID> = IrqOwners::new(32);

/// Finds the host GIC and records its register frames; installs the
/// handlers of the guest timers, maintenance and kicks. Called once,
/// before any VM exists.
pub fn init() -> Result<(), IrqSetupError> {
    gic::init()?;
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
    gic::init_this_cpu(&[VTIMER_PPI, PTIMER_PPI, MAINTENANCE_PPI, KICK_SGI]);
}

/// Takes SPI `irq` for a device the hypervisor drives itself: `handler`
/// runs on this CPU each time it fires. False if it is taken or the GIC
/// is not set up yet.
pub fn register_host_spi(irq: usize, handler: fn()) -> bool {
    SPI_OWNERS.owner(irq).is_none() && gic::route_to_this_cpu(irq) && axhal::irq::register(irq, handler)
}

/// Interrupts `pcpu`, so that a vCPU running or idling there sees what
/// was just queued for it.
pub fn kick_cpu(pcpu: usize) {
    gic::send_sgi(pcpu, KICK_SGI);
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
        gic::enable(irq);
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
    gic::disable(irq);
    current::mark_guest_only();
    if !upcalls::services().is_some_and(|vmm| vmm.device_interrupt(vm_id, irq)) {
        debug!("SPI {irq} for VM[{vm_id}] dropped: the VM is gone");
    }
}

/// Whether `vector` is a physical interrupt forwarded to the VM whose
/// virtual CPU interface this CPU holds, held off at the host until that
/// guest EOIs it: its guest timers, and the SPIs it owns. Only for those
/// may what the guest does (EOI, clearing pending or active state) reach
/// the host GIC; another VM's SPI, or nobody's, is virtual state only.
fn forwarded_here(vector: usize) -> bool {
    is_guest_timer(vector) || loaded_vm().is_some_and(|vm| SPI_OWNERS.owns(vector, vm))
}

/// The VM whose virtual CPU interface state this CPU holds (its id plus
/// one; 0: none). Set with the list registers, so it is right even while
/// another vCPU's task has taken the CPU but not yet the interface.
#[percpu::def_percpu]
static LOADED_VM: usize = 0;

fn loaded_vm() -> Option<usize> {
    LOADED_VM.read_current().checked_sub(1)
}

/// A kick: exiting the guest (or leaving idle) was all it was for.
fn kick_irq() {
    current::mark_guest_only();
}

/// A vCPU's state in the virtual CPU interface: list registers and the
/// interface's control state (the guest's enables, priority mask, binary
/// point, active priorities).
pub struct SavedCpuInterface {
    lrs: [u64; MAX_LRS],
    control: gic::Control,
    /// The VM of the vCPU it belongs to.
    vm: usize,
}

impl SavedCpuInterface {
    /// An empty interface of a vCPU of VM `vm`.
    pub fn new(vm: usize) -> Self {
        Self { lrs: [0; MAX_LRS], control: Default::default(), vm }
    }

    /// Empties it (a vCPU reset).
    pub fn reset(&mut self) {
        *self = Self::new(self.vm);
    }
}

/// Moves the loaded vCPU's virtual CPU interface state into `saved` and
/// leaves the interface empty for the next vCPU. The timer PPIs are let in
/// again: the saved vCPU's timers were silenced with its state.
pub fn save_cpu_interface(saved: &mut SavedCpuInterface) {
    let lrs = gic::lr_count().min(MAX_LRS);
    for (lr, slot) in saved.lrs.iter_mut().enumerate().take(lrs) {
        *slot = gic::read_lr(lr);
        gic::write_lr(lr, 0);
    }
    saved.control = gic::read_control();
    gic::write_control(Default::default());
    LOADED_VM.write_current(0);
    gic::enable(VTIMER_PPI);
    gic::enable(PTIMER_PPI);
}

/// Loads a vCPU's virtual CPU interface state saved by
/// [`save_cpu_interface`].
pub fn load_cpu_interface(saved: &SavedCpuInterface) {
    LOADED_VM.write_current(saved.vm.wrapping_add(1));
    let lrs = gic::lr_count().min(MAX_LRS);
    for (lr, value) in saved.lrs.iter().enumerate().take(lrs) {
        gic::write_lr(lr, *value);
    }
    gic::write_control(saved.control);
}

/// Makes interrupt `intid` pending for the vCPU loaded on this CPU, at
/// `priority` (8-bit, as the guest sees it); an SGI carries the vCPU that
/// sent it (`source`, where the GIC reports it). One that is active
/// already becomes pending and active. True once it is pending (or
/// already was); false if every list register is busy, so the caller
/// keeps it queued.
pub fn inject(intid: usize, source: usize, priority: u8) -> bool {
    if is_guest_timer(intid) && !guest_timer_firing(intid) {
        // A queued edge of a timer the guest has since disabled, masked
        // or reprogrammed: the line is low, so it is withdrawn.
        return true;
    }
    let key = gic::lr_key(intid, source);
    let mut free = None;
    let empty = empty_lrs();
    for lr in 0..gic::lr_count() {
        if empty & (1 << lr) != 0 {
            free = free.or(Some(lr));
            continue;
        }
        let value = gic::read_lr(lr);
        if gic::lr_key_of(value) == key && value & LR_STATE_MASK != 0 {
            if value & LR_STATE_MASK == LR_ACTIVE {
                gic::write_lr(lr, value | LR_PENDING);
            }
            return true;
        }
    }
    let Some(lr) = free else { return false };
    gic::write_lr(lr, gic::lr_value(intid, source, priority, forwarded_here(intid)));
    if is_guest_timer(intid) {
        TIMERS_IN_LRS.write_current(TIMERS_IN_LRS.read_current() | timer_bit(intid));
    }
    true
}

/// List registers free for a new interrupt, one bit each. One the guest
/// EOI'd stays out of use until its maintenance interrupt has re-enabled
/// what it forwarded.
fn empty_lrs() -> u64 {
    gic::elrsr() & !gic::eisr()
}

/// The pending and active bits, one per interrupt id `32 * word + bit`,
/// that the list registers of the vCPU loaded here hold.
pub fn lr_states(word: usize) -> (u32, u32) {
    let (mut pending, mut active) = (0u32, 0u32);
    for lr in 0..gic::lr_count() {
        let value = gic::read_lr(lr);
        let intid = gic::lr_intid(value);
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
fn change_lrs(intid: usize, clear: u64, set: u64) -> bool {
    let mut found = false;
    for lr in 0..gic::lr_count() {
        let value = gic::read_lr(lr);
        if gic::lr_intid(value) != intid || value & LR_STATE_MASK == 0 {
            continue;
        }
        found = true;
        let state = (value & LR_STATE_MASK & !clear) | set;
        if state == 0 {
            gic::write_lr(lr, 0);
            if value & LR_EOI != 0 && forwarded_here(intid) {
                gic::enable(intid);
            }
        } else {
            gic::write_lr(lr, (value & !LR_STATE_MASK) | state);
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
    if let Some(lr) = (0..gic::lr_count()).find(|lr| empty & (1 << lr) != 0) {
        let value = gic::lr_value(intid, 0, priority, false);
        gic::write_lr(lr, (value & !LR_STATE_MASK) | LR_ACTIVE);
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
    gic::disable(ppi);
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
/// re-enable the physical interrupt it forwarded.
fn maintenance_irq() {
    current::mark_guest_only();
    let done = gic::eisr();
    for lr in (0..gic::lr_count()).filter(|lr| done & (1 << lr) != 0) {
        let vector = gic::lr_intid(gic::read_lr(lr));
        gic::write_lr(lr, 0);
        if forwarded_here(vector) {
            gic::enable(vector);
        }
    }
}

/// A VM's virtual GIC at the host GIC's own addresses (distributor; GICv2
/// CPU interface or GICv3 redistributors), as an `emu_devices` entry.
pub fn host_irqchip_config() -> Option<axvmconfig::EmulatedDeviceConfig> {
    use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
    Some(EmulatedDeviceConfig {
        name: "vgic (at the host's addresses)".into(),
        base_gpa: gic::gicd_pa(),
        length: 0x1_0000,
        irq_id: 0,
        emu_type: EmulatedDeviceType::InterruptController,
        cfg_list: alloc::vec![gic::gicc_pa(), gic::gicr_pa()],
    })
}

/// Host GICD_IIDR, reported by the virtual distributor.
pub fn host_iidr() -> u32 {
    gic::host_iidr()
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
        gic::host_typer()
    }

    extern fn read_vgicd_iidr() -> u32 {
        host_iidr()
    }

    extern fn get_host_gicd_base() -> PhysAddr {
        PhysAddr::from(gic::gicd_pa())
    }

    extern fn get_host_gicr_base() -> PhysAddr {
        PhysAddr::from(gic::gicr_pa())
    }
}
