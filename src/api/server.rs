//! The management task: polls the interface, keeps its address (DHCP
//! or static), serves the connections, and sleeps until a frame comes or
//! something is due. It takes at most [`BATCH`] frames a turn and
//! otherwise always sleeps, so it never holds a CPU the vCPUs need.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use boot_args::Addressing;
use mgmt_api::{Context, Limits};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::dhcpv4;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use super::connections::{self, Connections};
use super::device::Nic;
use crate::hal;
use crate::vmm::{self, HostEndpoint};

/// Frames taken per turn before the task yields.
const BATCH: usize = 32;
/// The longest sleep.
const IDLE: Duration = Duration::from_secs(1);

/// Starts the management task on `endpoint`.
pub fn spawn(endpoint: HostEndpoint, addressing: Addressing, token: &'static str) {
    axtask::spawn_raw(move || run(endpoint, addressing, token), String::from("mgmt-api"), axconfig::TASK_STACK_SIZE);
}

fn now_ms() -> u64 {
    hal::now().as_millis() as u64
}

fn run(endpoint: HostEndpoint, addressing: Addressing, token: &'static str) {
    let mac = endpoint.mac();
    let mut nic = Nic::new(endpoint);
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    let mac_bits = u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0]);
    config.random_seed = hal::now().as_nanos() as u64 ^ mac_bits;
    let mut iface = Interface::new(config, &mut nic, Instant::from_millis(now_ms() as i64));
    let mut sockets = SocketSet::new(Vec::new());
    let dhcp = match addressing {
        Addressing::Dhcp => Some(sockets.add(dhcpv4::Socket::new())),
        Addressing::Static { cidr, gateway } => {
            let address = Ipv4Cidr::new(Ipv4Address::from(cidr.address), cidr.prefix);
            configure(&mut iface, Some(address), gateway.map(Ipv4Address::from));
            None
        }
    };
    let mut connections = Connections::new(&mut sockets);
    let ctx = Context { vmm: &vmm::Control, token, limits: Limits::default() };
    let mut dropped = 0;
    loop {
        let now = now_ms();
        let instant = Instant::from_millis(now as i64);
        nic.set_budget(BATCH);
        iface.poll(instant, &mut nic, &mut sockets);
        if let Some(dhcp) = dhcp {
            follow_dhcp(&mut iface, &mut sockets, dhcp);
        }
        connections.serve(&mut sockets, &ctx, now);
        // What the connections just wrote goes out now.
        iface.poll_egress(instant, &mut nic, &mut sockets);

        let lost = nic.endpoint().dropped();
        if lost != dropped {
            debug!("management API: {} frames dropped (its receive queue was full)", lost - dropped);
            dropped = lost;
        }
        if nic.spent() {
            axtask::yield_now();
            continue;
        }
        let mut sleep = IDLE;
        if let Some(at) = connections.next_tick() {
            sleep = sleep.min(Duration::from_millis(at.saturating_sub(now)));
        }
        if let Some(delay) = iface.poll_delay(instant, &sockets) {
            sleep = sleep.min(Duration::from_micros(delay.total_micros()));
        }
        if !sleep.is_zero() {
            nic.endpoint().wait(sleep);
        } else {
            axtask::yield_now();
        }
    }
}

/// Applies what the DHCP client learnt, if anything.
fn follow_dhcp(iface: &mut Interface, sockets: &mut SocketSet, dhcp: SocketHandle) {
    match sockets.get_mut::<dhcpv4::Socket>(dhcp).poll() {
        None => {}
        Some(dhcpv4::Event::Configured(config)) => configure(iface, Some(config.address), config.router),
        Some(dhcpv4::Event::Deconfigured) => configure(iface, None, None),
    }
}

/// Gives the interface `address` (none: no address) and a default route
/// through `gateway`; says where the API is when the address changes.
fn configure(iface: &mut Interface, address: Option<Ipv4Cidr>, gateway: Option<Ipv4Address>) {
    let old = iface.ipv4_addr();
    iface.update_ip_addrs(|addrs| {
        addrs.clear();
        if let Some(address) = address {
            let _ = addrs.push(IpCidr::Ipv4(address));
        }
    });
    match gateway {
        Some(gateway) => {
            if let Err(e) = iface.routes_mut().add_default_ipv4_route(gateway) {
                warn!("management API: no route through {gateway}: {e:?}");
            }
        }
        None => {
            iface.routes_mut().remove_default_ipv4_route();
        }
    }
    match address {
        Some(address) if old != Some(address.address()) => {
            println!("axvisor: management API on http://{}:{}/", address.address(), connections::PORT);
        }
        None if old.is_some() => println!("axvisor: management API: the address was lost (DHCP)"),
        _ => {}
    }
}
