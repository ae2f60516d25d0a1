//! Creating a VM from a checked config: memory, images, vCPUs, interrupt
//! controller, forwarded device interrupts. Nothing runs yet.

use alloc::sync::Arc;
use core::fmt;

use axaddrspace::{GuestPhysAddr, MappingFlags};
use axerrno::AxError;
use axvm::config::{AxVMConfig, VmMemMappingType};
use axvmconfig::{EmulatedDeviceConfig, PassThroughDeviceConfig};
use vmconfig_check::{Claim, ConfigError, Grant, Mapped, MappedKind, Span};

use super::images::{self, ImageData, VmSource};
#[cfg(feature = "fs")]
use super::disk::DiskError;
use super::console::VirtualUart;
use super::host_derived;
use super::power::PowerButton;
use super::virtio::{VirtioError, VirtioMmio};
use super::vm::{AxVm, Vcpu, Vm, VmDevices};
use crate::hal::arch::{Arch, ArchOps, CpuMap, IrqChip, IrqChipOps, VcpuSetup};
use crate::hal::{self, DtbError, GuestRam, IrqChipError, RamError};

/// Why a VM could not be created.
#[derive(Debug)]
pub enum VmError {
    /// The config file could not be read at build time.
    Unreadable,
    /// The config failed validation.
    Config(ConfigError),
    /// This host cannot run VMs (the reason).
    HostCannotRun(&'static str),
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
    Dtb(DtbError),
    /// Reading an image from the boot disk failed.
    #[cfg(feature = "fs")]
    Disk(DiskError),
    /// A vCPU is pinned to a physical CPU the host does not have.
    NoSuchCpu {
        /// Index in `base.phys_cpu_ids`.
        index: usize,
        /// The CPU it names.
        cpu: usize,
        /// CPUs the host has.
        cpus: usize,
    },
    /// A passthrough range's host pages are host RAM.
    PassthroughRam(Mapped),
    /// Every VM id is taken.
    NoFreeId,
    /// A virtio device entry is wrong.
    Virtio {
        /// The entry's name.
        name: alloc::string::String,
        /// Its type.
        ty: axvmconfig::EmulatedDeviceType,
        /// What is wrong.
        why: VirtioError,
    },
    /// A `[[devices.virtual]]` device could not be made.
    VirtualDevice {
        /// `devices.virtual[i]`.
        field: alloc::string::String,
        /// What is wrong.
        why: VirtioError,
    },
    /// An image does not fit in one memory region.
    ImagePlacement {
        /// Guest-physical load address.
        load: usize,
        /// Image size.
        size: usize,
    },
    /// A passthrough device is another running VM's.
    DeviceTaken(vmconfig_check::DeviceTaken),
    /// Guest RAM could not be allocated or mapped.
    Ram(RamError),
    /// Its vCPUs could not be created.
    Vcpus(crate::hal::VcpuError),
    /// A step of VM creation failed in the VM-management crates.
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
            Self::HostCannotRun(why) => write!(f, "this host cannot run it: {why}"),
            Self::Unsupported { field, what } => write!(f, "{field}: {what}"),
            Self::IrqChip(e) => write!(f, "devices.emu_devices: {e}"),
            Self::Dtb(e) => write!(f, "{e}"),
            #[cfg(feature = "fs")]
            Self::Disk(e) => write!(f, "{e}"),
            Self::NoSuchCpu { index, cpu, cpus } => {
                write!(f, "base.phys_cpu_ids[{index}] = {cpu}: the host has {cpus} CPU(s), 0 to {}", cpus - 1)
            }
            Self::PassthroughRam(m) => {
                write!(f, "{}", m.kind)?;
                if !m.name.is_empty() {
                    write!(f, " = \"{}\"", m.name)?;
                }
                write!(f, " at {}: host RAM; a guest never gets the hypervisor's or another VM's memory", m.range)
            }
            Self::Virtio { name, ty, why } => write!(f, "devices.emu_devices \"{name}\" ({ty}): {why}"),
            Self::VirtualDevice { field, why } => write!(f, "{field}: {why}"),
            Self::NoFreeId => write!(f, "base.id: every VM id (1 to {}) is taken", vmconfig_check::MAX_VM_ID),
            Self::ImagePlacement { load, size } => {
                write!(f, "kernel: an image of {size:#x} bytes at {load:#x} does not fit in one memory region")
            }
            Self::DeviceTaken(e) => write!(f, "{e}"),
            Self::Ram(e) => write!(f, "kernel.memory_regions: {e}"),
            Self::Vcpus(e) => write!(f, "base.cpu_num: a vCPU {e}"),
            Self::Create { step, error } => write!(f, "{step} failed: {error:?}"),
        }
    }
}

