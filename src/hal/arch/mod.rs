//! The arch contract. Exactly one architecture module is compiled, chosen
//! here and nowhere else; it provides `Arch`, which implements
//! [`ArchOps`], whose vCPU type implements [`VcpuOps`] and whose virtual
//! interrupt controller implements [`IrqChipOps`]. Each `<arch>/` folder
//! has the same files:
//!
//! | file | what |
//! |------|------|
//! | `mod.rs` | `Arch`: hardware check, per-CPU setup, caches, device tree |
//! | `vcpu.rs` | the vCPU: run, exit decoding into [`Exit`], call answers |
//! | `calls.rs` | the guest call interface (PSCI, SBI, VMCALL) decoded |
//! | `irq.rs` | the host interrupt controller: injection, forwarding, kicks |
//! | `irqchip.rs` | the virtual interrupt controller a VM may have |
//!
//! Nothing outside this folder names an architecture, an interrupt
//! controller or a register format.

use alloc::vec::Vec;
use core::time::Duration;

use axaddrspace::HostPhysAddr;
use axvmconfig::{AxVMCrateConfig, EmulatedDeviceConfig};
use exit_dispatch::{Exit, GuestVcpu, Ipi};
use guest_fdt::{HostTree, Selection};
pub use guest_ram::RamMap;

use super::error::{DtbError, ForwardError, HardwareError, IrqChipError, IrqSetupError, VcpuError};
use super::virt::AxvmVcpuRef;

#[cfg_attr(target_arch = "aarch64", path = "aarch64/mod.rs")]
#[cfg_attr(target_arch = "riscv64", path = "riscv64/mod.rs")]
#[cfg_attr(target_arch = "x86_64", path = "x86_64/mod.rs")]
mod imp;

// For the architectures whose vCPUs come from axvm.
#[cfg(target_arch = "x86_64")]
mod axvm_vcpu;
// Shared by the architectures that forward device interrupts.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
mod irq_owners;
// Shared by the architectures whose vCPUs keep state in the CPU.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
mod loaded;

pub use imp::Arch;
/// The frames of VMs' stage-2 tables (axvm's `PagingHandler`): the
/// runtime's, except on riscv64, whose Sv39x4 root is 16 KiB.
#[cfg(target_arch = "riscv64")]
pub use imp::Stage2Frames;
#[cfg(not(target_arch = "riscv64"))]
pub type Stage2Frames = axhal::paging::PagingHandlerImpl;

/// This build's vCPU.
pub type Vcpu = <Arch as ArchOps>::Vcpu;
/// This build's virtual interrupt controller.
pub type IrqChip = <Arch as ArchOps>::IrqChip;

/// What the hypervisor needs from an architecture.
pub trait ArchOps {
    /// A guest CPU.
    type Vcpu: VcpuOps;
    /// A VM's emulated interrupt controller.
    type IrqChip: IrqChipOps;
    /// The UART model a VM's console device gets (the one this
    /// architecture's guests expect).
    type Uart: vuart::Uart + Send;
    /// The first interrupt id a passthrough device's `irq_id` may name.
    const FIRST_DEVICE_IRQ: usize;
    /// Guest-physical address bits the stage-2 tables translate: a config
    /// that maps anything at or above `1 << GUEST_PHYS_BITS` is refused.
    const GUEST_PHYS_BITS: u32;
    /// Where a VM's virtio-mmio devices go when their config table names
    /// no `base` and `irq` (QEMU virt's slots); `None`: nowhere.
    const VIRTIO_SLOTS: Option<vmconfig_check::VirtioSlots> = None;
    /// Whether the architecture's UART is reached through I/O ports (its
    /// `base_gpa` is then a port number) rather than memory.
    const UART_ON_PORTS: bool = false;
    /// Whether pages mapped into axvm's address space after creation (the
    /// shared-memory channels) reach the guest's stage 2.
    const SHARED_CHANNELS: bool = true;

