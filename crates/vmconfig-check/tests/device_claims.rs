//! One VM per passed-through device, the console UART excepted.

use axvmconfig::PassThroughDeviceConfig;
use vmconfig_check::{Claim, Grant, Span, grant};

fn dev(name: &str, hpa: usize, length: usize) -> PassThroughDeviceConfig {
    PassThroughDeviceConfig { name: name.into(), base_gpa: hpa, base_hpa: hpa, length, irq_id: 0 }
}

const UART: Span = Span { start: 0x0900_0000, end: 0x0900_1000 };

fn claim(vm: usize, start: usize, end: usize) -> Claim {
    Claim { vm, range: Span { start, end } }
}

#[test]
fn free_devices_are_granted() {
    let devices = [dev("pl011", 0x0900_0000, 0x1000), dev("virtio", 0x0a00_0000, 0x200)];
    assert_eq!(grant(&devices, &[], || Some(UART)), Ok(vec![Grant::Host, Grant::Host]));
    let others = [claim(2, 0x0a00_0200, 0x0a00_0400)];
    assert_eq!(grant(&devices, &others, || Some(UART)), Ok(vec![Grant::Host, Grant::Host]));
}

#[test]
fn a_taken_device_is_refused_with_its_index_and_owner() {
    let devices = [dev("pl011", 0x0900_0000, 0x1000), dev("virtio", 0x0a00_0000, 0x200)];
    let others = [claim(3, 0x0a00_0100, 0x0a00_0300)];
    let err = grant(&devices, &others, || Some(UART)).expect_err("overlap refused");
    assert_eq!((err.index, err.owner), (1, 3));
    assert_eq!(
        err.to_string(),
        "devices.passthrough_devices[1] = \"virtio\" at host [0xa000000, 0xa000200): already passed through to VM[3]; a device goes to one VM at a time"
    );
}

#[test]
fn the_console_uart_becomes_virtual_when_taken() {
    let devices = [dev("pl011", 0x0900_0000, 0x1000)];
    let others = [claim(1, 0x0900_0000, 0x0900_1000)];
    assert_eq!(grant(&devices, &others, || Some(UART)), Ok(vec![Grant::VirtualConsole]));
}

#[test]
fn without_a_known_console_every_overlap_is_refused() {
    let devices = [dev("pl011", 0x0900_0000, 0x1000)];
    let others = [claim(1, 0x0900_0000, 0x0900_1000)];
    assert_eq!(grant(&devices, &others, || None).map_err(|e| e.owner), Err(1));
}

#[test]
fn touching_ranges_do_not_overlap_and_empty_ones_never_do() {
    let devices = [dev("a", 0x1000, 0x1000), dev("empty", 0x0900_0000, 0)];
    let others = [claim(1, 0x0, 0x1000), claim(2, 0x2000, 0x3000), claim(3, 0x0900_0000, 0x0900_1000)];
    assert_eq!(grant(&devices, &others, || None), Ok(vec![Grant::Host, Grant::Host]));
}

#[test]
fn a_range_that_wraps_the_address_space_is_clamped() {
    let devices = [dev("wild", usize::MAX - 0xfff, 0x2000)];
    let others = [claim(4, usize::MAX - 0x10, usize::MAX)];
    assert_eq!(grant(&devices, &others, || None).map_err(|e| e.owner), Err(4));
}
