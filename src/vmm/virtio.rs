//! The VM's own virtio devices (crates `virtio-core`, `virtio-blk`): a
//! virtio-mmio window whose registers are emulated here. The queues are
//! served in the exit of the vCPU that notified, against the VM's own RAM
//! only (`hal::read_mapped`/`write_mapped`); nothing a guest writes in a
//! descriptor reaches other memory.
//!
//! Config: `[[devices.virtual]]` virtio-blk tables (upstream's format,
//! placed by `vmconfig_check::parse_placed`): a RAM disk, or an image file
//! on the boot disk held in memory and written back on FLUSH, reset, stop
//! and exit (`disk_image`); and `emu_devices` entries of type 0xE1 (virtio block),
//! `["virtio-blk", base, 0x200, irq, 0xE1, [sectors]]`: a RAM disk of
//! `sectors` 512-byte sectors (at most [`MAX_RAM_DISK_SECTORS`]), zeroed;
//! and of type 0xE3 (virtio console, `hvc0`),
//! `["virtio-console", base, 0x200, irq, 0xE3, []]`: what the guest writes
//! goes to the VM's console (prefixed lines, `vm show`), what is typed in
//! `vm console ID` to the guest; and virtio-net devices, from
//! `[[devices.virtual]]` virtio-net tables or `emu_devices` entries of type
//! 0xE2, `["net0", base, 0x200, irq, 0xE2, [m0, m1, m2, m3, m4, m5]]` (the
//! MAC; without it one derived from the VM id): a port each on the
//! hypervisor's switch (`net`).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
use exit_dispatch::Emulated;
use l2_switch::{FrameQueue, PortId};
use virtio_blk::{BlkConfig, BlockBackend, MemBackend, SECTOR_SIZE, VirtioBlk};
use virtio_console::{ConsoleConfig, ConsoleSink, VirtioConsole};
use virtio_core::{GuestMemory, MemError, MmioTransport};
use virtio_net::{Delivery, NetConfig, VirtioNet};
use vmconfig_check::{DiskBackend, VirtualDevices, VirtualDisk};

use super::net::{self, NetError};
use super::vm::Vm;
use super::window::Window;
use crate::hal::{self, SleepLock};

/// The largest RAM disk a config may ask for: 64 MiB.
pub const MAX_RAM_DISK_SECTORS: usize = 128 * 1024;
/// A RAM disk's size when the entry gives none: 1 MiB.
const DEFAULT_RAM_DISK_SECTORS: usize = 2048;

/// At most 4 requests of at most 1 MiB each per hold of a device's lock
/// (preemption off): the rest of a notification's requests are served in
/// later holds of the same exit.
const BLK_LIMITS: BlkConfig = BlkConfig {
    queue_size: virtio_blk::DEFAULT_QUEUE_SIZE,
    max_request_bytes: virtio_blk::DEFAULT_MAX_REQUEST_BYTES,
    max_requests_per_notify: 4,
    ring_features: 0,
};

/// Why a virtio device could not be made.
#[derive(Debug)]
pub enum VirtioError {
    /// `cfg_list[0]` (the sector count) is out of range.
    Sectors(usize),
    /// The host has no memory for the RAM disk.
    NoMemory(usize),
    /// The window is smaller than the virtio-mmio registers.
    Window(usize),
    /// The window lies in a host device the VM gets passed through.
    PassedThrough(alloc::string::String),
    /// The image file could not be had.
    #[cfg(feature = "fs")]
    Image(super::disk_image::ImageError),
    /// An image file needs the boot disk.
    #[cfg(not(feature = "fs"))]
    NoBootDisk(alloc::string::String),
    /// The image's size is not what the config says, or no whole number of sectors.
    #[cfg(feature = "fs")]
    ImageSize { path: alloc::string::String, size: u64, capacity: Option<u64> },
    /// A NIC's `cfg_list` is no MAC.
    Mac(usize),
    /// The switch refused the NIC's port.
    Net(NetError),
}

