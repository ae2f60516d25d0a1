//! Hardware abstraction: the glue between ArceOS (axhal, axalloc, axtask)
//! and the VM-management crates, and the one arch contract.
//!
//! This layer never calls up into the VMM: what it needs from it (VM
//! lookups for interrupt forwarding, the `axvisor_api` VM queries) is the
//! [`VmmServices`] trait, which the VMM implements and [`register`]s.
//!
//! Neighbours: [`arch`] (the contract and the one arch module built),
//! `virt` (virtualization on every CPU, the vCPU HAL), `current` (the vCPU
//! on this CPU and per-vCPU interrupt queues), `upcalls` (the VMM's
//! services and the `axvisor_api` calls), `timer` (deadline callbacks),
//! `guest_memory` (guest RAM: host memory, zeroed and mapped on first
//! touch, image loading), `shared_pages` (pages VMs share), `host_nic` (the host's own virtio NIC, the
//! switch's uplink), `error` (this layer's errors).

pub mod arch;
mod current;
mod error;
mod guest_memory;
mod host_nic;
mod shared_pages;
mod sleep_lock;
mod timer;
mod upcalls;
mod virt;

pub use shared_pages::SharedPages;
pub use sleep_lock::SleepLock;
pub use current::{Here, IrqQueue, cpu_shared, handle_host_irq, ids as current_vcpu, may_block, run_here};
pub use error::{DtbError, ForwardError, HardwareError, IrqChipError, IrqSetupError, StartError, VcpuError};
pub use guest_memory::{GuestRam, RamError, unmap_chunks};
pub use host_nic::{HostNic, host_nic};
#[allow(unused_imports, reason = "for architectures that decode guest instructions in software")]
pub use guest_memory::read_mapped;
pub use timer::{cancel as cancel_timer, register as register_timer};
pub use upcalls::{VmmServices, register};
pub use virt::{VcpuHal, enable_virtualization};

/// The physical CPU this code runs on.
pub fn this_cpu() -> usize {
    axhal::percpu::this_cpu_id()
}

/// Number of physical CPUs.
pub fn cpu_count() -> usize {
    axhal::cpu_num()
}

/// Whether `[start, start + size)` overlaps the host's RAM (the
/// hypervisor's own memory, or memory it gives VMs).
pub fn is_host_ram(start: usize, size: usize) -> bool {
    let end = start.saturating_add(size);
    axhal::mem::memory_regions()
        .filter(|r| !r.flags.contains(axhal::mem::MemRegionFlags::DEVICE))
        .any(|r| start < r.paddr.as_usize() + r.size && r.paddr.as_usize() < end)
}

/// The host's device tree, if it can be read.
pub fn host_fdt() -> Option<&'static guest_fdt::HostTree<'static>> {
    if host_fdt_readable() { axhal::dtb::get_fdt() } else { None }
}

/// The host's boot arguments: the device tree's `/chosen/bootargs`
/// (QEMU's `-append`), if it has any.
#[cfg(feature = "api")]
pub fn host_bootargs() -> Option<&'static str> {
    host_fdt()?.chosen()?.bootargs()
}

/// Whether the host's device tree can be read (`axhal::dtb::get_fdt`):
/// the firmware may put it outside the RAM the host maps (riscv64's
/// platform config maps 256 MiB, whatever QEMU has).
pub fn host_fdt_readable() -> bool {
    is_host_ram(axhal::dtb::get_bootarg(), 1)
}

/// The first `reg` range of the host device tree's `/chosen/stdout-path`
/// node: where the host console's UART is. `None` if the tree is not in
/// the RAM the host maps or says nothing.
#[allow(dead_code, reason = "for architectures booted with a device tree")]
pub fn host_stdout_reg() -> Option<(usize, usize)> {
    static REG: spin::Once<Option<(usize, usize)>> = spin::Once::new();
    *REG.call_once(|| {
        if !host_fdt_readable() {
            return None;
        }
        let stdout = axhal::dtb::get_fdt()?.chosen()?.stdout()?;
        let reg = stdout.node.reg()?.next()?;
        Some((usize::try_from(reg.address).ok()?, reg.size.unwrap_or(0x1000)))
    })
}

/// Time since the host booted (the clock timer deadlines use).
pub fn now() -> core::time::Duration {
    axhal::time::monotonic_time()
}

/// Writes `prefix`, `line` and a line end to the host console as one
/// piece: under the runtime's console lock, which its log lines take too,
/// so that lines of VMs, CPUs and the host never interleave.
pub fn console_line(prefix: &str, line: &str) {
    print!("{prefix}{line}\n");
}

/// Host memory the page allocator has free, in bytes.
pub fn free_memory() -> u64 {
    (axalloc::global_allocator().available_pages() * memory_addr::PAGE_SIZE_4K) as u64
}

/// Reads whatever bytes the host console has for us (none: 0).
pub fn console_input(buf: &mut [u8]) -> usize {
    axhal::console::read_bytes(buf)
}
