//! A development server: the management API on `127.0.0.1:PORT` against
//! fake VMs, so the page and the API tests can be worked on without QEMU.
//!
//! `cargo run -p mgmt-api --example dev_server -- [PORT] [TOKEN]`
//! (PORT defaults to 8080; TOKEN to `$API_TOKEN`, else `dev-token`).
//!
//! VM 1 "linux" runs and logs a line every 5 s; VM 2 "shell" runs a tiny
//! shell (`echo X` prints X, `help`); VM 3 "rtos" is stopped. Every console
//! echoes what is typed into it. Configs: linux.toml, shell.toml,
//! rtos.toml; a config text needs a `name = "..."` line, and
//! `cpu_num = 0` is refused, to try the 422 answers.

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mgmt_api::{Connection, Context, Limits, MAX_CONNECTIONS, busy_response};
use vm_control::{ConsoleLines, CreateError, LogLevel, Stopped, VmInfo, VmState, Vmm};

/// Lines each fake console keeps.
const KEEP: usize = 200;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Linux,
    Shell,
    Rtos,
}

struct FakeVm {
    info: VmInfo,
    kind: Kind,
    booted: Option<Instant>,
    /// The number of the first kept line, the kept lines, the line being typed.
    first: u64,
    lines: Vec<String>,
    typed: String,
}

impl FakeVm {
    fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
        if self.lines.len() > KEEP {
            self.lines.remove(0);
            self.first += 1;
        }
    }

    fn boot(&mut self) {
        self.info.state = VmState::Running;
        self.info.ended = None;
        self.booted = Some(Instant::now());
        match self.kind {
            Kind::Linux => {
                for line in [
                    "[    0.000000] Booting Linux on physical CPU 0x0",
                    "[    0.120000] Run /init as init process",
                    "Welcome to fake Linux",
                    "login: root (automatic)",
                ] {
                    self.say(line);
                }
            }
            Kind::Shell => {
                self.say("tiny shell ready: try 'echo hello' or 'help'");
                self.say("$ ");
            }
            Kind::Rtos => self.say("rtos: scheduler started"),
        }
    }

    /// A byte typed into the console.
    fn typed(&mut self, byte: u8) {
        match byte {
            b'\r' | b'\n' => {
                let line = std::mem::take(&mut self.typed);
                self.say(format!("$ {line}"));
                let reply = match (self.kind, line.trim()) {
                    (_, "") => None,
                    (Kind::Shell, "help") => Some("commands: echo TEXT, help".to_string()),
                    (Kind::Shell, cmd) if cmd == "echo" || cmd.starts_with("echo ") => {
                        Some(cmd[4..].trim_start().to_string())
                    }
                    (Kind::Shell, cmd) => Some(format!("unknown command: {cmd}")),
                    _ => None,
                };
                if let Some(reply) = reply {
                    self.say(reply);
                }
            }
            0x7f | 0x08 => {
                self.typed.pop();
            }
            0x20..=0x7e => self.typed.push(char::from(byte)),
            _ => {}
        }
    }
}

/// The fake VMM (single-threaded: the server loop is).
struct FakeVmm {
    vms: RefCell<Vec<FakeVm>>,
    next_id: Cell<usize>,
    last_tick: Cell<Instant>,
}

impl FakeVmm {
    fn new() -> Self {
        let vmm = Self {
            vms: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            last_tick: Cell::new(Instant::now()),
        };
        for kind in [Kind::Linux, Kind::Shell, Kind::Rtos] {
            let id = vmm.add(kind, None);
            if kind != Kind::Rtos {
                vmm.with(id, FakeVm::boot);
            }
        }
        vmm
    }