impl core::fmt::Display for VirtioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Sectors(n) => write!(f, "cfg_list[0] = {n}: a RAM disk has 1 to {MAX_RAM_DISK_SECTORS} sectors"),
            Self::NoMemory(bytes) => write!(f, "no host memory for a RAM disk of {bytes:#x} bytes"),
            #[cfg(feature = "fs")]
            Self::Image(e) => write!(f, "{e}"),
            #[cfg(not(feature = "fs"))]
            Self::NoBootDisk(path) => {
                write!(f, "path = \"{path}\": image files are on the boot disk, which this build has not (build with FS=y)")
            }
            #[cfg(feature = "fs")]
            Self::ImageSize { path, size, capacity: Some(c) } => {
                write!(f, "capacity = {c:#x}: {path} has {size:#x} bytes")
            }
            #[cfg(feature = "fs")]
            Self::ImageSize { path, size, capacity: None } => write!(
                f,
                "path = \"{path}\": {size:#x} bytes is no whole number of 512-byte sectors (or over {:#x})",
                vmconfig_check::MAX_DISK_BYTES
            ),
            Self::PassedThrough(name) => {
                write!(f, "its virtio-mmio window lies in the pages of passthrough device \"{name}\"")
            }
            Self::Mac(n) => write!(f, "cfg_list has {n} entries: a NIC's is empty or its 6-octet unicast MAC"),
            Self::Net(e) => write!(f, "{e}"),
            Self::Window(len) => {
                write!(f, "length = {len:#x}: a virtio-mmio window has {:#x} bytes", virtio_core::mmio::MMIO_SIZE)
            }
        }
    }
}

/// Guest output of a virtio console, gathered while the device's lock is
/// held and handed to the VM's console after.
#[derive(Default)]
struct Captured(Vec<u8>);

impl ConsoleSink for Captured {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// What a block device keeps its sectors in: a RAM disk, a read-only
/// image or one whose writes are not kept (`MemBackend`), or an image file
/// written back on flush (`CachedImage`).
type Disk = alloc::boxed::Box<dyn BlockBackend + Send>;

/// The device model behind a virtio-mmio window.
enum Model {
    Blk(MmioTransport<VirtioBlk<Disk>>),
    Console(MmioTransport<VirtioConsole<Captured>>),
    Net(MmioTransport<VirtioNet>),
}

impl Model {
    fn reset(&mut self) {
        match self {
            Self::Blk(t) => t.reset(),
            Self::Console(t) => t.reset(),
            Self::Net(t) => t.reset(),
        }
    }

    fn read(&mut self, offset: u64, width: usize) -> u64 {
        match self {
            Self::Blk(t) => t.read(offset, width),
            Self::Console(t) => t.read(offset, width),
            Self::Net(t) => t.read(offset, width),
        }
    }

    fn write(&mut self, mem: &dyn GuestMemory, offset: u64, width: usize, value: u64) {
        match self {
            Self::Blk(t) => t.write(mem, offset, width, value),
            Self::Console(t) => t.write(mem, offset, width, value),
            Self::Net(t) => t.write(mem, offset, width, value),
        }
    }

    /// Whether a notification left work for another batch.
    fn has_pending(&self) -> bool {
        match self {
            Self::Blk(t) => t.device().has_pending(),
            Self::Console(t) => t.device().has_pending(),
            Self::Net(t) => t.device().has_pending(),
        }
    }

    /// Serves one more bounded batch of the work left.
    fn run_batch(&mut self, mem: &dyn GuestMemory) {
        match self {
            Self::Blk(t) => t.run_device(mem, |dev, queues, mem| dev.process(queues, mem)),
            Self::Console(t) => t.run_device(mem, |dev, queues, mem| dev.transmit(queues, mem)),
            Self::Net(t) => t.run_device(mem, |dev, queues, mem| dev.run_pending(queues, mem)),
        }
    }

    fn irq_level(&self) -> bool {
        match self {
            Self::Blk(t) => t.irq_level(),
            Self::Console(t) => t.irq_level(),
            Self::Net(t) => t.irq_level(),
        }
    }

    /// What a console's guest wrote since the last call.
    fn take_output(&mut self) -> Vec<u8> {
        match self {
            Self::Console(t) => core::mem::take(&mut t.device_mut().sink_mut().0),
            Self::Blk(_) | Self::Net(_) => Vec::new(),
        }
    }

    /// Whether a NIC's guest sent frames not yet routed.
    fn has_frames(&self) -> bool {
        matches!(self, Self::Net(t) if t.device().outbox_len() > 0)
    }

