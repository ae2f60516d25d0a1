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

pub mod net;
pub mod storage;

/// Architectures the harness can boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// aarch64 on `virt` with EL2 and GICv2.
    Aarch64,
    /// aarch64 on `virt` with EL2 and GICv3 (hypervisor built with
    /// `GIC=3`).
    Aarch64Gic3,
    /// riscv64 on `virt` with OpenSBI and the H extension.
    Riscv64,
    /// x86_64 on `q35`, TCG with AMD SVM and nested paging.
    X86_64,
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

    /// Panics unless the probe guest reported exactly these passed and
    /// skipped checks (in order), no failure, and the matching tally.
    pub fn assert_probe_suite(&self, passed: &[&str], skipped: &[&str]) {
        let report = ProbeReport::parse(&self.output);
        let output = &self.output;
        assert!(report.failed.is_empty(), "failed checks: {:#?}\noutput:\n{output}", report.failed);
        assert_eq!(report.passed, passed, "output:\n{output}");
        assert_eq!(report.skipped, skipped, "output:\n{output}");
        let tally = (passed.len() as u32, 0, skipped.len() as u32);
        assert_eq!(report.tally, Some(tally), "output:\n{output}");
    }

    /// Panics unless QEMU exited by itself with status 0 and nothing in
    /// the hypervisor panicked (a panicking ArceOS powers QEMU off with
    /// status 0 too).
    pub fn assert_clean_exit(&self) {
        assert!(!self.output.contains("panicked at"), "the hypervisor panicked; output was:\n{}", self.output);
        match self.status {
            Some(s) if s.success() => {}
            Some(s) => panic!("QEMU exited with {s}; output was:\n{}", self.output),
            None => panic!("QEMU did not finish before the timeout; output was:\n{}", self.output),
        }
    }
}

/// The aarch64 probe suite's checks that run inside the guest (7 is its
/// own VM, 8 is checked from the host side), in order; the same on GICv2
/// and GICv3.
pub const AARCH64_PROBE_CHECKS: [&str; 9] = [
    "hypercall",
    "emulated-mmio",
    "virtual-timer-interrupt",
    "wfi-wakeup",
    "smp-cpu-on-ipi",
    "psci-version-features",
    "device-interrupt",
    "gic-conformance",
    "physical-timer-cyclic",
];

/// Directory holding the test images (`AXVISOR_TEST_IMAGES`).
pub fn image_dir() -> PathBuf {
    match std::env::var_os("AXVISOR_TEST_IMAGES") {
        Some(dir) => PathBuf::from(dir),
        None => panic!("AXVISOR_TEST_IMAGES is not set: run these tests through `make test`"),
    }
}

/// The hypervisor's closing line for VM `id` named `name`: it ended `how`.
pub fn vm_ended(id: u32, name: &str, how: &str) -> String {
    format!("axvisor: VM[{id}] {name}: {how}")
}

/// The hypervisor's closing line for VM `id` whose vCPU 0 stopped it on a
/// fault, `what` naming the fault.
pub fn vm_fault(id: u32, name: &str, what: &str) -> String {
    vm_ended(id, name, &format!("stopped on a fault: VM[{id}] vCPU[0]: {what}"))
}

/// The QEMU command line that boots the hypervisor `image` on `arch`.
pub fn qemu_command(arch: Arch, image: &Path, smp: usize, mem: &str) -> Command {
    machine_command(arch, true, image, smp, mem)
}

/// The QEMU command line that boots a guest kernel bare (aarch64: EL1 with
/// no EL2 on the machine; riscv64: S-mode under OpenSBI, no H extension),
/// starting at `entry` when given instead of the ELF's entry point
/// (aarch64 only: on riscv64 the firmware picks the entry; x86_64 takes
/// the raw Multiboot image, entered at its header's entry).
pub fn bare_command(arch: Arch, elf: &Path, smp: usize, mem: &str, entry: Option<u64>) -> Command {
    let mut cmd = machine_command(arch, false, elf, smp, mem);
    if let Some(pc) = entry {
        cmd.args(["-device", &format!("loader,addr={pc:#x},cpu-num=0")]);
    }
    cmd
}

