//! `make bench`: runs the probe guest's benchmarks under the hypervisor and
//! bare, both under QEMU with `-icount shift=0,sleep=off`, prints a table
//! and writes JSON.
//!
//! usage: probe-bench --arch aarch64|riscv64 --hypervisor IMAGE --bare ELF --out FILE
//!        [--linux-hypervisor IMAGE --linux-kernel IMAGE --linux-initrd CPIO]
//!
//! With the Linux options it also boots Linux on two CPUs both ways.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use probe_bench::{BenchError, Provenance, Samples, figures, json, linux_figure, table, wall_figure};
use qemu_boot_tests::{Arch, Run, bare_command, count_instructions, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(300);

struct Args {
    hypervisor: PathBuf,
    bare: PathBuf,
    arch: Arch,
    out: PathBuf,
    linux: Option<LinuxArgs>,
}

/// The Linux runs: the hypervisor with the Linux VM, and the same kernel
/// and initramfs bare.
struct LinuxArgs {
    hypervisor: PathBuf,
    kernel: PathBuf,
    initrd: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut hypervisor, mut bare, mut arch, mut out) = (None, None, None, None);
    let (mut linux_hv, mut linux_kernel, mut linux_initrd) = (None, None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--hypervisor" => hypervisor = Some(PathBuf::from(value)),
            "--bare" => bare = Some(PathBuf::from(value)),
            "--arch" => {
                arch = Some(match value.as_str() {
                    "aarch64" => Arch::Aarch64,
                    "riscv64" => Arch::Riscv64,
                    other => return Err(format!("--arch {other}: aarch64 or riscv64")),
                })
            }
            "--out" => out = Some(PathBuf::from(value)),
            "--linux-hypervisor" => linux_hv = Some(PathBuf::from(value)),
            "--linux-kernel" => linux_kernel = Some(PathBuf::from(value)),
            "--linux-initrd" => linux_initrd = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Args {
        hypervisor: hypervisor.ok_or("--hypervisor is required")?,
        bare: bare.ok_or("--bare is required")?,
        arch: arch.ok_or("--arch is required")?,
        out: out.ok_or("--out is required")?,
        linux: match (linux_hv, linux_kernel, linux_initrd) {
            (Some(hypervisor), Some(kernel), Some(initrd)) => Some(LinuxArgs { hypervisor, kernel, initrd }),
            (None, None, None) => None,
            _ => return Err("--linux-hypervisor, --linux-kernel and --linux-initrd go together".into()),
        },
    })
}

fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text += &arg.to_string_lossy();
    }
    text
}

fn checked_run(what: &'static str, cmd: Command) -> Result<(Run, String), String> {
    let line = describe(&cmd);
    let result = run(cmd, TIMEOUT);
    if !matches!(result.status, Some(s) if s.success()) {
        return Err(format!("the {what} run did not exit cleanly ({:?}); output:\n{}", result.status, result.output));
    }
    Ok((result, line))
}

/// The bare run of the probe in its benchmark mode: on aarch64 the first
/// CPU starts at the image's benchmark entry (+4); on riscv64, where the
/// firmware picks the entry, a mailbox word (the probe's `MODE_MAILBOX`,
/// "MODE" magic, mode 1) says the mode.
fn bare_bench_command(arch: Arch, elf: &std::path::Path) -> Command {
    match arch {
        Arch::Aarch64 => bare_command(arch, elf, 1, "256M", Some(0x4020_0004)),
        Arch::Riscv64 => {
            let mut cmd = bare_command(arch, elf, 1, "256M", None);
            let mailbox = format!("loader,addr=0x81000000,data={:#x},data-len=8", (1u64 << 32) | 0x4d4f_4445);
            cmd.args(["-device", &mailbox]);
            cmd
        }
    }
}

fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "aarch64",
        Arch::Riscv64 => "riscv64",
    }
}

fn qemu_version(arch: Arch) -> String {
    Command::new(format!("qemu-system-{}", arch_name(arch)))
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("probe-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench() -> Result<(), String> {
    let args = parse_args()?;
    let mut hv_cmd = qemu_command(args.arch, &args.hypervisor, 1, "256M");
    count_instructions(&mut hv_cmd);
    let mut bare_cmd = bare_bench_command(args.arch, &args.bare);
    count_instructions(&mut bare_cmd);
    let (hv_run, hv_line) = checked_run("hypervisor", hv_cmd)?;
    let (bare_run, bare_line) = checked_run("bare", bare_cmd)?;
    let report = || -> Result<_, BenchError> {
        let hv = Samples::parse("hypervisor", &hv_run.output)?;
        let bare = Samples::parse("bare", &bare_run.output)?;
        figures(&hv, &bare)
    };
    let mut figures = report().map_err(|e| e.to_string())?;
    figures.push(wall_figure(
        "wall_time",
        "probe: whole QEMU run, wall clock",
        hv_run.elapsed.as_secs_f64(),
        bare_run.elapsed.as_secs_f64(),
    ));
    let mut runs = vec![("hypervisor", hv_line), ("bare", bare_line)];
    if let Some(linux) = &args.linux {
        let mut hv_cmd = qemu_command(Arch::Aarch64, &linux.hypervisor, 2, "256M");
        count_instructions(&mut hv_cmd);
        let mut bare_cmd = bare_command(Arch::Aarch64, &linux.kernel, 2, "256M", None);
        bare_cmd.arg("-initrd").arg(&linux.initrd).args(["-append", "console=ttyAMA0 panic=-1"]);
        count_instructions(&mut bare_cmd);
        let (hv_run, hv_line) = checked_run("Linux hypervisor", hv_cmd)?;
        let (bare_run, bare_line) = checked_run("Linux bare", bare_cmd)?;
        figures.push(linux_figure(&hv_run.output, &bare_run.output).map_err(|e| e.to_string())?);
        figures.push(wall_figure(
            "linux_wall_time",
            "Linux: whole QEMU run, wall clock",
            hv_run.elapsed.as_secs_f64(),
            bare_run.elapsed.as_secs_f64(),
        ));
        runs.push(("linux_hypervisor", hv_line));
        runs.push(("linux_bare", bare_line));
    }
    let qemu = qemu_version(args.arch);
    print!("{}", table(&figures));
    println!("QEMU: {qemu}; guest time in instructions (-icount shift=0,sleep=off)");
    let command = format!("make ARCH={} bench", arch_name(args.arch));
    let provenance = Provenance { arch: arch_name(args.arch), qemu: &qemu, command: &command, runs: &runs };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&args.out, json(&provenance, &figures)).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}
