extern crate std;

use alloc::{string::{String, ToString}, vec::Vec};

use fdt_parser::Fdt;

use super::*;

const LINUX: &str = include_str!("../../../configs/vms/linux-aarch64-smp2.toml");

fn linux_machine() -> Machine {
    let config = vmconfig_check::parse(LINUX).expect("the Linux config parses");
    Machine::from_config(&config, Some(0x10_0000)).expect("the Linux config describes a machine")
}

#[test]
fn reads_the_machine_out_of_the_config() {
    let m = linux_machine();
    assert_eq!(m.memory, [(0x4000_0000, 0x800_0000)]);
    assert_eq!(m.cpus, [0, 1]);
    assert_eq!(m.gic.distributor, (0x0800_0000, 0x1000));
    assert_eq!(m.gic.cpu_interface, (0x0801_0000, 0x2000));
    assert_eq!(m.uart, Some(Uart { base: 0x0900_0000, size: 0x1000, spi: 1 }));
    assert_eq!(m.bootargs.as_deref(), Some("console=ttyAMA0 panic=-1"));
    assert_eq!(m.initrd, Some((0x4600_0000, 0x4610_0000)));
}

fn compatibles(fdt: &Fdt<'_>, path: &'static str) -> Vec<String> {
    let node = fdt.find_nodes(path).next().unwrap_or_else(|| panic!("{path} is in the tree"));
    node.compatibles().map(String::from).collect()
}

#[test]
fn the_tree_describes_what_linux_needs() {
    let blob = build(&linux_machine()).expect("builds");
    let fdt = Fdt::from_bytes(&blob).expect("a valid FDT");
    let memory: Vec<_> = fdt.memory().flat_map(|m| m.regions().collect::<Vec<_>>()).collect();
    assert_eq!(memory.len(), 1);
    assert_eq!(memory[0].address as usize, 0x4000_0000);
    assert_eq!(memory[0].size, 0x800_0000);
    let cpus: Vec<_> = fdt.find_nodes("/cpus/cpu").collect();
    assert_eq!(cpus.len(), 2);
    assert_eq!(compatibles(&fdt, "/psci"), ["arm,psci-1.0", "arm,psci-0.2"]);
    let psci = fdt.find_nodes("/psci").next().expect("psci");
    assert_eq!(psci.find_property("method").map(|p| p.str()), Some("hvc"));
    let gic = fdt.find_nodes("/intc").next().expect("gic node");
    let regs: Vec<_> = gic.reg().expect("gic reg").map(|r| (r.address, r.size)).collect();
    assert_eq!(regs, [(0x0800_0000, Some(0x1000)), (0x0801_0000, Some(0x2000))]);
    assert!(gic.find_property("interrupt-controller").is_some());
    assert_eq!(compatibles(&fdt, "/timer"), ["arm,armv8-timer"]);
    let timer = fdt.find_nodes("/timer").next().expect("timer");
    let irqs: Vec<Vec<u32>> = timer.interrupts().expect("timer interrupts").map(|i| i.collect()).collect();
    assert_eq!(irqs[2], [1, 11, 0x304], "virtual timer: PPI 11 (id 27) to both CPUs, level high");
    let uart = fdt.find_nodes("/pl011").next().expect("uart");
    let uart_irq: Vec<Vec<u32>> = uart.interrupts().expect("uart interrupts").map(|i| i.collect()).collect();
    assert_eq!(uart_irq, [[0, 1, 4]]);
    let chosen = fdt.chosen().expect("chosen");
    assert_eq!(chosen.bootargs(), Some("console=ttyAMA0 panic=-1"));
    let node = fdt.find_nodes("/chosen").next().expect("chosen node");
    let start = node.find_property("linux,initrd-start").map(|p| p.u64());
    let end = node.find_property("linux,initrd-end").map(|p| p.u64());
    assert_eq!((start, end), (Some(0x4600_0000), Some(0x4610_0000)));
}

#[test]
fn a_config_without_what_the_tree_needs_is_refused() {
    let no_gic = LINUX.replace(r#"["vgic-v2", 0x0800_0000, 0x1000, 0, 0x1, [0x0801_0000]],"#, "");
    let config = vmconfig_check::parse(&no_gic).expect("parses");
    let err = Machine::from_config(&config, None).expect_err("no GIC");
    assert_eq!(err.to_string(), "devices.emu_devices: no interrupt controller (type 0x1) (needed to generate the guest device tree)");
    let no_gicc = LINUX.replace("[0x0801_0000]", "[]");
    let config = vmconfig_check::parse(&no_gicc).expect("parses");
    assert!(matches!(Machine::from_config(&config, None), Err(FdtError::Config { .. })));
    let ppi_uart = LINUX.replace("0x1000, 33]", "0x1000, 27]");
    let config = vmconfig_check::parse(&ppi_uart).expect("parses");
    assert!(Machine::from_config(&config, None).expect_err("PPI uart").to_string().contains("irq_id"));
}

#[test]
fn a_machine_without_uart_or_initrd_still_builds() {
    let mut m = linux_machine();
    m.uart = None;
    m.initrd = None;
    m.bootargs = None;
    let blob = build(&m).expect("builds");
    let fdt = Fdt::from_bytes(&blob).expect("valid");
    assert!(fdt.find_nodes("/pl011").next().is_none());
    assert!(fdt.chosen().and_then(|c| c.bootargs()).is_none());
}

#[test]
fn a_console_device_is_the_uart_the_tree_names() {
    let with_console = LINUX
        .replace("[\"pl011\", 0x0900_0000, 0x0900_0000, 0x1000, 33],", "")
        .replace("emu_devices = [", "emu_devices = [\n    [\"uart\", 0x0a00_0000, 0x1000, 40, 0x2, []],");
    let config = vmconfig_check::parse(&with_console).expect("parses");
    let machine = Machine::from_config(&config, None).expect("a machine");
    assert_eq!(machine.uart, Some(Uart { base: 0x0a00_0000, size: 0x1000, spi: 8 }), "the console, not a passthrough");
    let low_irq = with_console.replace("0x1000, 40, 0x2", "0x1000, 16, 0x2");
    let config = vmconfig_check::parse(&low_irq).expect("parses");
    let error = Machine::from_config(&config, None).expect_err("a PPI is no UART interrupt").to_string();
    assert!(error.contains("devices.emu_devices[console].irq_id"), "{error}");
}