/// Attaches `disk` (a raw image) as a virtio-blk device.
pub fn attach_disk(cmd: &mut Command, disk: &Path) {
    cmd.arg("-drive")
        .arg(format!("file={},if=none,format=raw,id=disk0", disk.display()))
        .args(["-device", "virtio-blk-device,drive=disk0"]);
}

/// Reads the probe's `bench name=NAME iters=.. ticks=..` line from a run's
/// output: (iters, ticks).
pub fn bench_line(output: &str, name: &str) -> Option<(u64, u64)> {
    let line = output.lines().find(|l| l.contains(&format!("bench name={name} ")))?;
    let field = |key: &str| line.split_whitespace().find_map(|f| f.strip_prefix(key)).and_then(|v| v.parse().ok());
    Some((field("iters=")?, field("ticks=")?))
}

/// Boots `image`, the probe's shared-CPU mode with two vCPUs on one CPU
/// (`-smp 1`, guest time in instructions), and checks it: 1,000 switches
/// by IPI ping-pong finish, and with the other vCPU spinning, interrupts
/// masked, all 64 timer interrupts come, on average within 1 ms (`ms_ticks`
/// counter ticks): the spinner is preempted at the waiting vCPU's deadline,
/// not at the end of its slice.
pub fn assert_shared_cpu_bench(arch: Arch, image: &Path, ms_ticks: u64) {
    let mut cmd = qemu_command(arch, image, 1, "256M");
    count_instructions(&mut cmd);
    let run = run(cmd, Duration::from_secs(120));
    assert!(!run.output.contains("error="), "output:\n{}", run.output);
    let (switches, _) = bench_line(&run.output, "vcpu_switch").unwrap_or_else(|| panic!("no switch figure:\n{}", run.output));
    assert_eq!(switches, 1000);
    let (samples, ticks) =
        bench_line(&run.output, "timer_latency_shared").unwrap_or_else(|| panic!("no timer figure:\n{}", run.output));
    assert_eq!(samples, 64);
    assert!(ticks / samples < ms_ticks, "mean latency {} ticks:\n{}", ticks / samples, run.output);
    run.assert_line("bench done");
    run.assert_line("axvisor: VM[1] probe-shared: powered off");
    run.assert_clean_exit();
}

/// Makes guest-visible time count executed instructions (one per
/// nanosecond), so figures repeat exactly run to run.
pub fn count_instructions(cmd: &mut Command) {
    cmd.args(["-icount", "shift=0,sleep=off"]);
}

/// The QEMU command line that boots a raw guest `image` bare on aarch64:
/// loaded at `load` and started there at EL1, like its VM would.
pub fn bare_raw_command(image: &Path, load: u64, smp: usize, mem: &str) -> Command {
    let mut cmd = machine(Arch::Aarch64, false, smp, mem);
    cmd.arg("-device").arg(format!("loader,file={},addr={load:#x},force-raw=on", image.display()));
    cmd.args(["-device", &format!("loader,addr={load:#x},cpu-num=0")]);
    cmd
}

/// The QEMU command line that starts aarch64 `firmware` (U-Boot) at EL2,
/// which then boots the hypervisor from a disk.
pub fn firmware_command(firmware: &Path, smp: usize, mem: &str) -> Command {
    let mut cmd = machine(Arch::Aarch64, true, smp, mem);
    cmd.arg("-bios").arg(firmware);
    cmd
}

fn machine_command(arch: Arch, virtualization: bool, image: &Path, smp: usize, mem: &str) -> Command {
    let mut cmd = machine(arch, virtualization, smp, mem);
    cmd.arg("-kernel").arg(image);
    cmd
}

