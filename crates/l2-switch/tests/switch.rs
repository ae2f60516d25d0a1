//! Routing decisions: learning, flooding, static addresses, source
//! checks, drops and their counters, aging, a full table, port removal.

use l2_switch::*;

const A: Mac = [0x02, 0, 0, 0, 0, 0xa];
const B: Mac = [0x02, 0, 0, 0, 0, 0xb];
const C: Mac = [0x02, 0, 0, 0, 0, 0xc];
const MCAST: Mac = [0x01, 0x00, 0x5e, 0, 0, 1];

/// A minimal frame `dst <- src` of `len` bytes (at least 12).
fn frame(dst: Mac, src: Mac, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f
}

fn eth(dst: Mac, src: Mac) -> Vec<u8> {
    frame(dst, src, 60)
}

fn guest(mac: Mac) -> PortPolicy {
    PortPolicy {
        mac: Some(mac),
        any_source: false,
    }
}

const UPLINK: PortPolicy = PortPolicy {
    mac: None,
    any_source: true,
};

fn ports(d: Destinations) -> Vec<u16> {
    d.iter().map(|p| p.0).collect()
}

/// Two guests (A on 0, B on 1) and an uplink (2).
fn three() -> (Switch, PortId, PortId, PortId) {
    let mut s = Switch::new(16, 100);
    let a = s.add_port(guest(A)).unwrap();
    let b = s.add_port(guest(B)).unwrap();
    let up = s.add_port(UPLINK).unwrap();
    (s, a, b, up)
}

#[test]
fn multicast_bit() {
    assert!(is_multicast(&BROADCAST));
    assert!(is_multicast(&MCAST));
    assert!(!is_multicast(&A));
}

#[test]
fn guest_static_macs_route_without_learning() {
    let (mut s, a, b, up) = three();
    assert_eq!(s.port_count(), 3);
    assert_eq!(ports(s.route(a, &eth(B, A), 0).unwrap()), [b.0]);
    assert_eq!(ports(s.route(up, &eth(A, C), 0).unwrap()), [a.0]);
    assert_eq!(s.stats(a).unwrap().received, 1);
    assert_eq!(s.stats(b).unwrap().received, 1);
}

#[test]
fn learning_then_unicast() {
    let (mut s, a, b, up) = three();
    // C is unknown: flooded to every other port.
    let d = s.route(a, &eth(C, A), 0).unwrap();
    assert_eq!(ports(d), [b.0, up.0]);
    // C speaks from the uplink and is learned there.
    s.route(up, &eth(A, C), 1).unwrap();
    assert_eq!(s.learned(), 1);
    assert_eq!(ports(s.route(a, &eth(C, A), 2).unwrap()), [up.0]);
    assert_eq!(ports(s.route(b, &eth(C, B), 2).unwrap()), [up.0]);
    let st = s.stats(a).unwrap();
    assert_eq!((st.sent, st.flooded), (2, 1));
}

#[test]
fn broadcast_and_multicast_flood() {
    let (mut s, a, b, up) = three();
    assert_eq!(
        ports(s.route(a, &eth(BROADCAST, A), 0).unwrap()),
        [b.0, up.0]
    );
    assert_eq!(ports(s.route(up, &eth(MCAST, C), 0).unwrap()), [a.0, b.0]);
    // A multicast destination is flooded even if a port "owns" it.
    assert_eq!(ports(s.route(b, &eth(MCAST, B), 0).unwrap()), [a.0, up.0]);
    assert_eq!(s.stats(a).unwrap().flooded, 1);
    assert_eq!(s.stats(up).unwrap().flooded, 1);
}

#[test]
fn static_mac_wins_over_learning_from_uplink() {
    let (mut s, a, _b, up) = three();
    // The uplink claims A's address: refused, and not learned.
    assert_eq!(s.route(up, &eth(BROADCAST, A), 0), Err(DropReason::Spoofed));
    assert_eq!(s.learned(), 0);
    assert_eq!(ports(s.route(up, &eth(A, C), 1).unwrap()), [a.0]);
    assert_eq!(s.stats(up).unwrap().dropped_spoofed, 1);
    // A new port cannot take a static MAC either.
    assert_eq!(s.add_port(guest(A)), Err(SwitchError::MacInUse(a)));
}

#[test]
fn adding_a_static_mac_forgets_it_as_learned() {
    let (mut s, a, _b, up) = three();
    s.route(up, &eth(A, C), 0).unwrap();
    assert_eq!(s.learned(), 1);
    let c = s.add_port(guest(C)).unwrap();
    assert_eq!(s.learned(), 0);
    assert_eq!(ports(s.route(a, &eth(C, A), 1).unwrap()), [c.0]);
}