    /// A UART model in its reset state.
    fn new_uart() -> Self::Uart;
    /// Host-physical base and size of the UART the host's console uses, if
    /// it is memory-mapped and known.
    fn console_uart() -> Option<(usize, usize)>;
    /// Where the host's own virtio-mmio devices may be when its device
    /// tree names none (the platform config's windows, as `(base, size)`);
    /// `None`: the host's virtio devices are on PCI, which the hypervisor
    /// does not search.
    fn host_virtio_windows() -> Option<&'static [(usize, usize)]> {
        Some(&[])
    }
    /// The host interrupt number (as `axhal::irq` takes it) of a host
    /// device whose device-tree `interrupts` specifier is `cells`; `None`
    /// if it is not one this host's interrupt controller takes.
    fn host_irq_of(_cells: &[u32]) -> Option<usize> {
        None
    }
    /// Has `handler` run each time host interrupt `irq` (of a device the
    /// hypervisor drives itself) fires; after `init_host_interrupts` and
    /// this CPU's `init_this_cpu`. False if it cannot be had.
    fn register_host_irq(irq: usize, handler: fn()) -> bool {
        axhal::irq::register(irq, handler)
    }
    /// Fails unless this CPU can host VMs.
    fn hardware_check() -> Result<(), HardwareError>;
    /// Finds the host interrupt controller and installs the handlers that
    /// forward interrupts to guests; once, before any VM exists.
    fn init_host_interrupts() -> Result<(), IrqSetupError>;
    /// Per-CPU setup, on each CPU once virtualization is on.
    fn init_this_cpu();
    /// Whether axvm's per-CPU state turns virtualization on for a CPU
    /// (else `init_this_cpu` does it all).
    fn per_cpu_via_axvm() -> bool {
        true
    }
    /// Whether this host's vCPUs report a first touch of unbacked guest
    /// RAM (`Exit::RamMiss`), so RAM is zeroed and mapped on demand; else
    /// all of it is backed when the VM is created.
    fn ram_on_first_touch() -> bool {
        true
    }
    /// Whether VMs can run on this host, or why not.
    fn vms_supported() -> Result<(), &'static str> {
        Ok(())
    }
    /// Whether axvm creates the VM's vCPUs (else axvm gets none and
    /// `create_vcpus` makes them all).
    fn vcpus_from_axvm() -> bool {
        true
    }
    /// Hands a physical interrupt that made a vCPU exit to the host.
    fn handle_host_irq(vector: usize);
    /// Interrupts physical CPU `pcpu` so that it notices queued work.
    fn kick_cpu(pcpu: usize);
    /// Forwards physical interrupt `irq` of a passthrough device to VM `vm`.
    fn forward_device_irq(vm: usize, irq: usize) -> Result<(), ForwardError>;
    /// Takes back what `forward_device_irq` gave VM `vm`.
    fn release_device_irqs(vm: usize);
    /// Lets VM `vm`'s forwarded interrupts in again at the host (after a
    /// reset dropped the guest's unfinished ones).
    fn reenable_device_irqs(vm: usize);
    /// Builds the device tree of a VM whose config asks for one.
    fn generate_dtb(config: &AxVMCrateConfig, ramdisk_size: Option<usize>) -> Result<Vec<u8>, DtbError>;
    /// Builds the device tree of a VM whose config names host device-tree
    /// paths (upstream AxVisor's style) from the host's tree, with the
    /// devices `selection` picks.
    fn derive_dtb(
        _config: &AxVMCrateConfig,
        _ramdisk_size: Option<usize>,
        _host: &HostTree<'_>,
        _selection: &Selection<'_>,
    ) -> Result<Vec<u8>, DtbError> {
        Err(DtbError::Unsupported)
    }
    /// The virtual interrupt controller of a VM whose config passes the
    /// host's through (`interrupt_mode = "passthrough"`): one at the host
    /// controller's own addresses. `None` where that is not supported.
    fn passthrough_irqchip() -> Option<EmulatedDeviceConfig> {
        None
    }
    /// Makes bytes the hypervisor wrote visible to a guest that starts
    /// with its caches off.
    fn clean_dcache(bytes: &[u8]);
    /// This CPU starts (`true`) or stops being shared by several vCPUs:
    /// a vCPU idling in the guest (WFI) should then exit and yield.
    fn cpu_shared(shared: bool);
    /// Zeroes guest RAM the hypervisor is about to map and makes the
    /// zeroes visible to a guest that runs with its caches off.
    fn zero_ram(bytes: &mut [u8]);
    /// Makes stage-2 entries just added visible to the VM's vCPUs (an
    /// entry that was invalid needs no invalidation, only ordering).
    fn stage2_added();
    /// Drops every cached stage-2 translation after entries were removed
    /// or changed.
    fn stage2_removed();
    /// Creates the vCPUs of a VM.
    fn create_vcpus(setup: &VcpuSetup<'_>) -> Result<Vec<Self::Vcpu>, VcpuError>;
    /// Runs `create` (axvm's `AxVM::new`, which allocates the VM's stage-2
    /// root): where the stage-2 root is not the page-table crate's shape,
    /// the architecture prepares it here (see [`Stage2Frames`]).
    fn new_address_space<R>(create: impl FnOnce() -> R) -> R {
        create()
    }
    /// Makes `[gpa, gpa + size)` non-executable in the stage-2 tables at
    /// `stage2_root`, where the page-table crate does not do it from the
    /// mapping flags; before any vCPU of the VM runs. The number of
    /// mappings that were not entirely inside the range (left executable).
    fn forbid_execute(stage2_root: HostPhysAddr, gpa: usize, size: usize) -> usize;
}

