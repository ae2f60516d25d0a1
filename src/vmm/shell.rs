//! The management shell on the host console (`make run SHELL=y`): the
//! commands and their rules are crate `vm-shell`'s; this is the VMM side
//! of them (VM states, start, stop, delete) and the input loop.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use core::time::Duration;

use vm_shell::{Key, LineEditor, LogLevel, Next, Stopped, VmInfo, VmState, Vmm};

use super::vm::{STOP, StopReason, Vm};
use super::{SOURCES, VMS, images};
use crate::hal;

/// How long `vm stop` waits for a VM's vCPUs to leave once stopped.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a guest has to power off after its power button is pressed.
const POWER_OFF_GRACE: Duration = Duration::from_secs(3);
/// How often the input loop looks for typed bytes.
const POLL: Duration = Duration::from_millis(10);
/// The byte that leaves a VM's console (Ctrl-]).
const ESCAPE: u8 = 0x1d;
const PROMPT: &str = "axvisor> ";

fn state(vm: &Vm) -> VmState {
    match (vm.live_tasks.load(Ordering::Acquire), vm.flags() & STOP != 0) {
        (0, _) => VmState::Stopped,
        (_, true) => VmState::Stopping,
        (_, false) => VmState::Running,
    }
}

fn find(id: usize) -> Result<alloc::sync::Arc<Vm>, String> {
    super::find(id).ok_or_else(|| alloc::format!("no VM has id {id}"))
}

/// The VMM as the shell sees it.
struct Shell;

impl Vmm for Shell {
    fn vms(&self) -> Vec<VmInfo> {
        let now = hal::now();
        VMS.lock()
            .iter()
            .map(|vm| {
                let state = state(vm);
                VmInfo {
                    id: vm.id,
                    name: vm.name.clone(),
                    state,
                    vcpus: vm.vcpus.len(),
                    memory: vm.ram.lock().size(),
                    uptime_ms: if state == VmState::Stopped { 0 } else { (now - vm.created).as_millis() as u64 },
                    exits: vm.vcpus.iter().map(|v| v.exits.load(Ordering::Relaxed)).sum(),
                    ended: vm.stop_reason().map(|r| r.to_string()),
                }
            })
            .collect()
    }

    fn console_lines(&self, id: usize) -> Vec<String> {
        super::find(id).map(|vm| vm.console.history()).unwrap_or_default()
    }

    fn start(&self, id: usize) -> Result<(), String> {
        let source = SOURCES.lock().iter().find(|(vm, _)| *vm == id).map(|(_, s)| s.clone());
        let source = source.ok_or_else(|| alloc::format!("VM[{id}] has no config to start from"))?;
        // A VM whose vCPUs have not all left is never booted a second time.
        if let Some(vm) = super::find(id)
            && state(&vm) != VmState::Stopped
        {
            return Err(alloc::format!("VM[{id}] is {}: only a stopped VM can be started", state(&vm)));
        }
        // The stopped VM gives back what it held before its successor is made.
        forget(id);
        match super::boot(&source) {
            Some(new) if new == id => Ok(()),
            Some(new) => Err(alloc::format!("started again as VM[{new}]")),
            None => Err(alloc::format!("{}: the config was rejected (see the line above)", source.file)),
        }
    }

    fn stop(&self, id: usize) -> Result<Stopped, String> {
        let vm = find(id)?;
        // A VM already stopping is not asked again: it is waited for.
        let button = vm.power_button.as_ref().filter(|_| state(&vm) == VmState::Running);
        let waited_ms = match button {
            Some(button) => {
                let pressed = hal::now();
                if button.set_pressed(true) {
                    vm.raise_device_irq(button.irq);
                }
                let down = wait_down(&vm, POWER_OFF_GRACE);
                button.set_pressed(false);
                if down {
                    return Ok(Stopped::Gracefully { ms: (hal::now() - pressed).as_millis() as u64 });
                }
                Some(POWER_OFF_GRACE.as_millis() as u64)
            }
            None => None,
        };
        vm.stop(StopReason::Stopped);
        if !wait_down(&vm, STOP_TIMEOUT) {
            return Err(alloc::format!("VM[{id}] did not stop within {} s", STOP_TIMEOUT.as_secs()));
        }
        Ok(Stopped::Forced { waited_ms })
    }

