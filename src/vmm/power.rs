//! A VM's virtual power button: a PL061 GPIO (crate `vgpio`) one of whose
//! pins is the power key, as on QEMU's virt machine. Its config entry is
//! `["power-button", base_gpa, 0x1000, irq_id, 0x0, [pin]]`. `vm stop`
//! presses it and gives the guest time to power off before forcing it.

use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
use kspin::SpinNoIrq;
use vgpio::{POWER_BUTTON_PIN, Pl061};

use super::window::Window;

/// A power button: where its GPIO is, its interrupt and its key's pin.
pub struct PowerButton {
    window: Window,
    /// The interrupt id its config gives it.
    pub irq: usize,
    pin: u8,
    gpio: SpinNoIrq<Pl061>,
}

impl PowerButton {
    /// Whether an `emu_devices` entry is a power button.
    pub fn is_power_button(dev: &EmulatedDeviceConfig) -> bool {
        dev.emu_type == EmulatedDeviceType::Dummy && dev.name == vmconfig_check::POWER_BUTTON
    }

    /// The button an `emu_devices` entry describes (validated: its pin,
    /// if given, is 0 to 7).
    pub fn new(dev: &EmulatedDeviceConfig) -> Self {
        let pin = dev.cfg_list.first().and_then(|&pin| u8::try_from(pin).ok()).unwrap_or(POWER_BUTTON_PIN);
        Self { window: Window::new(dev.base_gpa, dev.length), irq: dev.irq_id, pin, gpio: SpinNoIrq::new(Pl061::new()) }
    }

    /// The GPIO's offset of `gpa`, if it decodes it.
    pub fn offset_of(&self, gpa: u64) -> Option<usize> {
        self.window.offset_of(gpa)
    }

    /// A guest read at `offset`.
    pub fn read(&self, offset: usize, width: u8) -> u64 {
        self.gpio.lock().read(offset, width)
    }

    /// A guest write at `offset`; whether the interrupt line is up after it.
    pub fn write(&self, offset: usize, width: u8, value: u64) -> bool {
        self.gpio.lock().write(offset, width, value)
    }

    /// Holds the key down (true) or lets it go; whether the interrupt line
    /// is up after it.
    pub fn set_pressed(&self, pressed: bool) -> bool {
        self.gpio.lock().set_input(self.pin, pressed)
    }
}
