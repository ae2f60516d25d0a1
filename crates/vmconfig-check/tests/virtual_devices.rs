//! `[[devices.virtual]]` virtio-blk and virtio-net tables: read, placed,
//! and refused by name when wrong.

mod common;
use common::{GOOD, bend, sizes};
use vmconfig_check::{DiskBackend, VirtioSlots, parse, parse_placed, validate};

const SLOTS: VirtioSlots = VirtioSlots {
    base: 0x0a00_0000,
    stride: 0x200,
    count: 32,
    first_irq: 48,
};

fn with(tables: &str) -> String {
    format!("{GOOD}\n{tables}")
}

fn refused(tables: &str) -> String {
    match parse_placed(&with(tables), Some(&SLOTS)) {
        Ok(_) => panic!("accepted:\n{tables}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_upstream_file_disk_takes_the_first_free_slot_and_joins_emu_devices() {
    let text = with(
        "[[devices.virtual]]\nid = \"root\"\nmodel = \"virtio-blk\"\npath = \"/guests/rootfs.ext4\"\nfilesystem = \"ext4\"\n\
         [[devices.virtual]]\nid = \"scratch\"\nmodel = \"virtio-blk\"\nbackend = \"ramdisk\"\ncapacity = \"4MiB\"\n",
    );
    let (config, disks) = parse_placed(&text, Some(&SLOTS)).map(|(c, v)| (c, v.disks)).expect("accepted");
    assert_eq!(disks.len(), 2);
    assert_eq!((disks[0].base, disks[0].irq), (0x0a00_0000, 48));
    assert_eq!((disks[1].base, disks[1].irq), (0x0a00_0200, 49));
    assert_eq!(
        disks[0].backend,
        DiskBackend::File { path: "/guests/rootfs.ext4".into(), capacity: None, write_back: true }
    );
    assert_eq!(disks[1].backend, DiskBackend::RamDisk { bytes: 4 << 20 });
    let emu: Vec<_> = config.devices.emu_devices.iter().map(|e| (e.name.as_str(), e.base_gpa, e.irq_id)).collect();
    assert_eq!(emu, [("root", 0x0a00_0000, 48), ("scratch", 0x0a00_0200, 49)]);
}

#[test]
fn a_slot_an_emu_device_uses_is_skipped() {
    let console = bend("emu_devices = []", "emu_devices = [[\"virtio-console\", 0x0a00_0000, 0x200, 48, 0xE3, []]]");
    let text = format!("{console}\n[[devices.virtual]]\nid = \"d\"\nmodel = \"virtio-blk\"\n");
    let (config, disks) = parse_placed(&text, Some(&SLOTS)).map(|(c, v)| (c, v.disks)).expect("accepted");
    assert_eq!((disks[0].base, disks[0].irq), (0x0a00_0200, 49));
    // The placed config passes the image checks too.
    assert!(validate(config, &sizes(0x1000)).is_ok());
}

#[test]
fn read_only_ramdisk_images_and_explicit_places_are_kept() {
    let text = with(
        "[[devices.virtual]]\nid = \"ro\"\nmodel = \"virtio-blk\"\nbackend = \"ramdisk\"\nimage_path = \"/guests/a.img\"\n\
         read_only = true\nbase = 0x0b00_0000\nirq = 60\n",
    );
    let (_, disks) = parse_placed(&text, Some(&SLOTS)).map(|(c, v)| (c, v.disks)).expect("accepted");
    assert!(disks[0].read_only);
    assert_eq!((disks[0].base, disks[0].irq), (0x0b00_0000, 60));
    assert_eq!(
        disks[0].backend,
        DiskBackend::File { path: "/guests/a.img".into(), capacity: None, write_back: false }
    );
}

#[test]
fn without_slots_a_table_must_name_its_place() {
    let text = with("[[devices.virtual]]\nid = \"d\"\nmodel = \"virtio-blk\"\n");
    let msg = parse(&text).expect_err("no slots").to_string();
    assert!(msg.starts_with("devices.virtual[0].base"), "{msg}");
    assert!(msg.contains("no default virtio-mmio slots"), "{msg}");
}

#[test]
fn each_wrong_field_is_named() {
    let cases = [
        ("id = \"d\"\nmodel = \"virtio-gpu\"", "devices.virtual[0].model = \"virtio-gpu\": unknown model"),
        ("id = \"n\"\nmodel = \"virtio-net\"\nguest_mac = [1, 0, 0, 0, 0, 1]", "devices.virtual[0].guest_mac = [1, 0, 0, 0, 0, 1]: must be 6 integers"),
        ("id = \"n\"\nmodel = \"virtio-net\"\nguest_mac = [2, 0, 0, 0, 1]", "devices.virtual[0].guest_mac"),
        ("id = \"n\"\nmodel = \"virtio-net\"\nguest_mac = [2, 0, 0, 0, 1, 256]", "devices.virtual[0].guest_mac"),
        ("id = \"n\"\nmodel = \"virtio-net\"\nguest_mac = [0, 0, 0, 0, 0, 0]", "not all zero"),
        ("id = \"n\"\nmodel = \"virtio-net\"\npath = \"/x\"", "devices.virtual[0].path = \"/x\": unknown virtio-net option"),
        ("id = \"n\"\nmodel = \"virtio-net\"\nallow_mac_spoofing = 1", "devices.virtual[0].allow_mac_spoofing = 1"),
        ("id = \"d\"\nmodel = \"virtio-blk\"\ntransport = \"pci\"", "devices.virtual[0].transport = \"pci\""),
        ("id = \"d\"\nmodel = \"virtio-blk\"\nsize = 3", "devices.virtual[0].size = 3: unknown virtio-blk option"),
        ("model = \"virtio-blk\"", "devices.virtual[0].id"),
        ("id = \"d\"\nmodel = \"virtio-blk\"\npath = \"rootfs.img\"", "devices.virtual[0].path = \"rootfs.img\": must be an absolute path"),
        ("id = \"d\"\nmodel = \"virtio-blk\"\nbackend = \"file\"", "devices.virtual[0].path"),
        ("id = \"d\"\nmodel = \"virtio-blk\"\nbackend = \"nvme\"", "devices.virtual[0].backend = \"nvme\""),
        ("id = \"d\"\nmodel = \"virtio-blk\"\ncapacity = \"3KB\"", "devices.virtual[0].capacity = \"3KB\": must be a non-zero multiple of 512"),
        ("id = \"d\"\nmodel = \"virtio-blk\"\ncapacity = \"8GiB\"", "larger than the 4 GiB"),
        ("id = \"d\"\nmodel = \"virtio-blk\"\ncapacity = \"lots\"", "devices.virtual[0].capacity = \"lots\""),
        ("id = \"d\"\nmodel = \"virtio-blk\"\nread_only = \"yes\"", "devices.virtual[0].read_only = \"yes\""),
        ("id = \"d\"\nmodel = \"virtio-blk\"\nbase = 0x0a00_0000", "devices.virtual[0].irq"),
        ("id = \"d\"\nmodel = \"virtio-blk\"\nbase = 0x0a00_0100\nirq = 50", "must be 0x200-aligned"),
        ("id = \"d\"\nmodel = \"virtio-blk\"\nbase = 0x0900_0000\nirq = 50", "devices.passthrough_devices[0] (\"pl011\") uses it"),
        ("id = \"d\"\nmodel = \"virtio-blk\"\nbase = 0x0a00_0000\nirq = 33", "irq 33"),
    ];
    for (table, expected) in cases {
        let msg = refused(&format!("[[devices.virtual]]\n{table}\n"));
        assert!(msg.contains(expected), "for {table:?}: {msg}");
    }
}

#[test]
fn a_duplicate_id_and_a_disk_in_ram_are_refused() {
    let dup = "[[devices.virtual]]\nid = \"d\"\nmodel = \"virtio-blk\"\n[[devices.virtual]]\nid = \"d\"\nmodel = \"virtio-blk\"\n";
    assert!(refused(dup).starts_with("devices.virtual[1].id = \"d\": another"), "{}", refused(dup));
    let in_ram = "[[devices.virtual]]\nid = \"d\"\nmodel = \"virtio-blk\"\nbase = 0x4000_0000\nirq = 50\n";
    let msg = refused(in_ram);
    assert!(msg.contains("0x40000000") && msg.contains("memory_regions"), "{msg}");
}

#[test]
fn when_every_slot_is_taken_the_table_is_refused() {
    let slots = VirtioSlots { count: 1, ..SLOTS };
    let text = with("[[devices.virtual]]\nid = \"a\"\nmodel = \"virtio-blk\"\n[[devices.virtual]]\nid = \"b\"\nmodel = \"virtio-blk\"\n");
    let msg = parse_placed(&text, Some(&slots)).expect_err("one slot").to_string();
    assert!(msg.starts_with("devices.virtual[1].id = \"b\": every virtio-mmio slot"), "{msg}");
}

#[test]
fn a_nic_takes_the_next_slot_with_its_mac_or_none() {
    let text = with(
        "[[devices.virtual]]\nid = \"root\"\nmodel = \"virtio-blk\"\n\
         [[devices.virtual]]\nid = \"net0\"\nmodel = \"virtio-net\"\nguest_mac = [0x52, 0x54, 0x00, 0xaa, 0x03, 0x02]\n\
         [[devices.virtual]]\nid = \"net1\"\nmodel = \"virtio-net\"\nallow_mac_spoofing = true\n",
    );
    let (config, placed) = parse_placed(&text, Some(&SLOTS)).expect("accepted");
    assert_eq!(placed.disks.len(), 1);
    let [a, b] = &placed.nics[..] else { panic!("two NICs: {:?}", placed.nics) };
    assert_eq!((a.id.as_str(), a.base, a.irq, a.mac, a.any_source), ("net0", 0x0a00_0200, 49, Some([0x52, 0x54, 0, 0xaa, 3, 2]), false));
    assert_eq!((b.base, b.irq, b.mac, b.any_source), (0x0a00_0400, 50, None, true));
    let nets: Vec<_> = config.devices.emu_devices.iter().filter(|e| e.emu_type as usize == 0xE2).map(|e| (e.base_gpa, e.irq_id)).collect();
    assert_eq!(nets, [(0x0a00_0200, 49), (0x0a00_0400, 50)]);
    assert_eq!(placed.windows().map(|(f, _)| f).collect::<Vec<_>>(), ["devices.virtual[0]", "devices.virtual[1]", "devices.virtual[2]"]);
}

#[test]
fn two_nics_of_a_vm_may_not_share_a_mac() {
    let table = "model = \"virtio-net\"\nguest_mac = [2, 0, 0, 0, 1, 1]\n";
    let msg = refused(&format!("[[devices.virtual]]\nid = \"a\"\n{table}[[devices.virtual]]\nid = \"b\"\n{table}"));
    assert!(msg.starts_with("devices.virtual[1].guest_mac = [2, 0, 0, 0, 1, 1]: another virtio-net table"), "{msg}");
}
