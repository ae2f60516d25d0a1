//! Guests described by the host's own device tree, as upstream AxVisor's
//! configs ask: `passthrough_devices` naming device-tree paths (`"/"` is
//! every device), `excluded_devices` naming paths to leave out.
//!
//! [`host_devices`] lists the devices such a config passes through (their
//! MMIO ranges and SPIs); [`derive`] writes the guest's tree: the host's,
//! with memory, CPUs and `/chosen` from the config, only the kept devices,
//! the VM's own virtio-mmio devices (in place of any host node at their
//! addresses), and the interrupt controller cut down to what a guest sees.

use alloc::{string::String, vec::Vec};

use fdt_parser::{Fdt, Node};
use vm_fdt::FdtWriter;

use axvmconfig::AxVMCrateConfig;

use crate::machine::{initrd, ram, virtio_spis};
use crate::{FdtError, GIC_SPI, IRQ_LEVEL_HIGH, VirtioMmio, virtio, write_chosen_and_memory};

/// A host device a VM gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// Its path in the host tree.
    pub path: String,
    /// Its MMIO ranges (base, size), host-physical.
    pub regs: Vec<(u64, u64)>,
    /// Its shared peripheral interrupts, as interrupt ids (32 and up).
    pub spis: Vec<u32>,
}

impl HostDevice {
    /// The device as passthrough entries: one per register range, each
    /// with one of its SPIs (`None` once they run out); a device with more
    /// SPIs than ranges repeats its last range for the rest.
    pub fn entries(&self) -> Vec<((u64, u64), Option<u32>)> {
        let count = self.regs.len().max(self.spis.len());
        (0..count)
            .filter_map(|i| Some((*self.regs.get(i).or(self.regs.last())?, self.spis.get(i).copied())))
            .collect()
    }
}

/// What the guest's tree says about the VM itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedMachine {
    /// RAM as (base, size).
    pub memory: Vec<(u64, u64)>,
    /// MPIDR (aarch64) of each vCPU, in vCPU order.
    pub cpus: Vec<u32>,
    /// Kernel command line.
    pub bootargs: Option<String>,
    /// Initrd as [start, end) guest-physical addresses.
    pub initrd: Option<(u64, u64)>,
    /// The VM's own virtio-mmio devices (interrupts as SPI numbers).
    pub virtio: Vec<VirtioMmio>,
    /// The VM's shared-memory channels (doorbells as SPI numbers).
    pub channels: Vec<crate::ShmChannel>,
}

impl DerivedMachine {
    /// The machine a config describes (vCPU n has MPIDR n), given the
    /// size of the ramdisk image, if the VM has one.
    pub fn from_config(cfg: &AxVMCrateConfig, ramdisk_size: Option<usize>) -> Result<Self, FdtError> {
        Ok(Self {
            memory: ram(cfg)?,
            cpus: (0..cfg.base.cpu_num as u32).collect(),
            bootargs: cfg.kernel.cmdline.clone(),
            initrd: initrd(cfg, ramdisk_size)?,
            virtio: virtio_spis(cfg)?,
            channels: crate::machine::channel_spis(cfg)?,
        })
    }

    /// Whether a host node's registers overlap one of the VM's virtio
    /// devices (the VM's own device takes its place).
    fn shadowed(&self, node: &Node<'_>) -> bool {
        let Some(regs) = node.reg() else { return false };
        regs.into_iter().any(|r| {
            let (base, size) = (r.address, r.size.unwrap_or(0) as u64);
            self.virtio.iter().any(|v| v.overlaps(base, size))
                || self.channels.iter().any(|c| base < c.base.saturating_add(c.size) && c.base < base.saturating_add(size))
        })
    }
}

/// Whether `path` is `prefix` or inside it.
fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty() || path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// Nodes the guest never gets from the host as they are: its RAM, CPUs
/// and boot arguments come from the config.
fn replaced(path: &str) -> bool {
    let top = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    top == "cpus" || top == "chosen" || top == "reserved-memory" || top == "memory" || top.starts_with("memory@")
}

/// A node's depth: 0 for the root (fdt-parser counts from 1).
fn depth(node: &Node<'_>) -> usize {
    node.level.saturating_sub(1)
}