/// What a vCPU offers the VMM's vCPU loop; the exit dispatcher reaches it
/// through [`GuestVcpu`].
pub trait VcpuOps: GuestVcpu + Send + Sync {
    /// Loads the vCPU onto this physical CPU (its task is pinned here).
    fn bind(&self) -> Result<(), VcpuError>;
    /// Takes the vCPU off this physical CPU: it is turning off or its VM
    /// stops. Whatever it left in the CPU is cleared.
    fn unbind(&self) -> Result<(), VcpuError>;
    /// Runs the guest until its next exit, decoded for the VMM: a stage-2
    /// miss inside `ram` is an `Exit::RamMiss`, any other unmapped access
    /// one to emulated memory.
    fn run(&self, cpus: &CpuMap, ram: &RamMap) -> Result<Exit, VcpuError>;
    /// Points a vCPU that is being started at `entry` with `arg`.
    fn prepare_start(&self, vcpu_id: usize, entry: u64, arg: u64) -> Result<(), VcpuError>;
    /// When the guest's own timer fires (host monotonic time), if the
    /// hardware delivers it to the guest without the host hearing of it
    /// and it is armed; a vCPU that waits for an interrupt must then wake
    /// at that time by itself. `None` where the host forwards the timer.
    fn timer_deadline(&self) -> Option<Duration>;
    /// Makes `vector` pending for the vCPU about to run on this CPU, at
    /// `priority` (`None`: the architecture's default); false if it must
    /// stay queued.
    fn inject(&self, vector: usize, priority: Option<u8>) -> bool;
    /// Whether the vCPU, waiting for an interrupt (WFI, a retentive
    /// suspend) with what was queued for it injected, resumes; by default
    /// on any wake-up event.
    fn wake_up(&self) -> WakeUp {
        WakeUp::AnyEvent
    }
}

/// What a waiting vCPU does next ([`VcpuOps::wake_up`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code, reason = "architectures that judge wake-ups themselves make the other variants")]
pub enum WakeUp {
    /// An interrupt it enables is pending: it resumes.
    Now,
    /// It waits for one; its own timer brings one at `timer` (host
    /// monotonic time), if armed and enabled.
    Wait {
        /// When its timer fires.
        timer: Option<Duration>,
    },
    /// Any wake-up event resumes it: something queued for it, its timer's
    /// deadline ([`VcpuOps::timer_deadline`]).
    AnyEvent,
}

