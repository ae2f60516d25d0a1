use super::*;

const IIDR: u32 = 0x0300_043b;

fn gic(vcpus: usize) -> Gic {
    Gic::new(vcpus, 64, IIDR).expect("valid GIC")
}

/// A GIC with Group 1 on and every redistributor awake.
fn awake(vcpus: usize) -> Gic {
    let mut g = gic(vcpus);
    g.write_dist(gicd::CTLR, 4, 1 << 1);
    for v in 0..vcpus {
        g.write_redist(v, gicr::WAKER, 4, 0);
    }
    g
}

#[test]
fn rejects_impossible_shapes() {
    assert_eq!(Gic::new(0, 64, 0).err(), Some(Error::VcpuCount(0)));
    assert_eq!(Gic::new(17, 64, 0).err(), Some(Error::VcpuCount(17)));
    assert_eq!(Gic::new(1, 48, 0).err(), Some(Error::IrqCount(48)));
    assert_eq!(Gic::new(1, 288, 0).err(), Some(Error::IrqCount(288)));
}

#[test]
fn identifies_as_a_gicv3_with_affinity_routing() {
    let g = gic(2);
    assert_eq!(g.read_dist(gicd::PIDR2, 4) >> 4 & 0xf, 3);
    assert_eq!(g.read_redist(1, gicr::PIDR2, 4) >> 4 & 0xf, 3);
    assert_eq!(g.read_dist(gicd::CTLR, 4), (1 << 4) | (1 << 6), "ARE and DS read as one, groups off");
    let typer = g.read_dist(gicd::TYPER, 4);
    assert_eq!(typer & 0x1f, 1, "64 interrupt ids");
    assert_eq!(typer >> 19 & 0x1f, 9, "10-bit ids");
    assert_eq!(typer >> 17 & 1, 0, "no LPIs");
    assert_eq!(typer >> 5 & 7, 0, "CPUNumber: reserved under affinity routing");
    assert_eq!(g.read_dist(gicd::IIDR, 4), u64::from(IIDR));
}

#[test]
fn redistributor_typer_names_its_vcpu_and_the_last_one() {
    let g = gic(3);
    for v in 0..3 {
        let typer = g.read_redist(v, gicr::TYPER, 8);
        assert_eq!(typer >> 32, v as u64, "affinity of vCPU {v}");
        assert_eq!(typer >> 8 & 0xffff, v as u64, "processor number of vCPU {v}");
        assert_eq!(typer >> 4 & 1, u64::from(v == 2), "Last bit of vCPU {v}");
        let halves = g.read_redist(v, gicr::TYPER, 4) | (g.read_redist(v, gicr::TYPER + 4, 4) << 32);
        assert_eq!(halves, typer, "32-bit halves of vCPU {v}'s GICR_TYPER");
    }
    assert_eq!(g.read_redist(3, gicr::TYPER, 8), 0, "no fourth redistributor");
}

#[test]
fn waker_is_stored_state_with_children_asleep_mirroring_processor_sleep() {
    let mut g = gic(2);
    assert_eq!(g.read_redist(0, gicr::WAKER, 4), 0b110, "asleep at reset");
    g.write_redist(0, gicr::WAKER, 4, 0);
    assert_eq!(g.read_redist(0, gicr::WAKER, 4), 0, "ChildrenAsleep follows ProcessorSleep at once");
    assert_eq!(g.read_redist(1, gicr::WAKER, 4), 0b110, "each redistributor has its own");
    g.write_redist(0, gicr::WAKER, 4, 0b1);
    assert_eq!(g.read_redist(0, gicr::WAKER, 4), 0, "bit 0 (IMPLEMENTATION DEFINED) reads as zero");
    g.write_redist(0, gicr::WAKER, 4, 0b100);
    assert_eq!(g.read_redist(0, gicr::WAKER, 4), 0, "ChildrenAsleep is read-only");
    g.write_redist(0, gicr::WAKER, 4, 0b10);
    assert_eq!(g.read_redist(0, gicr::WAKER, 4), 0b110, "put back to sleep");
}

