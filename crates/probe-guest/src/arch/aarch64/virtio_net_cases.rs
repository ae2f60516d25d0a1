//! The `virtio-net` case's working frames (see `virtio_net`): the MACs
//! and link status in the config space; unicast, broadcast, multicast,
//! unknown-unicast and largest frames net0 -> net1, byte-exact with
//! num_buffers 1; frames held for net1 while it has no receive buffers
//! and delivered in order when it gives some (64 of them at most, the rest
//! dropped); a reset of net1, after which frames flow again.
//! Lines `hostile virtio-net: ...`.

use super::hostile::report;
use super::virtio_case::Stop;
use super::virtio_net::{
    BROADCAST, CASE, Frame, HDR, MAX_FRAME, Mac, NAME, NET0_MAC, NET1_MAC, Nic, Pair, S_LINK_UP,
    negotiate, send, send_cut, to_net1,
};

/// Frames net1 holds for a driver with no receive buffers.
const BACKLOG: u32 = 64;
const MULTICAST: Mac = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
/// A unicast MAC no port has.
const UNKNOWN: Mac = [0x02, 0, 0, 0, 7, 7];

fn mac_value(mac: &Mac) -> u64 {
    mac.iter().fold(0, |v, &b| v << 8 | u64::from(b))
}

pub(super) fn run(p: &mut Pair) -> Result<(), Stop> {
    identity(p)?;
    p.net0.refill();
    p.net1.refill();
    forwarding(p)?;
    backlog(p)?;
    backlog_overflow(p)?;
    reset_net1(p)
}

fn identity(p: &Pair) -> Result<(), Stop> {
    let mac = p.net0.config_mac();
    CASE.check(
        "net0's MAC in the config space is 02:00:00:00:01:01 (the config's guest_mac)",
        mac == NET0_MAC,
        mac_value(&mac),
    )?;
    let mac = p.net1.config_mac();
    CASE.check(
        "net1's MAC in the config space is 02:41:58:00:21:01 (derived from VM id 33, NIC 1)",
        mac == NET1_MAC,
        mac_value(&mac),
    )?;
    let (s0, s1) = (p.net0.link_status(), p.net1.link_status());
    report(
        NAME,
        "STATUS shows the link up on both NICs",
        s0 & S_LINK_UP != 0 && s1 & S_LINK_UP != 0,
        u64::from(s0) << 16 | u64::from(s1),
    );
    Ok(())
}

/// Sends `frame` from net0 cut at `cuts` and checks that net1 receives
/// it; `what` says so.
fn forwarded(p: &mut Pair, what: &str, frame: &Frame, cuts: &[usize]) -> Result<u32, Stop> {
    let used = send_cut(&mut p.net0, what, frame, cuts)?;
    let ok = p.net1.receive(what, frame)?;
    report(NAME, what, ok, frame.seq.into());
    p.net1.refill();
    Ok(used)
}

fn forwarding(p: &mut Pair) -> Result<(), Stop> {
    let what = "a 64-byte unicast frame net0 -> net1's MAC arrives byte-exact, num_buffers 1, used length 76";
    let used = forwarded(p, what, &to_net1(1, 64), &[HDR])?;
    report(
        NAME,
        "the transmit chain is completed with used length 0",
        used == 0,
        used.into(),
    );
    let pending = p.net1.rx.last_interrupt;
    report(
        NAME,
        "net1's InterruptStatus showed the used buffer",
        pending & 1 != 0,
        pending.into(),
    );
    let frames = [
        (
            "a broadcast frame from net0 (header and frame in one buffer) arrives on net1",
            Frame {
                dst: BROADCAST,
                src: NET0_MAC,
                seq: 2,
                len: 100,
            },
            &[][..],
        ),
        (
            "a multicast frame from net0 arrives on net1",
            Frame {
                dst: MULTICAST,
                src: NET0_MAC,
                seq: 3,
                len: 60,
            },
            &[HDR][..],
        ),
        (
            "a frame from net0 to an unknown MAC is flooded to net1",
            Frame {
                dst: UNKNOWN,
                src: NET0_MAC,
                seq: 4,
                len: 80,
            },
            &[HDR][..],
        ),
        (
            "a 1518-byte frame (the largest, in three buffers) arrives byte-exact on net1",
            to_net1(5, MAX_FRAME),
            &[HDR, HDR + 100][..],
        ),
    ];
    for (what, frame, cuts) in frames {
        forwarded(p, what, &frame, cuts)?;
    }
    let back = p.net0.arrived();
    report(
        NAME,
        "net0 received none of its own frames (broadcast, multicast, unknown unicast)",
        back == 0,
        back.into(),
    );
    Ok(())
}

