//! Writing a guest's memory from the hypervisor before the guest runs.

use axvm::{AxVM, AxVMHal};

use super::arch::{Arch, ArchOps};
use super::virt::VcpuHal;

/// Lets `fill` write `len` bytes at guest-physical `gpa` of `vm`, through
/// the host mapping of the RAM region that holds them, then makes them
/// visible to a guest that starts with its caches off. `None` if no single
/// region holds the whole range.
///
/// Call it only while no vCPU of `vm` runs (VM creation).
pub fn load<H: AxVMHal, R>(vm: &AxVM<H, VcpuHal>, gpa: usize, len: usize, fill: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
    let end = gpa.checked_add(len)?;
    let region = vm
        .memory_regions()
        .into_iter()
        .find(|r| r.gpa.as_usize() <= gpa && end <= r.gpa.as_usize() + r.size())?;
    let offset = gpa - region.gpa.as_usize();
    // SAFETY: axvm allocated (or reserved) [hva, hva + size) for this VM's
    // region and keeps it mapped in the host while the VM exists; the
    // range was checked to lie inside it, and no vCPU of the VM runs yet,
    // so nothing else reads or writes these bytes while the slice lives.
    let bytes = unsafe { core::slice::from_raw_parts_mut(region.hva.as_mut_ptr().add(offset), len) };
    let result = fill(bytes);
    Arch::clean_dcache(bytes);
    Some(result)
}