    fn add(&self, kind: Kind, name: Option<&str>) -> usize {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (default_name, vcpus, memory) = match kind {
            Kind::Linux => ("linux", 2, 256 << 20),
            Kind::Shell => ("shell", 1, 64 << 20),
            Kind::Rtos => ("rtos", 1, 16 << 20),
        };
        let info = VmInfo {
            id,
            name: name.unwrap_or(default_name).into(),
            state: VmState::Stopped,
            vcpus,
            memory,
            uptime_ms: 0,
            exits: 0,
            ended: None,
        };
        self.vms.borrow_mut().push(FakeVm {
            info,
            kind,
            booted: None,
            first: 0,
            lines: Vec::new(),
            typed: String::new(),
        });
        id
    }

    fn with<T>(&self, id: usize, f: impl FnOnce(&mut FakeVm) -> T) -> Option<T> {
        self.vms
            .borrow_mut()
            .iter_mut()
            .find(|vm| vm.info.id == id)
            .map(f)
    }

    /// Background life: the Linux VM logs a line every 5 s.
    fn tick(&self) {
        if self.last_tick.get().elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last_tick.set(Instant::now());
        for vm in self
            .vms
            .borrow_mut()
            .iter_mut()
            .filter(|vm| vm.kind == Kind::Linux && vm.info.state == VmState::Running)
        {
            let up = vm.booted.map_or(0.0, |t| t.elapsed().as_secs_f64());
            vm.say(format!("[{up:12.6}] heartbeat"));
        }
    }
}

