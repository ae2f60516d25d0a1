//! The host's own NIC: a virtio-net device on a virtio-mmio window, found
//! once and driven for raw Ethernet frames (`axdriver_virtio`), the uplink
//! of the VMs' switch. No IP stack is involved.
//!
//! The windows searched are the host device tree's `virtio,mmio` nodes, or
//! where the tree says nothing, the platform's (`ArchOps::host_virtio_windows`).
//! Each window's magic and DeviceID are read before anything else touches
//! it: building a transport on a window and dropping it resets the device,
//! and the boot disk may be one of them.

use alloc::vec::Vec;
use core::ptr::NonNull;

use axdriver_net::{DevError, NetBufPtr, NetDriverOps};
use axdriver_virtio::{BufferDirection, MmioTransport, PhysAddr as DmaAddr, VirtIoHal, VirtIoNetDev};
use kspin::SpinNoIrq;

use super::arch::{Arch, ArchOps};

/// Descriptors in each of the NIC's queues (the driver keeps twice as
/// many 1526-byte buffers).
const QUEUE_SIZE: usize = 64;
/// The largest frame sent (no VLAN tag, no frame check sequence).
const MAX_FRAME: usize = 1514;
/// An Ethernet header.
const MIN_FRAME: usize = 14;
/// virtio-mmio registers: magic ("virt"), DeviceID, InterruptStatus and
/// InterruptACK.
const MAGIC: u32 = 0x7472_6976;
const MAGIC_OFFSET: usize = 0x000;
const DEVICE_ID_OFFSET: usize = 0x008;
const INTERRUPT_STATUS_OFFSET: usize = 0x060;
const INTERRUPT_ACK_OFFSET: usize = 0x064;
/// DeviceID of a network card.
const DEVICE_ID_NET: u32 = 1;
/// What a window needs mapped: its registers and config space.
const WINDOW_BYTES: usize = 0x200;

type Device = VirtIoNetDev<DmaPages, MmioTransport, QUEUE_SIZE>;

/// Why a frame was not sent.
#[derive(Debug)]
pub enum NicError {
    /// Shorter than an Ethernet header or longer than [`MAX_FRAME`].
    Size(usize),
    /// The transmit queue is full.
    Busy,
    /// The driver refused it.
    Device(DevError),
}

impl core::fmt::Display for NicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Size(len) => write!(f, "a {len}-byte frame is not {MIN_FRAME} to {MAX_FRAME} bytes"),
            Self::Busy => f.write_str("the transmit queue is full"),
            Self::Device(e) => write!(f, "the driver failed: {e:?}"),
        }
    }
}

/// The host's NIC, behind one interrupt-safe lock (frames go out from any
/// vCPU or task).
pub struct HostNic {
    dev: SpinNoIrq<Device>,
    mac: [u8; 6],
    base: usize,
    /// Where its window is mapped.
    regs: usize,
    /// Its host interrupt, if the device tree names one this host takes.
    irq: Option<usize>,
}

/// What the NIC's interrupt handler calls ([`HostNic::on_interrupt`]).
static ON_INTERRUPT: spin::Once<fn()> = spin::Once::new();

impl HostNic {
    /// Its MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Host-physical address of its virtio-mmio window.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Has `wake` called, in interrupt context, each time the NIC
    /// interrupts (a frame arrived, or sent ones are done); once, after
    /// virtualization is on (the host interrupt controller is set up then).
    /// False if its interrupt is unknown or taken: whoever receives must poll.
    pub fn on_interrupt(&self, wake: fn()) -> bool {
        let Some(irq) = self.irq else { return false };
        let mut first = false;
        ON_INTERRUPT.call_once(|| {
            first = true;
            wake
        });
        first && Arch::register_host_irq(irq, interrupt)
    }

    /// Takes the device's interrupt back (it holds its line up until then).
    fn ack_interrupt(&self) {
        let regs = self.regs as *mut u8;
        // SAFETY: `regs` maps this NIC's window (see `probe`); writing back
        // the interrupt status bits only acknowledges them, which the
        // driver may do at any time.
        unsafe {
            let status = regs.add(INTERRUPT_STATUS_OFFSET).cast::<u32>().read_volatile();
            regs.add(INTERRUPT_ACK_OFFSET).cast::<u32>().write_volatile(status);
        }
    }

    /// Queues `frame` (a bare Ethernet frame) for sending; finished
    /// transmissions are reclaimed first.
    pub fn send(&self, frame: &[u8]) -> Result<(), NicError> {
        if !(MIN_FRAME..=MAX_FRAME).contains(&frame.len()) {
            return Err(NicError::Size(frame.len()));
        }
        let mut dev = self.dev.lock();
        dev.recycle_tx_buffers().map_err(NicError::Device)?;
        if !dev.can_transmit() {
            return Err(NicError::Busy);
        }
        let mut buf = dev.alloc_tx_buffer(frame.len()).map_err(NicError::Device)?;
        buf.packet_mut().copy_from_slice(frame);
        dev.transmit(buf).map_err(NicError::Device)
    }

    /// The next frame received, if one has arrived. Its buffer goes back to
    /// the NIC when the [`RxFrame`] is dropped; the NIC's lock is not held
    /// meanwhile.
    pub fn receive(&self) -> Option<RxFrame<'_>> {
        let received = self.dev.lock().receive();
        match received {
            Ok(buf) => Some(RxFrame { nic: self, buf: Some(buf) }),
            Err(DevError::Again) => None,
            Err(e) => {
                warn!("host NIC: receiving failed: {e:?}");
                None
            }
        }
    }
}

