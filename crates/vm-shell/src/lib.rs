//! The management shell on the host console: `vm list`, `vm stop 2`, ...
//! [`parse`] turns a line into a [`Command`]; [`execute`] carries it out
//! against a [`Vmm`] and answers with lines of text. Every bad input gets
//! one line saying what was wrong; nothing here panics.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

pub use vm_control::{ConsoleLines, CreateError, LogLevel, Stopped, VmInfo, VmState, Vmm};

#[cfg(test)]
mod tests;

/// What the shell prints for `help`.
pub const HELP: &str = "\
commands:
  help                 this list
  vm list              every VM: id, name, state, vCPUs, memory, uptime, exits
  vm show ID           one VM in detail, with its newest console lines
  vm start ID          boot a stopped VM again from its config
  vm stop ID           ask the guest to power off; force it after a timeout
  vm restart ID        stop, then start
  vm create PATH       create and boot a VM from a config (embedded or on the boot disk)
  vm delete ID         forget a stopped VM and free what it held
  vm console ID        talk to a VM's console; Ctrl-] comes back here
  log LEVEL            off | error | warn | info | debug | trace
  exit                 stop every VM and power off";

/// A shell command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `help`.
    Help,
    /// `vm list`.
    List,
    /// `vm show ID`.
    Show(usize),
    /// `vm start ID`.
    Start(usize),
    /// `vm stop ID`.
    Stop(usize),
    /// `vm restart ID`.
    Restart(usize),
    /// `vm create PATH`.
    Create(String),
    /// `vm delete ID`.
    Delete(usize),
    /// `vm console ID`.
    Console(usize),
    /// `log LEVEL`.
    Log(LogLevel),
    /// `exit`.
    Exit,
    /// An empty line.
    Nothing,
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The first word names no command.
    Unknown(String),
    /// `vm` without a subcommand, or with one it does not have.
    UnknownVm(String),
    /// A command that needs an argument got none.
    Missing(&'static str, &'static str),
    /// An ID that is not a number.
    NotAnId(String),
    /// A level `log` does not know.
    NotALevel(String),
    /// Words after a complete command.
    Extra(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(word) => write!(f, "unknown command '{word}' (try 'help')"),
            Self::UnknownVm(word) if word.is_empty() => write!(f, "'vm' needs a subcommand: list, show, start, stop, restart, create, delete, console"),
            Self::UnknownVm(word) => write!(f, "unknown subcommand 'vm {word}' (try 'help')"),
            Self::Missing(command, what) => write!(f, "'{command}' needs {what}"),
            Self::NotAnId(word) => write!(f, "'{word}' is not a VM id (a number, as 'vm list' shows)"),
            Self::NotALevel(word) => write!(f, "'{word}' is not a log level: off, error, warn, info, debug, trace"),
            Self::Extra(word) => write!(f, "unexpected '{word}' after the command"),
        }
    }
}

/// Parses one line of input.
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else { return Ok(Command::Nothing) };
    let command = match first {
        "help" | "?" => Command::Help,
        "exit" => Command::Exit,
        "log" => {
            let level = words.next().ok_or(ParseError::Missing("log", "a level"))?;
            Command::Log(match level {
                "off" => LogLevel::Off,
                "error" => LogLevel::Error,
                "warn" => LogLevel::Warn,
                "info" => LogLevel::Info,
                "debug" => LogLevel::Debug,
                "trace" => LogLevel::Trace,
                other => return Err(ParseError::NotALevel(other.to_string())),
            })
        }
        "vm" => {
            let sub = words.next().unwrap_or("");
            let mut id = |command: &'static str| -> Result<usize, ParseError> {
                let word = words.next().ok_or(ParseError::Missing(command, "a VM id"))?;
                word.parse().map_err(|_| ParseError::NotAnId(word.to_string()))
            };
            match sub {
                "list" | "ls" => Command::List,
                "show" => Command::Show(id("vm show")?),
                "start" => Command::Start(id("vm start")?),
                "stop" => Command::Stop(id("vm stop")?),
                "restart" => Command::Restart(id("vm restart")?),
                "delete" | "rm" => Command::Delete(id("vm delete")?),
                "console" => Command::Console(id("vm console")?),
                "create" => Command::Create(words.next().ok_or(ParseError::Missing("vm create", "a config path"))?.to_string()),
                other => return Err(ParseError::UnknownVm(other.to_string())),
            }
        }
        other => return Err(ParseError::Unknown(other.to_string())),
    };
    match words.next() {
        Some(extra) => Err(ParseError::Extra(extra.to_string())),
        None => Ok(command),
    }
}

/// What the shell does next after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Read the next command.
    Prompt,
    /// Hand the console to VM `id` until the escape key.
    Console(usize),
    /// Stop every VM and power off.
    Exit,
}

