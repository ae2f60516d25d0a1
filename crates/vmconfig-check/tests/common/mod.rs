//! A valid config that each test bends in one place.

pub const GOOD: &str = r#"
[base]
id = 1
name = "t"
vm_type = 1
cpu_num = 1
phys_cpu_ids = [0]

[kernel]
entry_point = 0x4020_0000
kernel_path = "k.bin"
kernel_load_addr = 0x4020_0000
image_location = "memory"
memory_regions = [[0x4000_0000, 0x800_0000, 0x7, 0]]

[devices]
emu_devices = []
passthrough_devices = [["pl011", 0x0900_0000, 0x0900_0000, 0x1000, 33]]
"#;

/// `GOOD` with `from` replaced by `to` (which must occur exactly once).
pub fn bend(from: &str, to: &str) -> String {
    assert_eq!(GOOD.matches(from).count(), 1, "fixture text {from:?} must occur once");
    GOOD.replacen(from, to, 1)
}

pub fn sizes(kernel: usize) -> vmconfig_check::ImageSizes {
    vmconfig_check::ImageSizes {
        kernel: Some(kernel),
        ..Default::default()
    }
}
