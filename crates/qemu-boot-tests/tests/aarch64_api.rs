//! aarch64: the management API (issue 30) from outside, over QEMU's user
//! network with a forwarded port. The hypervisor (`API=y`) boots two VMs
//! (configs/api/): `shell`, Linux whose console is an interactive busybox
//! sh, and `power-button`, the probe waiting for its power button. Once it
//! prints its URL, `api/api_test.py` drives every call of the API, hostile
//! requests and the WebSocket console, then `api/browser_test.py` drives
//! the page in headless Chromium; both must end with `N passed, 0 failed`.
//! Last, every VM is stopped through the API, which still answers, and
//! `POST /api/shutdown` powers the hypervisor off.
//!
//! Ignored under plain `cargo test`; `make test` builds the image and runs
//! it with `--include-ignored`.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qemu_boot_tests::{Arch, image_dir, qemu_command, strip_ansi};

/// The hypervisor's boot up to its URL (the Linux VM boots beside it).
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// Each driver; Linux may still be booting when the first starts.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(600);
/// From the shutdown call to QEMU's exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
const URL_LINE: &str = "management API on http://";

#[test]
#[ignore = "needs images built by `make test`"]
fn the_api_and_the_page_drive_vms_from_outside() {
    let port = free_port();
    let token = fresh_token();
    let mut cmd = qemu_command(Arch::Aarch64, &image_dir().join("axvisor-aarch64-api.bin"), 2, "512M");
    cmd.args(["-netdev", &format!("user,id=up,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:80")])
        .args(["-device", "virtio-net-device,netdev=up"])
        .args(["-append", &format!("api.token={token}")]);
    let mut qemu = Qemu::start(cmd);
    if !qemu.wait_for(URL_LINE, BOOT_TIMEOUT) {
        let output = qemu.finish(Duration::ZERO);
        panic!("no {URL_LINE:?} line within {BOOT_TIMEOUT:?}; output was:\n{output}");
    }
    let base = format!("http://127.0.0.1:{port}");
    let drivers = Path::new(env!("CARGO_MANIFEST_DIR")).join("api");
    let upload = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/api/uploaded.toml");

    let api = run_driver(&drivers.join("api_test.py"), &[&base, &token, "--upload", &upload.to_string_lossy()]);
    let browser = match browser_missing() {
        Some(why) => DriverRun { output: why, status: None },
        None => run_driver(&drivers.join("browser_test.py"), &[&base, &token]),
    };
    let shutdown = run_driver(&drivers.join("api_test.py"), &[&base, &token, "--shutdown"]);
    let (output, status) = (qemu.finish(EXIT_TIMEOUT), qemu.status);

    let report = format!(
        "api_test.py:\n{}\nbrowser_test.py:\n{}\napi_test.py --shutdown:\n{}\nhypervisor:\n{output}",
        api.output, browser.output, shutdown.output
    );
    assert!(!output.contains("panicked at"), "the hypervisor panicked:\n{report}");
    for (name, run) in [("api_test.py", &api), ("browser_test.py", &browser), ("api_test.py --shutdown", &shutdown)] {
        assert!(run.all_passed(), "{name} did not pass every check:\n{report}");
    }
    assert!(output.contains("all VMs stopped"), "the hypervisor did not stop its VMs:\n{report}");
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("QEMU exited with {s}:\n{report}"),
        None => panic!("the hypervisor did not power off after POST /api/shutdown:\n{report}"),
    }
    eprintln!("{}", api.output.lines().last().unwrap_or_default());
    eprintln!("{}", browser.output.lines().last().unwrap_or_default());
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a port on 127.0.0.1");
    listener.local_addr().expect("the bound address").port()
}

/// A token no earlier run used.
fn fresh_token() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("t{nanos:x}{:x}", std::process::id())
}

/// Debian's python3 (which python3-selenium installs into) if present.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" }
}