#[test]
fn spoofed_source_from_guest_dropped_unless_any_source() {
    let (mut s, a, _b, _up) = three();
    assert_eq!(s.route(a, &eth(BROADCAST, C), 0), Err(DropReason::Spoofed));
    assert_eq!(s.stats(a).unwrap().dropped_spoofed, 1);
    assert_eq!(s.learned(), 0);

    let bridge = s
        .add_port(PortPolicy {
            mac: Some([0x02, 0, 0, 0, 0, 0xd]),
            any_source: true,
        })
        .unwrap();
    // A bridging guest may send for C, which is learned on its port ...
    s.route(bridge, &eth(BROADCAST, C), 0).unwrap();
    assert_eq!(ports(s.route(a, &eth(C, A), 1).unwrap()), [bridge.0]);
    // ... but not for another port's own address.
    assert_eq!(s.route(bridge, &eth(C, B), 1), Err(DropReason::Spoofed));
}

#[test]
fn port_without_mac_or_any_source_sends_nothing() {
    let mut s = Switch::new(4, 10);
    let p = s
        .add_port(PortPolicy {
            mac: None,
            any_source: false,
        })
        .unwrap();
    s.add_port(guest(A)).unwrap();
    assert_eq!(s.route(p, &eth(A, C), 0), Err(DropReason::Spoofed));
}

#[test]
fn hostile_frames_dropped_and_counted() {
    let (mut s, a, _b, up) = three();
    assert_eq!(s.route(a, &[], 0), Err(DropReason::Runt));
    assert_eq!(s.route(a, &eth(B, A)[..13], 0), Err(DropReason::Runt));
    assert!(s.route(a, &frame(B, A, MIN_FRAME), 0).is_ok());
    assert!(s.route(a, &frame(B, A, MAX_FRAME), 0).is_ok());
    let big = frame(B, A, MAX_FRAME + 1);
    assert_eq!(s.route(a, &big, 0), Err(DropReason::Oversize));
    assert_eq!(
        s.route(a, &frame(B, A, 65536), 0),
        Err(DropReason::Oversize)
    );
    assert_eq!(
        s.route(up, &eth(A, MCAST), 0),
        Err(DropReason::MulticastSource)
    );
    assert_eq!(
        s.route(up, &eth(A, BROADCAST), 0),
        Err(DropReason::MulticastSource)
    );
    assert_eq!(
        s.route(PortId(9), &eth(A, C), 0),
        Err(DropReason::UnknownPort)
    );
    assert_eq!(
        s.route(PortId(999), &eth(A, C), 0),
        Err(DropReason::UnknownPort)
    );
    let st = s.stats(a).unwrap();
    assert_eq!((st.dropped_runt, st.dropped_oversize, st.sent), (2, 2, 2));
    assert_eq!(st.dropped(), 4);
    assert_eq!(s.stats(up).unwrap().dropped_multicast_source, 2);
    assert_eq!(s.unknown_port_drops(), 2);
    assert_eq!(s.learned(), 0);
    assert!(s.stats(PortId(9)).is_none());
}

#[test]
fn frame_to_own_port_has_no_destination() {
    let (mut s, a, _b, up) = three();
    assert_eq!(s.route(a, &eth(A, A), 0), Err(DropReason::NoDestination));
    s.route(up, &eth(BROADCAST, C), 0).unwrap();
    assert_eq!(s.route(up, &eth(C, C), 0), Err(DropReason::NoDestination));
    assert_eq!(s.stats(a).unwrap().dropped_no_destination, 1);
    assert_eq!(s.stats(up).unwrap().dropped_no_destination, 1);
}

#[test]
fn flood_with_no_other_port_has_no_destination() {
    let mut s = Switch::new(4, 10);
    let a = s.add_port(guest(A)).unwrap();
    assert_eq!(
        s.route(a, &eth(BROADCAST, A), 0),
        Err(DropReason::NoDestination)
    );
}

#[test]
fn aged_entry_floods_again() {
    let (mut s, a, b, up) = three();
    s.route(up, &eth(BROADCAST, C), 1000).unwrap();
    assert_eq!(ports(s.route(a, &eth(C, A), 1100).unwrap()), [up.0]);
    let d = s.route(a, &eth(C, A), 1101).unwrap();
    assert_eq!(ports(d), [b.0, up.0], "older than max_age: flooded");
    // Heard again: unicast again.
    s.route(up, &eth(BROADCAST, C), 1200).unwrap();
    assert_eq!(ports(s.route(a, &eth(C, A), 1200).unwrap()), [up.0]);
}

