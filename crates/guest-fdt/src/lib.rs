//! The device tree a guest boots with, generated from its VM config rather
//! than written by hand per config, for aarch64 and riscv64 guests.
//!
//! aarch64 ([`build`]): memory, CPUs (PSCI), the virtual GICv2, the
//! architected timer, the PL011 it is given, and `/chosen` (bootargs,
//! initrd, stdout). riscv64 ([`build_riscv`]): memory, harts with their
//! local interrupt controllers, the virtual PLIC, the NS16550 it is given,
//! and `/chosen`. Both: a `virtio,mmio` node per virtio device of the VM
//! and an `axvisor,shm-channel` node per shared-memory channel.
//!
//! Or, for configs in upstream AxVisor's style ([`derive`]): the host's
//! own tree with the VM's memory, CPUs, kept devices and virtio devices.
//!
//! `no_std` + `alloc`: the hypervisor runs this at VM creation; the host
//! tests parse what it writes.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

mod channel;
mod host;
mod machine;
mod riscv;
mod virtio;

pub use channel::ShmChannel;
pub use fdt_parser::Fdt as HostTree;
pub use host::{DerivedMachine, Guard, GuardedDevice, HostDevice, Selection, derive, guarded_devices, host_devices};
pub use machine::{Gic, GicVersion, Machine, Uart};
pub use riscv::{Ns16550, RiscvMachine, build_riscv};
pub use virtio::{VIRTIO_MMIO_SIZE, VirtioMmio};

use alloc::{format, string::String, vec::Vec};
use core::fmt;

use vm_fdt::FdtWriter;

/// Why no device tree could be made for a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdtError {
    /// The config lacks something a bootable device tree needs.
    Config {
        /// Field path in the config.
        field: &'static str,
        /// What is missing or wrong.
        what: &'static str,
    },
    /// The FDT writer refused the tree.
    Write(String),
}

impl fmt::Display for FdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config { field, what } => write!(f, "{field}: {what} (needed to generate the guest device tree)"),
            Self::Write(e) => write!(f, "writing the guest device tree failed: {e}"),
        }
    }
}

impl From<vm_fdt::Error> for FdtError {
    fn from(e: vm_fdt::Error) -> Self {
        Self::Write(format!("{e}"))
    }
}

const PHANDLE_GIC: u32 = 1;
const PHANDLE_CLOCK: u32 = 2;
/// GIC interrupt specifier: type (0 SPI, 1 PPI) and flags.
const GIC_SPI: u32 = 0;
const GIC_PPI: u32 = 1;
const IRQ_LEVEL_HIGH: u32 = 4;
const IRQ_EDGE_RISING: u32 = 1;
/// PPIs of the architected timer: secure and non-secure physical, virtual,
/// hypervisor (interrupt ids 29, 30, 27, 26).
const TIMER_PPIS: [u32; 4] = [13, 14, 11, 10];
/// The UART's reference clock (as on QEMU's virt machine).
const UART_CLOCK_HZ: u32 = 24_000_000;

fn cells64(values: &[u64]) -> Vec<u32> {
    values.iter().flat_map(|v| [(v >> 32) as u32, *v as u32]).collect()
}

/// Writes `/chosen` (command line, console, initrd) and a memory node per
/// RAM region: the part of the tree every architecture's guest reads alike.
fn write_chosen_and_memory(
    fdt: &mut FdtWriter,
    bootargs: Option<&str>,
    stdout: Option<&str>,
    initrd: Option<(u64, u64)>,
    memory: &[(u64, u64)],
) -> Result<(), FdtError> {
    let chosen = fdt.begin_node("chosen")?;
    if let Some(args) = bootargs {
        fdt.property_string("bootargs", args)?;
    }
    if let Some(path) = stdout {
        fdt.property_string("stdout-path", path)?;
    }
    if let Some((start, end)) = initrd {
        fdt.property_u64("linux,initrd-start", start)?;
        fdt.property_u64("linux,initrd-end", end)?;
    }
    fdt.end_node(chosen)?;
    for &(base, size) in memory {
        let node = fdt.begin_node(&format!("memory@{base:x}"))?;
        fdt.property_string("device_type", "memory")?;
        fdt.property_array_u64("reg", &[base, size])?;
        fdt.end_node(node)?;
    }
    Ok(())
}

