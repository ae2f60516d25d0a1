//! One VM: creation from a checked config, its memory and images, and the
//! per-vCPU bookkeeping the VMM keeps beside axvm's own state.

use alloc::{boxed::Box, string::{String, ToString}, sync::Arc, vec::Vec};
use core::alloc::Layout;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use axaddrspace::GuestPhysAddr;
use axerrno::{AxError, AxResult};
use axtask::WaitQueue;
use axvm::config::{AxVMConfig, VmMemMappingType};
use spin::Mutex;
use vmconfig_check::ConfigError;

use super::images::{self, ImageData, VmSource};
use crate::hal::{HalImpl, IrqChipError, VCpuHalImpl, arch};

/// The VM type of this hypervisor.
pub type Vm = axvm::AxVM<HalImpl, VCpuHalImpl>;
/// A guest CPU of a [`Vm`] (the arch module's kind).
pub type VCpu = arch::GuestCpu;

/// Guest RAM is allocated with this alignment, so stage-2 can use blocks.
const RAM_ALIGN: usize = 0x20_0000;

/// Why a VM could not be created.
#[derive(Debug)]
pub enum VmError {
    /// The config file could not be read at build time.
    Unreadable,
    /// The config failed validation.
    Config(ConfigError),
    /// The config asks for something this build does not do.
    Unsupported {
        /// Field path.
        field: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// The emulated interrupt controller could not be set up.
    IrqChip(IrqChipError),
    /// The device tree could not be generated.
    Dtb(String),
    /// Reading an image from the boot disk failed.
    #[cfg_attr(not(feature = "fs"), allow(dead_code))]
    Disk(String),
    /// A step of VM creation failed in the hypervisor.
    Create {
        /// The step.
        step: &'static str,
        /// The error it returned.
        error: AxError,
    },
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable => write!(f, "the file could not be read when the hypervisor was built"),
            Self::Config(e) => write!(f, "{e}"),
            Self::Unsupported { field, what } => write!(f, "{field}: {what}"),
            Self::IrqChip(e) => write!(f, "devices.emu_devices: {e}"),
            Self::Dtb(e) | Self::Disk(e) => write!(f, "{e}"),
            Self::Create { step, error } => write!(f, "{step} failed: {error:?}"),
        }
    }
}

fn step(step: &'static str) -> impl FnOnce(AxError) -> VmError {
    move |error| VmError::Create { step, error }
}

/// Why a VM stopped.
#[derive(Debug, Clone)]
pub enum StopReason {
    /// The guest powered off.
    PowerOff,
    /// The guest asked for a reset, which stops it (reset is not emulated).
    Reset,
    /// The guest did something the hypervisor cannot allow or handle.
    Fault(String),
}

/// The VMM's state for one vCPU.
pub struct VcpuSlot {
    /// Interrupt vectors waiting to be injected (bit per vector, 0..256).
    pending: [AtomicU64; 4],
    /// Whether the vCPU is on (between CPU_ON and CPU_OFF).
    online: AtomicBool,
    /// Where an offline vCPU task waits to be started or kicked.
    pub wake: WaitQueue,
    /// Entry and argument given by the CPU_ON that started it.
    pub start: Mutex<Option<(u64, u64)>>,
}

impl VcpuSlot {
    fn new(online: bool) -> Self {
        Self {
            pending: Default::default(),
            online: AtomicBool::new(online),
            wake: WaitQueue::new(),
            start: Mutex::new(None),
        }
    }

    /// Whether the vCPU is on.
    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    /// Marks the vCPU on or off.
    pub fn set_online(&self, on: bool) {
        self.online.store(on, Ordering::Release);
    }

    /// Whether any interrupt is queued.
    pub fn has_pending(&self) -> bool {
        self.pending.iter().any(|w| w.load(Ordering::Acquire) != 0)
    }

    /// Offers every queued vector to `deliver`, lowest first; those it
    /// refuses (returns false for) stay queued.
    pub fn drain_pending(&self, mut deliver: impl FnMut(usize) -> bool) {
        for (word_index, word) in self.pending.iter().enumerate() {
            let mut bits = word.swap(0, Ordering::AcqRel);
            let mut kept = 0u64;
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if !deliver(word_index * 64 + bit) {
                    kept |= 1 << bit;
                }
            }
            if kept != 0 {
                word.fetch_or(kept, Ordering::AcqRel);
            }
        }
    }
}