fn machine(arch: Arch, virtualization: bool, smp: usize, mem: &str) -> Command {
    let mut cmd = match arch {
        Arch::Aarch64 | Arch::Aarch64Gic3 => {
            let mut c = Command::new("qemu-system-aarch64");
            let virt = if virtualization { "on" } else { "off" };
            let gic = if arch == Arch::Aarch64Gic3 { 3 } else { 2 };
            c.args(["-machine", &format!("virt,virtualization={virt},gic-version={gic}"), "-cpu", "cortex-a72"]);
            c
        }
        Arch::X86_64 => {
            let mut c = Command::new("qemu-system-x86_64");
            let cpu = if virtualization { "qemu64,+svm,+npt" } else { "qemu64" };
            c.args(["-machine", "q35", "-cpu", cpu]);
            if virtualization {
                // One TCG thread for all CPUs: with one thread per CPU, a
                // guest's VMCB now and then (some 3 % of runs with several
                // VMs) holds the host's state after a VMRUN; never seen
                // single-threaded (0 of 60 runs of the same images).
                c.args(["-accel", "tcg,thread=single"]);
            }
            c
        }
        Arch::Riscv64 => {
            let mut c = Command::new("qemu-system-riscv64");
            let h = if virtualization { "true" } else { "false" };
            c.args(["-machine", "virt", "-bios", "default", "-cpu", &format!("rv64,h={h}")]);
            c
        }
    };
    // No network device: QEMU would otherwise add one with unrestricted
    // user networking.
    cmd.args(["-m", mem, "-smp", &smp.to_string(), "-nographic", "-monitor", "none", "-serial", "stdio", "-nic", "none"]);
    cmd
}

/// What the probe guest reported: its `ok`/`not ok` lines and closing tally.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Names of the checks that printed `ok N name` (skips excluded).
    pub passed: Vec<String>,
    /// Whole `not ok ...` lines.
    pub failed: Vec<String>,
    /// Names of skipped checks.
    pub skipped: Vec<String>,
    /// The closing `P passed, F failed, S skipped` numbers, if printed.
    pub tally: Option<(u32, u32, u32)>,
}

impl ProbeReport {
    /// Reads the probe's lines out of a console log (other lines ignored).
    pub fn parse(output: &str) -> Self {
        let mut report = Self::default();
        for line in output.lines().map(str::trim).map(without_vm_prefix) {
            if line.starts_with("not ok") {
                report.failed.push(line.to_string());
            } else if let Some(rest) = line.strip_prefix("ok ") {
                let name = rest.split_whitespace().nth(1).unwrap_or_default().to_string();
                if rest.contains("# skip") {
                    report.skipped.push(name);
                } else {
                    report.passed.push(name);
                }
            } else if let Some(tally) = parse_tally(line) {
                report.tally = Some(tally);
            }
        }
        report
    }
}

/// A guest's console line without the `[ID NAME] ` its VM's console puts
/// before it.
pub fn without_vm_prefix(line: &str) -> &str {
    let Some((head, rest)) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) else { return line };
    match head.split_once(' ') {
        Some((id, name)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !name.contains(' ') => rest,
        _ => line,
    }
}

