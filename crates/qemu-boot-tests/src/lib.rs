//! A small harness for integration tests that boot a hypervisor image under
//! QEMU: starts QEMU with the machine the hypervisor needs, bounds the run
//! with a timeout, and returns the console output and exit status.
//!
//! The images are built by `make test` and found through the environment
//! variable `AXVISOR_TEST_IMAGES` (a directory).
#![deny(unsafe_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Architectures the harness can boot.
#[derive(Debug, Clone, Copy)]
pub enum Arch {
    /// aarch64 on `virt` with EL2 and GICv2.
    Aarch64,
}

/// The outcome of one QEMU run.
#[derive(Debug)]
pub struct Run {
    /// Console output (stdout and stderr), with colour codes removed.
    pub output: String,
    /// QEMU's exit status, or `None` if it was killed at the timeout.
    pub status: Option<ExitStatus>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Run {
    /// Panics, showing the whole output, unless `line` appears in it.
    pub fn assert_line(&self, line: &str) {
        assert!(
            self.output.lines().any(|l| l.contains(line)),
            "expected a line containing {line:?}; output was:\n{}",
            self.output
        );
    }

    /// Panics unless QEMU exited by itself with status 0.
    pub fn assert_clean_exit(&self) {
        match self.status {
            Some(s) if s.success() => {}
            Some(s) => panic!("QEMU exited with {s}; output was:\n{}", self.output),
            None => panic!("QEMU did not finish before the timeout; output was:\n{}", self.output),
        }
    }
}

/// Directory holding the test images (`AXVISOR_TEST_IMAGES`).
pub fn image_dir() -> PathBuf {
    match std::env::var_os("AXVISOR_TEST_IMAGES") {
        Some(dir) => PathBuf::from(dir),
        None => panic!("AXVISOR_TEST_IMAGES is not set: run these tests through `make test`"),
    }
}

/// The QEMU command line that boots `image` on `arch`.
pub fn qemu_command(arch: Arch, image: &Path, smp: usize, mem: &str) -> Command {
    let mut cmd = match arch {
        Arch::Aarch64 => {
            let mut c = Command::new("qemu-system-aarch64");
            c.args(["-machine", "virt,virtualization=on,gic-version=2", "-cpu", "cortex-a72"]);
            c
        }
    };
    cmd.args(["-m", mem, "-smp", &smp.to_string(), "-nographic", "-monitor", "none", "-serial", "stdio"])
        .arg("-kernel")
        .arg(image);
    cmd
}

/// Removes ANSI colour sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `cmd` until it exits or `timeout` passes (then kills it).
pub fn run(mut cmd: Command, timeout: Duration) -> Run {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let mut stderr = child.stderr.take().expect("stderr was piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for QEMU: {e}"),
        }
    };
    let mut bytes = out_reader.join().unwrap_or_default();
    bytes.extend(err_reader.join().unwrap_or_default());
    Run {
        output: strip_ansi(&String::from_utf8_lossy(&bytes)),
        status,
        elapsed: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_codes() {
        assert_eq!(strip_ansi("\u{1b}[37m[ 0.1 ]\u{1b}[m ok"), "[ 0.1 ] ok");
    }

    #[test]
    fn timeout_kills_and_reports_no_status() {
        let mut cmd = Command::new("sleep");
        cmd.arg("5");
        let run = run(cmd, Duration::from_millis(200));
        assert!(run.status.is_none());
        assert!(run.elapsed < Duration::from_secs(4));
    }

    #[test]
    fn captures_output_and_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hello; exit 3"]);
        let run = run(cmd, Duration::from_secs(5));
        run.assert_line("hello");
        assert_eq!(run.status.and_then(|s| s.code()), Some(3));
    }
}