/// Every node with its path, in tree order.
fn with_paths<'a>(fdt: &Fdt<'a>) -> Vec<(String, Node<'a>)> {
    let mut stack: Vec<String> = Vec::new();
    let mut nodes = Vec::new();
    for node in fdt.all_nodes() {
        stack.truncate(depth(&node));
        let path = match stack.last() {
            None => String::from("/"),
            Some(parent) if parent == "/" => alloc::format!("/{}", node.name()),
            Some(parent) => alloc::format!("{parent}/{}", node.name()),
        };
        stack.push(path.clone());
        nodes.push((path, node));
    }
    nodes
}

/// Which host devices a VM gets: those under a `keep` path, outside every
/// `exclude` path, and not compatible with anything in `held` (devices
/// the hypervisor keeps for itself, such as its boot disk's transport).
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// Device-tree paths passed through (`"/"`: everything).
    pub keep: &'a [&'a str],
    /// Device-tree paths left out.
    pub exclude: &'a [&'a str],
    /// `compatible` strings of devices the hypervisor keeps.
    pub held: &'a [&'a str],
}

/// The interrupt controllers (at any depth, the CPUs' own aside) and the
/// devices the selection holds back: no VM gets them as they are.
fn held_paths(nodes: &[(String, Node<'_>)], held: &[&str]) -> Vec<String> {
    nodes
        .iter()
        .filter(|(path, node)| {
            let controller = node.find_property("interrupt-controller").is_some() && !replaced(path);
            controller || node.compatibles().any(|c| held.contains(&c))
        })
        .map(|(path, _)| path.clone())
        .collect()
}

/// Why a device goes to a VM only when its config names it (its path, or
/// a path inside it): passing "everything" (`"/"`, or any path above it)
/// never includes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The host's console UART (`/chosen/stdout-path`): a guest could
    /// silence the hypervisor's log, or hang every CPU that logs. Held
    /// back, the VM gets a virtual UART in its place.
    Console,
    /// A device that can master the bus (DMA, or a PCI host behind which
    /// any device can): without an IOMMU it reaches all host memory.
    Dma,
}

impl core::fmt::Display for Guard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Console => "is the host's console UART",
            Self::Dma => "can DMA into any host memory (no IOMMU)",
        })
    }
}

/// `compatible` strings of bus masters found on the boards we run on.
const DMA_MASTERS: &[&str] = &["qemu,fw-cfg-mmio", "virtio,mmio", "arm,pl330", "arm,pl080", "arm,pl081", "brcm,bcm2835-dma"];

/// Properties that only a bus master (or a bus of them) carries.
const DMA_PROPERTIES: &[&str] = &["dma-coherent", "iommus", "iommu-map", "msi-map", "msi-parent", "dma-ranges"];

fn guard_of(path: &str, node: &Node<'_>, stdout: Option<&str>) -> Option<Guard> {
    if path == "/" {
        // The root's `dma-coherent` and `dma-ranges` describe the system.
        return None;
    }
    if stdout == Some(path) {
        return Some(Guard::Console);
    }
    let pci = node.find_property("device_type").is_some_and(|p| p.str() == "pci");
    let master = node.compatibles().any(|c| DMA_MASTERS.contains(&c)) || DMA_PROPERTIES.iter().any(|p| node.find_property(p).is_some());
    (pci || master).then_some(Guard::Dma)
}

/// The nodes a selection holds back (see [`held_paths`]) or guards (see
/// [`Guard`]), and the host console's path.
struct Judged {
    held: Vec<String>,
    guarded: Vec<(String, Guard)>,
    stdout: Option<String>,
}

