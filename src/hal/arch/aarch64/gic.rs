//! `axvisor_api::arch` over the host GICv2: list-register injection and the
//! host distributor's identity for the virtual distributor.

use axvisor_api::memory::PhysAddr;
use axvisor_api::vmm::InterruptVector;
use arm_gic_driver::{
    IntId,
    v2::{Gic, VirtualInterruptConfig, VirtualInterruptState},
};

/// GICD_TYPER and GICD_IIDR offsets in the distributor.
const GICD_TYPER: usize = 0x4;
const GICD_IIDR: usize = 0x8;
/// Priority given to injected virtual interrupts (middle of the range).
const VIRQ_PRIORITY: u8 = 0xa0;

fn with_gic<R>(f: impl FnOnce(&mut Gic) -> R) -> Option<R> {
    let dev = rdrive::get_one::<rdif_intc::Intc>()?;
    let mut guard = dev.lock().ok()?;
    guard.typed_mut::<Gic>().map(f)
}

fn read_gicd(offset: usize) -> u32 {
    with_gic(|gic| {
        let reg = (usize::from(gic.gicd_addr()) + offset) as *const u32;
        // SAFETY: the GIC driver mapped the whole distributor at gicd_addr;
        // TYPER and IIDR are read-only registers without side effects.
        unsafe { reg.read_volatile() }
    })
    .unwrap_or(0)
}

#[axvisor_api::api_mod_impl(axvisor_api::arch)]
mod arch_api_impl {
    use super::*;

    extern fn hardware_inject_virtual_interrupt(vector: InterruptVector) {
        let injected = with_gic(|gic| {
            let Some(gich) = gic.hypervisor_interface() else {
                return false;
            };
            let count = gich.get_list_register_count();
            let Some(lr) = (0..count).find(|&i| gich.is_list_register_empty(i)) else {
                return false;
            };
            // SAFETY: `vector` is at most 255, a valid SGI/PPI/SPI id.
            let id = unsafe { IntId::raw(vector as u32) };
            let config = VirtualInterruptConfig::software(
                id,
                None,
                VIRQ_PRIORITY,
                VirtualInterruptState::Pending,
                false,
                false,
            );
            gich.set_virtual_interrupt(lr, config);
            gich.enable();
            true
        });
        if injected != Some(true) {
            warn!("virtual interrupt {vector} not injected: no GICv2 hypervisor interface or free list register");
        }
    }

    extern fn read_vgicd_typer() -> u32 {
        read_gicd(GICD_TYPER)
    }

    extern fn read_vgicd_iidr() -> u32 {
        read_gicd(GICD_IIDR)
    }

    extern fn get_host_gicd_base() -> PhysAddr {
        gic_reg(0)
    }

    extern fn get_host_gicr_base() -> PhysAddr {
        // GICv2 has no redistributor; the CPU interface is the second reg.
        gic_reg(1)
    }
}

/// The `index`-th `reg` entry of the host GIC node in the boot device tree.
fn gic_reg(index: usize) -> PhysAddr {
    const COMPATIBLE: &[&str] = &["arm,cortex-a15-gic", "arm,gic-400", "arm,gic-v3"];
    let base = axhal::dtb::get_fdt()
        .and_then(|fdt| fdt.find_compatible(COMPATIBLE).next())
        .and_then(|node| node.reg()?.nth(index))
        .map(|reg| reg.address as usize);
    PhysAddr::from(base.unwrap_or_else(|| {
        warn!("no GIC node with a reg[{index}] in the host device tree");
        0
    }))
}