    /// Hands the frames a NIC's guest sent to `spare` (empty on entry).
    fn take_frames(&mut self, spare: &mut FrameQueue) {
        if let Self::Net(t) = self {
            t.device_mut().take_outbox(spare);
        }
    }
}

/// A NIC's port on the switch and the queue its sent frames are routed
/// from, with no lock of the device held.
struct NicPort {
    port: net::Port,
    /// Lock order: `outbox`, then the device's `model`, never the reverse.
    outbox: SleepLock<FrameQueue>,
}

/// One virtio-mmio device of a VM.
pub struct VirtioMmio {
    window: Window,
    /// The interrupt it raises through the VM's interrupt controller.
    pub irq: usize,
    /// A sleeping lock: a batch of a notification's work ([`BLK_LIMITS`])
    /// may copy megabytes, and a flush writes to the boot disk. Every use
    /// is inside [`hal::may_block`].
    model: SleepLock<Model>,
    /// The interrupt line as last raised.
    line: AtomicBool,
    /// A NIC's port.
    nic: Option<NicPort>,
}

impl VirtioMmio {
    /// Whether an `emu_devices` entry is one of our virtio devices.
    pub fn is_virtio(dev: &EmulatedDeviceConfig) -> bool {
        matches!(dev.emu_type, EmulatedDeviceType::VirtioBlk | EmulatedDeviceType::VirtioNet | EmulatedDeviceType::VirtioConsole)
    }

    /// The device an `emu_devices` entry of VM `vm` describes; `placed`
    /// has the `[[devices.virtual]]` table it came from, if it did; a NIC
    /// is the VM's `nic_index`-th.
    pub fn new(dev: &EmulatedDeviceConfig, placed: &VirtualDevices, vm: usize, nic_index: usize) -> Result<Self, VirtioError> {
        if (dev.length as u64) < virtio_core::mmio::MMIO_SIZE {
            return Err(VirtioError::Window(dev.length));
        }
        let mut nic = None;
        let model = match dev.emu_type {
            EmulatedDeviceType::VirtioConsole => {
                Model::Console(MmioTransport::new(VirtioConsole::new(Captured::default(), ConsoleConfig::default())))
            }
            EmulatedDeviceType::VirtioNet => {
                let table = placed.nics.iter().find(|n| n.base == dev.base_gpa as u64 && n.id == dev.name);
                let mac = match (table, dev.cfg_list.as_slice()) {
                    (Some(table), _) => table.mac,
                    (None, []) => None,
                    (None, octets) => Some(vmconfig_check::unicast_mac(octets).ok_or(VirtioError::Mac(octets.len()))?),
                };
                let mac = mac.unwrap_or_else(|| net::derived_mac(vm, nic_index));
                let port = net::add_guest_port(vm, mac, table.is_some_and(|t| t.any_source)).map_err(VirtioError::Net)?;
                info!("VM[{vm}]: NIC \"{}\" {} at {:#x}, irq {}", dev.name, net::MacText(&mac), dev.base_gpa, dev.irq_id);
                let config = NetConfig::new(mac);
                nic = Some(NicPort { port, outbox: SleepLock::new(FrameQueue::new(config.outbox_frames)) });
                Model::Net(MmioTransport::new(VirtioNet::new(config)))
            }
            _ => {
                let disk = placed.disks.iter().find(|d| d.base == dev.base_gpa as u64 && d.id == dev.name);
                let backend = match disk {
                    Some(disk) => hal::may_block(|| open_disk(disk, vm))?,
                    None => alloc::boxed::Box::new(ram_disk(dev)?),
                };
                Model::Blk(MmioTransport::new(VirtioBlk::new(backend, BLK_LIMITS)))
            }
        };
        Ok(Self {
            window: Window::new(dev.base_gpa, virtio_core::mmio::MMIO_SIZE as usize),
            irq: dev.irq_id,
            model: SleepLock::new(model),
            line: AtomicBool::new(false),
            nic,
        })
    }

    /// A NIC's switch port and its registration.
    pub fn port(&self) -> Option<(PortId, u64)> {
        self.nic.as_ref().map(|n| n.port.key())
    }

