use super::*;
use offset::*;

fn dist(vcpus: usize) -> Distributor {
    Distributor::new(vcpus, 64, 0x0200_043b).expect("valid distributor")
}

#[test]
fn rejects_impossible_shapes() {
    assert_eq!(Distributor::new(0, 64, 0).err(), Some(Error::VcpuCount(0)));
    assert_eq!(Distributor::new(9, 64, 0).err(), Some(Error::VcpuCount(9)));
    assert_eq!(Distributor::new(1, 40, 0).err(), Some(Error::IrqCount(40)));
    assert_eq!(Distributor::new(1, 288, 0).err(), Some(Error::IrqCount(288)));
}

#[test]
fn typer_and_iidr_describe_the_vm() {
    let d = dist(2);
    assert_eq!(d.read(0, TYPER, 4), (1 << 5) | 1);
    assert_eq!(d.read(1, IIDR, 4), 0x0200_043b);
}

#[test]
fn enables_are_banked_for_private_interrupts() {
    let mut d = dist(2);
    d.write(0, CTLR, 4, 1);
    d.write(0, ISENABLER, 4, 1 << 27);
    assert!(d.deliverable(0, 27));
    assert!(!d.deliverable(1, 27), "vCPU 1 has its own PPI bank");
    assert_eq!(d.read(0, ICENABLER, 4) & (1 << 27), 1 << 27);
    d.write(0, ICENABLER, 4, 1 << 27);
    assert!(!d.deliverable(0, 27));
}

#[test]
fn sgis_cannot_be_disabled() {
    let mut d = dist(1);
    d.write(0, CTLR, 4, 1);
    d.write(0, ICENABLER, 4, 0xffff_ffff);
    assert_eq!(d.read(0, ISENABLER, 4), 0xffff);
    assert!(d.deliverable(0, 3));
}

#[test]
fn nothing_is_deliverable_while_the_distributor_is_off() {
    let mut d = dist(1);
    d.write(0, ISENABLER, 4, 1 << 27);
    assert!(!d.deliverable(0, 27));
    d.write(0, CTLR, 4, 1);
    assert!(d.deliverable(0, 27));
}

#[test]
fn spis_follow_enable_and_targets() {
    let mut d = dist(2);
    d.write(0, CTLR, 4, 1);
    d.write(0, ISENABLER + 4, 4, 1 << 1); // irq 33
    assert!(!d.deliverable(0, 33), "no target yet");
    d.write(0, ITARGETSR + 33, 1, 0b10);
    assert!(d.deliverable(1, 33));
    assert!(!d.deliverable(0, 33));
    assert_eq!(d.spi_target(33), Some(1));
    assert_eq!(d.spi_target(34), None);
    assert_eq!(d.spi_target(5), None, "not an SPI");
    assert_eq!(d.spi_target(4096), None);
    // Targets beyond the VM's vCPUs are dropped.
    d.write(0, ITARGETSR + 32, 4, 0xffff_ffff);
    assert_eq!(d.read(0, ITARGETSR + 32, 4), 0x0303_0303);
    // An SPI the VM does not have stays off.
    d.write(0, ISENABLER + 8, 4, 1);
    assert!(!d.deliverable(0, 64));
    assert_eq!(d.read(0, ISENABLER + 8, 4), 0);
}

#[test]
fn priorities_take_bytes_and_words() {
    let mut d = dist(2);
    d.write(1, IPRIORITYR + 27, 1, 0xa0);
    assert_eq!(d.priority(1, 27), 0xa0);
    assert_eq!(d.priority(0, 27), 0, "banked per vCPU");
    assert_eq!(d.read(1, IPRIORITYR + 24, 4), 0xa000_0000);
    d.write(0, IPRIORITYR + 32, 4, 0x4030_2010);
    assert_eq!(d.priority(1, 35), 0x40);
    assert_eq!(d.read(0, IPRIORITYR + 34, 1), 0x30);
}

#[test]
fn private_targets_read_as_the_reading_vcpu() {
    let d = dist(2);
    assert_eq!(d.read(0, ITARGETSR, 4), 0x0101_0101);
    assert_eq!(d.read(1, ITARGETSR + 28, 4), 0x0202_0202);
}

#[test]
fn sgir_filters() {
    let mut d = dist(3);
    let sgi = |targets| Some(SgiRequest { id: 5, targets });
    assert_eq!(d.write(0, SGIR, 4, (0b110 << 16) | 5), sgi(0b110));
    assert_eq!(d.write(1, SGIR, 4, (1 << 24) | 5), sgi(0b101), "all but self");
    assert_eq!(d.write(2, SGIR, 4, (2 << 24) | 5), sgi(0b100), "self only");
    assert_eq!(d.write(0, SGIR, 4, (3 << 24) | 5), None, "reserved filter");
    assert_eq!(d.write(0, SGIR, 4, (0b1000 << 16) | 5), None, "no such vCPU");
    assert_eq!(d.read(0, SGIR, 4), 0, "write-only");
}

#[test]
fn undefined_accesses_are_harmless() {
    let mut d = dist(1);
    for (offset, size) in [(CTLR, 2), (CTLR, 8), (TYPER + 1, 4), (CTLR, 1), (0x1000, 4), (usize::MAX - 3, 4)] {
        assert_eq!(d.read(0, offset, size), 0);
        assert_eq!(d.write(0, offset, size, u32::MAX), None);
    }
    assert_eq!(d.read(0, CTLR, 4), 0, "no stray write landed");
    // A vCPU id the VM does not have is ignored too.
    assert_eq!(d.read(7, TYPER, 4), 0);
    assert_eq!(d.write(7, CTLR, 4, 1), None);
    assert_eq!(d.read(0, 0xFE8, 4) >> 4 & 0xf, 2, "ICPIDR2 reports a GICv2");
    assert_eq!(d.read(0, 0xFE0, 4), 0, "other ID registers read as zero");
}

#[test]
fn config_keeps_sgis_edge_triggered() {
    let mut d = dist(1);
    d.write(0, ICFGR, 4, 0);
    assert_eq!(d.read(0, ICFGR, 4), 0xaaaa_aaaa);
    d.write(0, ICFGR + 4, 4, 0x5555_0000);
    assert_eq!(d.read(0, ICFGR + 4, 4), 0x5555_0000);
}