/// A VM and what the VMM tracks beside it.
pub struct VmEntry {
    /// The axvm VM.
    pub vm: Arc<Vm>,
    /// Name from the config.
    pub name: String,
    /// Per-vCPU state, indexed by vCPU id.
    pub vcpus: Box<[VcpuSlot]>,
    /// The guest CPUs, indexed by vCPU id.
    pub cpus: Box<[VCpu]>,
    /// (vCPU id, physical CPU id) for every vCPU.
    pub placements: Vec<(usize, usize)>,
    /// The emulated interrupt controller, if the config has one.
    pub irqchip: Option<arch::VirtualIrqChip>,
    stop_reason: Mutex<Option<StopReason>>,
    /// Set once `stop_reason` is; read lock-free on every vCPU loop turn.
    stop_requested: AtomicBool,
    /// vCPU tasks that have not yet returned.
    pub live_tasks: AtomicUsize,
}

impl VmEntry {
    /// Physical CPU a vCPU runs on.
    pub fn placement(&self, vcpu_id: usize) -> Option<usize> {
        self.placements.iter().find(|(v, _)| *v == vcpu_id).map(|(_, p)| *p)
    }

    /// vCPUs that are on.
    pub fn online_vcpus(&self) -> usize {
        self.vcpus.iter().filter(|s| s.is_online()).count()
    }

    /// Queues `vector` for `vcpu_id` and wakes it if it waits; a vCPU on
    /// another CPU is kicked, as it may be in the guest (or that CPU idle).
    pub fn queue_interrupt(&self, vcpu_id: usize, vector: usize) -> AxResult {
        let slot = self.vcpus.get(vcpu_id).ok_or(AxError::InvalidInput)?;
        let word = slot.pending.get(vector / 64).ok_or(AxError::InvalidInput)?;
        word.fetch_or(1 << (vector % 64), Ordering::AcqRel);
        slot.wake.notify_one(false);
        match self.placement(vcpu_id) {
            Some(pcpu) if pcpu != axhal::percpu::this_cpu_id() => arch::kick_cpu(pcpu),
            _ => {}
        }
        Ok(())
    }

    /// Wakes a vCPU task that waits.
    pub fn kick(&self, vcpu_id: usize) {
        if let Some(slot) = self.vcpus.get(vcpu_id) {
            slot.wake.notify_one(false);
        }
    }

    /// Stops the VM (first reason wins) and wakes every waiting vCPU task.
    pub fn stop(&self, reason: StopReason) {
        {
            let mut r = self.stop_reason.lock();
            if r.is_some() {
                return;
            }
            *r = Some(reason.clone());
            self.stop_requested.store(true, Ordering::Release);
        }
        let _ = self.vm.shutdown();
        arch::release_device_irqs(self.vm.id());
        match &reason {
            StopReason::PowerOff => info!("VM[{}] {} powered off", self.vm.id(), self.name),
            StopReason::Reset => warn!("VM[{}] {} asked for a reset; reset is not emulated, stopping it", self.vm.id(), self.name),
            StopReason::Fault(why) => error!("VM[{}] {} stopped: {why}", self.vm.id(), self.name),
        }
        for slot in self.vcpus.iter() {
            slot.wake.notify_all(false);
        }
    }

    /// Whether the VM has been told to stop.
    pub fn stopping(&self) -> bool {
        self.stop_requested.load(Ordering::Acquire)
    }

    /// How the VM ended, in words.
    pub fn outcome(&self) -> String {
        match &*self.stop_reason.lock() {
            None => String::from("still running"),
            Some(StopReason::PowerOff) => String::from("powered off"),
            Some(StopReason::Reset) => String::from("asked for a reset (not emulated): stopped"),
            Some(StopReason::Fault(why)) => alloc::format!("stopped on a fault: {why}"),
        }
    }

    /// Whether the VM stopped because of a fault.
    pub fn faulted(&self) -> bool {
        matches!(*self.stop_reason.lock(), Some(StopReason::Fault(_)))
    }
}