/// A frame the host's NIC received, in the driver's buffer.
pub struct RxFrame<'a> {
    nic: &'a HostNic,
    buf: Option<NetBufPtr>,
}

impl core::ops::Deref for RxFrame<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.buf.as_ref().map_or(&[], NetBufPtr::packet)
    }
}

impl Drop for RxFrame<'_> {
    fn drop(&mut self) {
        let Some(buf) = self.buf.take() else { return };
        if let Err(e) = self.nic.dev.lock().recycle_rx_buffer(buf) {
            warn!("host NIC: a receive buffer could not be given back: {e:?}");
        }
    }
}

/// The host's NIC, if it has one the hypervisor can drive; searched for on
/// the first call.
pub fn host_nic() -> Option<&'static HostNic> {
    static NIC: spin::Once<Option<HostNic>> = spin::Once::new();
    NIC.call_once(find).as_ref()
}

/// The NIC's interrupt handler: acknowledges it at the device and wakes
/// the receiver.
fn interrupt() {
    if let Some(nic) = host_nic() {
        nic.ack_interrupt();
    }
    if let Some(wake) = ON_INTERRUPT.get() {
        wake();
    }
}

/// A virtio-mmio window: base, size and host interrupt.
type Window = (usize, usize, Option<usize>);

fn find() -> Option<HostNic> {
    let Some(platform) = Arch::host_virtio_windows() else {
        info!("host NIC: not searched for on this architecture (its devices are on PCI)");
        return None;
    };
    let (windows, source): (Vec<Window>, _) = match super::host_fdt() {
        Some(fdt) if fdt.find_compatible(&["virtio,mmio"]).next().is_some() => (
            fdt.find_compatible(&["virtio,mmio"])
                .filter_map(|node| {
                    let reg = node.reg()?.next()?;
                    let cells: Option<Vec<u32>> = node.interrupts().and_then(|mut specs| Some(specs.next()?.collect()));
                    let irq = cells.and_then(|cells| Arch::host_irq_of(&cells));
                    Some((usize::try_from(reg.address).ok()?, reg.size.unwrap_or(WINDOW_BYTES), irq))
                })
                .collect(),
            "the host's device tree",
        ),
        _ => (platform.iter().map(|&(base, size)| (base, size, None)).collect(), "the platform config"),
    };
    debug!("host NIC: searching {} virtio-mmio windows named by {source}", windows.len());
    windows.into_iter().find_map(probe)
}

/// Takes the window at `base` if it holds a virtio network card.
fn probe((base, size, irq): Window) -> Option<HostNic> {
    if size < WINDOW_BYTES || super::is_host_ram(base, size) {
        return None;
    }
    let regs = axmm::iomap(base.into(), WINDOW_BYTES).ok()?.as_mut_ptr();
    // SAFETY: `regs` maps the device window [base, base + WINDOW_BYTES),
    // which the host's tree or platform names as a virtio-mmio window and
    // which is not RAM; reading its identification registers has no side
    // effects.
    let (magic, device_id) = unsafe {
        (
            regs.add(MAGIC_OFFSET).cast::<u32>().read_volatile(),
            regs.add(DEVICE_ID_OFFSET).cast::<u32>().read_volatile(),
        )
    };
    if magic != MAGIC || device_id != DEVICE_ID_NET {
        return None;
    }
    let (_, transport) = axdriver_virtio::probe_mmio_device(regs, WINDOW_BYTES)?;
    match Device::try_new(transport, None) {
        Ok(dev) => {
            let mac = dev.mac_address().0;
            Some(HostNic { dev: SpinNoIrq::new(dev), mac, base, regs: regs as usize, irq })
        }
        Err(e) => {
            warn!("host NIC at {base:#x}: cannot be driven: {e:?}");
            None
        }
    }
}

/// DMA memory for the NIC's queues: whole pages of host RAM, which the
/// host reaches through its linear map.
struct DmaPages;

// SAFETY: `dma_alloc` returns zeroed, page-aligned pages that only the
// driver that asked for them refers to until `dma_dealloc`; addresses
// are translated with the runtime's own linear map.
unsafe impl VirtIoHal for DmaPages {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (DmaAddr, NonNull<u8>) {
        let Ok(vaddr) = axalloc::global_allocator().alloc_pages(pages, memory_addr::PAGE_SIZE_4K, axalloc::UsageKind::Dma) else {
            return (0, NonNull::dangling());
        };
        let Some(ptr) = NonNull::new(vaddr as *mut u8) else { return (0, NonNull::dangling()) };
        // SAFETY: the allocator just gave us these `pages` pages, mapped
        // and referred to by nothing else.
        unsafe { ptr.as_ptr().write_bytes(0, pages * memory_addr::PAGE_SIZE_4K) };
        (axhal::mem::virt_to_phys(vaddr.into()).as_usize(), ptr)
    }

    unsafe fn dma_dealloc(_paddr: DmaAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        axalloc::global_allocator().dealloc_pages(vaddr.as_ptr() as usize, pages, axalloc::UsageKind::Dma);
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: DmaAddr, _size: usize) -> NonNull<u8> {
        // Only the PCI transport asks; ours is virtio-mmio.
        NonNull::new(axhal::mem::phys_to_virt(paddr.into()).as_mut_ptr()).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> DmaAddr {
        // Heap and DMA pages alike are in the linear map, coherent with
        // the device (QEMU's virtio): nothing to copy or flush.
        axhal::mem::virt_to_phys((buffer.as_ptr() as *mut u8 as usize).into()).as_usize()
    }

    unsafe fn unshare(_paddr: DmaAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
