//! The riscv64 machine a guest sees (like QEMU's virt board) and its device
//! tree: harts with their local interrupt controllers, the PLIC, an NS16550
//! UART, virtio-mmio devices, memory and `/chosen`.

use alloc::{format, string::String, vec::Vec};

use axvmconfig::{AxVMCrateConfig, EmulatedDeviceType};
use vm_fdt::FdtWriter;

use crate::{
    FdtError, VirtioMmio, cells64,
    machine::{initrd, missing, ram},
    virtio,
};

/// Most harts a PLIC serves: 15872 contexts, an M- and an S-mode one each.
const MAX_HARTS: u32 = 7936;
/// Valid PLIC interrupt sources (0 means "none").
const SOURCES: core::ops::RangeInclusive<usize> = 1..=1023;
/// Sources the PLIC is described with (as on QEMU's virt board).
const PLIC_NDEV: u32 = 95;
/// Local interrupt causes: machine- and supervisor-mode external.
const IRQ_M_EXT: u32 = 11;
const IRQ_S_EXT: u32 = 9;
/// The UART's input clock (as on QEMU's virt board).
const UART_CLOCK_HZ: u32 = 3_686_400;
const PHANDLE_PLIC: u32 = 1;
/// Hart h's interrupt controller has phandle `PHANDLE_FIRST_INTC + h`.
const PHANDLE_FIRST_INTC: u32 = 2;
/// Names of a passthrough NS16550, with the field its interrupt comes from.
const UART_NAMES: [(&str, &str); 4] = [
    ("uart16550", "devices.passthrough_devices[uart16550].irq_id"),
    ("ns16550", "devices.passthrough_devices[ns16550].irq_id"),
    ("ns16550a", "devices.passthrough_devices[ns16550a].irq_id"),
    ("serial", "devices.passthrough_devices[serial].irq_id"),
];

/// An NS16550 UART given to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ns16550 {
    /// Guest-physical base.
    pub base: u64,
    /// Size of its register frame.
    pub size: u64,
    /// Its PLIC interrupt source.
    pub irq: u32,
}

/// A riscv64 guest's machine, like QEMU's virt board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiscvMachine {
    /// RAM as (base, size).
    pub memory: Vec<(u64, u64)>,
    /// Number of harts (ids 0..harts).
    pub harts: u32,
    /// The harts' ISA string, e.g. "rv64imafdc_zicsr_zifencei".
    pub isa: String,
    /// Frequency of the `time` CSR.
    pub timebase_hz: u32,
    /// The PLIC as (base, size).
    pub plic: (u64, u64),
    /// The console UART, if the VM has one.
    pub uart: Option<Ns16550>,
    /// Kernel command line.
    pub bootargs: Option<String>,
    /// Initrd as [start, end) guest-physical addresses.
    pub initrd: Option<(u64, u64)>,
    /// The VM's virtio-mmio devices (interrupts as PLIC sources).
    pub virtio: Vec<VirtioMmio>,
    /// The VM's shared-memory channels (doorbells as PLIC sources).
    pub channels: Vec<crate::ShmChannel>,
}

fn check_harts(harts: u32) -> Result<u32, FdtError> {
    if (1..=MAX_HARTS).contains(&harts) {
        Ok(harts)
    } else {
        Err(missing("base.cpu_num", "a riscv64 guest has 1 to 7936 harts"))
    }
}

/// The console: an emulated one (type 0x2) if any, else a passthrough NS16550.
fn uart(cfg: &AxVMCrateConfig) -> Result<Option<Ns16550>, FdtError> {
    let console = cfg.devices.emu_devices.iter().find(|d| d.emu_type == EmulatedDeviceType::Console);
    let found = match console {
        Some(d) => Some((d.base_gpa, d.length, d.irq_id, "devices.emu_devices[console].irq_id")),
        None => cfg.devices.passthrough_devices.iter().find_map(|d| {
            let (_, field) = UART_NAMES.iter().find(|(name, _)| d.name.eq_ignore_ascii_case(name))?;
            Some((d.base_gpa, d.length, d.irq_id, *field))
        }),
    };
    let Some((base, size, irq, field)) = found else {
        return Ok(None);
    };
    if !SOURCES.contains(&irq) {
        return Err(missing(field, "a UART interrupt must be a PLIC source (1 to 1023)"));
    }
    Ok(Some(Ns16550 { base: base as u64, size: size as u64, irq: irq as u32 }))
}

