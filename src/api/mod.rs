//! The management API (feature `api`): `mgmt_api`'s HTTP API and
//! WebSocket console on TCP port 80 of the hypervisor's own address on
//! the host NIC, served by one task against the VMM ([`vmm::Control`]).
//!
//! Settings come from the host's boot arguments (`boot_args`): the token
//! `api.token=` (else the build-time `API_TOKEN`), `api=off`, and a static
//! `api.ip=`/`api.gw=` instead of DHCP. The stack is smoltcp on the host
//! endpoint ([`vmm::host_endpoint`]): frames for the NIC's own MAC, which
//! never reach the VMs' switch.
//!
//! Neighbours: `device` (the endpoint as a smoltcp device), `connections`
//! (sockets and their `mgmt_api::Connection`s), `server` (the task).
//! Layers: main → api → vmm → hal.
#![deny(unsafe_code)]

mod connections;
mod device;
mod server;

use crate::{hal, vmm};

/// The token built in (`API_TOKEN=... make API=y build`), used when the
/// boot arguments give none.
const BUILT_IN_TOKEN: Option<&str> = option_env!("API_TOKEN");

/// Starts the management API unless the boot arguments switch it off;
/// before the VMs boot, so that it asks for its address first. Whether it
/// serves with a token (and so can manage, and keeps the hypervisor up).
pub fn start() -> bool {
    let args = hal::host_bootargs().unwrap_or("");
    let settings = match boot_args::api_settings(args) {
        Ok(settings) => settings,
        Err(e) => {
            println!("axvisor: {e}; the management API is off");
            return false;
        }
    };
    if !settings.enabled {
        println!("axvisor: the management API is off (api=off)");
        return false;
    }
    let token = settings.token.or(BUILT_IN_TOKEN.filter(|t| !t.is_empty())).unwrap_or("");
    let Some(endpoint) = vmm::host_endpoint() else {
        println!("axvisor: no host NIC: no management API");
        return false;
    };
    if token.is_empty() {
        println!(
            "axvisor: the management API has no token (boot argument api.token=, or API_TOKEN at build time): \
             it refuses every call"
        );
    }
    server::spawn(endpoint, settings.addressing, token);
    !token.is_empty()
}
