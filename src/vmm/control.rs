//! The VMM as its management front ends (the console shell, the HTTP
//! API) see it: [`Control`] implements `vm_control::Vmm` once for both.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use vm_control::{ConsoleLines, CreateError, LogLevel, Stopped, VmInfo, VmState, Vmm};

use super::create::VmError;
use super::vm::{STOP, StopReason, Vm};
use super::{SOURCES, VMS, images};
use crate::hal;

/// How long a stop waits for a VM's vCPUs to leave once stopped.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a guest has to power off after its power button is pressed.
const POWER_OFF_GRACE: Duration = Duration::from_secs(3);
/// How often a stop looks whether the vCPUs have left.
const POLL: Duration = Duration::from_millis(10);

/// The VMM's management operations.
pub struct Control;

/// A VM's state from its live vCPU tasks and stop flag.
pub fn state(vm: &Vm) -> VmState {
    match (vm.live_tasks.load(Ordering::Acquire), vm.flags() & STOP != 0) {
        (0, _) => VmState::Stopped,
        (_, true) => VmState::Stopping,
        (_, false) => VmState::Running,
    }
}

fn find(id: usize) -> Result<Arc<Vm>, String> {
    super::find(id).ok_or_else(|| format!("no VM has id {id}"))
}

/// `error` as a front end reports it: the config, the field and value at
/// fault where there is one, and the line the console log shows.
fn create_error(file: &str, error: &VmError) -> CreateError {
    let (field, value) = error.field_and_value();
    CreateError { file: file.into(), field, value, message: error.to_string() }
}

impl Vmm for Control {
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

    fn console_since(&self, id: usize, from: u64) -> Option<ConsoleLines> {
        super::find(id).map(|vm| vm.console.since(from))
    }

    fn console_input(&self, id: usize, bytes: &[u8]) -> Result<(), String> {
        let vm = find(id)?;
        if state(&vm) != VmState::Running {
            return Err(format!("VM[{id}] is {}: its console takes no input", state(&vm)));
        }
        // A virtio console the guest set up takes the bytes; else the UART.
        if vm.virtio.iter().any(|dev| dev.is_console() && dev.input(&vm, bytes)) {
            return Ok(());
        }
        let uart = vm.uart.as_ref().ok_or_else(|| format!("VM[{id}] has no console that takes input"))?;
        let (taken, raise) = uart.input(bytes);
        if raise {
            vm.raise_device_irq(uart.irq);
        }
        match bytes.len() - taken {
            0 => Ok(()),
            lost => Err(format!("VM[{id}] reads its console slower than it is typed to: {lost} bytes dropped")),
        }
    }

    fn start(&self, id: usize) -> Result<(), String> {
        let source = SOURCES.lock().iter().find(|(vm, _)| *vm == id).map(|(_, s)| s.clone());
        let source = source.ok_or_else(|| format!("VM[{id}] has no config to start from"))?;
        // A VM whose vCPUs have not all left is never booted a second time.
        if let Some(vm) = super::find(id)
            && state(&vm) != VmState::Stopped
        {
            return Err(format!("VM[{id}] is {}: only a stopped VM can be started", state(&vm)));
        }
        // The stopped VM gives back what it held before its successor is
        // made; its console lines go on in the successor's.
        let history = super::find(id).map(|vm| vm.console.take_history());
        forget(id);
        match super::boot(&source) {
            Ok(new) if new == id => {
                if let (Some(history), Some(vm)) = (history, super::find(id)) {
                    vm.console.continue_after(history);
                }
                Ok(())
            }
            Ok(new) => Err(format!("started again as VM[{new}]")),
            Err(e) => Err(format!("{}: {e}", source.file)),
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
            return Err(format!("VM[{id}] did not stop within {} s", STOP_TIMEOUT.as_secs()));
        }
        Ok(Stopped::Forced { waited_ms })
    }

    fn configs(&self) -> Vec<String> {
        let embedded = images::EMBEDDED_VMS.iter().map(|vm| String::from(vmconfig_check::paths::file_name(vm.file)));
        #[cfg(feature = "fs")]
        let embedded = embedded.chain(images::disk_configs().into_iter().map(|source| source.file));
        embedded.collect()
    }

    fn create(&self, path: &str) -> Result<usize, CreateError> {
        let source = images::EMBEDDED_VMS
            .iter()
            .find(|vm| vm.file == path || vmconfig_check::paths::file_name(vm.file) == path)
            .map(images::VmSource::from);
        #[cfg(feature = "fs")]
        let source = source.or_else(|| images::disk_config(path));
        let source =
            source.ok_or_else(|| CreateError::new(path, "no such VM config (embedded or on the boot disk)"))?;
        super::boot(&source).map_err(|e| create_error(path, &e))
    }

    fn create_from_text(&self, file: &str, text: &str) -> Result<usize, CreateError> {
        let source = images::VmSource::uploaded(file, text);
        super::boot(&source).map_err(|e| create_error(file, &e))
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

    fn shutdown(&self) {
        info!("shutdown asked for: stopping every VM, then powering off");
        SHUTDOWN.store(true, Ordering::Release);
        super::VM_STOPPED.notify_all(false);
    }
}

/// Set once a front end asked the hypervisor to power off.
static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// Whether a front end asked the hypervisor to power off.
pub fn shutdown_requested() -> bool {
    SHUTDOWN.load(Ordering::Acquire)
}

/// Blocks until a front end asks the hypervisor to power off, then stops
/// every VM (a managed hypervisor outlives its VMs until then).
pub fn serve_until_shutdown() {
    super::VM_STOPPED.wait_until(shutdown_requested);
    stop_all();
}

/// Stops every VM that is not stopped, one after the other.
pub fn stop_all() {
    let running: Vec<usize> = VMS.lock().iter().filter(|vm| state(vm) != VmState::Stopped).map(|vm| vm.id).collect();
    for id in running {
        if let Err(e) = Control.stop(id) {
            println!("error: {e}");
        }
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
