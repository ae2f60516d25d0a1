//! Each VM's console: what it writes reaches the host console as whole
//! lines prefixed with the VM (`[1 arceos] ...`), and its newest lines
//! are kept; a VM whose config has a console device (`emu_devices` type
//! 0x2) gets the architecture's UART model there, its interrupt routed
//! through its virtual interrupt controller.

use alloc::format;
use alloc::string::String;

use axvmconfig::{EmulatedDeviceConfig, EmulatedDeviceType};
use kspin::SpinNoIrq;
use vuart::{Effect, History, InputBacklog, LineBuffer, MAX_LINE, Uart};

use super::window::Window;
use crate::hal::{self, arch::{Arch, ArchOps}};

/// Bytes of a VM's newest console lines kept.
const HISTORY_BYTES: usize = 16 * 1024;
/// Bytes of typed input held for a guest that reads slower than it comes.
const INPUT_BACKLOG: usize = 4096;

/// A VM's console output.
pub struct VmConsole {
    prefix: String,
    state: SpinNoIrq<(LineBuffer, History)>,
}

impl VmConsole {
    /// The console of VM `id` named `name`.
    pub fn new(id: usize, name: &str) -> Self {
        Self { prefix: format!("[{id} {name}] "), state: SpinNoIrq::new((LineBuffer::new(), History::new(HISTORY_BYTES))) }
    }

    /// Takes bytes the guest wrote; prints each line it completes. The
    /// lock (interrupts off) is held for at most [`MAX_LINE`] bytes at a
    /// time and never while printing, however much the guest writes.
    pub fn write(&self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (used, line) = {
                let mut state = self.state.lock();
                let mut used = 0;
                let mut line = None;
                for &byte in rest.iter().take(MAX_LINE) {
                    used += 1;
                    line = state.0.push(byte);
                    if line.is_some() {
                        break;
                    }
                }
                (used, line)
            };
            rest = &rest[used..];
            if let Some(line) = line {
                hal::console_line(&self.prefix, &line);
                self.state.lock().1.push(line);
            }
        }
    }

    /// The newest lines the guest wrote.
    pub fn history(&self) -> alloc::vec::Vec<String> {
        self.state.lock().1.lines().map(String::from).collect()
    }

    /// The kept lines numbered `from` or later (see `vuart::History::since`).
    pub fn since(&self, from: u64) -> vm_control::ConsoleLines {
        let state = self.state.lock();
        let (first, lines) = state.1.since(from);
        vm_control::ConsoleLines { first, lines: lines.map(String::from).collect(), next: state.1.next() }
    }

    /// Takes the kept lines out (this VM is being replaced by its next run).
    pub fn take_history(&self) -> History {
        core::mem::replace(&mut self.state.lock().1, History::new(HISTORY_BYTES))
    }

    /// Puts the lines of this VM's previous run before its own.
    pub fn continue_after(&self, older: History) {
        self.state.lock().1.continue_after(older);
    }

    /// Prints what is left of an unfinished line (the VM stopped).
    pub fn flush(&self) {
        let mut state = self.state.lock();
        if let Some(line) = state.0.flush() {
            hal::console_line(&self.prefix, &line);
            state.1.push(line);
        }
    }
}

/// A VM's emulated UART: where it is and the interrupt it raises.
pub struct VirtualUart {
    window: Window,
    /// The interrupt id its config gives it.
    pub irq: usize,
    model: SpinNoIrq<(<Arch as ArchOps>::Uart, InputBacklog)>,
}

impl VirtualUart {
    /// Whether an `emu_devices` entry is a console.
    pub fn is_console(dev: &EmulatedDeviceConfig) -> bool {
        dev.emu_type == EmulatedDeviceType::Console
    }

    /// The UART an `emu_devices` console entry describes.
    pub fn new(dev: &EmulatedDeviceConfig) -> Self {
        Self::at(dev.base_gpa, dev.length, dev.irq_id)
    }

    /// A UART at guest address `base` raising interrupt `irq`, in place of
    /// a host one the config passes through.
    pub fn at(base: usize, size: usize, irq: usize) -> Self {
        Self {
            window: Window::new(base, size),
            irq,
            model: SpinNoIrq::new((Arch::new_uart(), InputBacklog::new(INPUT_BACKLOG))),
        }
    }

    /// The UART's offset of `gpa`, if it decodes it.
    pub fn offset_of(&self, gpa: u64) -> Option<usize> {
        self.window.offset_of(gpa)
    }

    /// A guest read at `offset`; input waiting in the backlog moves into
    /// the receive FIFO as the guest drains it.
    pub fn read(&self, offset: usize, width: u8) -> (u64, Effect) {
        let mut model = self.model.lock();
        let (uart, backlog) = &mut *model;
        let (value, mut effect) = uart.read(offset, width);
        if !backlog.is_empty() && backlog.feed(uart) {
            effect.irq = true;
        }
        (value, effect)
    }

    /// Queues host input (what the FIFO has no room for waits in the
    /// backlog); how many bytes were taken and whether the UART's
    /// interrupt is raised.
    pub fn input(&self, bytes: &[u8]) -> (usize, bool) {
        let mut model = self.model.lock();
        let (uart, backlog) = &mut *model;
        let taken = backlog.push(bytes);
        (taken, backlog.feed(uart))
    }

    /// A guest write at `offset`.
    pub fn write(&self, offset: usize, width: u8, value: u64) -> Effect {
        self.model.lock().0.write(offset, width, value)
    }
}
