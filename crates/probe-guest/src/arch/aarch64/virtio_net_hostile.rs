//! The `virtio-net` case's malformed frames, sent from net0 while net1
//! holds 8 receive buffers (a frame that got through would be used at
//! once): a chain shorter than the header, a header and no frame, headers
//! with gso_type or flags set, runts, frames over 1518 bytes, a chain
//! claiming 0xfffffff0 bytes, buffers outside RAM and in the distributor,
//! a descriptor loop, spoofed source MACs. Each transmit chain is
//! completed with used length 0 and nothing arrives on net1. Then a
//! receive buffer too small for its frame (used with length 0, the next
//! frame in the next buffer), and the device still forwards.
//! Lines `hostile virtio-net: ...`.

use super::hostile::report;
use super::virtio_case::{OUTSIDE_RAM, Stop};
use super::virtio_net::{
    BROADCAST, CASE, Frame, HDR, Header, JUMBO, MAX_FRAME, Mac, NAME, NET0_MAC, NET1_MAC,
    PLAIN_HEADER, Pair, RX_BYTES, negotiate, send, stage, to_net1,
};
use super::virtq::{DESC_F_NEXT, Desc, STATUS_DEVICE_NEEDS_RESET, reg};

/// The distributor's guest-physical address.
const GICD: u64 = 0x0800_0000;
/// `virtio_net_hdr` flags and gso_type values (virtio 1.x §5.1.6).
const HDR_F_NEEDS_CSUM: u8 = 1;
const GSO_TCPV4: u8 = 1;
/// A receive buffer too small for a header and a 64-byte frame.
const SMALL_RX: u32 = 40;

pub(super) fn run(p: &mut Pair) -> Result<(), Stop> {
    p.net1.refill();
    malformed_chains(p)?;
    descriptor_loop(p)?;
    spoofed(p)?;
    small_receive_buffer(p)?;
    p.net1.refill();
    let what = "the device still forwards: a 1514-byte frame net0 -> net1 arrives byte-exact";
    let frame = to_net1(900, 1514);
    send(&mut p.net0, what, &frame)?;
    let ok = p.net1.receive(what, &frame)?;
    report(NAME, what, ok, frame.seq.into());
    let back = p.net0.arrived();
    report(
        NAME,
        "net0 received nothing since its last reset",
        back == 0,
        back.into(),
    );
    Ok(())
}

/// `descs` (head 0) sent from net0 must be completed with used length 0,
/// without DEVICE_NEEDS_RESET, and nothing may arrive on net1.
fn dropped(p: &mut Pair, what: &str, descs: &[Desc]) -> Result<(), Stop> {
    let len = CASE.completed(what, p.net0.tx.submit_raw(descs))?;
    let arrived = p.net1.arrived();
    let status = p.net0.device().read(reg::STATUS);
    let ok = len == 0 && arrived == 0 && status & STATUS_DEVICE_NEEDS_RESET == 0;
    report(
        NAME,
        what,
        ok,
        u64::from(len) << 32 | u64::from(arrived) << 16 | u64::from(status),
    );
    p.net1.discard();
    Ok(())
}

/// A readable descriptor, linked to the next one unless `last`.
fn readable(addr: u64, len: u32, index: u16, last: bool) -> Desc {
    Desc {
        addr,
        len,
        flags: if last { 0 } else { DESC_F_NEXT },
        next: index + 1,
    }
}

/// Header and frame in two descriptors, the frame `len` bytes long at
/// `frame_addr` (the staged frame unless given).
fn pair_of(header: &Header, frame: &Frame, len: u32, frame_addr: Option<u64>) -> [Desc; 2] {
    let (h, f) = stage(header, frame);
    [
        readable(h, HDR as u32, 0, false),
        readable(frame_addr.unwrap_or(f), len, 1, true),
    ]
}

fn malformed_chains(p: &mut Pair) -> Result<(), Stop> {
    let frame = to_net1(700, 64);
    let (h, _) = stage(&PLAIN_HEADER, &frame);
    dropped(
        p,
        "a chain of 8 bytes (shorter than the header) is completed with used length 0; nothing arrives on net1",
        &[readable(h, 8, 0, true)],
    )?;
    dropped(
        p,
        "a header and no frame is completed with used length 0; nothing arrives on net1",
        &[readable(h, HDR as u32, 0, true)],
    )?;
    let mut gso = PLAIN_HEADER;
    gso[1] = GSO_TCPV4;
    gso[2..4].copy_from_slice(&54u16.to_le_bytes());
    gso[4..6].copy_from_slice(&1448u16.to_le_bytes());
    dropped(
        p,
        "a header with gso_type TCPV4 (not negotiated) is completed with used length 0; nothing arrives on net1",
        &pair_of(&gso, &frame, 64, None),
    )?;
    let mut csum = PLAIN_HEADER;
    csum[0] = HDR_F_NEEDS_CSUM;
    csum[6..8].copy_from_slice(&34u16.to_le_bytes());
    csum[8..10].copy_from_slice(&16u16.to_le_bytes());
    dropped(
        p,
        "a header with flags NEEDS_CSUM (not negotiated) is completed with used length 0; nothing arrives on net1",
        &pair_of(&csum, &frame, 64, None),
    )?;
    let sized = [
        (
            "a 10-byte frame (a runt) is completed with used length 0; nothing arrives on net1",
            10,
        ),
        (
            "a 13-byte frame (a runt) is completed with used length 0; nothing arrives on net1",
            13,
        ),
        (
            "a 1519-byte frame (over 1518) is completed with used length 0; nothing arrives on net1",
            MAX_FRAME + 1,
        ),
        (
            "a 9000-byte frame is completed with used length 0; nothing arrives on net1",
            JUMBO,
        ),
    ];
    for (what, len) in sized {
        let frame = to_net1(701, len);
        dropped(p, what, &pair_of(&PLAIN_HEADER, &frame, len as u32, None))?;
    }
    let claimed = [
        (
            "a frame buffer claiming 0xfffffff0 bytes is completed with used length 0; nothing arrives on net1",
            0xffff_fff0,
            None,
        ),
        (
            "a frame buffer outside RAM is completed with used length 0; nothing arrives on net1",
            64,
            Some(OUTSIDE_RAM),
        ),
        (
            "a frame buffer in the distributor is completed with used length 0; nothing arrives on net1",
            64,
            Some(GICD),
        ),
    ];
    for (what, len, addr) in claimed {
        dropped(p, what, &pair_of(&PLAIN_HEADER, &frame, len, addr))?;
    }
    Ok(())
}