    /// Writes a disk's data that the guest has not flushed to its image
    /// (at a VM reset or stop, and the hypervisor's exit); false if that
    /// failed (the error is logged).
    pub fn write_back(&self, vm: &Vm) -> bool {
        hal::may_block(|| {
            let mut model = self.model.lock();
            let Model::Blk(t) = &mut *model else { return true };
            match t.device_mut().backend_mut().flush() {
                Ok(()) => true,
                Err(e) => {
                    error!("VM[{}] {}: writing back disk at {:#x}: {e}", vm.id, vm.name, self.window.base());
                    false
                }
            }
        })
    }

    /// Puts the device in its reset state (the VM restarts), its line low.
    pub fn reset(&self) {
        hal::may_block(|| {
            let mut model = self.model.lock();
            model.reset();
            self.line.store(false, Ordering::Release);
        });
    }

    /// The device's offset of `gpa`, if its window holds it.
    pub fn offset_of(&self, gpa: u64) -> Option<usize> {
        self.window.offset_of(gpa)
    }

    /// Whether this is a console.
    pub fn is_console(&self) -> bool {
        hal::may_block(|| matches!(*self.model.lock(), Model::Console(_)))
    }

    /// A guest access at `offset` of VM `vm`'s device. A notification
    /// serves every queued request, a bounded batch per hold of the lock;
    /// a console's output reaches the VM's console between holds; the
    /// interrupt is raised when the line goes up.
    pub fn access(&self, vm: &Vm, offset: usize, width: u8, write: Option<u64>) -> Emulated {
        hal::may_block(|| self.serve(vm, offset, width, write))
    }

    fn serve(&self, vm: &Vm, offset: usize, width: u8, write: Option<u64>) -> Emulated {
        let mem = VmMemory { vm };
        let mut model = self.model.lock();
        let emulated = match write {
            None => Emulated::Read(model.read(offset as u64, usize::from(width))),
            Some(value) => {
                model.write(&mem, offset as u64, usize::from(width), value);
                Emulated::Written
            }
        };
        loop {
            let output = model.take_output();
            let (more, frames) = (model.has_pending(), model.has_frames());
            if !more {
                self.set_line(vm, model.irq_level());
            }
            drop(model);
            if !output.is_empty() {
                vm.console.write(&output);
            }
            if frames {
                self.send_frames();
            }
            if !more {
                return emulated;
            }
            model = self.model.lock();
            model.run_batch(&mem);
        }
    }

    /// Routes what a NIC's guest sent (no lock of the device held while
    /// the frames are delivered).
    fn send_frames(&self) {
        let Some(nic) = &self.nic else { return };
        let mut outbox = nic.outbox.lock();
        outbox.clear();
        self.model.lock().take_frames(&mut outbox);
        while let Some(frame) = outbox.front() {
            net::forward(nic.port.id(), frame);
            outbox.pop_front();
        }
    }

    /// A frame the switch sends to this NIC: into a receive buffer of the
    /// guest's, or its backlog until the guest gives one.
    pub fn receive_frame(&self, vm: &Vm, frame: &[u8]) {
        hal::may_block(|| {
            let mut model = self.model.lock();
            let Model::Net(t) = &mut *model else { return };
            let mem = VmMemory { vm };
            t.run_device(&mem, |dev, queues, mem| match dev.deliver(frame, queues, mem)? {
                Delivery::Delivered { notify } => Ok(notify),
                Delivery::Queued | Delivery::Dropped(_) => Ok(false),
            });
            self.set_line(vm, model.irq_level());
        });
    }

    /// Host input for a console (the shell's `vm console ID`); false if
    /// this is no console or the guest has not set it up.
    pub fn input(&self, vm: &Vm, bytes: &[u8]) -> bool {
        let mut model = hal::may_block(|| self.model.lock());
        let taken = match &mut *model {
            Model::Console(t) if t.is_live() => virtio_console::push_input(t, &VmMemory { vm }, bytes) > 0,
            _ => false,
        };
        self.set_line(vm, model.irq_level());
        drop(model);
        taken
    }