impl VmError {
    /// The config field at fault and the value it holds, where the error
    /// is about one field.
    pub fn field_and_value(&self) -> (Option<alloc::string::String>, Option<alloc::string::String>) {
        use alloc::string::{String, ToString};
        match self {
            Self::Config(e) => (e.field().map(String::from), e.value()),
            Self::Unsupported { field, .. } => (Some((*field).into()), None),
            Self::NoSuchCpu { index, cpu, .. } => (Some(alloc::format!("base.phys_cpu_ids[{index}]")), Some(cpu.to_string())),
            Self::NoFreeId => (Some("base.id".into()), None),
            Self::Virtio { name, .. } => (Some("devices.emu_devices".into()), Some(name.clone())),
            Self::VirtualDevice { field, .. } => (Some(field.clone()), None),
            Self::IrqChip(_) => (Some("devices.emu_devices".into()), None),
            Self::Ram(_) => (Some("kernel.memory_regions".into()), None),
            Self::Vcpus(_) => (Some("base.cpu_num".into()), None),
            _ => (None, None),
        }
    }
}

/// What a VM loads at boot, kept for the resets the guest asks for.
pub struct BootImages {
    /// Kernel, BIOS, device tree, ramdisk.
    images: images::Images,
    /// Where each goes.
    loads: [Option<usize>; 4],
    /// vCPU 0's entry point.
    pub entry: u64,
    /// x0 / a1 at entry: the device tree's address, or 0.
    pub dtb: u64,
}

/// Bytes of an image copied into guest RAM per hold of the VM's RAM lock,
/// which keeps interrupts off: a hold then backs (zeroes and maps) at most
/// one chunk and copies this much, whatever the image's size.
const LOAD_PIECE: usize = 64 * 1024;

/// Gives the VM clean RAM (every chunk unmapped, zeroed again on its next
/// touch) and loads its images again, for a reset; no vCPU of it runs, so
/// the RAM lock is taken a piece at a time and the CPU keeps taking
/// interrupts in between (a disk image is read outside it).
pub fn reload(vm: &Vm) -> Result<Reloaded, VmError> {
    let start = hal::now();
    let backed = vm.ram.lock().take_backed();
    let mut done = Reloaded { pieces: 0, longest_hold: hal::now() - start };
    hal::unmap_chunks(&vm.ax, &backed).map_err(VmError::Ram)?;
    load_images(&vm.boot.images, vm.boot.loads, |gpa, bytes| {
        let start = hal::now();
        let loaded = vm.ram.lock().load(&vm.ax, gpa, bytes.len() as u64, |dest| dest.copy_from_slice(bytes));
        done.longest_hold = done.longest_hold.max(hal::now() - start);
        done.pieces += 1;
        loaded
    })?;
    Ok(done)
}

/// How a reload went: how many times the RAM lock was taken to copy
/// images, and the longest it was held (interrupts off).
pub struct Reloaded {
    /// Image pieces copied.
    pub pieces: usize,
    /// The longest hold of the RAM lock.
    pub longest_hold: core::time::Duration,
}

/// Copies each image to its load address, [`LOAD_PIECE`] bytes per call
/// of `store(gpa, bytes)`.
fn load_images(
    images: &images::Images,
    loads: [Option<usize>; 4],
    mut store: impl FnMut(u64, &[u8]) -> Result<(), RamError>,
) -> Result<(), VmError> {
    for (image, load) in images.iter().zip(loads) {
        let (Some(image), Some(load)) = (image, load) else { continue };
        let size = image.len();
        let mut reader = images::ImageReader::new(image)?;
        let mut offset = 0;
        while offset < size {
            let len = LOAD_PIECE.min(size - offset);
            match store((load + offset) as u64, reader.piece(offset, len)?) {
                Ok(()) => {}
                Err(RamError::NotRam { .. }) => return Err(VmError::ImagePlacement { load, size }),
                Err(e) => return Err(VmError::Ram(e)),
            }
            offset += len;
        }
        debug!("loaded {size:#x} bytes at GPA {load:#x}");
    }
    Ok(())
}

