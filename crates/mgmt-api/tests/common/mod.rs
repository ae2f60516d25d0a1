//! A mock VMM and helpers to talk HTTP to a `Connection`.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use mgmt_api::{Connection, Context, Limits};
use vm_control::{ConsoleLines, CreateError, LogLevel, Stopped, VmInfo, VmState, Vmm};

pub const TOKEN: &str = "s3cret-token";
pub const AUTH: &str = "Authorization: Bearer s3cret-token\r\n";

/// A VMM with VM 1 "linux" running (three console lines) and VM 2 stopped,
/// recording every call that changes something.
pub struct Mock {
    pub vms: RefCell<Vec<VmInfo>>,
    /// Per VM: the number of the first kept line, and the kept lines.
    pub consoles: RefCell<BTreeMap<usize, (u64, Vec<String>)>>,
    pub calls: RefCell<Vec<String>>,
    pub stop_result: Cell<Stopped>,
    /// Lines kept per console.
    pub keep: usize,
}

impl Mock {
    pub fn new() -> Self {
        let vm = |id, name: &str, state| VmInfo {
            id,
            name: name.into(),
            state,
            vcpus: 2,
            memory: 128 << 20,
            uptime_ms: 1500,
            exits: 42,
            ended: (state == VmState::Stopped).then(|| "powered off".into()),
        };
        let mock = Self {
            vms: RefCell::new(vec![
                vm(1, "linux", VmState::Running),
                vm(2, "quo\"te\u{1}é", VmState::Stopped),
            ]),
            consoles: RefCell::new(BTreeMap::new()),
            calls: RefCell::new(Vec::new()),
            stop_result: Cell::new(Stopped::Gracefully { ms: 120 }),
            keep: 100,
        };
        for line in ["boot 0", "boot 1", "login:"] {
            mock.write_line(1, line);
        }
        mock.consoles.borrow_mut().insert(2, (0, Vec::new()));
        mock
    }