    /// Raises the interrupt when the device's line goes up. Called with
    /// the device's lock held, so the line follows the device's interrupt
    /// status in the order it changed (a guest's acknowledgement on one
    /// CPU and a delivery on another cannot leave it low while status is set).
    fn set_line(&self, vm: &Vm, level: bool) {
        if !level {
            self.line.store(false, Ordering::Release);
        } else if !self.line.swap(true, Ordering::AcqRel) {
            vm.raise_device_irq(self.irq);
        }
    }
}

/// The backend a `[[devices.virtual]]` table asks for.
fn open_disk(disk: &VirtualDisk, vm: usize) -> Result<Disk, VirtioError> {
    let id = disk.id.as_bytes();
    match &disk.backend {
        DiskBackend::RamDisk { bytes } => {
            let len = usize::try_from(*bytes).map_err(|_| VirtioError::NoMemory(usize::MAX))?;
            let mut data = Vec::new();
            data.try_reserve_exact(len).map_err(|_| VirtioError::NoMemory(len))?;
            data.resize(len, 0);
            Ok(alloc::boxed::Box::new(MemBackend::from_bytes(data, disk.read_only).with_id(id)))
        }
        DiskBackend::File { path, capacity, write_back } => open_image(path, *capacity, *write_back && !disk.read_only, disk, vm),
    }
}

#[cfg(feature = "fs")]
fn open_image(path: &str, capacity: Option<u64>, write_back: bool, disk: &VirtualDisk, vm: usize) -> Result<Disk, VirtioError> {
    use super::disk_image::ImageFile;
    let (file, data) = ImageFile::open(path, write_back, vm).map_err(VirtioError::Image)?;
    let size = data.len() as u64;
    if capacity.is_some_and(|c| c != size) || size == 0 || !size.is_multiple_of(SECTOR_SIZE) || size > vmconfig_check::MAX_DISK_BYTES {
        return Err(VirtioError::ImageSize { path: path.into(), size, capacity: capacity.filter(|c| *c != size) });
    }
    let mem = MemBackend::from_bytes(data, disk.read_only).with_id(disk.id.as_bytes());
    info!(
        "VM[{vm}]: disk \"{}\" = {path} ({} KiB{}) at {:#x}, irq {}",
        disk.id,
        size / 1024,
        if disk.read_only { ", read-only" } else if write_back { "" } else { ", writes not kept" },
        disk.base,
        disk.irq
    );
    if write_back { Ok(alloc::boxed::Box::new(virtio_blk::CachedImage::new(mem, file))) } else { Ok(alloc::boxed::Box::new(mem)) }
}

#[cfg(not(feature = "fs"))]
fn open_image(path: &str, _: Option<u64>, _: bool, _: &VirtualDisk, _: usize) -> Result<Disk, VirtioError> {
    Err(VirtioError::NoBootDisk(path.into()))
}

/// A zeroed RAM disk of the entry's `cfg_list[0]` sectors.
fn ram_disk(dev: &EmulatedDeviceConfig) -> Result<MemBackend, VirtioError> {
    let sectors = dev.cfg_list.first().copied().unwrap_or(DEFAULT_RAM_DISK_SECTORS);
    if !(1..=MAX_RAM_DISK_SECTORS).contains(&sectors) {
        return Err(VirtioError::Sectors(sectors));
    }
    let bytes = sectors * SECTOR_SIZE as usize;
    let mut data = Vec::new();
    data.try_reserve_exact(bytes).map_err(|_| VirtioError::NoMemory(bytes))?;
    data.resize(bytes, 0);
    Ok(MemBackend::from_bytes(data, false).with_id(b"axvisor-ram-disk"))
}

/// The VM's RAM as its devices reach it: its own regions only; a chunk a
/// device writes first is backed (zeroed and mapped) as on the guest's own
/// first touch, one the guest never touched reads as zeros. Each call
/// holds the RAM lock for one copy, which the devices keep to a bounded
/// size.
struct VmMemory<'a> {
    vm: &'a Vm,
}

impl GuestMemory for VmMemory<'_> {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let len = buf.len() as u64;
        self.vm.ram.lock().read(gpa, buf).map_err(|_| MemError { gpa, len })
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemError> {
        let len = data.len() as u64;
        self.vm.ram.lock().device_write(&self.vm.ax, gpa, data).map_err(|_| MemError { gpa, len })
    }

    fn check_range(&self, gpa: u64, len: u64) -> Result<(), MemError> {
        if self.vm.ram.lock().holds(gpa, len) { Ok(()) } else { Err(MemError { gpa, len }) }
    }
}