/// Carries `command` out against `vmm`; returns the lines to print and
/// what comes next.
pub fn execute(vmm: &dyn Vmm, command: Command) -> (Vec<String>, Next) {
    let one = |line: String| (alloc::vec![line], Next::Prompt);
    let find = |id: usize| vmm.vms().into_iter().find(|vm| vm.id == id).ok_or(format!("no VM has id {id} (see 'vm list')"));
    let result: Result<(Vec<String>, Next), String> = (|| match command {
        Command::Nothing => Ok((Vec::new(), Next::Prompt)),
        Command::Help => Ok((HELP.lines().map(String::from).collect(), Next::Prompt)),
        Command::Exit => Ok((alloc::vec!["stopping every VM".into()], Next::Exit)),
        Command::List => {
            let mut lines = alloc::vec![format!("{:>3}  {:<16} {:<9} {:>5} {:>9} {:>10} {:>10}", "id", "name", "state", "vcpus", "memory", "uptime", "exits")];
            lines.extend(vmm.vms().iter().map(|vm| {
                format!(
                    "{:>3}  {:<16} {:<9} {:>5} {:>7}Mi {:>8}ms {:>10}",
                    vm.id, vm.name, vm.state.to_string(), vm.vcpus, vm.memory >> 20, vm.uptime_ms, vm.exits
                )
            }));
            lines.push(format!("host memory free: {} KiB", vmm.free_memory() >> 10));
            Ok((lines, Next::Prompt))
        }
        Command::Show(id) => {
            let vm = find(id)?;
            let mut lines = alloc::vec![
                format!("VM[{}] {}: {}, {} vCPU(s), {} MiB, up {} ms, {} exits", vm.id, vm.name, vm.state, vm.vcpus, vm.memory >> 20, vm.uptime_ms, vm.exits),
            ];
            if let Some(ended) = &vm.ended {
                lines.push(format!("last run: {ended}"));
            }
            lines.push("console:".into());
            lines.extend(vmm.console_lines(id).into_iter().map(|line| format!("  {line}")));
            Ok((lines, Next::Prompt))
        }
        Command::Start(id) => match find(id)?.state {
            VmState::Stopped => vmm.start(id).map(|()| one(format!("VM[{id}] started"))),
            state => Err(format!("VM[{id}] is {state}: only a stopped VM can be started")),
        },
        Command::Stop(id) => match find(id)?.state {
            VmState::Running => vmm.stop(id).map(|how| one(format!("VM[{id}] {how}"))),
            state => Err(format!("VM[{id}] is {state} already")),
        },
        Command::Restart(id) => {
            // A VM still stopping must be down before it boots again.
            if find(id)?.state != VmState::Stopped {
                vmm.stop(id)?;
            }
            match find(id)?.state {
                VmState::Stopped => vmm.start(id).map(|()| one(format!("VM[{id}] restarted"))),
                state => Err(format!("VM[{id}] is {state}: not started again")),
            }
        }
        Command::Create(path) => {
            vmm.create(&path).map(|id| one(format!("VM[{id}] created from {path}"))).map_err(|e| e.to_string())
        }
        Command::Delete(id) => match find(id)?.state {
            VmState::Stopped => vmm.delete(id).map(|()| one(format!("VM[{id}] deleted"))),
            state => Err(format!("VM[{id}] is {state}: stop it before deleting it")),
        },
        Command::Console(id) => {
            let vm = find(id)?;
            Ok((alloc::vec![format!("console of VM[{id}] {} (Ctrl-] to come back)", vm.name)], Next::Console(id)))
        }
        Command::Log(level) => {
            vmm.set_log_level(level);
            Ok(one(format!("log level {level:?}").to_lowercase()))
        }
    })();
    result.unwrap_or_else(|line| one(format!("error: {line}")))
}

/// Gathers typed bytes into lines, with backspace; what to echo comes
/// back with each byte.
#[derive(Debug, Clone, Default)]
pub struct LineEditor {
    line: String,
}

/// What a typed byte did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Echo these bytes.
    Echo(&'static [u8]),
    /// Echo this byte.
    EchoByte(u8),
    /// A complete line.
    Line(String),
    /// Nothing to do.
    None,
}

/// The longest line the editor keeps.
pub const MAX_INPUT: usize = 200;

impl LineEditor {
    /// An empty line.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one typed byte.
    pub fn push(&mut self, byte: u8) -> Key {
        match byte {
            b'\r' | b'\n' => Key::Line(core::mem::take(&mut self.line)),
            0x08 | 0x7f => {
                if self.line.pop().is_some() {
                    Key::Echo(b"\x08 \x08")
                } else {
                    Key::None
                }
            }
            0x20..=0x7e if self.line.len() < MAX_INPUT => {
                self.line.push(byte as char);
                Key::EchoByte(byte)
            }
            _ => Key::None,
        }
    }
}
