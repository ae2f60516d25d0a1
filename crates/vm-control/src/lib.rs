//! What a management front end may ask of the VMM: the [`Vmm`] trait and
//! the types it answers with. The console shell (crate `vm-shell`) and the
//! HTTP API (crate `mgmt-api`) are written against it and tested on the
//! host with mocks; the hypervisor implements it once.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A log level `log` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// No log lines.
    Off,
    /// Errors only.
    Error,
    /// And warnings.
    Warn,
    /// And information.
    Info,
    /// And debugging lines.
    Debug,
    /// Everything.
    Trace,
}

/// A VM's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmState {
    /// Its vCPUs run.
    Running,
    /// Being stopped.
    Stopping,
    /// Stopped (it may be started again or deleted).
    Stopped,
}

impl fmt::Display for VmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
        })
    }
}

/// One VM as a front end lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    /// Its id.
    pub id: usize,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: VmState,
    /// How many vCPUs it has.
    pub vcpus: usize,
    /// Its RAM in bytes.
    pub memory: u64,
    /// How long it has run since its last boot, in milliseconds.
    pub uptime_ms: u64,
    /// Exits its vCPUs took.
    pub exits: u64,
    /// How its last run ended, if it stopped.
    pub ended: Option<String>,
}

/// How stopping a VM ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The guest powered off after its power button was pressed.
    Gracefully {
        /// Milliseconds from the press to the VM being down.
        ms: u64,
    },
    /// The VM was stopped by force: it has no power button (`None`), or
    /// did not power off within that many milliseconds of the press.
    Forced {
        /// How long the guest was given, if it had a button.
        waited_ms: Option<u64>,
    },
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gracefully { ms } => write!(f, "powered off by its guest {ms} ms after the power button"),
            Self::Forced { waited_ms: None } => write!(f, "stopped by force (it has no power button)"),
            Self::Forced { waited_ms: Some(ms) } => {
                write!(f, "stopped by force: its guest did not power off within {ms} ms of the power button")
            }
        }
    }
}

/// Why a VM could not be created: the config (`file`) and, where the
/// config was at fault, the field and the value it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateError {
    /// The config's name or path.
    pub file: String,
    /// The field at fault (TOML path form, `kernel.memory_regions[1].size`), if one is.
    pub field: Option<String>,
    /// The value that field holds, as written, if known.
    pub value: Option<String>,
    /// What was wrong, in one line.
    pub message: String,
}

impl CreateError {
    /// An error that is not about one field of `file`.
    pub fn new(file: &str, message: impl Into<String>) -> Self {
        Self { file: file.into(), field: None, value: None, message: message.into() }
    }
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// Console lines of a VM from a given line number on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleLines {
    /// The number of the first line in `lines`: more than asked for when
    /// older lines were no longer kept.
    pub first: u64,
    /// The lines, oldest first, without their line ends.
    pub lines: Vec<String>,
    /// The number the next line the VM writes will get.
    pub next: u64,
}

/// What a management front end (the shell, the HTTP API) may ask of the
/// VMM. Every method answers; none panics on a bad id or input.
pub trait Vmm {
    /// Every VM, by id.
    fn vms(&self) -> Vec<VmInfo>;
    /// A VM's newest console lines.
    fn console_lines(&self, id: usize) -> Vec<String>;
    /// A VM's console lines numbered `from` and later (lines are numbered
    /// from 0 since the VM was created); `None` if there is no such VM.
    fn console_since(&self, id: usize, from: u64) -> Option<ConsoleLines>;
    /// Types `bytes` into a VM's console (its virtio console if the guest
    /// set one up, else its UART).
    fn console_input(&self, id: usize, bytes: &[u8]) -> Result<(), String>;
    /// Boots a stopped VM again from its config; an error line otherwise.
    fn start(&self, id: usize) -> Result<(), String>;
    /// Stops a running VM: presses its power button, if it has one, and
    /// stops it by force if its guest does not power off in time.
    fn stop(&self, id: usize) -> Result<Stopped, String>;
    /// The names of the configs [`Vmm::create`] accepts (embedded at
    /// build time or on the boot disk).
    fn configs(&self) -> Vec<String>;
    /// Creates and boots a VM from the config named `path`; its id.
    fn create(&self, path: &str) -> Result<usize, CreateError>;
    /// Creates and boots a VM from config text given under the name
    /// `file`, checked exactly as a config found at boot; its id. Its
    /// images are those of the same paths embedded at build time or on
    /// the boot disk.
    fn create_from_text(&self, file: &str, text: &str) -> Result<usize, CreateError>;
    /// Forgets a stopped VM and frees what it held.
    fn delete(&self, id: usize) -> Result<(), String>;
    /// Sets the log level.
    fn set_log_level(&self, level: LogLevel);
    /// Host memory free for new VMs, in bytes.
    fn free_memory(&self) -> u64;
    /// Asks the hypervisor to stop every VM and power off; returns at
    /// once (the caller's answer still goes out).
    fn shutdown(&self);
}