#[test]
fn mac_moves_between_any_source_ports() {
    let mut s = Switch::new(8, 100);
    let a = s.add_port(guest(A)).unwrap();
    let up1 = s.add_port(UPLINK).unwrap();
    let up2 = s.add_port(UPLINK).unwrap();
    s.route(up1, &eth(BROADCAST, C), 0).unwrap();
    assert_eq!(ports(s.route(a, &eth(C, A), 1).unwrap()), [up1.0]);
    s.route(up2, &eth(BROADCAST, C), 2).unwrap();
    assert_eq!(ports(s.route(a, &eth(C, A), 3).unwrap()), [up2.0]);
    assert_eq!(s.learned(), 1);
}

#[test]
fn full_table_replaces_oldest() {
    let mut s = Switch::new(3, 1000);
    let a = s.add_port(guest(A)).unwrap();
    let up = s.add_port(UPLINK).unwrap();
    let up2 = s.add_port(UPLINK).unwrap();
    let mac = |n: u8| [0x02, 0, 0, 0, 1, n];
    for n in 0..3 {
        s.route(up, &eth(BROADCAST, mac(n)), u64::from(n)).unwrap();
    }
    // Refresh mac(0): mac(1) is now the oldest.
    s.route(up, &eth(BROADCAST, mac(0)), 10).unwrap();
    s.route(up2, &eth(BROADCAST, mac(3)), 11).unwrap();
    assert_eq!(s.learned(), 3);
    assert_eq!(ports(s.route(a, &eth(mac(3), A), 12).unwrap()), [up2.0]);
    assert_eq!(ports(s.route(a, &eth(mac(0), A), 12).unwrap()), [up.0]);
    assert_eq!(ports(s.route(a, &eth(mac(2), A), 12).unwrap()), [up.0]);
    let d = s.route(a, &eth(mac(1), A), 12).unwrap();
    assert_eq!(d.len(), 2, "mac(1) was replaced: flooded");
}

#[test]
fn zero_capacity_table_never_learns() {
    let mut s = Switch::new(0, 10);
    let a = s.add_port(guest(A)).unwrap();
    let up = s.add_port(UPLINK).unwrap();
    s.route(up, &eth(BROADCAST, C), 0).unwrap();
    assert_eq!(s.learned(), 0);
    assert_eq!(ports(s.route(a, &eth(C, A), 0).unwrap()), [up.0]);
}

#[test]
fn remove_port_forgets_entries_and_frees_id() {
    let (mut s, a, b, up) = three();
    s.route(up, &eth(BROADCAST, C), 0).unwrap();
    s.remove_port(up);
    assert_eq!(s.port_count(), 2);
    assert_eq!(s.learned(), 0);
    assert!(s.stats(up).is_none());
    assert_eq!(s.route(up, &eth(A, C), 0), Err(DropReason::UnknownPort));
    // C floods now (to B only), and a new port gets the freed id.
    assert_eq!(ports(s.route(a, &eth(C, A), 1).unwrap()), [b.0]);
    let again = s.add_port(UPLINK).unwrap();
    assert_eq!(again, up);
    assert_eq!(s.stats(again).unwrap(), PortStats::default());
    // A removed guest's MAC is free again.
    s.remove_port(a);
    s.remove_port(a);
    s.remove_port(PortId(500));
    assert_eq!(s.add_port(guest(A)).unwrap(), a);
}

#[test]
fn full_switch() {
    let mut s = Switch::new(4, 10);
    for n in 0..MAX_PORTS {
        assert_eq!(s.add_port(UPLINK).unwrap(), PortId(n as u16));
    }
    assert_eq!(s.add_port(UPLINK), Err(SwitchError::Full));
    // Flooding from the last port reaches all 63 others.
    let last = PortId(MAX_PORTS as u16 - 1);
    let d = s.route(last, &eth(BROADCAST, C), 0).unwrap();
    assert_eq!(d.len(), MAX_PORTS - 1);
    assert!(!d.contains(last));
    assert!(d.contains(PortId(0)));
    assert!(!d.contains(PortId(64)));
    assert!(!d.contains(PortId(u16::MAX)));
}

#[test]
fn displays() {
    assert!(DropReason::Spoofed.to_string().contains("source"));
    assert!(SwitchError::MacInUse(PortId(3)).to_string().contains('3'));
    assert!(SwitchError::Full.to_string().contains("64"));
}