/// Descriptor 0 -> 1 -> 0 (header, frame): completed with used length 0
/// or DEVICE_NEEDS_RESET, nothing arrives; net0 is negotiated again.
fn descriptor_loop(p: &mut Pair) -> Result<(), Stop> {
    let frame = to_net1(800, 64);
    let mut descs = pair_of(&PLAIN_HEADER, &frame, 64, None);
    descs[1].flags = DESC_F_NEXT;
    descs[1].next = 0;
    CASE.descriptor_loop(p.net0.tx.submit_raw(&descs))?;
    let arrived = p.net1.arrived();
    report(
        NAME,
        "after a descriptor loop nothing arrives on net1",
        arrived == 0,
        arrived.into(),
    );
    p.net1.discard();
    negotiate(&mut p.net0, false)?;
    p.net0.refill();
    report(NAME, "net0 reset and negotiated again", true, 0);
    Ok(())
}

/// Frames from net0 whose source is not net0's MAC are dropped, and do
/// not teach the switch that net1's MAC is behind net0.
fn spoofed(p: &mut Pair) -> Result<(), Stop> {
    const OTHER: Mac = [0x02, 0, 0, 0, 9, 9];
    const MULTICAST_SOURCE: Mac = [0x01, 0x00, 0x5e, 0, 0, 1];
    let cases = [
        (
            "a frame from net0 with net1's MAC as source is completed with used length 0; nothing arrives on net1",
            NET1_MAC,
            NET1_MAC,
        ),
        (
            "a broadcast from net0 with another MAC as source is completed with used length 0; nothing arrives on net1",
            OTHER,
            BROADCAST,
        ),
        (
            "a frame from net0 with a multicast source MAC is completed with used length 0; nothing arrives on net1",
            MULTICAST_SOURCE,
            NET1_MAC,
        ),
    ];
    for (seq, (what, src, dst)) in (810..).zip(cases) {
        let frame = Frame {
            dst,
            src,
            seq,
            len: 64,
        };
        dropped(p, what, &pair_of(&PLAIN_HEADER, &frame, 64, None))?;
    }
    let what = "after the spoofed frames a frame to net1's MAC still arrives on net1";
    let frame = Frame {
        dst: NET1_MAC,
        src: NET0_MAC,
        seq: 820,
        len: 64,
    };
    send(&mut p.net0, what, &frame)?;
    let ok = p.net1.receive(what, &frame)?;
    report(NAME, what, ok, frame.seq.into());
    Ok(())
}

/// net1's next receive buffer holds 40 bytes, the one after it a full
/// frame: a 64-byte frame uses the small one with length 0 and lands
/// whole in the next.
fn small_receive_buffer(p: &mut Pair) -> Result<(), Stop> {
    let filler = "a frame using up net1's receive buffers arrives";
    while p.net1.outstanding() > 0 {
        let frame = to_net1(830, 64);
        send(&mut p.net0, filler, &frame)?;
        let ok = p.net1.receive(filler, &frame)?;
        CASE.step(false, filler, ok, 830)?;
    }
    p.net1.give(SMALL_RX);
    p.net1.give(RX_BYTES as u32);
    p.net1.rx.notify();
    let what = "a receive buffer smaller than header + frame is completed with used length 0";
    let frame = to_net1(840, 64);
    send(&mut p.net0, what, &frame)?;
    let used = p.net1.take();
    let ok = matches!(used, Ok((slot, id, 0)) if u32::from(slot) == id);
    let seen = match used {
        Ok((_, id, len)) => u64::from(id) << 32 | u64::from(len),
        Err(_) => u64::MAX,
    };
    report(NAME, what, ok, seen);
    let what = "the frame goes whole into the next receive buffer";
    let ok = p.net1.receive(what, &frame)?;
    report(NAME, what, ok, frame.seq.into());
    Ok(())
}