// An architecture without one (an uninhabited type) never calls the methods.
#[allow(dead_code)]
/// A VM's emulated interrupt controller: a register model plus the
/// routing decisions the VMM asks of it. Its lock is taken in interrupt
/// context, so it is interrupt-safe.
pub trait IrqChipOps: Sized + Send + Sync {
    /// Whether an `emu_devices` entry is an interrupt controller.
    fn is_irqchip(dev: &EmulatedDeviceConfig) -> bool;
    /// Builds the controller an `emu_devices` entry describes, for VM
    /// `vm` with `vcpus` vCPUs.
    fn create(dev: &EmulatedDeviceConfig, vm: usize, vcpus: usize) -> Result<Self, IrqChipError>;
    /// Puts the controller back in its reset state (a VM reset).
    fn reset(&self);
    /// A host frame the VM must map at a guest address (a virtual CPU
    /// interface), if the controller has one.
    fn guest_window(&self) -> Option<DeviceWindow>;
    /// The controller's offset of `gpa`, if it decodes it.
    fn offset_of(&self, gpa: u64) -> Option<usize>;
    /// A guest read of `width` bytes at `offset`.
    fn read(&self, vcpu: usize, offset: usize, width: u8) -> u64;
    /// A guest write; an inter-processor interrupt it raises comes back.
    fn write(&self, vcpu: usize, offset: usize, width: u8, value: u64) -> Option<Ipi>;
    /// A guest write of `value` to trapped system register `encoding`:
    /// `None` if the register is not the controller's, else the
    /// inter-processor interrupt it raises, if any.
    fn sysreg_write(&self, _vcpu: usize, _encoding: u64, _value: u64) -> Option<Option<Ipi>> {
        None
    }
    /// The vCPU device interrupt `irq` goes to and the vector it is
    /// injected as, or `None` if the controller drops it (a masked pin).
    fn device_irq_route(&self, irq: usize) -> Option<(usize, usize)>;
    /// The priority to inject `vector` at on `vcpu`, or `None` while the
    /// guest holds it back.
    fn deliverable(&self, vcpu: usize, vector: usize) -> Option<u8>;
}

/// `bytes` cut for zeroing by cache block: an unaligned head, a
/// `block`-aligned body that is a whole number of `stride`-byte loop turns,
/// and the tail.
#[allow(dead_code, reason = "for the architectures that zero by cache block")]
fn split_for_blocks(bytes: &mut [u8], block: usize, stride: usize) -> (&mut [u8], &mut [u8], &mut [u8]) {
    let start = bytes.as_ptr() as usize;
    let head = (start.next_multiple_of(block) - start).min(bytes.len());
    let (head, rest) = bytes.split_at_mut(head);
    let body = rest.len() / stride * stride;
    let (body, tail) = rest.split_at_mut(body);
    (head, body, tail)
}

/// A host physical frame mapped into a guest.
#[derive(Debug, Clone, Copy)]
pub struct DeviceWindow {
    /// Guest-physical address.
    pub gpa: usize,
    /// Host-physical address.
    pub hpa: HostPhysAddr,
    /// Size in bytes.
    pub size: usize,
}

/// What creating a VM's vCPUs takes.
#[allow(dead_code, reason = "each architecture reads the part its vCPUs need")]
pub struct VcpuSetup<'a> {
    /// The VM's id.
    pub vm_id: usize,
    /// How many vCPUs the VM has.
    pub count: usize,
    /// The vCPUs axvm created for the VM (none where
    /// `ArchOps::vcpus_from_axvm` says so).
    pub axvm_vcpus: &'a [AxvmVcpuRef],
    /// Root of the VM's stage-2 translation tables.
    pub stage2_root: HostPhysAddr,
    /// Guest-physical entry point of vCPU 0.
    pub entry: u64,
    /// Guest-physical address of the device tree, if the VM has one.
    pub dtb: Option<u64>,
}

/// Which physical CPU each vCPU of a VM is placed on.
#[derive(Debug, Clone, Default)]
pub struct CpuMap {
    placements: Vec<(usize, usize)>,
}

impl CpuMap {
    /// A map from (vCPU id, physical CPU id) pairs.
    pub fn new(placements: Vec<(usize, usize)>) -> Self {
        Self { placements }
    }

    /// How many vCPUs the VM has.
    #[allow(dead_code, reason = "for the architectures whose calls name vCPUs by mask")]
    pub fn vcpu_count(&self) -> usize {
        self.placements.len()
    }

    /// The physical CPU of `vcpu`.
    pub fn pcpu_of(&self, vcpu: usize) -> Option<usize> {
        self.placements.iter().find(|(v, _)| *v == vcpu).map(|(_, p)| *p)
    }

    /// The vCPU with id `id`, if the VM has it.
    pub fn vcpu(&self, id: u64) -> Option<usize> {
        self.placements.iter().map(|(v, _)| *v).find(|v| *v as u64 == id)
    }
}
