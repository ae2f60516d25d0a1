//! One VM per passed-through device, the console UART excepted.

use vmconfig_check::{Claim, Grant, Mapped, MappedKind, Span, grant, page_span};

/// Device `index` as mapped: whole pages, as axvm maps it.
fn dev_at(index: usize, name: &str, hpa: usize, length: usize) -> Mapped {
    let range = page_span(hpa, length).unwrap_or(Span { start: hpa, end: usize::MAX });
    Mapped { kind: MappedKind::Device(index), name: name.into(), range }
}

const UART: Span = Span { start: 0x0900_0000, end: 0x0900_1000 };

fn claim(vm: usize, start: usize, end: usize) -> Claim {
    Claim { vm, range: Span { start, end } }
}

#[test]
fn free_devices_are_granted() {
    let devices = [dev_at(0, "pl011", 0x0900_0000, 0x1000), dev_at(1, "virtio", 0x0a00_0000, 0x200)];
    assert_eq!(grant(&devices, &[], || Some(UART)), Ok(vec![Grant::Host, Grant::Host]));
    let others = [claim(2, 0x0a00_1000, 0x0a00_2000)];
    assert_eq!(grant(&devices, &others, || Some(UART)), Ok(vec![Grant::Host, Grant::Host]));
}

#[test]
fn a_taken_device_is_refused_with_its_index_and_owner() {
    let devices = [dev_at(0, "pl011", 0x0900_0000, 0x1000), dev_at(1, "virtio", 0x0a00_0000, 0x200)];
    let others = [claim(3, 0x0a00_0000, 0x0a00_1000)];
    let err = grant(&devices, &others, || Some(UART)).expect_err("overlap refused");
    assert_eq!((err.kind, err.owner), (MappedKind::Device(1), 3));
    assert_eq!(
        err.to_string(),
        "devices.passthrough_devices[1] = \"virtio\" at host [0xa000000, 0xa001000): already passed through to VM[3]; a host page goes to one VM at a time"
    );
}

#[test]
fn ranges_that_share_a_page_are_refused_even_when_their_bytes_do_not_overlap() {
    // Two devices of 0x200 bytes in one 4 KiB page: mapping is per page,
    // so the second VM would reach the first VM's device.
    let first = dev_at(0, "virtio0", 0x0a00_0000, 0x200);
    let taken = [claim(5, first.range.start, first.range.end)];
    let second = [dev_at(0, "virtio1", 0x0a00_0200, 0x200)];
    assert_eq!(grant(&second, &taken, || Some(UART)).map_err(|e| e.owner), Err(5));
}

#[test]
fn a_taken_address_range_is_refused_and_never_becomes_a_virtual_console() {
    let range = page_span(0x0900_0000, 0x1000).expect("in range");
    let addresses = [Mapped { kind: MappedKind::Address(0), name: String::new(), range }];
    let others = [claim(1, 0x0900_0000, 0x0900_1000)];
    let err = grant(&addresses, &others, || Some(UART)).expect_err("an address range is no console");
    assert_eq!(
        err.to_string(),
        "devices.passthrough_addresses[0] at host [0x9000000, 0x9001000): already passed through to VM[1]; a host page goes to one VM at a time"
    );
}

#[test]
fn the_console_uart_becomes_virtual_when_taken() {
    let devices = [dev_at(0, "pl011", 0x0900_0000, 0x1000)];
    let others = [claim(1, 0x0900_0000, 0x0900_1000)];
    assert_eq!(grant(&devices, &others, || Some(UART)), Ok(vec![Grant::VirtualConsole]));
}

#[test]
fn without_a_known_console_every_overlap_is_refused() {
    let devices = [dev_at(0, "pl011", 0x0900_0000, 0x1000)];
    let others = [claim(1, 0x0900_0000, 0x0900_1000)];
    assert_eq!(grant(&devices, &others, || None).map_err(|e| e.owner), Err(1));
}

#[test]
fn touching_pages_do_not_overlap_and_empty_ranges_never_do() {
    let devices = [dev_at(0, "a", 0x1000, 0x1000), dev_at(1, "empty", 0x0900_0000, 0)];
    let others = [claim(1, 0x0, 0x1000), claim(2, 0x2000, 0x3000), claim(3, 0x0900_0000, 0x0900_1000)];
    assert_eq!(grant(&devices, &others, || None), Ok(vec![Grant::Host, Grant::Host]));
}

#[test]
fn page_spans_round_out_to_whole_pages_and_refuse_wrapping() {
    assert_eq!(page_span(0x0900_0800, 0x10), Some(Span { start: 0x0900_0000, end: 0x0900_1000 }));
    assert_eq!(page_span(0x0900_0ff0, 0x20), Some(Span { start: 0x0900_0000, end: 0x0900_2000 }));
    assert_eq!(page_span(0x1000, 0), Some(Span { start: 0x1000, end: 0x1000 }));
    assert_eq!(page_span(usize::MAX - 0xfff, 0x2000), None);
    assert_eq!(page_span(usize::MAX - 0xfff, 0x1000), None, "the page after the last cannot be named");
}
