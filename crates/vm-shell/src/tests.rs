extern crate std;

use core::cell::RefCell;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::*;

#[test]
fn commands_parse() {
    assert_eq!(parse("help"), Ok(Command::Help));
    assert_eq!(parse("  vm   list "), Ok(Command::List));
    assert_eq!(parse("vm show 3"), Ok(Command::Show(3)));
    assert_eq!(parse("vm start 1"), Ok(Command::Start(1)));
    assert_eq!(parse("vm stop 2"), Ok(Command::Stop(2)));
    assert_eq!(parse("vm restart 2"), Ok(Command::Restart(2)));
    assert_eq!(parse("vm delete 4"), Ok(Command::Delete(4)));
    assert_eq!(parse("vm console 1"), Ok(Command::Console(1)));
    assert_eq!(parse("vm create /vms/linux.toml"), Ok(Command::Create("/vms/linux.toml".into())));
    assert_eq!(parse("log debug"), Ok(Command::Log(LogLevel::Debug)));
    assert_eq!(parse("exit"), Ok(Command::Exit));
    assert_eq!(parse(""), Ok(Command::Nothing));
    assert_eq!(parse("   "), Ok(Command::Nothing));
}

#[test]
fn every_bad_input_gets_one_line_saying_what_is_wrong() {
    let error = |line: &str| parse(line).expect_err(line).to_string();
    assert_eq!(error("frobnicate"), "unknown command 'frobnicate' (try 'help')");
    assert_eq!(error("vm"), "'vm' needs a subcommand: list, show, start, stop, restart, create, delete, console");
    assert_eq!(error("vm fly 1"), "unknown subcommand 'vm fly' (try 'help')");
    assert_eq!(error("vm stop"), "'vm stop' needs a VM id");
    assert_eq!(error("vm stop two"), "'two' is not a VM id (a number, as 'vm list' shows)");
    assert_eq!(error("vm stop -1"), "'-1' is not a VM id (a number, as 'vm list' shows)");
    assert_eq!(error("vm create"), "'vm create' needs a config path");
    assert_eq!(error("log"), "'log' needs a level");
    assert_eq!(error("log loud"), "'loud' is not a log level: off, error, warn, info, debug, trace");
    assert_eq!(error("vm stop 1 2"), "unexpected '2' after the command");
    assert_eq!(error("help me"), "unexpected 'me' after the command");
    assert!(parse("vm show 99999999999999999999999").is_err(), "an id that does not fit");
}

/// A VMM with VM 1 running and VM 2 stopped, recording what it was asked.
struct Mock {
    vms: RefCell<Vec<VmInfo>>,
    calls: RefCell<Vec<String>>,
    /// The state `stop` leaves a VM in (stopped unless set).
    stop_leaves: Option<VmState>,
}

impl Mock {
    fn new() -> Self {
        let vm = |id, name: &str, state| VmInfo {
            id,
            name: name.into(),
            state,
            vcpus: 1,
            memory: 128 << 20,
            uptime_ms: 5,
            exits: 42,
            ended: (state == VmState::Stopped).then(|| "powered off".into()),
        };
        Self { vms: RefCell::new(std::vec![vm(1, "arceos", VmState::Running), vm(2, "linux", VmState::Stopped)]), calls: RefCell::default(), stop_leaves: None }
    }

    fn set(&self, id: usize, state: VmState) {
        self.vms.borrow_mut().iter_mut().filter(|vm| vm.id == id).for_each(|vm| vm.state = state);
    }
}

impl Vmm for Mock {
    fn vms(&self) -> Vec<VmInfo> {
        self.vms.borrow().clone()
    }
    fn console_lines(&self, id: usize) -> Vec<String> {
        std::vec![std::format!("line of {id}")]
    }
    fn start(&self, id: usize) -> Result<(), String> {
        self.calls.borrow_mut().push(std::format!("start {id}"));
        self.set(id, VmState::Running);
        Ok(())
    }
    fn stop(&self, id: usize) -> Result<Stopped, String> {
        self.calls.borrow_mut().push(std::format!("stop {id}"));
        self.set(id, self.stop_leaves.unwrap_or(VmState::Stopped));
        Ok(Stopped::Gracefully { ms: 12 })
    }
    fn console_since(&self, id: usize, from: u64) -> Option<ConsoleLines> {
        Some(ConsoleLines { first: from, lines: self.console_lines(id), next: from + 1 })
    }
    fn console_input(&self, id: usize, bytes: &[u8]) -> Result<(), String> {
        self.calls.borrow_mut().push(std::format!("input {id} {bytes:?}"));
        Ok(())
    }
    fn configs(&self) -> Vec<String> {
        std::vec!["arceos.toml".into()]
    }
    fn create(&self, path: &str) -> Result<usize, CreateError> {
        self.calls.borrow_mut().push(std::format!("create {path}"));
        if path.ends_with(".toml") { Ok(3) } else { Err(CreateError::new(path, "not a VM config")) }
    }
    fn create_from_text(&self, file: &str, _text: &str) -> Result<usize, CreateError> {
        self.create(file)
    }
    fn delete(&self, id: usize) -> Result<(), String> {
        self.calls.borrow_mut().push(std::format!("delete {id}"));
        self.vms.borrow_mut().retain(|vm| vm.id != id);
        Ok(())
    }
    fn set_log_level(&self, level: LogLevel) {
        self.calls.borrow_mut().push(std::format!("log {level:?}"));
    }
    fn free_memory(&self) -> u64 {
        64 << 20
    }
    fn shutdown(&self) {
        self.calls.borrow_mut().push("shutdown".into());
    }
}