/// Sends frames numbered `seqs` from net0 to net1; `Stop` if one is not
/// completed.
fn send_all(p: &mut Pair, seqs: core::ops::Range<u32>) -> Result<(), Stop> {
    for seq in seqs {
        send(
            &mut p.net0,
            "a frame for net1's backlog is completed",
            &to_net1(seq, 64),
        )?;
    }
    Ok(())
}

/// Sends frames net0 -> net1 until net1 holds no receive buffer, each
/// checked as it arrives.
fn use_up(p: &mut Pair, first_seq: u32) -> Result<(), Stop> {
    let what = "a frame using up net1's receive buffers arrives byte-exact";
    let mut seq = first_seq;
    while p.net1.outstanding() > 0 {
        let frame = to_net1(seq, 64);
        send(&mut p.net0, what, &frame)?;
        let ok = p.net1.receive(what, &frame)?;
        CASE.step(false, what, ok, seq.into())?;
        seq += 1;
    }
    Ok(())
}

/// Receives frames `seqs` in order, giving net1 8 buffers (and notifying
/// receiveq) whenever it holds none; whether all came right.
fn receive_all(nic: &mut Nic, what: &str, seqs: core::ops::Range<u32>) -> Result<bool, Stop> {
    let mut ok = true;
    for seq in seqs {
        if nic.outstanding() == 0 {
            nic.refill();
        }
        ok &= nic.receive(what, &to_net1(seq, 64))?;
    }
    Ok(ok)
}

/// Ten frames while net1 has no receive buffers (a fresh negotiation
/// gives it none): held, then delivered in order as it gives buffers.
fn backlog(p: &mut Pair) -> Result<(), Stop> {
    negotiate(&mut p.net1, false)?;
    send_all(p, 100..110)?;
    let early = p.net1.arrived();
    let what = "10 frames sent while net1 has no receive buffers arrive in order once it gives buffers and notifies receiveq";
    let ok = receive_all(&mut p.net1, what, 100..110)?;
    report(NAME, what, ok && early == 0, early.into());
    Ok(())
}

/// 70 frames while net1 has no receive buffers: the first 64 arrive in
/// order, the 6 after them were dropped.
fn backlog_overflow(p: &mut Pair) -> Result<(), Stop> {
    use_up(p, 200)?;
    send_all(p, 300..300 + BACKLOG + 6)?;
    let what = "70 frames sent while net1 has no receive buffers: the first 64 arrive in order";
    let ok = receive_all(&mut p.net1, what, 300..300 + BACKLOG)?;
    report(NAME, what, ok, BACKLOG.into());
    p.net1.refill();
    let surplus = p.net1.arrived();
    report(
        NAME,
        "the 6 frames beyond the backlog of 64 were dropped: nothing more arrives",
        surplus == 0,
        surplus.into(),
    );
    p.net1.discard();
    Ok(())
}

/// Frames held for net1, then a reset of net1: they go with it; after a
/// new negotiation frames arrive again.
fn reset_net1(p: &mut Pair) -> Result<(), Stop> {
    use_up(p, 400)?;
    send_all(p, 500..503)?;
    negotiate(&mut p.net1, false)?;
    report(NAME, "net1 reset and negotiated again", true, 0);
    p.net1.refill();
    let stale = p.net1.arrived();
    report(
        NAME,
        "frames held for net1 before its reset are dropped with it",
        stale == 0,
        stale.into(),
    );
    p.net1.discard();
    let what = "after a reset of net1 and a new negotiation, a frame from net0 arrives byte-exact";
    forwarded(p, what, &to_net1(600, 64), &[HDR])?;
    Ok(())
}