impl RiscvMachine {
    /// Reads the machine out of a checked config; `ramdisk_size` is the size
    /// of the ramdisk image, `isa` and `timebase_hz` describe the host harts.
    pub fn from_config(
        cfg: &AxVMCrateConfig,
        ramdisk_size: Option<usize>,
        isa: &str,
        timebase_hz: u32,
    ) -> Result<Self, FdtError> {
        let memory = ram(cfg)?;
        let harts = check_harts(u32::try_from(cfg.base.cpu_num).unwrap_or(u32::MAX))?;
        let plic = cfg
            .devices
            .emu_devices
            .iter()
            .find(|d| d.emu_type == EmulatedDeviceType::InterruptController)
            .ok_or(missing("devices.emu_devices", "no interrupt controller (type 0x1)"))?;
        Ok(Self {
            memory,
            harts,
            isa: isa.into(),
            timebase_hz,
            plic: (plic.base_gpa as u64, plic.length as u64),
            uart: uart(cfg)?,
            bootargs: cfg.kernel.cmdline.clone(),
            initrd: initrd(cfg, ramdisk_size)?,
            virtio: virtio::from_config(cfg, SOURCES, 0)?,
            channels: crate::channel::from_config(cfg, SOURCES, 0)?,
        })
    }
}

/// Writes the device tree of `machine`.
pub fn build_riscv(machine: &RiscvMachine) -> Result<Vec<u8>, FdtError> {
    let harts = check_harts(machine.harts)?;
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_string("compatible", "riscv-virtio")?;
    fdt.property_string("model", "axvisor guest")?;

    let stdout = machine.uart.as_ref().map(|uart| format!("/soc/serial@{:x}", uart.base));
    crate::write_chosen_and_memory(&mut fdt, machine.bootargs.as_deref(), stdout.as_deref(), machine.initrd, &machine.memory)?;

    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    fdt.property_u32("timebase-frequency", machine.timebase_hz)?;
    for hart in 0..harts {
        let cpu = fdt.begin_node(&format!("cpu@{hart:x}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_u32("reg", hart)?;
        fdt.property_string("status", "okay")?;
        fdt.property_string("compatible", "riscv")?;
        fdt.property_string("riscv,isa", &machine.isa)?;
        fdt.property_string("mmu-type", "riscv,sv39")?;
        let intc = fdt.begin_node("interrupt-controller")?;
        fdt.property_u32("#interrupt-cells", 1)?;
        fdt.property_null("interrupt-controller")?;
        fdt.property_string("compatible", "riscv,cpu-intc")?;
        fdt.property_phandle(PHANDLE_FIRST_INTC + hart)?;
        fdt.end_node(intc)?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;

    let soc = fdt.begin_node("soc")?;
    fdt.property_string("compatible", "simple-bus")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_null("ranges")?;

    // PLIC context 2h is hart h's M-mode one, 2h + 1 its S-mode one.
    let (base, size) = machine.plic;
    let plic = fdt.begin_node(&format!("plic@{base:x}"))?;
    fdt.property_string_list("compatible", alloc::vec!["sifive,plic-1.0.0".into(), "riscv,plic0".into()])?;
    fdt.property_array_u32("reg", &cells64(&[base, size]))?;
    fdt.property_u32("#interrupt-cells", 1)?;
    fdt.property_u32("#address-cells", 0)?;
    fdt.property_null("interrupt-controller")?;
    fdt.property_u32("riscv,ndev", PLIC_NDEV)?;
    fdt.property_phandle(PHANDLE_PLIC)?;
    let contexts: Vec<u32> = (0..harts)
        .flat_map(|h| {
            let intc = PHANDLE_FIRST_INTC + h;
            [intc, IRQ_M_EXT, intc, IRQ_S_EXT]
        })
        .collect();
    fdt.property_array_u32("interrupts-extended", &contexts)?;
    fdt.end_node(plic)?;

    if let Some(uart) = &machine.uart {
        let node = fdt.begin_node(&format!("serial@{:x}", uart.base))?;
        fdt.property_string("compatible", "ns16550a")?;
        fdt.property_array_u32("reg", &cells64(&[uart.base, uart.size]))?;
        fdt.property_u32("clock-frequency", UART_CLOCK_HZ)?;
        fdt.property_u32("interrupts", uart.irq)?;
        fdt.property_u32("interrupt-parent", PHANDLE_PLIC)?;
        fdt.end_node(node)?;
    }
    for dev in &machine.virtio {
        virtio::write_node(&mut fdt, dev, &[dev.irq], Some(PHANDLE_PLIC))?;
    }
    for ch in &machine.channels {
        crate::channel::write_node(&mut fdt, ch, &[ch.irq], Some(PHANDLE_PLIC))?;
    }
    fdt.end_node(soc)?;

    fdt.end_node(root)?;
    Ok(fdt.finish()?)
}