impl Judged {
    fn new(host: &Fdt<'_>, nodes: &[(String, Node<'_>)], selection: &Selection<'_>) -> Self {
        let name = host.chosen().and_then(|c| c.stdout()).map(|s| s.node.name());
        let stdout = name.and_then(|name| nodes.iter().find(|(_, n)| depth(n) == 1 && n.name() == name)).map(|(p, _)| p.clone());
        let guarded = nodes
            .iter()
            .filter(|(path, _)| !replaced(path))
            .filter_map(|(path, node)| Some((path.clone(), guard_of(path, node, stdout.as_deref())?)))
            .collect();
        Self { held: held_paths(nodes, selection.held), guarded, stdout }
    }

    /// Whether the device at `path` goes to the VM.
    fn kept(&self, path: &str, selection: &Selection<'_>) -> bool {
        selected(path, selection, &self.held) && !self.guarded.iter().any(|(g, _)| under(path, g) && !named(selection, g))
    }

    /// Whether the node at `path` is in the guest's tree: the devices it
    /// gets, and the console it gets a virtual UART for.
    fn in_tree(&self, path: &str, selection: &Selection<'_>) -> bool {
        self.kept(path, selection) || (self.stdout.as_deref() == Some(path) && selected(path, selection, &self.held))
    }
}

/// Whether a `keep` path names the node at `path` (or a node inside it)
/// rather than a node above it.
fn named(selection: &Selection<'_>, path: &str) -> bool {
    selection.keep.iter().any(|k| under(k, path))
}

/// Whether `path` is selected by the paths alone (guards aside).
fn selected(path: &str, selection: &Selection<'_>, held: &[String]) -> bool {
    selection.keep.iter().any(|k| under(path, k))
        && !selection.exclude.iter().any(|e| under(path, e))
        && !held.iter().any(|h| under(path, h))
        && !replaced(path)
}

/// A guarded host device that a selection covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardedDevice {
    /// The device, as [`host_devices`] lists devices.
    pub device: HostDevice,
    /// Why it is guarded.
    pub guard: Guard,
    /// Whether the config names it, and so gets it; otherwise it is held
    /// back (a console becomes a virtual UART).
    pub passed: bool,
}

/// The guarded devices (see [`Guard`]) under a `keep` path of
/// `selection` and outside its `exclude` paths: those it names are passed
/// through, the others held back. Each is listed once, at its top-most
/// guarded node.
pub fn guarded_devices(host: &Fdt<'_>, selection: &Selection<'_>) -> Vec<GuardedDevice> {
    let nodes = with_paths(host);
    let judged = Judged::new(host, &nodes, selection);
    judged
        .guarded
        .iter()
        .filter(|(path, _)| selected(path, selection, &judged.held))
        .filter(|(path, _)| !judged.guarded.iter().any(|(g, _)| g != path && under(path, g)))
        .filter_map(|(path, guard)| {
            let (_, node) = nodes.iter().find(|(p, _)| p == path)?;
            let regs = node.reg().map(|r| r.filter_map(|r| Some((r.address, r.size? as u64))).collect()).unwrap_or_default();
            let device = HostDevice { path: path.clone(), regs, spis: spis(node) };
            Some(GuardedDevice { device, guard: *guard, passed: named(selection, path) })
        })
        .collect()
}

/// The SPIs of `node` (three-cell GIC specifiers of type 0).
fn spis(node: &Node<'_>) -> Vec<u32> {
    let Some(interrupts) = node.interrupts() else { return Vec::new() };
    interrupts
        .filter_map(|cells| {
            let cells: Vec<u32> = cells.collect();
            match cells.as_slice() {
                [0, spi, _] => Some(spi + 32),
                _ => None,
            }
        })
        .collect()
}

/// The host devices `selection` picks that have registers: what a VM
/// passes through. Interrupt controllers and the nodes the config
/// replaces are never among them.
pub fn host_devices(host: &Fdt<'_>, selection: &Selection<'_>) -> Vec<HostDevice> {
    let nodes = with_paths(host);
    let judged = Judged::new(host, &nodes, selection);
    nodes
        .iter()
        .filter(|(path, _)| judged.kept(path, selection))
        .filter_map(|(path, node)| {
            let regs: Vec<(u64, u64)> =
                node.reg()?.filter_map(|r| Some((r.address, r.size? as u64))).filter(|(_, size)| *size > 0).collect();
            (!regs.is_empty()).then(|| HostDevice { path: path.clone(), regs, spis: spis(node) })
        })
        .collect()
}

/// Writes a node's properties, minus those `skip` names.
fn copy_properties(fdt: &mut FdtWriter, node: &Node<'_>, skip: &[&str]) -> Result<(), FdtError> {
    for prop in node.propertys().filter(|p| !skip.contains(&p.name)) {
        fdt.property(prop.name, prop.raw_value())?;
    }
    Ok(())
}

