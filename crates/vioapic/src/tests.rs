use crate::{IoApic, Route, PINS};

fn select(io: &mut IoApic, reg: u32) {
    io.write(0x00, 4, u64::from(reg));
}

fn read_reg(io: &mut IoApic, reg: u32) -> u32 {
    select(io, reg);
    io.read(0x10, 4) as u32
}

fn write_reg(io: &mut IoApic, reg: u32, value: u32) {
    select(io, reg);
    io.write(0x10, 4, u64::from(value));
}

#[test]
fn version_says_24_pins_and_every_pin_starts_masked() {
    let mut io = IoApic::new();
    assert_eq!(read_reg(&mut io, 1), 0x0017_0020);
    for pin in 0..PINS {
        assert_eq!(io.route(pin), None, "pin {pin}");
        assert_eq!(read_reg(&mut io, 0x10 + 2 * pin as u32) & (1 << 16), 1 << 16);
    }
    select(&mut io, 0x21);
    assert_eq!(io.read(0x00, 4), 0x21, "IOREGSEL reads back");
}

#[test]
fn an_unmasked_physical_entry_routes_its_pin() {
    let mut io = IoApic::new();
    write_reg(&mut io, 0x10 + 2 * 4 + 1, 1 << 24);
    write_reg(&mut io, 0x10 + 2 * 4, 0x50);
    assert_eq!(io.route(4), Some(Route { vector: 0x50, apic_id: 1 }));
    assert_eq!(read_reg(&mut io, 0x10 + 2 * 4), 0x50);
    assert_eq!(read_reg(&mut io, 0x10 + 2 * 4 + 1), 1 << 24);
    write_reg(&mut io, 0x10 + 2 * 4, 0x50 | 1 << 16);
    assert_eq!(io.route(4), None, "masked again");
}

#[test]
fn read_only_bits_reserved_vectors_and_logical_mode_do_not_route() {
    let mut io = IoApic::new();
    // Delivery status and remote IRR are the device's.
    write_reg(&mut io, 0x10, 0x30 | 1 << 12 | 1 << 14);
    assert_eq!(read_reg(&mut io, 0x10), 0x30);
    write_reg(&mut io, 0x12, 0x05);
    assert_eq!(io.route(1), None, "vector below 16");
    write_reg(&mut io, 0x14, 0x40 | 1 << 11);
    assert_eq!(io.route(2), None, "logical destination");
    assert_eq!(io.route(PINS), None);
}

#[test]
fn odd_widths_and_offsets_and_registers_past_the_table_are_harmless() {
    let mut io = IoApic::new();
    io.write(0x10, 2, 0xFFFF);
    io.write(0x20, 4, 0xFFFF);
    assert_eq!(io.read(0x10, 1), 0);
    assert_eq!(io.read(0x30, 4), 0);
    write_reg(&mut io, 0x10 + 2 * PINS as u32, 0x40);
    assert_eq!(read_reg(&mut io, 0x10 + 2 * PINS as u32), 0);
    write_reg(&mut io, 0, 0xFFFF_FFFF);
    assert_eq!(read_reg(&mut io, 0), 0x0F00_0000, "ID bits 24-27 only");
}
