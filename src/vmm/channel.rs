//! Shared-memory channels between VMs, with doorbells.
//!
//! A channel is named in each member VM's config (`emu_devices` type 0xA,
//! checked by `vmconfig_check::channels_of`). Its pages are allocated once,
//! zeroed, when its first member is created, mapped into every member's
//! stage 2 at that member's base (read-write or read-only), and freed when
//! the last member VM is dropped: each member holds an `Arc` of the
//! [`Channel`], the registry only a `Weak`. The hypervisor never writes
//! into the pages: their layout is the guests' own.
//!
//! The doorbell call raises the channel's configured interrupt (an edge:
//! it coalesces while pending) in every other running member; the status
//! call answers the running peers and a generation that grows whenever a
//! member boots, resets or stops, when the other members are rung too.
//! Nothing here allocates on a ring.

use alloc::{string::String, sync::{Arc, Weak}, vec::Vec};
use core::sync::atomic::{AtomicU64, Ordering};

use axaddrspace::{GuestPhysAddr, MappingFlags};
use axerrno::AxError;
use exit_dispatch::{CallError, DeviceError, Emulated};
use kspin::SpinNoIrq;
use vmconfig_check::ChannelSpec;

use super::create::VmError;
use super::vm::{AxVm, Vm};
use crate::hal::SharedPages;

/// The most VMs one channel may have.
const MAX_MEMBERS: usize = 16;

/// One channel: its pages and who maps them.
pub struct Channel {
    name: String,
    pages: SharedPages,
    /// Grows whenever a member boots, resets or stops.
    generation: AtomicU64,
    members: SpinNoIrq<Vec<Member>>,
}

/// A member VM and the interrupt a peer's doorbell raises in it.
#[derive(Debug, Clone, Copy)]
struct Member {
    vm: usize,
    irq: usize,
}

/// Every channel that still has a member.
static CHANNELS: SpinNoIrq<Vec<Weak<Channel>>> = SpinNoIrq::new(Vec::new());

/// A VM's membership of one channel; dropping it leaves the channel.
pub struct Membership {
    channel: Arc<Channel>,
    vm: usize,
    /// Where the VM maps it: `[base, base + size)`.
    base: u64,
    /// Whether the VM may only read it.
    read_only: bool,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.channel.members.lock().retain(|m| m.vm != self.vm);
    }
}

impl Channel {
    /// Raises the doorbell in every running member but `from`; how many.
    fn ring_others(&self, from: usize) -> u64 {
        // Copied out so that no VM is looked up (or dropped) under the lock.
        let mut peers = [None; MAX_MEMBERS];
        for (slot, m) in peers.iter_mut().zip(self.members.lock().iter().filter(|m| m.vm != from)) {
            *slot = Some(*m);
        }
        let mut rung = 0;
        for m in peers.into_iter().flatten() {
            if let Some(vm) = self.running_member(m.vm) {
                vm.raise_device_irq(m.irq);
                rung += 1;
            }
        }
        rung
    }

    /// VM `id` if it runs and is a member (not a VM that took the id of a
    /// member that is gone but not yet dropped).
    fn running_member(&self, id: usize) -> Option<Arc<Vm>> {
        let vm = super::find(id)?;
        let member = vm.channels.iter().any(|m| core::ptr::eq(&*m.channel, self));
        (member && !vm.stopping()).then_some(vm)
    }

    /// Running members but `from`.
    fn running_others(&self, from: usize) -> u64 {
        let mut peers = [None; MAX_MEMBERS];
        for (slot, m) in peers.iter_mut().zip(self.members.lock().iter().filter(|m| m.vm != from)) {
            *slot = Some(m.vm);
        }
        peers.into_iter().flatten().filter(|&id| self.running_member(id).is_some()).count() as u64
    }
}