    /// VM `id` writes a line to its console.
    pub fn write_line(&self, id: usize, line: &str) {
        let mut consoles = self.consoles.borrow_mut();
        let (first, lines) = consoles.entry(id).or_insert((0, Vec::new()));
        lines.push(line.into());
        if lines.len() > self.keep {
            lines.remove(0);
            *first += 1;
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: String) {
        self.calls.borrow_mut().push(call);
    }

    fn set_state(&self, id: usize, state: VmState) {
        if let Some(vm) = self.vms.borrow_mut().iter_mut().find(|vm| vm.id == id) {
            vm.state = state;
        }
    }

    fn state(&self, id: usize) -> Option<VmState> {
        self.vms
            .borrow()
            .iter()
            .find(|vm| vm.id == id)
            .map(|vm| vm.state)
    }

    fn add(&self, name: &str) -> usize {
        let id = self.vms.borrow().iter().map(|vm| vm.id).max().unwrap_or(0) + 1;
        let mut vm = self.vms.borrow()[0].clone();
        vm.id = id;
        vm.name = name.into();
        self.vms.borrow_mut().push(vm);
        self.consoles.borrow_mut().insert(id, (0, Vec::new()));
        id
    }
}

impl Vmm for Mock {
    fn vms(&self) -> Vec<VmInfo> {
        self.vms.borrow().clone()
    }
    fn console_lines(&self, id: usize) -> Vec<String> {
        self.consoles
            .borrow()
            .get(&id)
            .map(|(_, lines)| lines.clone())
            .unwrap_or_default()
    }
    fn console_since(&self, id: usize, from: u64) -> Option<ConsoleLines> {
        self.state(id)?;
        let consoles = self.consoles.borrow();
        let (first, lines) = consoles.get(&id)?;
        let next = first + lines.len() as u64;
        let start = from.clamp(*first, next);
        Some(ConsoleLines {
            first: start,
            lines: lines[(start - first) as usize..].to_vec(),
            next,
        })
    }
    fn console_input(&self, id: usize, bytes: &[u8]) -> Result<(), String> {
        self.record(format!("input {id} {:?}", String::from_utf8_lossy(bytes)));
        self.state(id)
            .map(|_| ())
            .ok_or_else(|| "no such VM".into())
    }
    fn start(&self, id: usize) -> Result<(), String> {
        self.record(format!("start {id}"));
        match self.state(id) {
            Some(VmState::Stopped) => {
                self.set_state(id, VmState::Running);
                Ok(())
            }
            _ => Err(format!("VM {id} cannot start")),
        }
    }
    fn stop(&self, id: usize) -> Result<Stopped, String> {
        self.record(format!("stop {id}"));
        self.set_state(id, VmState::Stopped);
        Ok(self.stop_result.get())
    }
    fn configs(&self) -> Vec<String> {
        vec!["linux.toml".into(), "shell.toml".into()]
    }
    fn create(&self, path: &str) -> Result<usize, CreateError> {
        self.record(format!("create {path}"));
        if path == "bad.toml" {
            return Err(CreateError {
                file: path.into(),
                field: Some("kernel.memory_regions[1].size".into()),
                value: Some("0x0".into()),
                message: "a memory region of size 0".into(),
            });
        }
        if path == "missing.toml" {
            return Err(CreateError::new(path, "no such config"));
        }
        Ok(self.add(path.trim_end_matches(".toml")))
    }
    fn create_from_text(&self, file: &str, text: &str) -> Result<usize, CreateError> {
        self.record(format!("create_from_text {file} {text:?}"));
        if text.contains("broken") {
            return Err(CreateError {
                file: file.into(),
                field: Some("base.cpu_num".into()),
                value: Some("\"broken\"".into()),
                message: "not a number".into(),
            });
        }
        Ok(self.add(file.trim_end_matches(".toml")))
    }
    fn delete(&self, id: usize) -> Result<(), String> {
        self.record(format!("delete {id}"));
        self.vms.borrow_mut().retain(|vm| vm.id != id);
        self.consoles.borrow_mut().remove(&id);
        Ok(())
    }
    fn set_log_level(&self, level: LogLevel) {
        self.record(format!("log {level:?}"));
    }
    fn free_memory(&self) -> u64 {
        1 << 30
    }
    fn shutdown(&self) {
        self.record("shutdown".into());
    }
}

pub fn ctx(mock: &Mock) -> Context<'_> {
    Context {
        vmm: mock,
        token: TOKEN,
        limits: Limits::default(),
    }
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The complete responses at the start of `bytes`, and what follows them.
pub fn replies(mut bytes: &[u8]) -> (Vec<Reply>, Vec<u8>) {
    let mut out = Vec::new();
    while bytes.starts_with(b"HTTP/1.1 ") {
        let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = std::str::from_utf8(&bytes[..end]).expect("response head is UTF-8");
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").expect("header line");
                (n.to_string(), v.to_string())
            })
            .collect();
        let len = headers
            .iter()
            .find(|(n, _)| n == "Content-Length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let len = if status < 200 { 0 } else { len };
        let body = std::str::from_utf8(&bytes[end + 4..end + 4 + len])
            .expect("body is UTF-8")
            .to_string();
        bytes = &bytes[end + 4 + len..];
        out.push(Reply {
            status,
            headers,
            body,
        });
    }
    (out, bytes.to_vec())
}

/// Sends `text` on a new connection; its one response, and whether the
/// connection is closing after it.
pub fn exchange(mock: &Mock, text: &str) -> (Reply, bool) {
    let ctx = ctx(mock);
    let mut conn = Connection::new(0);
    conn.receive(text.as_bytes(), &ctx, 1);
    let (replies, rest) = replies(conn.output());
    assert_eq!(
        replies.len(),
        1,
        "one response to {text:?}: {:?}",
        String::from_utf8_lossy(conn.output())
    );
    assert!(rest.is_empty(), "nothing after the response");
    (replies[0].clone(), conn.closing())
}

/// `METHOD PATH` with the token and an optional body.
pub fn call(mock: &Mock, method: &str, path: &str, body: Option<(&str, &str)>) -> Reply {
    let text = match body {
        Some((media, body)) => {
            format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: {media}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        }
        None => format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n"),
    };
    exchange(mock, &text).0
}
