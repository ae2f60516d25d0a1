//! Mode 19: a guest that honours the power button. Like Linux on QEMU's
//! virt machine it finds a PL061 GPIO at 0x0903_0000 (SPI 7) whose pin 3
//! is the power key; it waits in WFI and powers off when the key goes down.

use core::sync::atomic::{AtomicBool, Ordering};

use super::{cpu, gic};
use crate::console::println;

const GPIO: usize = 0x0903_0000;
/// SPI 7.
pub const IRQ: u32 = 39;
const KEY: u32 = 1 << 3;
/// Interrupt event (1: rising edge), mask, masked status, clear.
const GPIOIEV: usize = 0x40c;
const GPIOIE: usize = 0x410;
const GPIOMIS: usize = 0x418;
const GPIOIC: usize = 0x41c;

static PRESSED: AtomicBool = AtomicBool::new(false);

fn read(offset: usize) -> u32 {
    // SAFETY: the mode's VM config puts the power button's PL061 window at
    // GPIO; the identity map makes the first GiB device memory.
    unsafe { ((GPIO + offset) as *const u32).read_volatile() }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`; these registers only configure the GPIO.
    unsafe { ((GPIO + offset) as *mut u32).write_volatile(value) }
}

/// The GPIO's interrupt: a key press is taken and cleared.
pub fn on_irq() {
    if read(GPIOMIS) & KEY != 0 {
        write(GPIOIC, KEY);
        PRESSED.store(true, Ordering::Release);
    }
}

/// Waits for the power key, then returns (the caller powers off).
pub fn run() {
    write(GPIOIEV, KEY);
    write(GPIOIE, KEY);
    gic::init_cpu(gic::VTIMER_PPI);
    gic::route_spi(IRQ);
    cpu::irq_enable();
    println!("probe: waiting for the power button");
    while !PRESSED.load(Ordering::Acquire) {
        cpu::wfi();
    }
    cpu::irq_disable();
    println!("probe: power button pressed: powering off");
}