/// The live channel named `name`, or a new one of `size` zeroed bytes.
fn channel_named(spec: &ChannelSpec) -> Result<Arc<Channel>, VmError> {
    let mut channels = CHANNELS.lock();
    channels.retain(|c| c.strong_count() > 0);
    if let Some(channel) = channels.iter().filter_map(Weak::upgrade).find(|c| c.name == spec.name) {
        let first = channel.members.lock().first().map_or(0, |m| m.vm);
        vmconfig_check::check_peer_size(spec, first, channel.pages.len()).map_err(VmError::Config)?;
        return Ok(channel);
    }
    let pages = SharedPages::alloc(spec.size).ok_or(VmError::Create { step: "allocating a channel's pages", error: AxError::NoMemory })?;
    let channel = Arc::new(Channel { name: spec.name.clone(), pages, generation: AtomicU64::new(0), members: SpinNoIrq::new(Vec::new()) });
    channels.push(Arc::downgrade(&channel));
    Ok(channel)
}

/// Joins the VM being created (`ax`) to the channels its config names, in
/// config order, each mapped into its stage 2.
pub fn join(specs: &[ChannelSpec], ax: &AxVm, name: &str) -> Result<Vec<Membership>, VmError> {
    let vm = ax.id();
    let mut joined = Vec::with_capacity(specs.len());
    for spec in specs {
        let channel = channel_named(spec)?;
        let mut flags = MappingFlags::READ | MappingFlags::USER;
        if !spec.read_only {
            flags |= MappingFlags::WRITE;
        }
        ax.map_region(GuestPhysAddr::from(spec.base), channel.pages.hpa(), spec.size, flags)
            .map_err(|error| VmError::Create { step: "mapping a channel", error })?;
        let others = {
            let mut members = channel.members.lock();
            if members.len() == MAX_MEMBERS {
                return Err(VmError::Unsupported { field: "devices.emu_devices", what: "a channel has at most 16 member VMs" });
            }
            members.push(Member { vm, irq: spec.irq });
            members.len() - 1
        };
        let access = if spec.read_only { "read-only" } else { "read-write" };
        if others == 0 {
            info!("VM[{vm}] {name}: channel \"{}\" ({:#x} bytes at {:#x}, {access}): the only member so far", spec.name, spec.size, spec.base);
        } else {
            info!("VM[{vm}] {name}: channel \"{}\" ({:#x} bytes at {:#x}, {access}): joins {others} other member(s)", spec.name, spec.size, spec.base);
        }
        joined.push(Membership { channel, vm, base: spec.base as u64, read_only: spec.read_only });
    }
    Ok(joined)
}

impl Vm {
    /// The VM's channel `index` (its order in the config).
    fn channel(&self, index: u64) -> Result<&Channel, CallError> {
        if self.channels.is_empty() {
            return Err(CallError::NotSupported);
        }
        let index = usize::try_from(index).map_err(|_| CallError::InvalidParameters)?;
        self.channels.get(index).map(|m| &*m.channel).ok_or(CallError::InvalidParameters)
    }

    /// The doorbell call: rings channel `index`'s other running members;
    /// answers how many.
    pub fn ring_doorbell(&self, index: u64) -> Result<u64, CallError> {
        Ok(self.channel(index)?.ring_others(self.id))
    }

    /// The status call: running peers in bits 0..8, the generation above.
    pub fn channel_status(&self, index: u64) -> Result<u64, CallError> {
        let channel = self.channel(index)?;
        let peers = channel.running_others(self.id).min(0xff);
        Ok(channel.generation.load(Ordering::Acquire) << 8 | peers)
    }

    /// What an access no device claims is: a store into a read-only
    /// channel (where the stage-2 fault reaches the VMM as an MMIO access,
    /// as on riscv64) is refused as such; anything else has no device.
    #[cold]
    pub fn no_device(&self, addr: u64, write: bool) -> Emulated {
        let in_read_only = |m: &Membership| m.read_only && addr.wrapping_sub(m.base) < m.channel.pages.len() as u64;
        if write && self.channels.iter().any(in_read_only) {
            return Emulated::Failed(DeviceError::ReadOnly);
        }
        Emulated::NoDevice
    }

    /// The VM booted, reset or stopped: every channel's generation grows
    /// and its other members are rung, so that they look.
    pub fn channel_link_event(&self) {
        for m in &self.channels {
            m.channel.generation.fetch_add(1, Ordering::AcqRel);
            m.channel.ring_others(self.id);
        }
    }
}