#[test]
fn a_redistributor_never_woken_still_delivers() {
    let mut g = gic(2);
    g.write_dist(gicd::CTLR, 4, 1 << 1);
    g.write_redist(1, gicr::ISENABLER0, 4, (1 << 27) | (1 << 3));
    g.write_dist(gicd::ISENABLER + 4, 4, 1 << 1);
    g.write_dist(gicd::IROUTER + 8 * 33, 8, 1);
    assert_eq!(g.read_redist(1, gicr::WAKER, 4), 0b110, "never woken");
    assert!(g.deliverable(1, 3), "SGI");
    assert!(g.deliverable(1, 27), "PPI");
    assert!(g.deliverable(1, 33), "SPI");
}

#[test]
fn putting_a_redistributor_to_sleep_changes_no_delivery() {
    let mut g = awake(1);
    g.write_redist(0, gicr::ISENABLER0, 4, 1 << 27);
    g.write_dist(gicd::ISENABLER + 4, 4, 1 << 1);
    g.write_redist(0, gicr::WAKER, 4, 0b10);
    assert!(g.deliverable(0, 27) && g.deliverable(0, 33));
    assert!(!g.deliverable(0, 28), "still gated by its enable bit");
}

#[test]
fn private_interrupts_are_per_redistributor() {
    let mut g = awake(2);
    g.write_redist(1, gicr::ISENABLER0, 4, (1 << 27) | (1 << 3));
    assert!(g.deliverable(1, 27) && g.deliverable(1, 3));
    assert!(!g.deliverable(0, 27), "vCPU 0 has its own redistributor");
    g.write_redist(1, gicr::ICENABLER0, 4, 1 << 27);
    assert!(!g.deliverable(1, 27));
    assert_eq!(g.read_redist(1, gicr::ISENABLER0, 4), 1 << 3);
    g.write_redist(0, gicr::IPRIORITYR + 27, 1, 0x80);
    assert_eq!(g.priority(0, 27), 0x80);
    assert_eq!(g.priority(1, 27), 0);
    assert_eq!(g.read_redist(0, gicr::IPRIORITYR + 24, 4), 0x8000_0000);
}

#[test]
fn distributor_private_registers_are_reserved_under_affinity_routing() {
    let mut g = awake(1);
    g.write_dist(gicd::ISENABLER, 4, u64::MAX);
    g.write_dist(gicd::IPRIORITYR, 4, 0xffff_ffff);
    assert_eq!(g.read_dist(gicd::ISENABLER, 4), 0);
    assert_eq!(g.read_dist(gicd::IPRIORITYR, 4), 0);
    assert!(!g.deliverable(0, 5));
}

#[test]
fn spis_follow_their_routing() {
    let mut g = awake(2);
    g.write_dist(gicd::ISENABLER + 4, 4, 1 << 1);
    assert_eq!(g.spi_target(33), Some(0), "routed to affinity 0 at reset");
    assert!(g.deliverable(0, 33));
    g.write_dist(gicd::IROUTER + 8 * 33, 8, 1);
    assert_eq!(g.read_dist(gicd::IROUTER + 8 * 33, 8), 1);
    assert!(g.deliverable(1, 33) && !g.deliverable(0, 33));
    g.write_dist(gicd::IROUTER + 8 * 33, 8, 7);
    assert_eq!(g.spi_target(33), None, "affinity 7 is no vCPU");
    g.write_dist(gicd::IROUTER + 8 * 33, 4, 1 << 31);
    assert_eq!(g.spi_target(33), Some(0), "IRM: any vCPU, vCPU 0 here");
    g.write_dist(gicd::ICENABLER + 4, 4, 1 << 1);
    assert!(!g.deliverable(0, 33));
}