fn run(vmm: &Mock, line: &str) -> (Vec<String>, Next) {
    execute(vmm, parse(line).expect("a command"))
}

#[test]
fn list_and_show_describe_the_vms() {
    let vmm = Mock::new();
    let (lines, next) = run(&vmm, "vm list");
    assert_eq!(next, Next::Prompt);
    assert_eq!(lines.len(), 4, "a header, one line per VM, the free memory");
    assert_eq!(lines[3], "host memory free: 65536 KiB");
    assert!(lines[1].contains("arceos") && lines[1].contains("running") && lines[1].contains("128Mi"), "{}", lines[1]);
    assert!(lines[2].contains("linux") && lines[2].contains("stopped"));
    let (lines, _) = run(&vmm, "vm show 2");
    assert_eq!(lines[0], "VM[2] linux: stopped, 1 vCPU(s), 128 MiB, up 5 ms, 42 exits");
    assert_eq!(lines[1], "last run: powered off");
    assert_eq!(lines.last().map(String::as_str), Some("  line of 2"));
}

#[test]
fn lifecycle_commands_follow_the_vm_state() {
    let vmm = Mock::new();
    assert_eq!(run(&vmm, "vm stop 1").0, ["VM[1] powered off by its guest 12 ms after the power button"]);
    assert_eq!(run(&vmm, "vm stop 1").0, ["error: VM[1] is stopped already"]);
    assert_eq!(run(&vmm, "vm start 1").0, ["VM[1] started"]);
    assert_eq!(run(&vmm, "vm start 1").0, ["error: VM[1] is running: only a stopped VM can be started"]);
    assert_eq!(run(&vmm, "vm delete 1").0, ["error: VM[1] is running: stop it before deleting it"]);
    assert_eq!(run(&vmm, "vm restart 1").0, ["VM[1] restarted"]);
    assert_eq!(run(&vmm, "vm delete 2").0, ["VM[2] deleted"]);
    assert_eq!(run(&vmm, "vm show 2").0, ["error: no VM has id 2 (see 'vm list')"]);
    assert_eq!(run(&vmm, "vm stop 9").0, ["error: no VM has id 9 (see 'vm list')"]);
    assert_eq!(*vmm.calls.borrow(), ["stop 1", "start 1", "stop 1", "start 1", "delete 2"], "refused commands reach nothing");
}

#[test]
fn restart_waits_for_a_stopping_vm_and_never_boots_one_that_is_not_down() {
    let vmm = Mock::new();
    vmm.set(1, VmState::Stopping);
    assert_eq!(run(&vmm, "vm restart 1").0, ["VM[1] restarted"]);
    assert_eq!(*vmm.calls.borrow(), ["stop 1", "start 1"], "stopped before it is started");
    let stuck = Mock { stop_leaves: Some(VmState::Stopping), ..Mock::new() };
    stuck.set(1, VmState::Stopping);
    assert_eq!(run(&stuck, "vm restart 1").0, ["error: VM[1] is stopping: not started again"]);
    assert_eq!(*stuck.calls.borrow(), ["stop 1"], "a VM that is not down is never booted twice");
}

#[test]
fn create_console_log_and_exit() {
    let vmm = Mock::new();
    assert_eq!(run(&vmm, "vm create /vms/a.toml").0, ["VM[3] created from /vms/a.toml"]);
    assert_eq!(run(&vmm, "vm create /vms/a.txt").0, ["error: /vms/a.txt: not a VM config"]);
    assert_eq!(run(&vmm, "vm console 1"), (std::vec!["console of VM[1] arceos (Ctrl-] to come back)".to_string()], Next::Console(1)));
    assert_eq!(run(&vmm, "vm console 7").1, Next::Prompt, "no console switch to a missing VM");
    assert_eq!(run(&vmm, "log warn").0, ["log level warn"]);
    assert_eq!(run(&vmm, "exit").1, Next::Exit);
    assert!(run(&vmm, "help").0.len() > 10);
}

#[test]
fn the_line_editor_gathers_lines_with_backspace() {
    let mut editor = LineEditor::new();
    let keys: Vec<Key> = b"vm lx\x7fist\r".iter().map(|&b| editor.push(b)).collect();
    assert_eq!(keys[4], Key::EchoByte(b'x'));
    assert_eq!(keys[5], Key::Echo(b"\x08 \x08"));
    assert_eq!(keys.last(), Some(&Key::Line("vm list".into())));
    assert_eq!(editor.push(0x7f), Key::None, "nothing to erase");
    assert_eq!(editor.push(0x1b), Key::None, "control bytes are ignored");
    for _ in 0..300 {
        editor.push(b'a');
    }
    let Key::Line(line) = editor.push(b'\n') else { panic!("a line") };
    assert_eq!(line.len(), MAX_INPUT);
}

#[test]
fn a_forced_stop_says_why() {
    assert_eq!(Stopped::Forced { waited_ms: None }.to_string(), "stopped by force (it has no power button)");
    assert_eq!(
        Stopped::Forced { waited_ms: Some(3000) }.to_string(),
        "stopped by force: its guest did not power off within 3000 ms of the power button"
    );
}
