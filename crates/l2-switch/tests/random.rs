//! Random frames over random ports: no panic, a frame never goes back to
//! its sender, and every counter adds up.

use l2_switch::*;

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One of a few addresses, so that learning, moving and hits happen.
fn mac(rng: &mut Rng) -> Mac {
    match rng.below(10) {
        0 => BROADCAST,
        1 => [0x01, 0, 0x5e, 0, 0, rng.below(4) as u8],
        _ => [0x02, 0, 0, 0, 0, rng.below(24) as u8],
    }
}

#[test]
fn random_traffic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut s = Switch::new(8, 50);
    let mut ids: Vec<PortId> = Vec::new();
    let mut routed = 0u64;
    let mut delivered = 0u64;
    let mut dropped = 0u64;
    // Counters of removed ports, which the switch forgets.
    let (mut gone_sent, mut gone_received, mut gone_dropped) = (0, 0, 0);
    let mut frame = vec![0u8; 2000];
    for now in 0..20_000u64 {
        if rng.below(50) == 0 {
            let policy = PortPolicy {
                mac: (rng.below(2) == 0).then(|| mac(&mut rng)),
                any_source: rng.below(3) == 0,
            };
            if let Ok(id) = s.add_port(policy) {
                assert!(!ids.contains(&id));
                ids.push(id);
            }
        }
        if rng.below(200) == 0 && !ids.is_empty() {
            let id = ids.swap_remove(rng.below(ids.len() as u64) as usize);
            let st = s.stats(id).unwrap();
            gone_sent += st.sent;
            gone_received += st.received;
            gone_dropped += st.dropped();
            s.remove_port(id);
        }
        assert_eq!(s.port_count(), ids.len());
        let from = if ids.is_empty() || rng.below(20) == 0 {
            PortId(rng.below(80) as u16)
        } else {
            ids[rng.below(ids.len() as u64) as usize]
        };
        let len = match rng.below(8) {
            0 => rng.below(20) as usize,
            1 => MAX_FRAME + rng.below(100) as usize,
            _ => MIN_FRAME + rng.below((MAX_FRAME - MIN_FRAME + 1) as u64) as usize,
        };
        let f = &mut frame[..len];
        for b in f.iter_mut() {
            *b = rng.next() as u8;
        }
        if len >= 12 {
            let dst = mac(&mut rng);
            let src = mac(&mut rng);
            f[..6].copy_from_slice(&dst);
            f[6..12].copy_from_slice(&src);
        }
        match s.route(from, f, now / 4) {
            Ok(d) => {
                assert!(!d.is_empty());
                assert!(!d.contains(from), "frame sent back to its port");
                for p in d.iter() {
                    assert!(ids.contains(&p), "to a port that does not exist");
                }
                assert_eq!(d.iter().count(), d.len());
                routed += 1;
                delivered += d.len() as u64;
            }
            Err(_) => dropped += 1,
        }
        assert!(s.learned() <= 8);
    }
    let (mut sent, mut received, mut port_dropped) = (gone_sent, gone_received, gone_dropped);
    for id in &ids {
        let st = s.stats(*id).unwrap();
        assert!(st.flooded <= st.sent);
        sent += st.sent;
        received += st.received;
        port_dropped += st.dropped();
    }
    assert_eq!(sent, routed);
    assert_eq!(received, delivered);
    assert_eq!(port_dropped + s.unknown_port_drops(), dropped);
    assert!(
        routed > 1000 && dropped > 1000,
        "{routed} routed, {dropped} dropped"
    );
}
