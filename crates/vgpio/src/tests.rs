extern crate std;

use std::vec::Vec;

use crate::*;

const DATA_ALL: usize = 0x3fc;
const DIR: usize = 0x400;
const IS: usize = 0x404;
const IBE: usize = 0x408;
const IEV: usize = 0x40c;
const IE: usize = 0x410;
const RIS: usize = 0x414;
const MIS: usize = 0x418;
const IC: usize = 0x41c;
const AFSEL: usize = 0x420;

/// The GPIODATA offset whose address bits select exactly `pins`.
fn data(pins: u8) -> usize {
    usize::from(pins) << 2
}

/// A controller whose `pin` interrupts on edges (`both` or just `rising`).
fn edge_gpio(pin: u8, both: bool, rising: bool) -> Pl061 {
    let bit = 1u64 << pin;
    let mut gpio = Pl061::new();
    gpio.write(IBE, 4, if both { bit } else { 0 });
    gpio.write(IEV, 4, if rising { bit } else { 0 });
    gpio.write(IE, 4, bit);
    gpio
}

#[test]
fn reset_state_is_inputs_low_and_masked() {
    let gpio = Pl061::new();
    assert_eq!(gpio, Pl061::default());
    for offset in [DATA_ALL, DIR, IS, IBE, IEV, IE, RIS, MIS, AFSEL] {
        assert_eq!(gpio.read(offset, 4), 0, "offset {offset:#x}");
    }
    assert!(!gpio.irq_line());
}