/// Creates a VM from a config: checks it, allocates and maps its memory,
/// loads its images and sets up its vCPUs. Nothing runs yet.
pub fn create(source: &VmSource) -> Result<Arc<VmEntry>, VmError> {
    let text = source.text.as_deref().ok_or(VmError::Unreadable)?;
    let parsed = vmconfig_check::parse(text).map_err(VmError::Config)?;
    let mut images = source.images(&parsed)?;
    if vmconfig_check::wants_generated_dtb(&parsed) {
        let ramdisk = images[3].as_ref().map(ImageData::len);
        let dtb = arch::generate_dtb(&parsed, ramdisk).map_err(|e| VmError::Dtb(e.to_string()))?;
        images[2] = Some(ImageData::Generated(dtb));
    }
    let checked = vmconfig_check::validate(parsed, &images::sizes(&images)).map_err(VmError::Config)?;
    let mut cfg = checked.config;
    // The interrupt controller is ours, not axdevice's.
    let irqchip_config = cfg.devices.emu_devices.iter().position(arch::is_irqchip).map(|i| cfg.devices.emu_devices.remove(i));
    let name = cfg.base.name.clone();
    let regions = cfg.kernel.memory_regions.clone();
    let passthrough = cfg.devices.passthrough_devices.clone();
    let entry_point = cfg.kernel.entry_point as u64;
    let k = &cfg.kernel;
    // Where each image of `images` goes, in the same order.
    let loads = [Some(k.kernel_load_addr), k.bios_load_addr, k.dtb_load_addr, k.ramdisk_load_addr];

    let vm = Vm::new(AxVMConfig::from(cfg)).map_err(step("creating the VM"))?;
    for region in &regions {
        let layout = Layout::from_size_align(region.size, RAM_ALIGN).map_err(|_| VmError::Unsupported {
            field: "kernel.memory_regions",
            what: "region size overflows when aligned",
        })?;
        let gpa = Some(GuestPhysAddr::from(region.gpa));
        match region.map_type {
            VmMemMappingType::MapAlloc => vm.alloc_memory_region(layout, gpa).map(|_| ()),
            VmMemMappingType::MapReserved => vm.map_reserved_memory_region(layout, gpa).map(|_| ()),
            VmMemMappingType::MapIdentical => {
                return Err(VmError::Unsupported {
                    field: "kernel.memory_regions[].map_type",
                    what: "1 (identity) is not supported yet; use 0 (allocated)",
                });
            }
        }
        .map_err(step("allocating guest memory"))?;
    }

    for (image, load) in images.iter().zip(loads) {
        if let (Some(image), Some(load)) = (image, load) {
            load_image(&vm, load, image)?;
        }
    }

    vm.init().map_err(step("setting up vCPUs and devices"))?;
    let cpus = arch::create_vcpus(&vm, entry_point).into_boxed_slice();
    let irqchip = match &irqchip_config {
        Some(dev) => Some(arch::VirtualIrqChip::create(dev, &vm).map_err(VmError::IrqChip)?),
        None => None,
    };
    vm.boot().map_err(step("booting"))?;
    // Device interrupts go to VMs that have an interrupt controller to
    // take them; one VM per interrupt.
    if irqchip.is_some() {
        for dev in passthrough.iter().filter(|d| d.irq_id >= arch::FIRST_DEVICE_IRQ) {
            if let Err(why) = arch::forward_device_irq(vm.id(), dev.irq_id) {
                warn!("VM[{}] {name}: interrupt {} of {} not forwarded: {why}", vm.id(), dev.irq_id, dev.name);
            }
        }
    }
    let placements = vm
        .get_vcpu_affinities_pcpu_ids()
        .into_iter()
        .map(|(vcpu, _, pcpu)| (vcpu, pcpu))
        .collect();
    let vcpus = (0..vm.vcpu_num()).map(|id| VcpuSlot::new(id == 0)).collect();
    info!("VM[{}] {} created: {} vCPU(s)", vm.id(), name, vm.vcpu_num());
    Ok(Arc::new(VmEntry {
        vm,
        name,
        vcpus,
        cpus,
        placements,
        irqchip,
        stop_reason: Mutex::new(None),
        stop_requested: AtomicBool::new(false),
        live_tasks: AtomicUsize::new(0),
    }))
}

/// Copies `image` to guest-physical `load` through the host mapping of the
/// region that holds it.
fn load_image(vm: &Vm, load: usize, image: &ImageData) -> Result<(), VmError> {
    let region = vm
        .memory_regions()
        .into_iter()
        .find(|r| r.gpa.as_usize() <= load && load + image.len() <= r.gpa.as_usize() + r.size())
        .ok_or(VmError::Unsupported {
            field: "kernel",
            what: "an image does not fit in an allocated memory region",
        })?;
    let offset = load - region.gpa.as_usize();
    // SAFETY: the region [hva, hva + size) was allocated (or reserved) for
    // this VM and is mapped in the host; `offset + image.len() <= size` was
    // checked above, and no vCPU of this VM runs yet, so nothing else
    // refers to these bytes.
    let dest = unsafe { core::slice::from_raw_parts_mut(region.hva.as_mut_ptr().add(offset), image.len()) };
    image.copy_to(dest)?;
    crate::hal::arch::clean_dcache_range(dest.as_ptr(), dest.len());
    debug!("loaded {:#x} bytes at GPA {load:#x}", image.len());
    Ok(())
}
