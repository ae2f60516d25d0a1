extern crate std;

use alloc::{format, string::{String, ToString}, vec::Vec};

use fdt_parser::Fdt;

use super::*;

const LINUX: &str = include_str!("../../../configs/vms/linux-aarch64-smp2.toml");

fn linux_machine() -> Machine {
    let config = vmconfig_check::parse(LINUX).expect("the Linux config parses");
    Machine::from_config(&config, Some(0x10_0000), GicVersion::V2).expect("the Linux config describes a machine")
}

#[test]
fn reads_the_machine_out_of_the_config() {
    let m = linux_machine();
    assert_eq!(m.memory, [(0x4000_0000, 0x800_0000)]);
    assert_eq!(m.cpus, [0, 1]);
    assert_eq!(m.gic, Gic::V2 { distributor: (0x0800_0000, 0x1_0000), cpu_interface: (0x0801_0000, 0x2000) });
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
    assert_eq!(regs, [(0x0800_0000, Some(0x1_0000)), (0x0801_0000, Some(0x2000))]);
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
    let no_gic = LINUX.replace(r#"["vgic", 0x0800_0000, 0x1_0000, 0, 0x1, [0x0801_0000, 0x080a_0000]],"#, "");
    let config = vmconfig_check::parse(&no_gic).expect("parses");
    let err = Machine::from_config(&config, None, GicVersion::V2).expect_err("no GIC");
    assert_eq!(err.to_string(), "devices.emu_devices: no interrupt controller (type 0x1) (needed to generate the guest device tree)");
    let no_gicc = LINUX.replace("[0x0801_0000, 0x080a_0000]", "[]");
    let config = vmconfig_check::parse(&no_gicc).expect("parses");
    assert!(matches!(Machine::from_config(&config, None, GicVersion::V2), Err(FdtError::Config { .. })));
    let ppi_uart = LINUX.replace("0x1000, 33]", "0x1000, 27]");
    let config = vmconfig_check::parse(&ppi_uart).expect("parses");
    assert!(Machine::from_config(&config, None, GicVersion::V2).expect_err("PPI uart").to_string().contains("irq_id"));
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
    let machine = Machine::from_config(&config, None, GicVersion::V2).expect("a machine");
    assert_eq!(machine.uart, Some(Uart { base: 0x0a00_0000, size: 0x1000, spi: 8 }), "the console, not a passthrough");
    let low_irq = with_console.replace("0x1000, 40, 0x2", "0x1000, 16, 0x2");
    let config = vmconfig_check::parse(&low_irq).expect("parses");
    let error = Machine::from_config(&config, None, GicVersion::V2).expect_err("a PPI is no UART interrupt").to_string();
    assert!(error.contains("devices.emu_devices[console].irq_id"), "{error}");
}

const RISCV: &str = r#"
[base]
id = 1
name = "linux"
vm_type = 1
cpu_num = 2
phys_cpu_ids = [0, 1]

[kernel]
entry_point = 0x8020_0000
kernel_path = "linux-riscv64.Image"
kernel_load_addr = 0x8020_0000
ramdisk_path = "linux-riscv64-initramfs.cpio.gz"
ramdisk_load_addr = 0x8600_0000
dtb_load_addr = 0x87e0_0000
cmdline = "console=ttyS0 panic=-1"
image_location = "memory"
memory_regions = [
    [0x8000_0000, 0x800_0000, 0x7, 0],
]

[devices]
emu_devices = [
    ["vplic", 0x0c00_0000, 0x60_0000, 0, 0x1, []],
]
passthrough_devices = [
    ["uart16550", 0x1000_0000, 0x1000_0000, 0x1000, 10],
]
"#;
const ISA: &str = "rv64imafdc_zicsr_zifencei_sstc";

fn riscv_machine(text: &str) -> Result<RiscvMachine, FdtError> {
    let config = vmconfig_check::parse(text).expect("the riscv64 config parses");
    RiscvMachine::from_config(&config, Some(0x10_0000), ISA, 10_000_000)
}

fn u32s(node: &fdt_parser::Node<'_>, name: &str) -> Vec<u32> {
    node.find_property(name).unwrap_or_else(|| panic!("{name} is set")).u32_list().collect()
}

#[test]
fn reads_the_riscv_machine_out_of_the_config() {
    let m = riscv_machine(RISCV).expect("a machine");
    assert_eq!(m.memory, [(0x8000_0000, 0x800_0000)]);
    assert_eq!((m.harts, m.isa.as_str(), m.timebase_hz), (2, ISA, 10_000_000));
    assert_eq!(m.plic, (0x0c00_0000, 0x60_0000));
    assert_eq!(m.uart, Some(Ns16550 { base: 0x1000_0000, size: 0x1000, irq: 10 }));
    assert_eq!(m.bootargs.as_deref(), Some("console=ttyS0 panic=-1"));
    assert_eq!(m.initrd, Some((0x8600_0000, 0x8610_0000)));
}

#[test]
fn the_riscv_tree_describes_what_linux_needs() {
    let blob = build_riscv(&riscv_machine(RISCV).expect("a machine")).expect("builds");
    let fdt = Fdt::from_bytes(&blob).expect("a valid FDT");
    let root = fdt.find_nodes("/").next().expect("root");
    assert_eq!(root.find_property("compatible").map(|p| p.str()), Some("riscv-virtio"));
    let memory: Vec<_> = fdt.memory().flat_map(|m| m.regions().collect::<Vec<_>>()).collect();
    assert_eq!(memory.len(), 1);
    assert_eq!((memory[0].address as usize, memory[0].size), (0x8000_0000, 0x800_0000));

    let cpus_node = fdt.find_nodes("/cpus").next().expect("cpus");
    assert_eq!(u32s(&cpus_node, "timebase-frequency"), [10_000_000]);
    let cpus: Vec<_> = fdt.find_nodes("/cpus/cpu").collect();
    assert_eq!(cpus.len(), 2);
    for (id, cpu) in cpus.iter().enumerate() {
        assert_eq!(u32s(cpu, "reg"), [id as u32]);
        assert_eq!(cpu.find_property("riscv,isa").map(|p| p.str()), Some(ISA));
        assert_eq!(cpu.find_property("mmu-type").map(|p| p.str()), Some("riscv,sv39"));
    }
    let intcs: Vec<_> = fdt.all_nodes().filter(|n| n.name() == "interrupt-controller").collect();
    assert_eq!(intcs.len(), 2, "one local interrupt controller per hart");
    for intc in &intcs {
        assert_eq!(intc.compatibles().collect::<Vec<_>>(), ["riscv,cpu-intc"]);
        assert_eq!(u32s(intc, "#interrupt-cells"), [1]);
    }
    let (p0, p1) = (u32s(&intcs[0], "phandle")[0], u32s(&intcs[1], "phandle")[0]);
    assert_ne!(p0, p1);

    let plic = fdt.find_nodes("/soc/plic").next().expect("plic");
    assert_eq!(plic.name(), "plic@c000000");
    assert_eq!(compatibles(&fdt, "/soc/plic"), ["sifive,plic-1.0.0", "riscv,plic0"]);
    let regs: Vec<_> = plic.reg().expect("plic reg").map(|r| (r.address, r.size)).collect();
    assert_eq!(regs, [(0x0c00_0000, Some(0x60_0000))]);
    assert_eq!(u32s(&plic, "riscv,ndev"), [95]);
    assert_eq!(u32s(&plic, "interrupts-extended"), [p0, 11, p0, 9, p1, 11, p1, 9], "M then S context per hart");
    let plic_phandle = u32s(&plic, "phandle")[0];
    assert!(![p0, p1].contains(&plic_phandle));

    let serial = fdt.find_nodes("/soc/serial").next().expect("serial");
    assert_eq!(serial.name(), "serial@10000000");
    assert_eq!(compatibles(&fdt, "/soc/serial"), ["ns16550a"]);
    assert_eq!(u32s(&serial, "interrupt-parent"), [plic_phandle]);
    let irqs: Vec<Vec<u32>> = serial.interrupts().expect("serial interrupts").map(|i| i.collect()).collect();
    assert_eq!(irqs, [[10]]);

    let chosen = fdt.chosen().expect("chosen");
    assert_eq!(chosen.bootargs(), Some("console=ttyS0 panic=-1"));
    assert_eq!(chosen.stdout().map(|s| s.node.name()), Some("serial@10000000"));
    let node = fdt.find_nodes("/chosen").next().expect("chosen node");
    assert_eq!(node.find_property("stdout-path").map(|p| p.str()), Some("/soc/serial@10000000"));
    let start = node.find_property("linux,initrd-start").map(|p| p.u64());
    let end = node.find_property("linux,initrd-end").map(|p| p.u64());
    assert_eq!((start, end), (Some(0x8600_0000), Some(0x8610_0000)));
}

#[test]
fn a_riscv_config_without_an_interrupt_controller_is_refused() {
    let no_plic = RISCV.replace(r#"["vplic", 0x0c00_0000, 0x60_0000, 0, 0x1, []],"#, "");
    let err = riscv_machine(&no_plic).expect_err("no PLIC");
    assert_eq!(err, FdtError::Config { field: "devices.emu_devices", what: "no interrupt controller (type 0x1)" });
}

#[test]
fn a_riscv_uart_interrupt_must_be_a_plic_source() {
    for irq in ["0", "1024"] {
        let bad = RISCV.replace("0x1000, 10]", &format!("0x1000, {irq}]"));
        let err = riscv_machine(&bad).expect_err("not a PLIC source");
        assert!(
            matches!(err, FdtError::Config { field: "devices.passthrough_devices[uart16550].irq_id", .. }),
            "{err}"
        );
    }
}

#[test]
fn a_riscv_config_without_ram_is_refused() {
    // Config parsing refuses it first; the tree builder must too.
    let mut config = vmconfig_check::parse(RISCV).expect("the riscv64 config parses");
    config.kernel.memory_regions.clear();
    let err = RiscvMachine::from_config(&config, Some(0x10_0000), ISA, 10_000_000).expect_err("no RAM");
    assert!(matches!(err, FdtError::Config { field: "kernel.memory_regions", .. }), "{err}");
}

#[test]
fn a_riscv_console_device_wins_over_the_passthrough_uart() {
    let with_console =
        RISCV.replace("emu_devices = [", "emu_devices = [\n    [\"uart\", 0x1000_1000, 0x100, 12, 0x2, []],");
    let machine = riscv_machine(&with_console).expect("a machine");
    assert_eq!(machine.uart, Some(Ns16550 { base: 0x1000_1000, size: 0x100, irq: 12 }));
    let blob = build_riscv(&machine).expect("builds");
    let fdt = Fdt::from_bytes(&blob).expect("valid");
    let serials: Vec<_> = fdt.find_nodes("/soc/serial").map(|n| n.name()).collect();
    assert_eq!(serials, ["serial@10001000"]);
    let low_irq = with_console.replace("0x100, 12, 0x2", "0x100, 0, 0x2");
    let error = riscv_machine(&low_irq).expect_err("source 0 is no interrupt").to_string();
    assert!(error.contains("devices.emu_devices[console].irq_id"), "{error}");
}

#[test]
fn a_riscv_machine_builds_without_a_uart_but_not_without_harts() {
    let mut m = riscv_machine(RISCV).expect("a machine");
    m.uart = None;
    m.initrd = None;
    let fdt_blob = build_riscv(&m).expect("builds without a UART");
    let fdt = Fdt::from_bytes(&fdt_blob).expect("valid");
    assert!(fdt.find_nodes("/soc/serial").next().is_none());
    let chosen = fdt.find_nodes("/chosen").next().expect("chosen");
    assert!(chosen.find_property("stdout-path").is_none());
    m.harts = 0;
    assert!(matches!(build_riscv(&m), Err(FdtError::Config { field: "base.cpu_num", .. })));
}

#[test]
fn a_gicv3_host_gives_the_guest_a_gicv3() {
    let config = vmconfig_check::parse(LINUX).expect("the Linux config parses");
    let machine = Machine::from_config(&config, None, GicVersion::V3).expect("a machine");
    assert_eq!(machine.gic, Gic::V3 { distributor: (0x0800_0000, 0x1_0000), redistributors: (0x080a_0000, 0x4_0000) });
    let blob = build(&machine).expect("builds");
    let fdt = Fdt::from_bytes(&blob).expect("a valid FDT");
    assert_eq!(compatibles(&fdt, "/intc"), ["arm,gic-v3"]);
    let gic = fdt.find_nodes("/intc").next().expect("gic node");
    let regs: Vec<_> = gic.reg().expect("gic reg").map(|r| (r.address, r.size)).collect();
    assert_eq!(regs, [(0x0800_0000, Some(0x1_0000)), (0x080a_0000, Some(0x4_0000))]);
    assert_eq!(gic.find_property("#redistributor-regions").map(|p| p.u32()), Some(1));
    let timer = fdt.find_nodes("/timer").next().expect("timer");
    let irqs: Vec<Vec<u32>> = timer.interrupts().expect("timer interrupts").map(|i| i.collect()).collect();
    assert_eq!(irqs[2], [1, 11, 4], "virtual timer: PPI 11 (id 27), no CPU mask on a GICv3");
    let v2_only = LINUX.replace("[0x0801_0000, 0x080a_0000]", "[0x0801_0000]");
    let config = vmconfig_check::parse(&v2_only).expect("parses");
    let error = Machine::from_config(&config, None, GicVersion::V3).expect_err("no redistributors").to_string();
    assert!(error.contains("redistributor"), "{error}");
}

/// A host tree like QEMU virt's with a GICv3: RAM, two CPUs, the GIC with
/// an ITS, the timer, a UART, flash, a PCIe host, a virtio bus node.
fn host_tree() -> Vec<u8> {
    host_tree_with_virtio(&[])
}

/// [`host_tree`] with virtio-mmio nodes (base, SPI), as QEMU virt has.
fn host_tree_with_virtio(virtio: &[(u64, u32)]) -> Vec<u8> {
    let mut fdt = vm_fdt::FdtWriter::new().expect("writer");
    let root = fdt.begin_node("").expect("root");
    fdt.property_string("compatible", "linux,dummy-virt").expect("p");
    fdt.property_null("dma-coherent").expect("p");
    fdt.property_u32("#address-cells", 2).expect("p");
    fdt.property_u32("#size-cells", 2).expect("p");
    fdt.property_u32("interrupt-parent", 0x8002).expect("p");
    let chosen = fdt.begin_node("chosen").expect("n");
    fdt.property_string("stdout-path", "/pl011@9000000").expect("p");
    fdt.end_node(chosen).expect("e");
    let mem = fdt.begin_node("memory@40000000").expect("n");
    fdt.property_string("device_type", "memory").expect("p");
    fdt.property_array_u64("reg", &[0x4000_0000, 0x1000_0000]).expect("p");
    fdt.end_node(mem).expect("e");
    let cpus = fdt.begin_node("cpus").expect("n");
    fdt.property_u32("#address-cells", 1).expect("p");
    fdt.property_u32("#size-cells", 0).expect("p");
    for id in 0..2u32 {
        let cpu = fdt.begin_node(&format!("cpu@{id}")).expect("n");
        fdt.property_string("device_type", "cpu").expect("p");
        fdt.property_string("compatible", "arm,cortex-a72").expect("p");
        fdt.property_u32("reg", id).expect("p");
        fdt.end_node(cpu).expect("e");
    }
    fdt.end_node(cpus).expect("e");
    let gic = fdt.begin_node("intc@8000000").expect("n");
    fdt.property_string("compatible", "arm,gic-v3").expect("p");
    fdt.property_null("interrupt-controller").expect("p");
    fdt.property_u32("#interrupt-cells", 3).expect("p");
    fdt.property_u32("#address-cells", 2).expect("p");
    fdt.property_u32("#size-cells", 2).expect("p");
    fdt.property_null("ranges").expect("p");
    fdt.property_array_u64("reg", &[0x0800_0000, 0x1_0000, 0x080a_0000, 0xf6_0000, 0x0801_0000, 0x1_0000]).expect("p");
    fdt.property_array_u32("interrupts", &[1, 9, 4]).expect("p");
    fdt.property_u32("phandle", 0x8002).expect("p");
    let its = fdt.begin_node("its@8080000").expect("n");
    fdt.property_array_u64("reg", &[0x0808_0000, 0x2_0000]).expect("p");
    fdt.end_node(its).expect("e");
    fdt.end_node(gic).expect("e");
    let soc = fdt.begin_node("soc").expect("n");
    let plic = fdt.begin_node("plic@c000000").expect("n");
    fdt.property_null("interrupt-controller").expect("p");
    fdt.property_array_u64("reg", &[0x0c00_0000, 0x60_0000]).expect("p");
    fdt.end_node(plic).expect("e");
    fdt.end_node(soc).expect("e");
    let timer = fdt.begin_node("timer").expect("n");
    fdt.property_string("compatible", "arm,armv8-timer").expect("p");
    fdt.property_array_u32("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]).expect("p");
    fdt.end_node(timer).expect("e");
    let devices = [
        ("pl011@9000000", [0x0900_0000u64, 0x1000], Some(1u32)),
        ("flash@0", [0, 0x800_0000], None),
        ("fw-cfg@9020000", [0x0902_0000, 0x18], None),
        ("pcie@10000000", [0x40_1000_0000, 0x1000_0000], Some(3)),
    ];
    for (name, reg, irq) in devices {
        let node = fdt.begin_node(name).expect("n");
        match name.split('@').next() {
            Some("pl011") => fdt.property_string("compatible", "arm,pl011").expect("p"),
            Some("flash") => fdt.property_string("compatible", "cfi-flash").expect("p"),
            Some("fw-cfg") => {
                fdt.property_string("compatible", "qemu,fw-cfg-mmio").expect("p");
                fdt.property_null("dma-coherent").expect("p");
            }
            _ => fdt.property_string("device_type", "pci").expect("p"),
        }
        fdt.property_array_u64("reg", &reg).expect("p");
        if let Some(spi) = irq {
            fdt.property_array_u32("interrupts", &[0, spi, 4]).expect("p");
        }
        if name.starts_with("pcie") {
            let dev = fdt.begin_node("dev@0").expect("n");
            fdt.property_array_u64("reg", &[0x40_1000_0000, 0x1000]).expect("p");
            fdt.end_node(dev).expect("e");
        }
        fdt.end_node(node).expect("e");
    }
    for &(base, spi) in virtio {
        let node = fdt.begin_node(&format!("virtio_mmio@{base:x}")).expect("n");
        fdt.property_null("dma-coherent").expect("p");
        fdt.property_array_u32("interrupts", &[0, spi, 1]).expect("p");
        fdt.property_array_u64("reg", &[base, 0x200]).expect("p");
        fdt.property_string("compatible", "virtio,mmio").expect("p");
        fdt.end_node(node).expect("e");
    }
    fdt.end_node(root).expect("e");
    fdt.finish().expect("finish")
}

#[test]
fn host_devices_follow_the_kept_and_excluded_paths() {
    let blob = host_tree();
    let host = Fdt::from_bytes(&blob).expect("host tree");
    let select = |keep, exclude, held| Selection { keep, exclude, held };
    let all = host_devices(&host, &select(&["/"], &["/pcie@10000000"], &[]));
    let paths: Vec<&str> = all.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["/flash@0"], "no GIC, ITS, nested controller, memory, CPUs, excluded PCIe, console or DMA master");
    assert!(all[0].spis.is_empty());
    let one = host_devices(&host, &select(&["/pl011@9000000"], &[], &[]));
    assert_eq!(one.len(), 1, "the console, named by its path");
    assert_eq!(one[0].regs, [(0x0900_0000, 0x1000)]);
    assert_eq!(one[0].spis, [33]);
    assert!(host_devices(&host, &select(&["/pl011"], &[], &[])).is_empty(), "a path names a whole node");
    let held = host_devices(&host, &select(&["/"], &["/pcie@10000000"], &["cfi-flash"]));
    assert!(held.is_empty(), "a device the hypervisor holds is not passed through");
}

#[test]
fn everything_never_includes_the_console_or_a_bus_master_unless_named() {
    let blob = host_tree();
    let host = Fdt::from_bytes(&blob).expect("host tree");
    let select = |keep| Selection { keep, exclude: &[], held: &[] };
    let everything = host_devices(&host, &select(&["/"]));
    let paths: Vec<&str> = everything.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["/flash@0"], "no console, no fw-cfg, no PCI host or device behind it");
    let guarded = guarded_devices(&host, &select(&["/"]));
    let seen: Vec<(&str, Guard, bool)> = guarded.iter().map(|g| (g.device.path.as_str(), g.guard, g.passed)).collect();
    assert_eq!(
        seen,
        [("/pl011@9000000", Guard::Console, false), ("/fw-cfg@9020000", Guard::Dma, false), ("/pcie@10000000", Guard::Dma, false)],
        "each listed once, at its top-most guarded node"
    );
    assert_eq!(guarded[0].device.regs, [(0x0900_0000, 0x1000)], "where the virtual console goes");
    assert_eq!(guarded[0].device.spis, [33]);
    let named = select(&["/", "/fw-cfg@9020000", "/pcie@10000000/dev@0"]);
    let paths: Vec<String> = host_devices(&host, &named).into_iter().map(|d| d.path).collect();
    assert_eq!(
        paths,
        ["/flash@0", "/fw-cfg@9020000", "/pcie@10000000", "/pcie@10000000/dev@0"],
        "named by path (a device behind a bus names the bus too): passed through"
    );
    let passed: Vec<bool> = guarded_devices(&host, &named).iter().map(|g| g.passed).collect();
    assert_eq!(passed, [false, true, true]);
}

#[test]
fn the_derived_tree_is_the_hosts_with_the_vms_memory_and_cpus() {
    let blob = host_tree();
    let host = Fdt::from_bytes(&blob).expect("host tree");
    let machine = DerivedMachine {
        memory: alloc::vec![(0x8000_0000, 0x800_0000)],
        cpus: alloc::vec![0],
        bootargs: Some("console=ttyAMA0".into()),
        initrd: None,
        virtio: Vec::new(),
        channels: alloc::vec![ShmChannel { base: 0x4900_0000, size: 0x1000, irq: 48, name: "link".into(), read_only: false }],
    };
    let selection = Selection { keep: &["/"], exclude: &["/pcie@10000000"], held: &[] };
    let guest = derive(&host, &machine, &selection).expect("derives");
    let fdt = Fdt::from_bytes(&guest).expect("a valid FDT");
    let memory: Vec<_> = fdt.memory().flat_map(|m| m.regions().collect::<Vec<_>>()).collect();
    assert_eq!(memory.len(), 1);
    assert_eq!((memory[0].address as usize, memory[0].size), (0x8000_0000, 0x800_0000));
    assert_eq!(fdt.find_nodes("/cpus/cpu").count(), 1);
    assert_eq!(compatibles(&fdt, "/cpus/cpu@0"), ["arm,cortex-a72"]);
    assert!(fdt.find_nodes("/pcie").next().is_none(), "excluded");
    assert!(fdt.find_nodes("/pl011").next().is_some() && fdt.find_nodes("/flash").next().is_some());
    assert!(fdt.find_nodes("/timer").next().is_some(), "nodes without registers stay");
    let gic = fdt.find_nodes("/intc").next().expect("the GIC stays");
    let regs: Vec<_> = gic.reg().expect("reg").map(|r| (r.address, r.size)).collect();
    assert_eq!(regs, [(0x0800_0000, Some(0x1_0000)), (0x080a_0000, Some(0xf6_0000))], "distributor and redistributors only");
    assert!(gic.find_property("interrupts").is_none());
    assert!(fdt.find_nodes("/intc/its").next().is_none(), "no ITS");
    assert_eq!(gic.find_property("phandle").map(|p| p.u32()), Some(0x8002), "interrupt-parent still resolves");
    let chosen = fdt.chosen().expect("chosen");
    assert_eq!(chosen.bootargs(), Some("console=ttyAMA0"));
    let stdout = fdt.find_nodes("/chosen").next().and_then(|n| n.find_property("stdout-path")).map(|p| p.str());
    assert_eq!(stdout, Some("/pl011@9000000"));
    let channel = fdt.find_compatible(&["axvisor,shm-channel"]).next().expect("the VM's channel node");
    assert_eq!(channel.find_property("label").map(|p| p.str()), Some("link"));
}

#[test]
fn each_range_and_spi_of_a_device_becomes_an_entry() {
    let dev = |regs: &[(u64, u64)], spis: &[u32]| HostDevice { path: "/d".into(), regs: regs.to_vec(), spis: spis.to_vec() };
    assert_eq!(dev(&[(0x1000, 0x100)], &[33]).entries(), [((0x1000, 0x100), Some(33))]);
    assert_eq!(
        dev(&[(0, 0x400_0000), (0x400_0000, 0x400_0000)], &[]).entries(),
        [((0, 0x400_0000), None), ((0x400_0000, 0x400_0000), None)]
    );
    assert_eq!(
        dev(&[(0x1000, 0x100)], &[40, 41]).entries(),
        [((0x1000, 0x100), Some(40)), ((0x1000, 0x100), Some(41))],
        "every SPI is forwarded"
    );
    assert!(dev(&[], &[40]).entries().is_empty(), "nothing to map, nothing passed through");
}

/// The Linux config with a virtio block and a virtio console device.
fn with_virtio(text: &str, blk: (&str, u32), console: (&str, u32)) -> String {
    text.replace(
        "emu_devices = [",
        &format!(
            "emu_devices = [\n    [\"root\", {}, 0x200, {}, 0xE1, [8]],\n    [\"hvc\", {}, 0x200, {}, 0xE3, []],",
            blk.0, blk.1, console.0, console.1
        ),
    )
}

/// What a `virtio,mmio` node says.
#[derive(Debug, PartialEq, Eq)]
struct VirtioNode {
    name: String,
    reg: Vec<u32>,
    interrupts: Vec<u32>,
    interrupt_parent: Option<u32>,
    dma_coherent: bool,
}

fn virtio_node(name: &str, reg: [u32; 4], interrupts: &[u32], interrupt_parent: Option<u32>) -> VirtioNode {
    VirtioNode { name: name.into(), reg: reg.to_vec(), interrupts: interrupts.to_vec(), interrupt_parent, dma_coherent: true }
}

/// The `virtio,mmio` nodes that are children of `parent`.
fn virtio_nodes(fdt: &Fdt<'_>, parent: &str) -> Vec<VirtioNode> {
    fdt.all_nodes()
        .filter(|n| n.compatibles().any(|c| c == "virtio,mmio"))
        .filter(|n| fdt.find_nodes(&format!("{parent}/{}", n.name())).next().is_some())
        .map(|n| VirtioNode {
            name: n.name().to_string(),
            reg: u32s(&n, "reg"),
            interrupts: u32s(&n, "interrupts"),
            interrupt_parent: n.find_property("interrupt-parent").map(|p| p.u32()),
            dma_coherent: n.find_property("dma-coherent").is_some(),
        })
        .collect()
}

#[test]
fn each_virtio_device_gets_a_virtio_mmio_node_on_aarch64() {
    let text = with_virtio(LINUX, ("0x0a00_0000", 48), ("0x0a00_0200", 49));
    let config = vmconfig_check::parse(&text).expect("parses");
    for version in [GicVersion::V2, GicVersion::V3] {
        let machine = Machine::from_config(&config, None, version).expect("a machine");
        assert_eq!(machine.virtio, [VirtioMmio { base: 0x0a00_0000, irq: 16 }, VirtioMmio { base: 0x0a00_0200, irq: 17 }]);
        let blob = build(&machine).expect("builds");
        let fdt = Fdt::from_bytes(&blob).expect("a valid FDT");
        assert_eq!(
            virtio_nodes(&fdt, ""),
            [
                virtio_node("virtio_mmio@a000000", [0, 0x0a00_0000, 0, 0x200], &[0, 16, 4], None),
                virtio_node("virtio_mmio@a000200", [0, 0x0a00_0200, 0, 0x200], &[0, 17, 4], None),
            ],
            "SPIs 16 and 17 of the root's interrupt parent, the GIC"
        );
    }
    assert!(linux_machine().virtio.is_empty(), "no virtio device, no node");
    let ppi = with_virtio(LINUX, ("0x0a00_0000", 27), ("0x0a00_0200", 49));
    let config = vmconfig_check::parse(&ppi).expect("parses");
    let error = Machine::from_config(&config, None, GicVersion::V2).expect_err("a PPI is no device interrupt").to_string();
    assert!(error.contains("devices.emu_devices[virtio].irq_id"), "{error}");
}

#[test]
fn each_virtio_device_gets_a_virtio_mmio_node_on_riscv64() {
    let text = with_virtio(RISCV, ("0x1000_1000", 1), ("0x1000_2000", 2));
    let machine = riscv_machine(&text).expect("a machine");
    assert_eq!(machine.virtio, [VirtioMmio { base: 0x1000_1000, irq: 1 }, VirtioMmio { base: 0x1000_2000, irq: 2 }]);
    let blob = build_riscv(&machine).expect("builds");
    let fdt = Fdt::from_bytes(&blob).expect("a valid FDT");
    let plic = fdt.find_nodes("/soc/plic").next().expect("plic");
    let phandle = u32s(&plic, "phandle")[0];
    assert_eq!(
        virtio_nodes(&fdt, "/soc"),
        [
            virtio_node("virtio_mmio@10001000", [0, 0x1000_1000, 0, 0x200], &[1], Some(phandle)),
            virtio_node("virtio_mmio@10002000", [0, 0x1000_2000, 0, 0x200], &[2], Some(phandle)),
        ],
        "PLIC sources 1 and 2"
    );
    for irq in [0, 1024] {
        let bad = with_virtio(RISCV, ("0x1000_1000", irq), ("0x1000_2000", 2));
        let error = riscv_machine(&bad).expect_err("not a PLIC source").to_string();
        assert!(error.contains("devices.emu_devices[virtio].irq_id"), "{error}");
    }
}

#[test]
fn the_derived_tree_has_the_vms_virtio_devices_in_place_of_the_hosts() {
    let blob = host_tree_with_virtio(&[(0x0a00_0000, 16), (0x0a00_0200, 17), (0x0a00_0600, 18)]);
    let host = Fdt::from_bytes(&blob).expect("host tree");
    let text = with_virtio(LINUX, ("0x0a00_0000", 48), ("0x0a00_0300", 50));
    let config = vmconfig_check::parse(&text).expect("parses");
    let machine = DerivedMachine::from_config(&config, None).expect("a machine");
    assert_eq!(machine.virtio, [VirtioMmio { base: 0x0a00_0000, irq: 16 }, VirtioMmio { base: 0x0a00_0300, irq: 18 }]);
    // Every host virtio node named: those the VM's windows overlap go all the same.
    let keep = ["/", "/virtio_mmio@a000000", "/virtio_mmio@a000200", "/virtio_mmio@a000600"];
    let selection = Selection { keep: &keep, exclude: &["/pcie@10000000"], held: &[] };
    let guest = derive(&host, &machine, &selection).expect("derives");
    let fdt = Fdt::from_bytes(&guest).expect("a valid FDT");
    let nodes: Vec<(String, Vec<u32>)> = virtio_nodes(&fdt, "").into_iter().map(|n| (n.name, n.interrupts)).collect();
    assert_eq!(
        nodes,
        [
            ("virtio_mmio@a000000".into(), alloc::vec![0, 16, 4]),
            ("virtio_mmio@a000300".into(), alloc::vec![0, 18, 4]),
            ("virtio_mmio@a000600".into(), alloc::vec![0, 18, 1]),
        ],
        "the VM's two, and the host's one that neither overlaps (a000200 overlaps a000300)"
    );
    // Not named, the host's are held back (bus masters): only the VM's remain.
    let everything = Selection { keep: &["/"], exclude: &["/pcie@10000000"], held: &[] };
    let guest = derive(&host, &machine, &everything).expect("derives");
    let fdt = Fdt::from_bytes(&guest).expect("a valid FDT");
    let names: Vec<String> = virtio_nodes(&fdt, "").into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["virtio_mmio@a000000", "virtio_mmio@a000300"]);
    assert!(fdt.find_nodes("/pl011").next().is_some() && fdt.find_nodes("/flash").next().is_some(), "the rest stays");
}

