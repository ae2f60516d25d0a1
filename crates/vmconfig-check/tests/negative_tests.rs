//! Each way a config can be wrong, and the one line that names it.

mod common;
use common::*;
use vmconfig_check::check;

fn rejected(text: &str, kernel_size: usize) -> String {
    match check(text, &sizes(kernel_size)) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unparsable_toml() {
    let msg = rejected("[base\nid = 1", 16);
    assert!(msg.starts_with("not a valid VM config"), "{msg}");
}

#[test]
fn missing_section() {
    let msg = rejected("[base]\nid = 1\nname = \"x\"\nvm_type = 1\ncpu_num = 1\n", 16);
    assert!(msg.contains("kernel"), "{msg}");
}

#[test]
fn zero_vcpus() {
    let text = bend("cpu_num = 1\nphys_cpu_ids = [0]", "cpu_num = 0");
    assert_eq!(rejected(&text, 16), "base.cpu_num = 0: a VM needs at least one vCPU");
}

#[test]
fn phys_cpu_ids_length_mismatch() {
    let text = bend("cpu_num = 1", "cpu_num = 2");
    assert!(rejected(&text, 16).starts_with("base.phys_cpu_ids = [0]: needs exactly one entry"));
}

#[test]
fn overlapping_memory_regions() {
    let text = bend(
        "[[0x4000_0000, 0x800_0000, 0x7, 0]]",
        "[[0x4000_0000, 0x800_0000, 0x7, 0], [0x4400_0000, 0x1000, 0x3, 0]]",
    );
    assert_eq!(
        rejected(&text, 16),
        "kernel.memory_regions[1] = [0x44000000, 0x44001000) overlaps \
         kernel.memory_regions[0] = [0x40000000, 0x48000000)"
    );
}

#[test]
fn entry_point_outside_every_region() {
    let text = bend("entry_point = 0x4020_0000", "entry_point = 0x8000_0000");
    assert_eq!(rejected(&text, 16), "kernel.entry_point = 0x80000000: outside every memory region");
}

#[test]
fn load_address_outside_every_region() {
    let text = bend("kernel_load_addr = 0x4020_0000", "kernel_load_addr = 0x1000");
    assert_eq!(rejected(&text, 16), "kernel.kernel_load_addr = 0x1000: outside every memory region");
}

#[test]
fn image_larger_than_its_region() {
    let room = 0x4800_0000 - 0x4020_0000;
    assert_eq!(
        rejected(GOOD, room + 1),
        "kernel.kernel_path = \"k.bin\": image is 0x7e00001 bytes but its region has 0x7e00000 bytes from the load address"
    );
}

#[test]
fn missing_image() {
    let msg = match check(GOOD, &vmconfig_check::ImageSizes::default()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted a config whose kernel is missing"),
    };
    assert_eq!(msg, "kernel.kernel_path = \"k.bin\": image not found");
}

#[test]
fn unknown_device_type() {
    let text = bend("emu_devices = []", "emu_devices = [[\"x\", 0x800_0000, 0x1000, 0, 0x99, []]]");
    assert_eq!(rejected(&text, 16), "devices.emu_devices[0].emu_type = 153: unknown device type");
}

#[test]
fn unknown_map_type() {
    let text = bend("0x7, 0]]", "0x7, 7]]");
    assert_eq!(
        rejected(&text, 16),
        "kernel.memory_regions[0].map_type = 7: unknown mapping type (0 alloc, 1 identity, 2 reserved)"
    );
}

#[test]
fn unknown_vm_type() {
    let text = bend("vm_type = 1", "vm_type = 9");
    assert_eq!(rejected(&text, 16), "base.vm_type = 9: unknown VM type (0, 1 or 2)");
}

#[test]
fn empty_region() {
    let text = bend("0x4000_0000, 0x800_0000, 0x7", "0x4000_0000, 0, 0x7");
    assert_eq!(rejected(&text, 16), "kernel.memory_regions[0].size = 0: a region cannot be empty");
}

#[test]
fn unknown_image_location() {
    let text = bend("image_location = \"memory\"", "image_location = \"tftp\"");
    assert_eq!(rejected(&text, 16), "kernel.image_location = \"tftp\": must be \"memory\" or \"fs\"");
}

#[test]
fn unknown_region_flags() {
    let text = bend("0x800_0000, 0x7, 0", "0x800_0000, 0x107, 0");
    assert_eq!(
        rejected(&text, 16),
        "kernel.memory_regions[0].flags = 0x107: unknown flag bits (known: 0x3f)"
    );
}

#[test]
fn generated_device_tree_must_not_overlap_the_kernel() {
    let text = bend("kernel_load_addr = 0x4020_0000", "kernel_load_addr = 0x4020_0000\ndtb_load_addr = 0x4020_1000");
    let config = vmconfig_check::parse(&text).expect("parses");
    assert!(vmconfig_check::wants_generated_dtb(&config));
    let images = vmconfig_check::ImageSizes { dtb: Some(0x800), ..sizes(0x10_000) };
    let msg = vmconfig_check::validate(config, &images).expect_err("overlaps").to_string();
    assert!(msg.starts_with("kernel.dtb_load_addr (generated device tree) = [0x40201000, 0x40201800) overlaps"), "{msg}");
    assert!(msg.contains("kernel.kernel_path"), "{msg}");
}

#[test]
fn generated_device_tree_needs_its_size() {
    let text = bend("kernel_load_addr = 0x4020_0000", "kernel_load_addr = 0x4020_0000\ndtb_load_addr = 0x4700_0000");
    let msg = rejected(&text, 16);
    assert!(msg.contains("(generated device tree)"), "{msg}");
}

#[test]
fn partial_passthrough_interrupt_controllers_are_refused() {
    for ty in ["0x20", "0x21", "0x22", "0x30"] {
        let text = bend("emu_devices = []", &format!("emu_devices = [[\"gppt\", 0x0800_0000, 0x1_0000, 0, {ty}, []]]"));
        let msg = rejected(&text, 16);
        assert!(msg.starts_with("devices.emu_devices[0].emu_type = "), "{msg}");
        assert!(msg.contains("partial-passthrough interrupt controllers are not supported"), "{msg}");
    }
}

#[test]
fn a_second_interrupt_controller_is_refused() {
    let two = "emu_devices = [[\"vgic-v2\", 0x0800_0000, 0x1000, 0, 0x1, [0x0801_0000]], [\"vgic-b\", 0x0810_0000, 0x1000, 0, 0x1, [0x0811_0000]]]";
    let msg = rejected(&bend("emu_devices = []", two), 16);
    assert_eq!(msg, "devices.emu_devices[1].emu_type = \"0x1\": a VM has one interrupt controller");
}

#[test]
fn reserved_host_memory_regions_are_refused() {
    let text = bend("[[0x4000_0000, 0x800_0000, 0x7, 0]]", "[[0x4000_0000, 0x800_0000, 0x7, 2]]");
    assert_eq!(
        rejected(&text, 16),
        "kernel.memory_regions[0].map_type = 2: 2 (reserved host memory) would give the guest host memory; use 0 (allocated)"
    );
}

#[test]
fn a_power_button_is_checked() {
    let button = |entry: &str| bend("emu_devices = []", &format!("emu_devices = [{entry}]"));
    let good = button(r#"["power-button", 0x0903_0000, 0x1000, 39, 0x0, [3]]"#);
    assert!(check(&good, &sizes(16)).is_ok(), "a power button on pin 3");
    let no_pin = button(r#"["power-button", 0x0903_0000, 0x1000, 39, 0x0, []]"#);
    assert!(check(&no_pin, &sizes(16)).is_ok(), "pin 3 by default");
    assert_eq!(
        rejected(&button(r#"["power-button", 0x0903_0000, 0x1000, 39, 0x0, [8]]"#), 16),
        "devices.emu_devices[0].cfg_list[0] = 8: the power key's GPIO pin is 0 to 7"
    );
    assert_eq!(
        rejected(&button(r#"["power-button", 0x0903_0000, 0x100, 39, 0x0, [3]]"#), 16),
        "devices.emu_devices[0].length = 0x100: a power button is a PL061 GPIO: 0x1000 bytes"
    );
    let two = button(r#"["power-button", 0x0903_0000, 0x1000, 39, 0x0, [3]], ["power-button", 0x0904_0000, 0x1000, 40, 0x0, [3]]"#);
    assert_eq!(rejected(&two, 16), "devices.emu_devices[1].name = \"power-button\": a VM has one power button");
}

#[test]
fn vm_ids_are_one_to_255() {
    assert_eq!(
        rejected(&bend("id = 1", "id = 0"), 16),
        "base.id = 0: must be 1 to 255 (ids tag the VM's stage-2 translations; 0 is no VM)"
    );
    assert_eq!(
        rejected(&bend("id = 1", "id = 257"), 16),
        "base.id = 257: must be 1 to 255 (ids tag the VM's stage-2 translations; 0 is no VM)"
    );
    assert!(check(&bend("id = 1", "id = 255"), &sizes(16)).is_ok());
}

#[test]
fn counts_and_layout_are_refused_by_parse_before_anything_is_built_from_them() {
    // `parse` is what the hypervisor runs before it generates a device
    // tree: a huge vCPU count must stop there.
    let text = bend("cpu_num = 1\nphys_cpu_ids = [0]", "cpu_num = 100000000");
    let err = vmconfig_check::parse(&text).expect_err("refused by parse").to_string();
    assert_eq!(err, "base.cpu_num = 100000000: more vCPUs than the hypervisor supports (64)");
    let text = bend("[[0x4000_0000, 0x800_0000, 0x7, 0]]", "[[0x4000_0000, 0x800_0800, 0x7, 0]]");
    let err = vmconfig_check::parse(&text).expect_err("refused by parse").to_string();
    assert_eq!(err, "kernel.memory_regions[0].size = 0x8000800: must be a multiple of 4 KiB");
    assert!(vmconfig_check::parse(&bend("id = 1", "id = 0")).is_err());
}

#[test]
fn a_passthrough_device_is_mapped_at_its_guest_address_so_the_host_address_must_match() {
    let text = bend(r#"["pl011", 0x0900_0000, 0x0900_0000, 0x1000, 33]"#, r#"["pl011", 0x4000_0000, 0x0900_0000, 0x1000, 33]"#);
    assert_eq!(
        rejected(&text, 16),
        "devices.passthrough_devices[0].base_hpa = 0x9000000: differs from base_gpa: a passthrough device is mapped at the host address equal to its guest address"
    );
}

#[test]
fn passthrough_ranges_may_not_share_a_page_with_guest_ram() {
    let text = bend(r#"["pl011", 0x0900_0000, 0x0900_0000, 0x1000, 33]"#, r#"["dev", 0x47ff_fff0, 0x47ff_fff0, 0x20, 0]"#);
    assert_eq!(
        rejected(&text, 16),
        "devices.passthrough_devices[0] = [0x47fff000, 0x48001000) overlaps kernel.memory_regions[0] = [0x40000000, 0x48000000)"
    );
    let text = bend("passthrough_devices = [", "passthrough_addresses = [[0x3fff_f000, 0x2000]]\npassthrough_devices = [");
    assert_eq!(
        rejected(&text, 16),
        "devices.passthrough_addresses[0] = [0x3ffff000, 0x40001000) overlaps kernel.memory_regions[0] = [0x40000000, 0x48000000)"
    );
}

#[test]
fn ranges_beyond_the_hosts_guest_physical_width_are_refused() {
    use vmconfig_check::check_address_width;
    let parsed = |text: &str| vmconfig_check::parse(text).expect("parses");
    assert!(check_address_width(&parsed(GOOD), 39).is_ok());
    let high_ram = bend("[[0x4000_0000, 0x800_0000, 0x7, 0]]", "[[0x4000_0000, 0x800_0000, 0x7, 0], [0x7f_ffff_f000, 0x2000, 0x7, 0]]");
    assert_eq!(
        check_address_width(&parsed(&high_ram), 39).expect_err("past 2^39").to_string(),
        "kernel.memory_regions[1] = [0x7ffffff000, 0x8000001000) (limit 0x8000000000): beyond the guest-physical addresses this host's stage 2 translates"
    );
    assert!(check_address_width(&parsed(&high_ram), 48).is_ok(), "fine on a 48-bit stage 2");
    let high_dev = bend(r#"["pl011", 0x0900_0000, 0x0900_0000, 0x1000, 33]"#, r#"["dev", 0x80_0000_0000, 0x80_0000_0000, 0x1000, 0]"#);
    assert_eq!(
        check_address_width(&parsed(&high_dev), 39).expect_err("past 2^39").to_string(),
        "devices.passthrough_devices[0] = [0x8000000000, 0x8000001000) (limit 0x8000000000): beyond the guest-physical addresses this host's stage 2 translates"
    );
}

#[test]
fn an_error_names_its_field_and_value_apart_from_the_line() {
    let zero = check(&bend("cpu_num = 1\nphys_cpu_ids = [0]", "cpu_num = 0"), &sizes(16)).expect_err("zero vCPUs");
    assert_eq!((zero.field(), zero.value().as_deref()), (Some("base.cpu_num"), Some("0")));
    let outside = check(&bend("entry_point = 0x4020_0000", "entry_point = 0x8000_0000"), &sizes(16)).expect_err("entry");
    assert_eq!((outside.field(), outside.value().as_deref()), (Some("kernel.entry_point"), Some("0x80000000")));
    let garbage = check("[base\nid = 1", &sizes(16)).expect_err("not TOML");
    assert_eq!((garbage.field(), garbage.value()), (None, None), "a parse error is about no one field");
}