fn parse_tally(line: &str) -> Option<(u32, u32, u32)> {
    let mut numbers = [0u32; 3];
    let parts: Vec<&str> = line.split(", ").collect();
    if parts.len() != 3 {
        return None;
    }
    for ((part, word), slot) in parts.iter().zip(["passed", "failed", "skipped"]).zip(&mut numbers) {
        *slot = part.strip_suffix(word)?.trim().parse().ok()?;
    }
    Some((numbers[0], numbers[1], numbers[2]))
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
pub fn run(cmd: Command, timeout: Duration) -> Run {
    run_script(cmd, &[], timeout)
}

/// Runs `cmd` with its console driven by `script`: each `(expect, send)`
/// waits (within `timeout` in all) until the output since the previous
/// step shows `expect`, then types `send`. After the script its input
/// ends and QEMU runs until it exits or the timeout passes (then it is
/// killed). A step whose `expect` never shows ends the script, so the
/// returned output says where it stopped.
pub fn run_script(mut cmd: Command, script: &[(&str, &str)], timeout: Duration) -> Run {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let output = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let sink = output.clone();
    let out_reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().map(|mut out| out.extend_from_slice(&chunk[..n])).ok();
        }
    });
    let mut stderr = child.stderr.take().expect("stderr was piped");
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let mut seen = 0;
    for (expect, send) in script {
        let found = loop {
            // Raw bytes: the shell's lines carry no colour codes.
            let at = output.lock().ok().and_then(|out| {
                out[seen..].windows(expect.len().max(1)).position(|w| w == expect.as_bytes()).map(|at| seen + at + expect.len())
            });
            if let Some(end) = at {
                // The next step looks only at what comes after this match.
                seen = end;
                break true;
            }
            if start.elapsed() >= timeout || matches!(child.try_wait(), Ok(Some(_))) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !found {
            break;
        }
        // Typed a byte at a time, as a person would, so that the guest's
        // 16-32 byte receive FIFOs are never overrun.
        for byte in send.bytes() {
            let _ = stdin.write_all(&[byte]);
            let _ = stdin.flush();
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    drop(stdin);
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
    let _ = out_reader.join();
    let mut bytes = output.lock().map(|out| out.clone()).unwrap_or_default();
    bytes.extend(err_reader.join().unwrap_or_default());
    Run { output: strip_ansi(&String::from_utf8_lossy(&bytes)), status, elapsed: start.elapsed() }
}

/// A fresh sparse copy of the built image `image` as `name`, both in
/// [`image_dir`]: a test that writes to a disk leaves the built one alone.
pub fn fresh_copy(image: &str, name: &str) -> PathBuf {
    let copy = image_dir().join(name);
    let status = Command::new("cp")
        .arg("--sparse=always")
        .arg(image_dir().join(image))
        .arg(&copy)
        .status()
        .unwrap_or_else(|e| panic!("cannot run cp: {e}"));
    assert!(status.success(), "copying {image} failed");
    copy
}

/// The file at `path` of the FAT partition (at 1 MiB) of the boot disk
/// `disk`, read with mtools.
pub fn boot_disk_file(disk: &Path, path: &str) -> Vec<u8> {
    let out = Command::new("mtype")
        .arg("-i")
        .arg(format!("{}@@1M", disk.display()))
        .arg(format!("::{path}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run mtype: {e}"));
    assert!(out.status.success(), "mtype {path} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
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
    fn probe_report_reads_checks_and_tally() {
        let log = "noise\nok 1 hypercall # skip: needs the hypervisor\nok 2 emulated-mmio\n\
                   not ok 3 virtual-timer-interrupt: no timer interrupt within 1 s (saw 0x0)\n\
                   [ 0.1 info] 3 passed, no\n1 passed, 1 failed, 1 skipped\n";
        let report = ProbeReport::parse(log);
        assert_eq!(report.passed, ["emulated-mmio"]);
        assert_eq!(report.skipped, ["hypercall"]);
        assert_eq!(report.failed.len(), 1);
        assert!(report.failed[0].contains("virtual-timer-interrupt"));
        assert_eq!(report.tally, Some((1, 1, 1)));
        assert_eq!(ProbeReport::parse("nothing here").tally, None);
    }

    #[test]
    fn probe_report_reads_lines_behind_a_vm_console_prefix() {
        let log = "[1 probe] ok 1 hypercall\n[12 probe-two] not ok 2 emulated-mmio: x (saw 0x1)\n\
                   [  0.5 0:2 axvisor] ok 3 not-a-guest-line\n[1 probe] 1 passed, 1 failed, 0 skipped\n";
        let report = ProbeReport::parse(log);
        assert_eq!(report.passed, ["hypercall"]);
        assert_eq!(report.failed, ["not ok 2 emulated-mmio: x (saw 0x1)"]);
        assert_eq!(report.tally, Some((1, 1, 0)));
    }

    #[test]
    fn bare_command_sets_the_start_address() {
        let cmd = bare_command(Arch::Aarch64, Path::new("p.elf"), 2, "256M", Some(0x4020_0004));
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args.contains(&"virt,virtualization=off,gic-version=2".to_string()));
        assert!(args.contains(&"loader,addr=0x40200004,cpu-num=0".to_string()));
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