#[test]
fn a_channel_gets_a_node_with_its_window_edge_doorbell_label_and_access() {
    let text = LINUX.replacen(
        "emu_devices = [",
        "emu_devices = [\n    [\"link\", 0x4900_0000, 0x2000, 80, 0xA, [1]],\n    [\"rw\", 0x4a00_0000, 0x1000, 81, 0xA, []],",
        1,
    );
    let config = vmconfig_check::parse(&text).expect("the config with channels parses");
    let machine = Machine::from_config(&config, Some(0x10_0000), GicVersion::V2).expect("a machine");
    let blob = build(&machine).expect("builds");
    let fdt = Fdt::from_bytes(&blob).expect("a valid FDT");
    let nodes: Vec<_> = fdt.find_compatible(&["axvisor,shm-channel"]).collect();
    assert_eq!(nodes.len(), 2);
    let ro = &nodes[0];
    let regs: Vec<_> = ro.reg().expect("reg").map(|r| (r.address, r.size)).collect();
    assert_eq!(regs, [(0x4900_0000, Some(0x2000))]);
    let irqs: Vec<Vec<u32>> = ro.interrupts().expect("interrupts").map(|i| i.collect()).collect();
    assert_eq!(irqs, [[0, 48, 1]], "SPI 48 (id 80), edge rising");
    assert_eq!(ro.find_property("label").map(|p| p.str()), Some("link"));
    assert!(ro.find_property("read-only").is_some());
    assert!(nodes[1].find_property("read-only").is_none());
}