/// Writes the device tree of `machine`.
pub fn build(machine: &Machine) -> Result<Vec<u8>, FdtError> {
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_string("compatible", "linux,dummy-virt")?;
    fdt.property_string("model", "axvisor guest")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_u32("interrupt-parent", PHANDLE_GIC)?;

    let stdout = machine.uart.as_ref().map(|uart| format!("/pl011@{:x}", uart.base));
    write_chosen_and_memory(&mut fdt, machine.bootargs.as_deref(), stdout.as_deref(), machine.initrd, &machine.memory)?;

    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    for &mpidr in &machine.cpus {
        let cpu = fdt.begin_node(&format!("cpu@{mpidr:x}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_string("compatible", "arm,armv8")?;
        fdt.property_u32("reg", mpidr)?;
        fdt.property_string("enable-method", "psci")?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;

    let psci = fdt.begin_node("psci")?;
    fdt.property_string_list("compatible", alloc::vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()])?;
    fdt.property_string("method", "hvc")?;
    fdt.end_node(psci)?;

    let (compatible, distributor, second) = match machine.gic {
        Gic::V2 { distributor, cpu_interface } => ("arm,cortex-a15-gic", distributor, cpu_interface),
        Gic::V3 { distributor, redistributors } => ("arm,gic-v3", distributor, redistributors),
    };
    let intc = fdt.begin_node(&format!("intc@{:x}", distributor.0))?;
    fdt.property_string("compatible", compatible)?;
    fdt.property_u32("#interrupt-cells", 3)?;
    fdt.property_u32("#address-cells", 0)?;
    fdt.property_null("interrupt-controller")?;
    fdt.property_array_u64("reg", &[distributor.0, distributor.1, second.0, second.1])?;
    if matches!(machine.gic, Gic::V3 { .. }) {
        fdt.property_u32("#redistributor-regions", 1)?;
    }
    fdt.property_phandle(PHANDLE_GIC)?;
    fdt.end_node(intc)?;

    // GICv2 PPI flags carry the mask of CPUs they reach; GICv3 has none.
    let cpu_mask = match machine.gic {
        Gic::V2 { .. } => (1u32 << machine.cpus.len().min(8)) - 1,
        Gic::V3 { .. } => 0,
    };
    let timer = fdt.begin_node("timer")?;
    fdt.property_string("compatible", "arm,armv8-timer")?;
    let cells: Vec<u32> =
        TIMER_PPIS.iter().flat_map(|&ppi| [GIC_PPI, ppi, (cpu_mask << 8) | IRQ_LEVEL_HIGH]).collect();
    fdt.property_array_u32("interrupts", &cells)?;
    fdt.property_null("always-on")?;
    fdt.end_node(timer)?;

    if let Some(uart) = &machine.uart {
        let clock = fdt.begin_node("apb-pclk")?;
        fdt.property_string("compatible", "fixed-clock")?;
        fdt.property_u32("#clock-cells", 0)?;
        fdt.property_u32("clock-frequency", UART_CLOCK_HZ)?;
        fdt.property_string("clock-output-names", "clk24mhz")?;
        fdt.property_phandle(PHANDLE_CLOCK)?;
        fdt.end_node(clock)?;

        let node = fdt.begin_node(&format!("pl011@{:x}", uart.base))?;
        fdt.property_string_list("compatible", alloc::vec!["arm,pl011".into(), "arm,primecell".into()])?;
        fdt.property_array_u32("reg", &cells64(&[uart.base, uart.size]))?;
        fdt.property_array_u32("interrupts", &[GIC_SPI, uart.spi, IRQ_LEVEL_HIGH])?;
        fdt.property_array_u32("clocks", &[PHANDLE_CLOCK, PHANDLE_CLOCK])?;
        fdt.property_string_list("clock-names", alloc::vec!["uartclk".into(), "apb_pclk".into()])?;
        fdt.end_node(node)?;
    }

    for dev in &machine.virtio {
        virtio::write_node(&mut fdt, dev, &[GIC_SPI, dev.irq, IRQ_LEVEL_HIGH], None)?;
    }
    for ch in &machine.channels {
        channel::write_node(&mut fdt, ch, &[GIC_SPI, ch.irq, IRQ_EDGE_RISING], None)?;
    }

    fdt.end_node(root)?;
    Ok(fdt.finish()?)
}

#[cfg(test)]
mod tests;