#[test]
fn routing_keeps_only_architected_bits_and_private_ids_have_none() {
    let mut g = gic(1);
    g.write_dist(gicd::IROUTER + 8 * 40, 8, u64::MAX);
    assert_eq!(g.read_dist(gicd::IROUTER + 8 * 40, 8), 0xff_80ff_ffff);
    g.write_dist(gicd::IROUTER + 8 * 5, 8, 1);
    assert_eq!(g.read_dist(gicd::IROUTER + 8 * 5, 8), 0);
    g.write_dist(gicd::IROUTER + 8 * 100, 8, 1);
    assert_eq!(g.read_dist(gicd::IROUTER + 8 * 100, 8), 0, "beyond the 64 ids this GIC has");
}

#[test]
fn group1_gates_delivery_and_groups_read_as_one() {
    let mut g = awake(1);
    g.write_redist(0, gicr::ISENABLER0, 4, 1 << 27);
    g.write_dist(gicd::CTLR, 4, 1);
    assert!(!g.deliverable(0, 27), "EnableGrp0 alone");
    assert_eq!(g.read_dist(gicd::CTLR, 4) & 3, 0);
    g.write_dist(gicd::CTLR, 4, 2);
    assert!(g.deliverable(0, 27));
    g.write_dist(gicd::IGROUPR + 4, 4, 0);
    assert_eq!(g.read_dist(gicd::IGROUPR + 4, 4), u64::from(u32::MAX));
    assert_eq!(g.read_redist(0, gicr::IGROUPR0, 4), u64::from(u32::MAX));
}

#[test]
fn configuration_sgis_fixed_ppis_and_spis_stored() {
    let mut g = gic(1);
    g.write_redist(0, gicr::ICFGR0, 4, 0);
    assert_eq!(g.read_redist(0, gicr::ICFGR0, 4), 0xaaaa_aaaa);
    g.write_redist(0, gicr::ICFGR0 + 4, 4, 0x2);
    assert_eq!(g.read_redist(0, gicr::ICFGR0 + 4, 4), 0x2);
    g.write_dist(gicd::ICFGR + 8, 4, 0x8);
    assert_eq!(g.read_dist(gicd::ICFGR + 8, 4), 0x8);
}

#[test]
fn bad_accesses_read_zero_and_change_nothing() {
    let mut g = awake(1);
    g.write_dist(gicd::ISENABLER + 4, 2, 0xffff);
    g.write_dist(gicd::ISENABLER + 6, 4, 0xffff);
    g.write_dist(gicd::SIZE, 4, 0xffff);
    assert_eq!(g.read_dist(gicd::ISENABLER + 4, 4), 0);
    assert_eq!(g.read_dist(gicd::CTLR, 8), 0, "no doubleword outside the routing registers");
    g.write_redist(0, gicr::ISENABLER0 + 1, 1, 0xff);
    g.write_redist(0, gicr::STRIDE, 4, 0xff);
    assert_eq!(g.read_redist(0, gicr::ISENABLER0, 4), 0);
    assert_eq!(g.read_redist(5, gicr::WAKER, 4), 0, "no such redistributor");
}

#[test]
fn sgi_target_lists_and_broadcast() {
    let sgi = |sender, value| sgi_request(sender, 4, value);
    assert_eq!(sgi(0, (3 << 24) | 0b1010), Some(SgiRequest { id: 3, targets: 0b1010 }));
    assert_eq!(sgi(0, (3 << 24) | 0xfff0), None, "vCPUs 4-15 do not exist");
    assert_eq!(sgi(2, (1 << 40) | (5 << 24)), Some(SgiRequest { id: 5, targets: 0b1011 }), "IRM: all but the sender");
    assert_eq!(sgi(0, (1 << 16) | 1), None, "Aff1 = 1 holds no vCPU");
    assert_eq!(sgi(0, (1 << 44) | 1), None, "range 1 is Aff0 16-31");
    assert_eq!(sgi_request(15, 16, 1 << 40), Some(SgiRequest { id: 0, targets: 0x7fff }));
}