fn step(step: &'static str) -> impl FnOnce(AxError) -> VmError {
    move |error| VmError::Create { step, error }
}

/// Creates a VM from a config: checks it, allocates and maps its memory,
/// loads its images and sets up its vCPUs and interrupt controller.
pub fn create(source: &VmSource) -> Result<Arc<Vm>, VmError> {
    Arch::vms_supported().map_err(VmError::HostCannotRun)?;
    let text = source.text.as_deref().ok_or(VmError::Unreadable)?;
    let (mut parsed, placed) = vmconfig_check::parse_placed(text, Arch::VIRTIO_SLOTS.as_ref()).map_err(VmError::Config)?;
    vmconfig_check::check_address_width(&parsed, Arch::GUEST_PHYS_BITS).map_err(VmError::Config)?;
    let tree_paths = host_derived::resolve(&mut parsed)?;
    // Passthrough that came from the host's tree is mapped in whole pages:
    // none may cover a virtio window, which must trap.
    for (field, base) in placed.windows() {
        let page = |a: u64| a & !(vmconfig_check::PAGE as u64 - 1);
        let covering = parsed.devices.passthrough_devices.iter().find(|p| {
            let (start, end) = (page(p.base_gpa as u64), (p.base_gpa as u64).saturating_add(p.length as u64));
            start < base + vmconfig_check::VIRTIO_WINDOW && page(base) < end
        });
        if let Some(p) = covering {
            return Err(VmError::VirtualDevice { field, why: VirtioError::PassedThrough(p.name.clone()) });
        }
    }
    let mut images = source.images(&parsed)?;
    if vmconfig_check::wants_generated_dtb(&parsed) {
        let ramdisk = images[3].as_ref().map(ImageData::len);
        let dtb = match &tree_paths {
            Some(paths) => host_derived::device_tree(&parsed, ramdisk, paths)?,
            None => Arch::generate_dtb(&parsed, ramdisk).map_err(VmError::Dtb)?,
        };
        images[2] = Some(ImageData::Generated(dtb));
    }
    let checked = vmconfig_check::validate(parsed, &images::sizes(&images)).map_err(VmError::Config)?;
    let mut cfg = checked.config;
    let cpus = hal::cpu_count();
    for (index, &cpu) in cfg.base.phys_cpu_ids.iter().flatten().enumerate() {
        if cpu >= cpus {
            return Err(VmError::NoSuchCpu { index, cpu, cpus });
        }
    }
    if let Some(existing) = super::find(cfg.base.id) {
        let id = super::free_id().ok_or(VmError::NoFreeId)?;
        warn!(
            "VM config {}: base.id = {} is VM[{}] {}'s already: this VM is VM[{id}]",
            source.file, cfg.base.id, existing.id, existing.name
        );
        cfg.base.id = id;
    }
    // The interrupt controller is ours, not axdevice's; so are the
    // console's UART and the power button.
    // Shared-memory channels are ours too (axdevice has a stub for type 0xA).
    let channel_specs = vmconfig_check::channels_of(&cfg).map_err(VmError::Config)?;
    if !channel_specs.is_empty() && !Arch::SHARED_CHANNELS {
        return Err(VmError::Unsupported { field: "devices.emu_devices", what: "shared-memory channels (type 0xA) are not available on this architecture yet" });
    }
    cfg.devices.emu_devices.retain(|dev| !vmconfig_check::is_channel(dev));
    let emu = &mut cfg.devices.emu_devices;
    let irqchip_config = take_device(emu, IrqChip::is_irqchip);
    let mut uart = take_device(emu, VirtualUart::is_console).map(|dev| VirtualUart::new(&dev));
    let power_button = take_device(emu, PowerButton::is_power_button).map(|dev| PowerButton::new(&dev));
    let mut virtio = alloc::vec::Vec::new();
    while let Some(dev) = take_device(emu, VirtioMmio::is_virtio) {
        let nics = virtio.iter().filter(|v: &&VirtioMmio| v.port().is_some()).count();
        let made = VirtioMmio::new(&dev, &placed, cfg.base.id, nics).map_err(|why| {
            match placed.windows().find(|(_, base)| *base == dev.base_gpa as u64) {
                Some((field, _)) => VmError::VirtualDevice { field, why },
                None => VmError::Virtio { name: dev.name.clone(), ty: dev.emu_type, why },
            }
        })?;
        virtio.push(made);
    }
    if let Some(console) = claim_devices(&mut cfg.devices)? {
        info!(
            "VM config {}: the console UART \"{}\" is another VM's: VM[{}] gets a virtual one at {:#x}",
            source.file, console.name, cfg.base.id, console.base_gpa
        );
        uart.get_or_insert_with(|| VirtualUart::at(console.base_gpa, console.length, console.irq_id));
    }
    let name = cfg.base.name.clone();
    let regions = cfg.kernel.memory_regions.clone();
    let passthrough = cfg.devices.passthrough_devices.clone();
    let entry = cfg.kernel.entry_point as u64;
    let k = &cfg.kernel;
    // Where each image of `images` goes, in the same order.
    let loads = [Some(k.kernel_load_addr), k.bios_load_addr, k.dtb_load_addr, k.ramdisk_load_addr];

    // What axvm maps: whole pages, at the host address equal to the guest's.
    let mapped = vmconfig_check::mapped_ranges(&cfg).map_err(VmError::Config)?;
    if let Some(m) = mapped.iter().find(|m| hal::is_host_ram(m.range.start, m.range.end - m.range.start)) {
        return Err(VmError::PassthroughRam(m.clone()));
    }
    let vcpu_count = cfg.base.cpu_num;
    let placements = AxVMConfig::from(cfg.clone()).phys_cpu_ls_mut().get_vcpu_affinities_pcpu_ids();
    let placements = placements.into_iter().map(|(v, _, p)| (v, p)).collect();
    if !Arch::vcpus_from_axvm() {
        // axvm then sets up the address space and devices, and no vCPU.
        cfg.base.cpu_num = 0;
        cfg.base.phys_cpu_ids = None;
        cfg.base.phys_cpu_sets = None;
    }
    let ax = Arch::new_address_space(|| AxVm::new(AxVMConfig::from(cfg))).map_err(step("creating the VM"))?;
    // Validation refuses map_type 2 (reserved host memory).
    let flags = |f: usize| MappingFlags::from_bits_truncate(f);
    let identity = |t: &VmMemMappingType| *t == VmMemMappingType::MapIdentical;
    let specs = regions.iter().map(|r| (r.gpa as u64, r.size as u64, flags(r.flags), identity(&r.map_type)));
    let mut ram = GuestRam::new(specs).map_err(VmError::Ram)?;
    for (i, (region, mapped)) in regions.iter().zip(ram.identity_mapped()).enumerate() {
        match (identity(&region.map_type), mapped) {
            (true, true) => info!("VM[{}] {name}: RAM [{:#x}, +{:#x}) identity-mapped", ax.id(), region.gpa, region.size),
            (true, false) => warn!(
                "VM[{}] {name}: kernel.memory_regions[{i}] asks for identity mapping, but host memory at {:#x} cannot be had: \
                 backed from elsewhere (a device that DMAs into guest RAM would miss it)",
                ax.id(),
                region.gpa
            ),
            _ => {}
        }
    }
    if !Arch::ram_on_first_touch() {
        ram.back_all(&ax).map_err(VmError::Ram)?;
    }
    load_images(&images, loads, |gpa, bytes| ram.load(&ax, gpa, bytes.len() as u64, |dest| dest.copy_from_slice(bytes)))?;

    ax.init().map_err(step("setting up vCPUs and devices"))?;
    let channels = super::channel::join(&channel_specs, &ax, &name)?;
    let cpu_map = CpuMap::new(placements);
    let setup = VcpuSetup {
        vm_id: ax.id(),
        count: vcpu_count,
        axvm_vcpus: ax.vcpu_list(),
        stage2_root: ax.ept_root(),
        entry,
        dtb: loads[2].map(|d| d as u64),
    };
    let vcpus = Arch::create_vcpus(&setup).map_err(VmError::Vcpus)?;
    let vcpus = vcpus.into_iter().enumerate().map(|(id, hw)| Vcpu::new(hw, id == 0)).collect();
    let irqchip = match &irqchip_config {
        Some(dev) => Some(irqchip(&ax, dev, vcpu_count)?),
        None => None,
    };
    // `Arch::vms_supported` checked the hardware (axvm's own `boot` knows
    // only the virtualization extensions of its vCPU crates).
    ax.set_vm_status(axvm::VMStatus::Running);
    let boot = BootImages {
        images,
        loads,
        entry,
        dtb: loads[2].unwrap_or(0) as u64,
    };
    let claims = mapped.iter().map(|m| m.range).collect();
    let vm = Vm::new(ax, name, vcpus, cpu_map, ram, VmDevices { irqchip, uart, power_button, passthrough: claims, virtio, channels }, boot);
    // Device interrupts go to VMs that have an interrupt controller to
    // take them; one VM per interrupt.
    if vm.irqchip.is_some() {
        for dev in passthrough.iter().filter(|d| d.irq_id >= Arch::FIRST_DEVICE_IRQ) {
            if let Err(why) = Arch::forward_device_irq(vm.id, dev.irq_id) {
                warn!("VM[{}] {}: interrupt {} of {} not forwarded: {why}", vm.id, vm.name, dev.irq_id, dev.name);
            }
        }
    }
    info!("VM[{}] {} created: {} vCPU(s)", vm.id, vm.name, vm.vcpus.len());
    let vm = Arc::new(vm);
    super::net::attach_vm(&vm);
    Ok(vm)
}