#[test]
fn identification_registers_say_pl061() {
    let gpio = Pl061::new();
    let ids: Vec<u64> = (0..8).map(|i| gpio.read(0xfe0 + 4 * i, 4)).collect();
    assert_eq!(ids, [0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    assert_eq!(gpio.read(0xfe0, 1), 0x61, "byte reads see the same register");
    assert_eq!(gpio.read(0xfe1, 1), 0, "not a word of the ID block");
}

#[test]
fn data_reads_are_masked_by_address_bits() {
    let mut gpio = Pl061::new();
    for pin in [0, 3, 7] {
        gpio.set_input(pin, true);
    }
    assert_eq!(gpio.read(DATA_ALL, 4), 0x89);
    assert_eq!(gpio.read(data(1 << 3), 4), 0x08);
    assert_eq!(gpio.read(data(0x0f), 1), 0x09);
    assert_eq!(gpio.read(data(0x06), 4), 0, "pins 1 and 2 are low");
    assert_eq!(gpio.read(0, 4), 0, "offset 0 selects no pins");
}

#[test]
fn data_writes_change_only_selected_output_pins() {
    let mut gpio = Pl061::new();
    gpio.write(DIR, 4, 0xff);
    gpio.write(DATA_ALL, 4, 0xaa);
    assert_eq!(gpio.read(DATA_ALL, 4), 0xaa);
    gpio.write(data(0x0f), 4, 0xff);
    assert_eq!(gpio.read(DATA_ALL, 4), 0xaf, "only the low nibble was selected");
    gpio.write(0, 4, 0x00);
    assert_eq!(gpio.read(DATA_ALL, 4), 0xaf, "no pins selected, nothing changes");
}

#[test]
fn direction_picks_output_latch_or_input_level() {
    let mut gpio = Pl061::new();
    gpio.write(DIR, 4, 0x0f);
    for pin in [0, 4, 5, 6, 7] {
        gpio.set_input(pin, true);
    }
    gpio.write(DATA_ALL, 4, 0x05);
    assert_eq!(gpio.read(DATA_ALL, 4), 0xf5, "inputs high nibble, latch low nibble");
    gpio.write(DATA_ALL, 4, 0x00);
    assert_eq!(gpio.read(DATA_ALL, 4), 0xf0, "writes reach outputs only");
    gpio.write(DATA_ALL, 4, 0x05);
    gpio.write(DIR, 4, 0x00);
    assert_eq!(gpio.read(DATA_ALL, 4), 0xf1, "all inputs: the driven levels");
    gpio.write(DIR, 4, 0xff);
    assert_eq!(gpio.read(DATA_ALL, 4), 0x05, "all outputs: the latch, inputs never wrote it");
}

#[test]
fn output_pins_do_not_interrupt() {
    let mut gpio = edge_gpio(2, true, true);
    gpio.write(DIR, 4, 1 << 2);
    assert!(!gpio.set_input(2, true));
    assert_eq!(gpio.read(RIS, 4), 0);
    gpio.write(IS, 4, 1 << 2);
    gpio.write(IEV, 4, 1 << 2);
    assert_eq!(gpio.read(RIS, 4), 0, "no level interrupt either");
}

#[test]
fn rising_edge_latches_until_cleared() {
    let mut gpio = edge_gpio(5, false, true);
    assert!(gpio.set_input(5, true));
    assert_eq!(gpio.read(RIS, 4), 1 << 5);
    assert!(gpio.set_input(5, false), "the edge stays latched");
    assert!(!gpio.write(IC, 4, 1 << 5));
    assert!(!gpio.set_input(5, false), "no change, no edge");
    assert!(gpio.set_input(5, true), "the next rise");
}

#[test]
fn falling_edge_ignores_rises() {
    let mut gpio = edge_gpio(1, false, false);
    assert!(!gpio.set_input(1, true));
    assert_eq!(gpio.read(RIS, 4), 0);
    assert!(gpio.set_input(1, false));
    assert_eq!(gpio.read(MIS, 4), 1 << 1);
}

#[test]
fn both_edges_latch_each_change() {
    let mut gpio = edge_gpio(0, true, false);
    assert!(gpio.set_input(0, true));
    assert!(!gpio.write(IC, 4, 1));
    assert!(gpio.set_input(0, false));
    assert!(!gpio.write(IC, 4, 1));
}

#[test]
fn high_level_holds_through_ic() {
    let mut gpio = Pl061::new();
    gpio.write(IS, 4, 1 << 6);
    gpio.write(IEV, 4, 1 << 6);
    gpio.write(IE, 4, 1 << 6);
    assert!(gpio.set_input(6, true));
    assert!(gpio.write(IC, 4, 1 << 6), "the level still holds");
    assert_eq!(gpio.read(RIS, 4), 1 << 6);
    assert!(!gpio.set_input(6, false));
    assert_eq!(gpio.read(RIS, 4), 0);
}

#[test]
fn low_level_is_active_at_once_on_a_low_input() {
    let mut gpio = Pl061::new();
    gpio.write(IS, 4, 1 << 4);
    assert_eq!(gpio.read(RIS, 4), 1 << 4, "the input is low");
    assert!(gpio.write(IE, 4, 1 << 4));
    assert!(gpio.write(IC, 4, 1 << 4), "IC does not clear a held level");
    assert!(!gpio.set_input(4, true));
}

#[test]
fn sense_changes_are_re_evaluated() {
    let mut gpio = edge_gpio(7, false, true);
    assert!(gpio.set_input(7, true));
    assert!(gpio.write(IS, 4, 1 << 7), "now level-high, and high");
    assert!(!gpio.write(IEV, 4, 0), "level-low, but high");
    assert!(!gpio.write(IS, 4, 0), "back to edges: the old edge went with the switch");
    assert!(!gpio.write(IEV, 4, 1 << 7), "rising again, but no new edge");
    assert_eq!(gpio.read(RIS, 4), 0);
}

#[test]
fn interrupt_enable_masks_mis_and_the_line() {
    let mut gpio = Pl061::new();
    gpio.write(IEV, 4, 0x06);
    assert!(!gpio.set_input(1, true));
    assert!(!gpio.set_input(2, true));
    assert_eq!(gpio.read(RIS, 4), 0x06);
    assert_eq!(gpio.read(MIS, 4), 0);
    assert!(gpio.write(IE, 4, 0x04));
    assert_eq!(gpio.read(MIS, 4), 0x04);
    assert!(!gpio.write(IE, 4, 0));
    assert_eq!(gpio.read(RIS, 4), 0x06, "masking keeps the raw status");
}

#[test]
fn power_button_press_as_a_guest_sees_it() {
    let pin = POWER_BUTTON_PIN;
    let bit = 1u64 << pin;
    let mut gpio = edge_gpio(pin, false, true);
    assert!(gpio.set_input(pin, true), "pressed: the line rises");
    assert_eq!(gpio.read(MIS, 4), bit);
    assert_eq!(gpio.read(data(1 << pin), 1), bit, "gpio-keys reads the key down");
    assert!(!gpio.write(IC, 4, bit), "the handler clears it");
    assert!(!gpio.set_input(pin, false), "released: no second interrupt");
    assert_eq!(gpio.read(data(1 << pin), 1), 0);

    // Pressed and released before the guest looks: still one interrupt.
    assert!(gpio.set_input(pin, true));
    assert!(gpio.set_input(pin, false));
    assert!(!gpio.write(IC, 4, bit));
    assert!(!gpio.irq_line());
}

#[test]
fn reserved_offsets_and_bad_widths_read_zero_and_are_ignored() {
    let mut gpio = Pl061::new();
    gpio.write(DIR, 4, 0x3c);
    let before = gpio.clone();
    for offset in [0x424, 0x800, 0xfdc, 0x1000, 0x1400, usize::MAX - 3] {
        assert_eq!(gpio.read(offset, 4), 0, "offset {offset:#x}");
        assert!(!gpio.write(offset, 4, u64::MAX));
    }
    assert!(!gpio.write(RIS, 4, 0xff) && !gpio.write(MIS, 4, 0xff), "read-only");
    assert_eq!(gpio.read(IC, 4), 0, "write-only");
    for width in [0, 3, 8, 255] {
        assert_eq!(gpio.read(DIR, width), 0, "width {width}");
        gpio.write(DIR, width, 0);
    }
    for offset in [DIR + 1, DIR + 2, DATA_ALL + 1, usize::MAX] {
        assert_eq!(gpio.read(offset, 1), 0, "unaligned {offset:#x}");
        gpio.write(offset, 1, 0);
    }
    assert_eq!(gpio, before);
    for width in [1, 2, 4] {
        assert_eq!(gpio.read(DIR, width), 0x3c, "width {width}");
    }
    gpio.write(AFSEL, 2, 0x1_ff);
    assert_eq!(gpio.read(AFSEL, 4), 0xff, "bits above 7 are reserved");
}

#[test]
fn any_access_keeps_the_line_consistent() {
    let mut gpio = Pl061::new();
    gpio.set_input(POWER_BUTTON_PIN, true);
    for offset in 0..0x1010 {
        for width in 0..=8 {
            let line = gpio.write(offset, width, u64::MAX);
            assert_eq!(line, gpio.irq_line());
            assert!(gpio.read(offset, width) <= 0xff);
            assert_eq!(gpio.irq_line(), gpio.read(MIS, 4) != 0);
        }
    }
}

#[test]
fn pins_beyond_eight_are_ignored() {
    let mut gpio = edge_gpio(0, false, true);
    assert!(!gpio.set_input(8, true));
    gpio.set_input(0, true);
    let before = gpio.clone();
    assert!(gpio.set_input(8, false), "returns the line as it is");
    assert!(gpio.set_input(u8::MAX, true));
    assert_eq!(gpio, before);
}