/// Why the browser test cannot run here, if it cannot.
fn browser_missing() -> Option<String> {
    for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !Path::new(path).exists() {
            return Some(format!("browser test not run: {path} is missing (make setup installs it)"));
        }
    }
    let selenium = Command::new(python()).args(["-c", "import selenium"]).status();
    if !selenium.is_ok_and(|s| s.success()) {
        return Some(format!("browser test not run: {} cannot import selenium (make setup installs it)", python()));
    }
    None
}

/// A driver's output and exit status (`None`: killed at the timeout or
/// not run).
struct DriverRun {
    output: String,
    status: Option<ExitStatus>,
}

impl DriverRun {
    /// It exited 0 and its closing line says `N passed, 0 failed`, N > 0.
    fn all_passed(&self) -> bool {
        let last = self.output.lines().rev().find(|l| l.contains(" passed, "));
        let tally = last.and_then(|l| l.trim().strip_suffix(" passed, 0 failed")).and_then(|n| n.parse::<u32>().ok());
        self.status.is_some_and(|s| s.success()) && tally.is_some_and(|n| n > 0)
    }
}

/// Runs a Python driver, killed after [`DRIVER_TIMEOUT`].
fn run_driver(script: &Path, args: &[&str]) -> DriverRun {
    // Its own process group: a driver killed at the timeout takes its
    // browser along.
    let child = Command::new(python())
        .arg(script)
        .args(args)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} {}: {e}", python(), script.display()));
    let mut proc = Process::new(child);
    let status = proc.wait(DRIVER_TIMEOUT);
    let mut output = proc.output();
    if status.is_none() {
        output.push_str(&format!("\n(killed after {DRIVER_TIMEOUT:?})"));
    }
    DriverRun { output, status }
}

/// A child process whose stdout and stderr are collected as they come.
struct Process {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Process {
    fn new(mut child: Child) -> Self {
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for mut pipe in pipes.into_iter().flatten() {
            let sink = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().map(|mut out| out.extend_from_slice(&chunk[..n])).ok();
                }
            }));
        }
        Self { child, output, readers }
    }

    fn text(&self) -> String {
        let bytes = self.output.lock().map(|out| out.clone()).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&bytes))
    }

    /// Its exit status, or `None` after killing it at `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if start.elapsed() >= timeout => {
                    // The whole group, if it leads one (a driver); else this kills nothing.
                    let group = format!("-{}", self.child.id());
                    let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => panic!("waiting for a child process: {e}"),
            }
        }
    }

    /// All it printed, once it has ended (what came within 5 s of its end
    /// if something it started still holds its output open).
    fn output(&mut self) -> String {
        let start = Instant::now();
        while self.readers.iter().any(|r| !r.is_finished()) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.text()
    }
}

/// The hypervisor under QEMU, running while the drivers talk to it.
struct Qemu {
    process: Process,
    status: Option<ExitStatus>,
}

impl Qemu {
    fn start(mut cmd: Command) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        Self { process: Process::new(child), status: None }
    }

    /// Whether `line` shows within `timeout` (false at once if QEMU ended).
    fn wait_for(&mut self, line: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.process.text().contains(line) {
                return true;
            }
            if matches!(self.process.child.try_wait(), Ok(Some(_))) {
                return self.process.text().contains(line);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Waits up to `timeout` for QEMU to exit by itself (else kills it);
    /// everything it printed.
    fn finish(&mut self, timeout: Duration) -> String {
        self.status = self.process.wait(timeout);
        self.process.output()
    }
}

#[test]
fn a_driver_passes_only_with_zero_failed_and_status_zero() {
    let exit = |code: &str| Command::new("sh").args(["-c", &format!("exit {code}")]).status().ok();
    let run = |output: &str, status| DriverRun { output: output.into(), status };
    assert!(run("ok - x\n79 passed, 0 failed\n", exit("0")).all_passed());
    assert!(!run("ok - x\n78 passed, 1 failed\n", exit("1")).all_passed());
    assert!(!run("78 passed, 1 failed\n", exit("0")).all_passed());
    assert!(!run("79 passed, 0 failed\n", exit("1")).all_passed());
    assert!(!run("0 passed, 0 failed\n", exit("0")).all_passed());
    assert!(!run("browser test not run: /usr/bin/chromium is missing", None).all_passed());
}
