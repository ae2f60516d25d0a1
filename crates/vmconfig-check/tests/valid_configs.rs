//! Configs that must be accepted.

mod common;
use common::*;
use vmconfig_check::{ImageLocation, VirtioSlots, check, parse_placed, validate};

#[test]
fn good_config_is_accepted() {
    let c = check(GOOD, &sizes(0x1000)).expect("valid config");
    assert_eq!(c.config.base.cpu_num, 1);
    assert_eq!(c.image_location, ImageLocation::Memory);
    assert_eq!(c.config.kernel.memory_regions[0].size, 0x800_0000);
}

#[test]
fn image_that_exactly_fills_its_region_fits() {
    let room = 0x4800_0000 - 0x4020_0000;
    assert!(check(GOOD, &sizes(room)).is_ok());
}

#[test]
fn fs_location_is_recognised() {
    let text = bend("image_location = \"memory\"", "image_location = \"fs\"");
    assert_eq!(check(&text, &sizes(16)).unwrap().image_location, ImageLocation::Fs);
}

#[test]
fn adjacent_regions_do_not_overlap() {
    let text = bend(
        "[[0x4000_0000, 0x800_0000, 0x7, 0]]",
        "[[0x4000_0000, 0x800_0000, 0x7, 0], [0x4800_0000, 0x1000, 0x3, 0]]",
    );
    assert!(check(&text, &sizes(16)).is_ok());
}

#[test]
fn every_shipped_vm_config_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/vms");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("configs/vms exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut s = sizes(0x1000);
            s.dtb = Some(0x1000);
            s.ramdisk = Some(0x1000);
            // QEMU virt's virtio-mmio slots, as the hypervisor's arch
            // modules give them, for `[[devices.virtual]]` tables.
            let name = path.to_string_lossy();
            let slots = if name.contains("riscv64") {
                VirtioSlots { base: 0x1000_1000, stride: 0x1000, count: 8, first_irq: 1 }
            } else {
                VirtioSlots { base: 0x0a00_0000, stride: 0x200, count: 32, first_irq: 48 }
            };
            if let Err(e) = parse_placed(&text, Some(&slots)).and_then(|(config, _)| validate(config, &s)) {
                panic!("{}: {e}", path.display());
            }
            seen += 1;
        }
    }
    assert!(seen > 0, "no VM configs found in {dir}");
}
