//! The uplink: the host's own NIC as a port of the VMs' switch ([`net`]).
//! What the switch sends to the port goes out of the NIC; a host task
//! hands what the NIC receives to the switch, up to [`BATCH`] frames a
//! turn. When there are none it waits for the NIC's interrupt (at most
//! [`IDLE_IRQ`]), or without one, sleeps [`IDLE`]. It never keeps the
//! hypervisor up: that ends when the last VM stops.
//!
//! With feature `api`, frames for the NIC's own MAC go to the host
//! endpoint instead ([`super::host_endpoint`]), group frames to both.
//!
//! Self-check: with the log at debug level, the uplink asks once at start
//! who has 10.0.2.2 (QEMU's user-network gateway; an ARP probe, sender IP
//! 0.0.0.0, so no address is claimed) and logs the ARP replies it gets.

use alloc::{string::String, sync::Arc};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use axtask::WaitQueue;
use l2_switch::PortId;

use super::net::{self, MacText};
use crate::hal::{self, HostNic};

/// Frames handed to the switch per turn before the task yields.
const BATCH: usize = 32;
/// How long the task sleeps when the NIC has nothing and no interrupt.
const IDLE: Duration = Duration::from_millis(1);
/// How long it waits for the NIC's interrupt before it looks anyway.
const IDLE_IRQ: Duration = Duration::from_millis(100);
/// The address the self-check asks for.
const GATEWAY: [u8; 4] = [10, 0, 2, 2];

/// Makes the host's NIC, if there is one, the switch's uplink; before any
/// VM boots. Only the first call does anything; whether the uplink runs.
pub fn start() -> bool {
    static STARTED: spin::Once<bool> = spin::Once::new();
    *STARTED.call_once(start_once)
}

fn start_once() -> bool {
    let Some(nic) = hal::host_nic() else {
        info!("no host NIC: no uplink");
        return false;
    };
    let interrupts = nic.on_interrupt(frames_ready);
    info!(
        "host NIC at {:#x}, MAC {}: the switch's uplink ({})",
        nic.base(),
        MacText(&nic.mac()),
        if interrupts { "interrupt-driven" } else { "polled" }
    );
    let send: net::UplinkSend = Arc::new(move |frame: &[u8]| {
        if let Err(e) = nic.send(frame) {
            debug!("uplink: a frame was dropped: {e}");
        }
    });
    let port = match net::attach_uplink(send) {
        Ok(port) => port,
        Err(e) => {
            warn!("host NIC: no uplink: {e}");
            return false;
        }
    };
    if log::log_enabled!(log::Level::Debug)
        && let Err(e) = nic.send(&arp_probe(nic.mac(), GATEWAY))
    {
        debug!("uplink self-check: the ARP request was not sent: {e}");
    }
    axtask::spawn_raw(move || receive(nic, port, interrupts), String::from("uplink"), axconfig::TASK_STACK_SIZE);
    true
}

/// Set by the NIC's interrupt, taken by the uplink task.
static READY: AtomicBool = AtomicBool::new(false);
/// Where the uplink task waits for it.
static READY_WAIT: WaitQueue = WaitQueue::new();

/// The NIC interrupted (interrupt context). It must not yield here
/// (`notify_one(true)` does): the task switched to would run with this
/// interrupt not yet ended, and a vCPU alone on its CPU then runs its
/// guest with every host interrupt (the timer's too) held back.
fn frames_ready() {
    READY.store(true, Ordering::Release);
    READY_WAIT.notify_one(false);
}

/// The uplink task: hands every frame the NIC receives to the switch.
fn receive(nic: &'static HostNic, port: PortId, interrupts: bool) {
    loop {
        let mut taken = 0;
        while taken < BATCH
            && let Some(frame) = nic.receive()
        {
            if let Some((ip, mac)) = arp_reply_to(&frame, nic.mac()) {
                debug!("uplink: ARP reply: {}.{}.{}.{} is at {}", ip[0], ip[1], ip[2], ip[3], MacText(&mac));
            }
            if to_switch(&frame) {
                net::forward(port, &frame);
            }
            taken += 1;
        }
        if taken == BATCH {
            axtask::yield_now();
        } else if interrupts {
            READY_WAIT.wait_timeout_until(IDLE_IRQ, || READY.swap(false, Ordering::AcqRel));
        } else {
            axtask::sleep(IDLE);
        }
    }
}

/// Hands `frame` to the host endpoint if it is for it; whether the switch
/// gets it (too).
#[cfg(feature = "api")]
fn to_switch(frame: &[u8]) -> bool {
    super::host_endpoint::deliver(frame)
}

#[cfg(not(feature = "api"))]
fn to_switch(_frame: &[u8]) -> bool {
    true
}

const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
/// ARP for IPv4 over Ethernet: hardware type 1, protocol 0x0800, address
/// lengths 6 and 4.
const ARP_ETH_IPV4: [u8; 6] = [0, 1, 0x08, 0x00, 6, 4];
const ARP_REQUEST: [u8; 2] = [0, 1];
const ARP_REPLY: [u8; 2] = [0, 2];

/// A broadcast ARP request from `mac` for `ip`, with sender IP 0.0.0.0.
fn arp_probe(mac: [u8; 6], ip: [u8; 4]) -> [u8; 42] {
    let mut frame = [0; 42];
    frame[0..6].fill(0xff);
    frame[6..12].copy_from_slice(&mac);
    frame[12..14].copy_from_slice(&ETHERTYPE_ARP);
    frame[14..20].copy_from_slice(&ARP_ETH_IPV4);
    frame[20..22].copy_from_slice(&ARP_REQUEST);
    frame[22..28].copy_from_slice(&mac);
    // Sender IP 0.0.0.0 (28..32), target MAC unknown (32..38).
    frame[38..42].copy_from_slice(&ip);
    frame
}

/// The sender's IP and MAC of an ARP reply addressed to `mac`.
fn arp_reply_to(frame: &[u8], mac: [u8; 6]) -> Option<([u8; 4], [u8; 6])> {
    let arp = frame.get(14..42)?;
    if frame.get(0..6)? != mac || frame.get(12..14)? != ETHERTYPE_ARP || arp[0..6] != ARP_ETH_IPV4 || arp[6..8] != ARP_REPLY {
        return None;
    }
    Some((arp[14..18].try_into().ok()?, arp[8..14].try_into().ok()?))
}