/// The guest's device tree: the host's `host` tree with `machine`'s
/// memory, CPUs and `/chosen`, the devices `selection` picks (see
/// [`host_devices`]) and the nodes without registers (timer, clocks,
/// PSCI, ...), the VM's virtio-mmio devices (a host node overlapping one
/// is left out), and the root interrupt controller with its first two
/// register ranges only (distributor and CPU interface or redistributors:
/// the hypervisor keeps the rest) and without children (no ITS or MSI
/// frame).
pub fn derive(host: &Fdt<'_>, machine: &DerivedMachine, selection: &Selection<'_>) -> Result<Vec<u8>, FdtError> {
    let nodes = with_paths(host);
    let judged = Judged::new(host, &nodes, selection);
    let cpu_compatible = nodes
        .iter()
        .find(|(path, node)| path.starts_with("/cpus/") && node.find_property("device_type").is_some_and(|p| p.str() == "cpu"))
        .and_then(|(_, node)| node.find_property("compatible"))
        .map(|p| p.raw_value());
    let mut fdt = FdtWriter::new()?;
    let mut open = Vec::new();
    let mut skip_below: Option<usize> = None;
    for (path, node) in &nodes {
        let level = depth(node);
        if skip_below.is_some_and(|below| level > below) {
            continue;
        }
        skip_below = None;
        while open.len() > level {
            if let Some(handle) = open.pop() {
                fdt.end_node(handle)?;
            }
        }
        if level == 0 {
            open.push(fdt.begin_node("")?);
            copy_properties(&mut fdt, node, &[])?;
            let stdout = judged.stdout.as_deref().filter(|p| judged.in_tree(p, selection));
            write_chosen_and_memory(&mut fdt, machine.bootargs.as_deref(), stdout, machine.initrd, &machine.memory)?;
            write_cpus(&mut fdt, &machine.cpus, cpu_compatible)?;
            // The root's interrupt-parent (the host's GIC) serves them.
            for dev in &machine.virtio {
                virtio::write_node(&mut fdt, dev, &[GIC_SPI, dev.irq, IRQ_LEVEL_HIGH], None)?;
            }
            for ch in &machine.channels {
                crate::channel::write_node(&mut fdt, ch, &[GIC_SPI, ch.irq, crate::IRQ_EDGE_RISING], None)?;
            }
            continue;
        }
        let is_controller = level == 1 && node.find_property("interrupt-controller").is_some();
        let keep_it = is_controller
            || if node.find_property("reg").is_some() {
                judged.in_tree(path, selection) && !machine.shadowed(node)
            } else {
                !replaced(path) && !selection.exclude.iter().any(|e| under(path, e))
            };
        // A node without registers stays with its parent (a bus's
        // children are judged by their own registers).
        if !keep_it || replaced(path) {
            skip_below = Some(level);
            continue;
        }
        open.push(fdt.begin_node(node.name())?);
        if is_controller {
            copy_properties(&mut fdt, node, &["reg", "interrupts", "ranges", "#address-cells", "#size-cells"])?;
            let regs: Vec<u64> = node.reg().into_iter().flatten().take(2).flat_map(|r| [r.address, r.size.unwrap_or(0) as u64]).collect();
            fdt.property_array_u64("reg", &regs)?;
            fdt.property_u32("#address-cells", 0)?;
            skip_below = Some(level);
        } else {
            copy_properties(&mut fdt, node, &[])?;
        }
    }
    while let Some(handle) = open.pop() {
        fdt.end_node(handle)?;
    }
    Ok(fdt.finish()?)
}

fn write_cpus(fdt: &mut FdtWriter, cpus: &[u32], compatible: Option<&[u8]>) -> Result<(), FdtError> {
    let node = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    for &mpidr in cpus {
        let cpu = fdt.begin_node(&alloc::format!("cpu@{mpidr:x}"))?;
        fdt.property_string("device_type", "cpu")?;
        match compatible {
            Some(raw) => fdt.property("compatible", raw)?,
            None => fdt.property_string("compatible", "arm,armv8")?,
        }
        fdt.property_u32("reg", mpidr)?;
        fdt.property_string("enable-method", "psci")?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(node)?;
    Ok(())
}
