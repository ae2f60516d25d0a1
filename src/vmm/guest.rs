//! The VM as the exit dispatcher (crate `exit-dispatch`) sees it: vCPU
//! power, guest RAM, interrupt queues, and emulated devices (the
//! interrupt controller first, then axdevice's).

use axaddrspace::GuestPhysAddr;
use axaddrspace::device::{AccessWidth, Port, SysRegAddr};
use exit_dispatch::{CallError, CpuPower, DeviceAccess, DeviceError, Emulated, GuestVm};

use super::console::VirtualUart;
use super::power::PowerButton;
use super::vm::Vm;
use crate::hal::arch::{Arch, ArchOps, IrqChip, IrqChipOps};

fn width(bytes: u8) -> Option<AccessWidth> {
    match bytes {
        1 => Some(AccessWidth::Byte),
        2 => Some(AccessWidth::Word),
        4 => Some(AccessWidth::Dword),
        8 => Some(AccessWidth::Qword),
        _ => None,
    }
}

fn device_error(error: axerrno::AxErrorKind) -> DeviceError {
    match error {
        axerrno::AxErrorKind::InvalidInput => DeviceError::BadOffset,
        axerrno::AxErrorKind::Unsupported => DeviceError::BadWidth,
        _ => DeviceError::Failed,
    }
}

/// What axdevice's devices return.
type DeviceResult<T> = Result<T, axerrno::AxErrorKind>;

/// The outcome of an axdevice read or write.
fn outcome(write: Option<u64>, read: impl FnOnce() -> DeviceResult<usize>, store: impl FnOnce(usize) -> DeviceResult<()>) -> Emulated {
    let result = match write {
        None => read().map(|value| Emulated::Read(value as u64)),
        Some(value) => store(value as usize).map(|()| Emulated::Written),
    };
    result.unwrap_or_else(|e| Emulated::Failed(device_error(e)))
}

impl GuestVm for Vm {
    fn id(&self) -> usize {
        self.id
    }

    fn vcpu_count(&self) -> usize {
        self.vcpus.len()
    }

    fn power(&self, vcpu: usize) -> Option<CpuPower> {
        self.vcpus.get(vcpu).map(|v| v.power())
    }

    fn start_vcpu(&self, vcpu: usize, entry: u64, arg: u64) {
        if let Some(target) = self.vcpus.get(vcpu) {
            target.request_start(entry, arg);
        }
    }

    fn is_ram(&self, gpa: u64) -> bool {
        self.ram_map.contains(gpa)
    }

    #[cold]
    #[inline(never)]
    fn back_ram(&self, gpa: u64) -> bool {
        match self.ram.lock().back(&self.ax, gpa) {
            Ok(()) => true,
            Err(e) => {
                error!("VM[{}] {}: {e}", self.id, self.name);
                false
            }
        }
    }

    fn queue_interrupt(&self, vcpu: usize, vector: usize) -> bool {
        Vm::queue_interrupt(self, vcpu, vector)
    }

    fn boots(&self) -> u64 {
        Vm::boots(self)
    }

    fn ring_doorbell(&self, channel: u64) -> Result<u64, CallError> {
        Vm::ring_doorbell(self, channel)
    }

    fn channel_status(&self, channel: u64) -> Result<u64, CallError> {
        Vm::channel_status(self, channel)
    }

    #[inline(always)]
    fn emulate(&self, vcpu: usize, access: DeviceAccess) -> Emulated {
        match access {
            DeviceAccess::Mmio { addr, width: bytes, write } => {
                // The hot path: the interrupt controller, without a lookup.
                if let Some((chip, offset)) = self.irqchip.as_ref().and_then(|c| Some((c, c.offset_of(addr)?))) {
                    return match write {
                        None => Emulated::Read(chip.read(vcpu, offset, bytes)),
                        Some(value) => chip.write(vcpu, offset, bytes, value).map_or(Emulated::Written, Emulated::WrittenIpi),
                    };
                }
                if let Some((uart, offset)) = self.uart_at(addr, false) {
                    return self.uart_access(uart, offset, bytes, write);
                }
                if let Some((button, offset)) = self.power_button.as_ref().and_then(|b| Some((b, b.offset_of(addr)?))) {
                    return self.power_button_access(button, offset, bytes, write);
                }
                if let Some((dev, offset)) = self.virtio.iter().find_map(|d| Some((d, d.offset_of(addr)?))) {
                    return dev.access(self, offset, bytes, write);
                }
                let gpa = GuestPhysAddr::from(addr as usize);
                let Some(dev) = self.ax.get_devices().find_mmio_dev(gpa) else { return self.no_device(addr, write.is_some()) };
                let Some(w) = width(bytes) else { return Emulated::Failed(DeviceError::BadWidth) };
                outcome(write, || dev.handle_read(gpa, w), |v| dev.handle_write(gpa, w, v))
            }
            DeviceAccess::SysReg { id, write } => {
                let chip_write = |chip: &IrqChip| chip.sysreg_write(vcpu, id, write?);
                if let Some(ipi) = self.irqchip.as_ref().and_then(chip_write) {
                    return ipi.map_or(Emulated::Written, Emulated::WrittenIpi);
                }
                let reg = SysRegAddr::new(id as usize);
                let Some(dev) = self.ax.get_devices().find_sys_reg_dev(reg) else { return Emulated::NoDevice };
                outcome(write, || dev.handle_read(reg, AccessWidth::Qword), |v| dev.handle_write(reg, AccessWidth::Qword, v))
            }
            DeviceAccess::Port { port, width: bytes, write } => {
                if let Some((uart, offset)) = self.uart_at(u64::from(port), true) {
                    return self.uart_access(uart, offset, bytes, write);
                }
                let port = Port::new(port);
                let Some(dev) = self.ax.get_devices().find_port_dev(port) else { return Emulated::NoDevice };
                let Some(w) = width(bytes) else { return Emulated::Failed(DeviceError::BadWidth) };
                outcome(write, || dev.handle_read(port, w), |v| dev.handle_write(port, w, v))
            }
        }
    }
}

impl Vm {
    /// The VM's UART and its offset of `addr`, if it decodes it: a port
    /// number (`port`) or a guest-physical address, whichever the
    /// architecture's UART is reached by.
    #[inline(always)]
    fn uart_at(&self, addr: u64, port: bool) -> Option<(&VirtualUart, usize)> {
        let uart = self.uart.as_ref().filter(|_| port == Arch::UART_ON_PORTS)?;
        Some((uart, uart.offset_of(addr)?))
    }

    /// A guest access to its power button's GPIO; a raised line interrupts.
    #[cold]
    fn power_button_access(&self, button: &PowerButton, offset: usize, width: u8, write: Option<u64>) -> Emulated {
        match write {
            None => Emulated::Read(button.read(offset, width)),
            Some(value) => {
                if button.write(offset, width, value) {
                    self.raise_device_irq(button.irq);
                }
                Emulated::Written
            }
        }
    }

    /// An access to the VM's UART: what it transmits goes to the VM's
    /// console; while its interrupt line is high the interrupt is raised
    /// again after every access (a level-triggered line).
    #[cold]
    fn uart_access(&self, uart: &VirtualUart, offset: usize, width: u8, write: Option<u64>) -> Emulated {
        let (result, effect) = match write {
            None => {
                let (value, effect) = uart.read(offset, width);
                (Emulated::Read(value), effect)
            }
            Some(value) => (Emulated::Written, uart.write(offset, width, value)),
        };
        if let Some(byte) = effect.tx {
            self.console.write(&[byte]);
        }
        if effect.irq {
            self.raise_device_irq(uart.irq);
        }
        result
    }
}