    fn create(&self, path: &str) -> Result<usize, String> {
        let source = images::EMBEDDED_VMS
            .iter()
            .find(|vm| vm.file == path || vm.file.ends_with(&alloc::format!("/{path}")))
            .map(images::VmSource::from);
        #[cfg(feature = "fs")]
        let source = source.or_else(|| images::disk_config(path));
        let source = source.ok_or_else(|| alloc::format!("{path}: no such VM config (embedded or on the boot disk)"))?;
        super::boot(&source).ok_or_else(|| alloc::format!("{path}: the config was rejected (see the line above)"))
    }

    fn delete(&self, id: usize) -> Result<(), String> {
        find(id)?;
        forget(id);
        SOURCES.lock().retain(|(vm, _)| *vm != id);
        Ok(())
    }

    fn set_log_level(&self, level: LogLevel) {
        log::set_max_level(match level {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        });
    }

    fn free_memory(&self) -> u64 {
        hal::free_memory()
    }
}

/// Waits up to `timeout` for every vCPU task of `vm` to leave.
fn wait_down(vm: &Vm, timeout: Duration) -> bool {
    let deadline = hal::now() + timeout;
    while vm.live_tasks.load(Ordering::Acquire) != 0 {
        if hal::now() >= deadline {
            return false;
        }
        axtask::sleep(POLL);
    }
    true
}

/// Drops a stopped VM from the list; its memory, stage-2 tables and
/// devices go with the last reference.
fn forget(id: usize) {
    VMS.lock().retain(|vm| vm.id != id);
}

/// Runs the shell until `exit`, then stops every VM.
pub fn run() {
    println!("axvisor: management shell ('help' lists the commands)");
    print!("{PROMPT}");
    let mut editor = LineEditor::new();
    let mut console: Option<usize> = None;
    let mut buf = [0u8; 64];
    loop {
        let n = hal::console_input(&mut buf);
        if n == 0 {
            axtask::sleep(POLL);
            continue;
        }
        for &byte in &buf[..n] {
            if let Some(id) = console {
                if byte == ESCAPE {
                    console = None;
                    print!("\n{PROMPT}");
                } else if let Some(vm) = super::find(id) {
                    // A virtio console the guest set up takes the byte;
                    // else the VM's UART.
                    let virtio = vm.virtio.iter().any(|dev| dev.is_console() && dev.input(&vm, &[byte]));
                    if !virtio
                        && let Some(uart) = &vm.uart
                        && uart.input(byte)
                    {
                        vm.raise_device_irq(uart.irq);
                    }
                }
                continue;
            }
            match editor.push(byte) {
                Key::Echo(bytes) => print!("{}", core::str::from_utf8(bytes).unwrap_or("")),
                Key::EchoByte(b) => print!("{}", b as char),
                Key::None => {}
                Key::Line(line) => {
                    println!();
                    let (lines, next) = match vm_shell::parse(&line) {
                        Ok(command) => vm_shell::execute(&Shell, command),
                        Err(e) => (alloc::vec![alloc::format!("error: {e}")], Next::Prompt),
                    };
                    for line in &lines {
                        println!("{line}");
                    }
                    match next {
                        Next::Prompt => print!("{PROMPT}"),
                        Next::Console(id) => console = Some(id),
                        Next::Exit => return stop_all(),
                    }
                }
            }
        }
    }
}

/// Stops every running VM (the shell's `exit`).
fn stop_all() {
    let running: Vec<usize> = VMS.lock().iter().filter(|vm| state(vm) != VmState::Stopped).map(|vm| vm.id).collect();
    for id in running {
        if let Err(e) = Shell.stop(id) {
            println!("error: {e}");
        }
    }
}