impl Vmm for FakeVmm {
    fn vms(&self) -> Vec<VmInfo> {
        self.vms
            .borrow()
            .iter()
            .map(|vm| {
                let mut info = vm.info.clone();
                if let (VmState::Running, Some(t)) = (info.state, vm.booted) {
                    info.uptime_ms = t.elapsed().as_millis() as u64;
                    info.exits = info.uptime_ms * 7 / 3;
                }
                info
            })
            .collect()
    }
    fn console_lines(&self, id: usize) -> Vec<String> {
        self.with(id, |vm| {
            vm.lines.iter().rev().take(50).rev().cloned().collect()
        })
        .unwrap_or_default()
    }
    fn console_since(&self, id: usize, from: u64) -> Option<ConsoleLines> {
        self.with(id, |vm| {
            let next = vm.first + vm.lines.len() as u64;
            let first = from.clamp(vm.first, next);
            ConsoleLines {
                first,
                lines: vm.lines[(first - vm.first) as usize..].to_vec(),
                next,
            }
        })
    }
    fn console_input(&self, id: usize, bytes: &[u8]) -> Result<(), String> {
        self.with(id, |vm| {
            if vm.info.state == VmState::Running {
                bytes.iter().for_each(|&b| vm.typed(b));
            }
        })
        .ok_or_else(|| format!("no VM {id}"))
    }
    fn start(&self, id: usize) -> Result<(), String> {
        self.with(id, |vm| match vm.info.state {
            VmState::Stopped => {
                vm.boot();
                Ok(())
            }
            state => Err(format!("VM {id} is {state}")),
        })
        .unwrap_or_else(|| Err(format!("no VM {id}")))
    }
    fn stop(&self, id: usize) -> Result<Stopped, String> {
        self.with(id, |vm| {
            if vm.info.state == VmState::Stopped {
                return Err(format!("VM {id} is already stopped"));
            }
            vm.info.state = VmState::Stopped;
            vm.booted = None;
            Ok(if vm.kind == Kind::Rtos {
                vm.info.ended = Some("stopped by force (it has no power button)".into());
                Stopped::Forced { waited_ms: None }
            } else {
                vm.say("reboot: Power down");
                vm.info.ended =
                    Some("powered off by its guest 850 ms after the power button".into());
                Stopped::Gracefully { ms: 850 }
            })
        })
        .unwrap_or_else(|| Err(format!("no VM {id}")))
    }
    fn configs(&self) -> Vec<String> {
        vec!["linux.toml".into(), "shell.toml".into(), "rtos.toml".into()]
    }
    fn create(&self, path: &str) -> Result<usize, CreateError> {
        let kind = match path {
            "linux.toml" => Kind::Linux,
            "shell.toml" => Kind::Shell,
            "rtos.toml" => Kind::Rtos,
            _ => {
                return Err(CreateError::new(
                    path,
                    "no such config (try linux.toml, shell.toml or rtos.toml)",
                ));
            }
        };
        let id = self.add(kind, None);
        self.with(id, FakeVm::boot);
        Ok(id)
    }
    fn create_from_text(&self, file: &str, text: &str) -> Result<usize, CreateError> {
        let field = |key: &str| {
            text.lines().find_map(|line| {
                let (k, v) = line.split_once('=')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        let Some(name) = field("name") else {
            return Err(CreateError {
                file: file.into(),
                field: Some("base.name".into()),
                value: None,
                message: "missing field 'name'".into(),
            });
        };
        if let Some(cpus) = field("cpu_num").filter(|v| v == "0") {
            return Err(CreateError {
                file: file.into(),
                field: Some("base.cpu_num".into()),
                value: Some(cpus),
                message: "a VM needs at least one vCPU".into(),
            });
        }
        let id = self.add(Kind::Shell, Some(name.trim_matches('"')));
        self.with(id, FakeVm::boot);
        Ok(id)
    }
    fn delete(&self, id: usize) -> Result<(), String> {
        let mut vms = self.vms.borrow_mut();
        match vms.iter().position(|vm| vm.info.id == id) {
            Some(i) if vms[i].info.state == VmState::Stopped => {
                vms.remove(i);
                Ok(())
            }
            Some(_) => Err(format!("VM {id} is not stopped")),
            None => Err(format!("no VM {id}")),
        }
    }
    fn set_log_level(&self, _level: LogLevel) {}
    fn free_memory(&self) -> u64 {
        let used: u64 = self.vms.borrow().iter().map(|vm| vm.info.memory).sum();
        (1u64 << 30).saturating_sub(used)
    }
    fn shutdown(&self) {
        println!("dev server: shutdown asked for (ignored: the dev server keeps serving)");
    }
}

/// Moves bytes between a socket and its connection; `false` once it is done.
fn serve(stream: &mut TcpStream, conn: &mut Connection, ctx: &Context, now_ms: u64) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => conn.receive(&buf[..n], ctx, now_ms),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    while !conn.output().is_empty() {
        match stream.write(conn.output()) {
            Ok(0) => return false,
            Ok(n) => conn.sent(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    !(conn.closing() && (conn.output().is_empty() || conn.output().len() > ctx.limits.max_output))
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = match args.next() {
        Some(text) => text.parse().map_err(|_| {
            std::io::Error::new(ErrorKind::InvalidInput, "PORT is not a port number")
        })?,
        None => 8080,
    };
    let token = args
        .next()
        .or_else(|| std::env::var("API_TOKEN").ok())
        .unwrap_or_else(|| "dev-token".into());
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    println!("dev_server: management API on http://127.0.0.1:{port}/ (token: {token})");

    let vmm = FakeVmm::new();
    let ctx = Context {
        vmm: &vmm,
        token: &token,
        limits: Limits::default(),
    };
    let epoch = Instant::now();
    let mut conns: Vec<(TcpStream, Connection)> = Vec::new();
    let mut last_tick = 0;
    loop {
        let now_ms = epoch.elapsed().as_millis() as u64;
        loop {
            match listener.accept() {
                Ok((mut stream, _)) if conns.len() >= MAX_CONNECTIONS => {
                    let _ = stream.write_all(busy_response());
                }
                Ok((stream, _)) => {
                    stream.set_nonblocking(true)?;
                    let _ = stream.set_nodelay(true);
                    conns.push((stream, Connection::new(now_ms)));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => eprintln!("dev_server: accept: {e}"),
            }
        }
        vmm.tick();
        let tick = now_ms >= last_tick + 50;
        if tick {
            last_tick = now_ms;
        }
        conns.retain_mut(|(stream, conn)| {
            if tick {
                conn.tick(&ctx, now_ms);
            }
            serve(stream, conn, &ctx, now_ms)
        });
        std::thread::sleep(Duration::from_millis(5));
    }
}
