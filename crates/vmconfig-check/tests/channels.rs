//! Shared-memory channel entries (`emu_devices` type 0xA): what is
//! accepted, and each refusal naming its field and value.

mod common;

use common::bend;
use vmconfig_check::{ChannelSpec, channels_of, check_peer_size, parse};

const EMPTY: &str = "emu_devices = []";

fn with(entries: &str) -> String {
    bend(EMPTY, &format!("emu_devices = [{entries}]"))
}

fn refused(entries: &str) -> String {
    parse(&with(entries)).expect_err("config must be refused").to_string()
}

#[test]
fn a_read_write_and_a_read_only_channel_are_read_in_config_order() {
    let cfg = parse(&with(r#"["a", 0x4800_0000, 0x1000, 80, 0xA, []], ["b", 0x4900_0000, 0x10_0000, 81, 0xA, [1]]"#)).unwrap();
    let specs = channels_of(&cfg).unwrap();
    assert_eq!(
        specs,
        vec![
            ChannelSpec {
                name: "a".into(),
                field: "devices.emu_devices[0]".into(),
                base: 0x4800_0000,
                size: 0x1000,
                irq: 80,
                read_only: false
            },
            ChannelSpec {
                name: "b".into(),
                field: "devices.emu_devices[1]".into(),
                base: 0x4900_0000,
                size: 0x10_0000,
                irq: 81,
                read_only: true
            },
        ]
    );
}

#[test]
fn access_zero_is_read_write() {
    let cfg = parse(&with(r#"["a", 0x4800_0000, 0x1000, 80, 0xA, [0]]"#)).unwrap();
    assert!(!channels_of(&cfg).unwrap()[0].read_only);
}

#[test]
fn a_config_without_channels_has_none() {
    assert!(channels_of(&parse(common::GOOD).unwrap()).unwrap().is_empty());
}

#[test]
fn size_must_be_whole_pages_up_to_16_mib() {
    assert_eq!(
        refused(r#"["a", 0x4800_0000, 0x1800, 80, 0xA, []]"#),
        "devices.emu_devices[0].length = 0x1800: a channel is a multiple of 4 KiB, at most 16 MiB"
    );
    assert_eq!(
        refused(r#"["a", 0x4800_0000, 0x0, 80, 0xA, []]"#),
        "devices.emu_devices[0].length = 0x0: a channel is a multiple of 4 KiB, at most 16 MiB"
    );
    assert_eq!(
        refused(r#"["a", 0x4800_0000, 0x100_1000, 80, 0xA, []]"#),
        "devices.emu_devices[0].length = 0x1001000: a channel is a multiple of 4 KiB, at most 16 MiB"
    );
}

#[test]
fn base_must_be_page_aligned() {
    assert_eq!(
        refused(r#"["a", 0x4800_0800, 0x1000, 80, 0xA, []]"#),
        "devices.emu_devices[0].base_gpa = 0x48000800: a channel must be 4 KiB aligned"
    );
}

#[test]
fn access_is_zero_or_one() {
    assert_eq!(
        refused(r#"["a", 0x4800_0000, 0x1000, 80, 0xA, [2]]"#),
        "devices.emu_devices[0].cfg_list[0] = 2: access is 0 (read-write) or 1 (read-only)"
    );
    assert_eq!(
        refused(r#"["a", 0x4800_0000, 0x1000, 80, 0xA, [0, 1]]"#),
        "devices.emu_devices[0].cfg_list = [0, 1]: a channel takes one value: its access"
    );
}

#[test]
fn name_and_doorbell_are_required_and_names_unique() {
    assert_eq!(
        refused(r#"["", 0x4800_0000, 0x1000, 80, 0xA, []]"#),
        "devices.emu_devices[0].name = \"\": a channel needs a name (it names the channel in every member VM)"
    );
    assert_eq!(
        refused(r#"["a", 0x4800_0000, 0x1000, 0, 0xA, []]"#),
        "devices.emu_devices[0].irq_id = 0: a channel needs a doorbell interrupt"
    );
    assert_eq!(
        refused(r#"["a", 0x4800_0000, 0x1000, 80, 0xA, []], ["a", 0x4900_0000, 0x1000, 81, 0xA, []]"#),
        "devices.emu_devices[1].name = \"a\": the VM names this channel twice"
    );
}

#[test]
fn the_window_overlaps_no_ram_device_or_other_channel() {
    assert_eq!(
        refused(r#"["a", 0x47ff_f000, 0x2000, 80, 0xA, []]"#),
        "devices.emu_devices[0] = [0x47fff000, 0x48001000) overlaps kernel.memory_regions[0] = [0x40000000, 0x48000000)"
    );
    assert_eq!(
        refused(r#"["a", 0x0900_0000, 0x1000, 80, 0xA, []]"#),
        "devices.emu_devices[0] = [0x9000000, 0x9001000) overlaps devices.passthrough_devices[0] = [0x9000000, 0x9001000)"
    );
    assert_eq!(
        refused(r#"["uart", 0x4800_0000, 0x1000, 33, 0x2, []], ["a", 0x4800_0000, 0x1000, 80, 0xA, []]"#),
        "devices.emu_devices[1] = [0x48000000, 0x48001000) overlaps devices.emu_devices[0] (\"uart\") = [0x48000000, 0x48001000)"
    );
}

#[test]
fn at_most_eight_channels() {
    let entries: Vec<String> =
        (0..9).map(|i| format!(r#"["c{i}", {:#x}, 0x1000, 80, 0xA, []]"#, 0x4800_0000 + i * 0x1000)).collect();
    assert_eq!(refused(&entries.join(", ")), "devices.emu_devices[8].name = \"c8\": a VM has at most 8 channels");
}

#[test]
fn members_must_agree_on_size() {
    let cfg = parse(&with(r#"["link", 0x4800_0000, 0x2000, 80, 0xA, []]"#)).unwrap();
    let spec = &channels_of(&cfg).unwrap()[0];
    assert!(check_peer_size(spec, 3, 0x2000).is_ok());
    assert_eq!(
        check_peer_size(spec, 3, 0x1000).unwrap_err().to_string(),
        "devices.emu_devices[0].length = 0x2000 (VM[3] has 0x1000 for \"link\"): every member of a channel maps the same pages: the sizes must agree"
    );
}

#[test]
fn a_config_with_a_channel_passes_the_whole_check() {
    let text = with(r#"["a", 0x4800_0000, 0x1000, 80, 0xA, [1]]"#);
    assert!(vmconfig_check::check(&text, &common::sizes(0x1000)).is_ok());
}
