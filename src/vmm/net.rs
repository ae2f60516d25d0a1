//! The hypervisor's Ethernet switch: one port per guest virtio-net device
//! and one for the host's own NIC (the uplink, `uplink`). The decisions
//! (learning, flooding, what a port may send) are `l2_switch`'s; this
//! module keeps the ports' far ends and moves frames between them.
//!
//! Locks: the switch's table is held only to route a frame (no device
//! lock is taken under it). A frame is delivered with no lock of the
//! sender's device held, so two VMs sending to each other at once cannot
//! wait on each other; a device lock is a leaf.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use kspin::SpinNoIrq;
use l2_switch::{MAX_PORTS, Mac, PortId, PortPolicy, Switch, SwitchError};

use super::vm::Vm;
use crate::hal;

/// Learned addresses the switch keeps.
const FDB_ENTRIES: usize = 256;
/// A learned address is forgotten after 5 minutes without a frame from it.
const MAX_AGE_MS: u64 = 300_000;

/// Sends a frame out of the host's NIC.
pub type UplinkSend = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// Where a port's frames go.
#[derive(Clone)]
enum Link {
    /// Not attached yet (its VM is being made) or detached (it stopped).
    None,
    /// Device `device` of a VM's `virtio` list.
    Guest { vm: Weak<Vm>, device: usize },
    /// The host's NIC.
    Uplink(UplinkSend),
}

struct End {
    /// Which registration holds the port; ids are reused.
    token: u64,
    vm: Option<usize>,
    link: Link,
    /// The [`Net::generation`] its link was set in: a frame routed before
    /// that was routed to an earlier holder of the port.
    since: u64,
}

struct Net {
    switch: Switch,
    ends: Vec<Option<End>>,
    next_token: u64,
    /// Counts ports added and attached.
    generation: u64,
}

static NET: SpinNoIrq<Option<Net>> = SpinNoIrq::new(None);

/// Why a port could not be added.
#[derive(Debug, Clone, Copy)]
pub enum NetError {
    /// Every one of the switch's ports is taken.
    Full,
    /// Another port has this MAC (of VM `vm`, if a VM's).
    MacInUse { mac: Mac, vm: Option<usize> },
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full => write!(f, "the switch has all its {MAX_PORTS} ports taken"),
            Self::MacInUse { mac, vm: Some(vm) } => write!(f, "MAC {} is VM[{vm}]'s already", MacText(mac)),
            Self::MacInUse { mac, vm: None } => write!(f, "MAC {} is taken", MacText(mac)),
        }
    }
}

/// `02:41:58:00:01:00`.
pub struct MacText<'a>(pub &'a Mac);

impl core::fmt::Display for MacText<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

/// The MAC of NIC `index` of VM `vm` when its config gives none: locally
/// administered, `02:41:58` ("AX"), the VM id, the NIC's index.
pub fn derived_mac(vm: usize, index: usize) -> Mac {
    [0x02, 0x41, 0x58, (vm >> 8) as u8, vm as u8, index as u8]
}

/// A port of the switch, taken out of it when dropped.
pub struct Port {
    id: PortId,
    token: u64,
}

impl Port {
    /// Its id on the switch.
    pub fn id(&self) -> PortId {
        self.id
    }

    /// Its id and registration, as [`attach_vm`] matches them.
    pub fn key(&self) -> (PortId, u64) {
        (self.id, self.token)
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        release(self.id, self.token);
    }
}

fn with_net<R>(f: impl FnOnce(&mut Net) -> R) -> R {
    let mut net = NET.lock();
    let net = net.get_or_insert_with(|| Net {
        switch: Switch::new(FDB_ENTRIES, MAX_AGE_MS),
        ends: (0..MAX_PORTS).map(|_| None).collect(),
        next_token: 1,
        generation: 0,
    });
    f(net)
}

fn add(policy: PortPolicy, vm: Option<usize>, link: Link) -> Result<Port, NetError> {
    with_net(|net| {
        let id = net.switch.add_port(policy).map_err(|e| match e {
            SwitchError::Full => NetError::Full,
            SwitchError::MacInUse(other) => NetError::MacInUse {
                mac: policy.mac.unwrap_or_default(),
                vm: net.ends.get(usize::from(other.0)).and_then(|e| e.as_ref()).and_then(|e| e.vm),
            },
        })?;
        let token = net.next_token;
        net.next_token += 1;
        net.generation += 1;
        if let Some(slot) = net.ends.get_mut(usize::from(id.0)) {
            *slot = Some(End { token, vm, link, since: net.generation });
        }
        Ok(Port { id, token })
    })
}

/// A port for a guest NIC of VM `vm` with `mac`; frames reach it once
/// the VM is made ([`attach_vm`]).
pub fn add_guest_port(vm: usize, mac: Mac, any_source: bool) -> Result<Port, NetError> {
    add(PortPolicy { mac: Some(mac), any_source }, Some(vm), Link::None)
}

/// Adds the uplink port: frames the switch sends to it go to `send`
/// (called with no lock of the switch held). The port lives as long as
/// the hypervisor, so it is not returned as a [`Port`].
pub fn attach_uplink(send: UplinkSend) -> Result<PortId, NetError> {
    let port = add(PortPolicy { mac: None, any_source: true }, None, Link::Uplink(send))?;
    let id = port.id;
    core::mem::forget(port);
    Ok(id)
}

/// Points the ports of `vm`'s NICs at the VM, now that it is made.
pub fn attach_vm(vm: &Arc<Vm>) {
    for (device, dev) in vm.virtio.iter().enumerate() {
        let Some((id, token)) = dev.port() else { continue };
        with_net(|net| {
            if let Some(Some(end)) = net.ends.get_mut(usize::from(id.0))
                && end.token == token
            {
                net.generation += 1;
                end.link = Link::Guest { vm: Arc::downgrade(vm), device };
                end.since = net.generation;
            }
        });
    }
}

/// The VM stopped: its ports take no more frames (they stay reserved
/// until the VM is dropped, which frees them).
pub fn detach_vm(vm: usize) {
    with_net(|net| {
        for end in net.ends.iter_mut().flatten().filter(|e| e.vm == Some(vm)) {
            end.link = Link::None;
        }
    });
}

fn release(id: PortId, token: u64) {
    let mut net = NET.lock();
    let Some(net) = net.as_mut() else { return };
    if let Some(slot) = net.ends.get_mut(usize::from(id.0))
        && slot.as_ref().is_some_and(|e| e.token == token)
    {
        *slot = None;
        net.switch.remove_port(id);
    }
}

/// A frame that came in on `from`: routed, and delivered to every port it
/// goes to. What the switch refuses is counted there and dropped; a port
/// that got a new holder after the frame was routed does not get it.
pub fn forward(from: PortId, frame: &[u8]) {
    let now = hal::now().as_millis() as u64;
    let Some((dests, generation)) = with_net(|net| net.switch.route(from, frame, now).ok().map(|d| (d, net.generation))) else {
        return;
    };
    for port in dests.iter() {
        let link = with_net(|net| match net.ends.get(usize::from(port.0)) {
            Some(Some(end)) if end.since <= generation => end.link.clone(),
            _ => Link::None,
        });
        match link {
            Link::None => {}
            Link::Guest { vm, device } => {
                if let Some(vm) = vm.upgrade()
                    && let Some(dev) = vm.virtio.get(device)
                {
                    dev.receive_frame(&vm, frame);
                }
            }
            Link::Uplink(send) => send(frame),
        }
    }
}