/// Takes the first device `is_it` picks out of `devices`.
fn take_device(devices: &mut alloc::vec::Vec<EmulatedDeviceConfig>, is_it: impl Fn(&EmulatedDeviceConfig) -> bool) -> Option<EmulatedDeviceConfig> {
    devices.iter().position(is_it).map(|index| devices.remove(index))
}

/// Checks a new VM's passthrough ranges against the host pages running
/// VMs hold. The host console UART, if another VM has it, is taken out of
/// the device list and returned: the VM gets a virtual UART there.
fn claim_devices(devices: &mut axvmconfig::VMDevicesConfig) -> Result<Option<PassThroughDeviceConfig>, VmError> {
    let taken: alloc::vec::Vec<Claim> = super::all_vms()
        .iter()
        .filter(|vm| vm.holds_devices())
        .flat_map(|vm| vm.passthrough.iter().map(|&range| Claim { vm: vm.id, range }))
        .collect();
    // Reading the host's device tree costs; only a taken device needs it.
    let console = || Arch::console_uart().map(|(start, size)| Span { start, end: start.saturating_add(size) });
    let mapped = vmconfig_check::mapped_ranges_of(devices).map_err(VmError::Config)?;
    let grants = vmconfig_check::grant(&mapped, &taken, console).map_err(VmError::DeviceTaken)?;
    let console = mapped.iter().zip(&grants).find_map(|(m, g)| match (m.kind, g) {
        (MappedKind::Device(index), Grant::VirtualConsole) => Some(index),
        _ => None,
    });
    Ok(console.map(|index| devices.passthrough_devices.remove(index)))
}

/// The VM's interrupt controller, with its host window mapped in.
fn irqchip(ax: &AxVm, dev: &EmulatedDeviceConfig, vcpus: usize) -> Result<IrqChip, VmError> {
    let chip = IrqChip::create(dev, ax.id(), vcpus).map_err(VmError::IrqChip)?;
    if let Some(window) = chip.guest_window() {
        let flags = MappingFlags::DEVICE | MappingFlags::READ | MappingFlags::WRITE | MappingFlags::USER;
        ax.map_region(GuestPhysAddr::from(window.gpa), window.hpa, window.size, flags)
            .map_err(|e| VmError::IrqChip(IrqChipError::Map(e)))?;
    }
    Ok(chip)
}
