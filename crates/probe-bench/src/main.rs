//! `make bench`: runs the probe guest's benchmarks under the hypervisor and
//! bare, both under QEMU with `-icount shift=0,sleep=off`, prints a table
//! and writes JSON.
//!
//! usage: probe-bench --arch aarch64|aarch64-gicv3|riscv64|x86_64 [--hypervisor IMAGE --bare ELF] --out FILE
//!        [--linux-hypervisor IMAGE --linux-kernel IMAGE --linux-initrd CPIO]
//!        [--blk-hypervisor IMAGE --blk-boot-disk DISK --blk-image RAW --blk-kernel IMAGE --blk-initrd CPIO]
//!        [--boot-image GUEST_MIB=IMAGE]... [--boot-dtb HOST_MEM=DTB]...
//!        [--boot-bare IMAGE@LOAD_ADDR] [--shared-hypervisor IMAGE]
//!        [--net-hypervisor IMAGE --net-bare-script SCRIPT]
//!        [--channel-hypervisor IMAGE [--channel-baseline IMAGE]]
//!
//! With the Linux options it also boots Linux on two CPUs both ways. With
//! boot images (a hypervisor embedding the ArceOS hello guest with that much
//! RAM) it measures reset -> the guest's hello line for each run of
//! `BOOT_RUNS` it has an image for, with the host device tree given for
//! that host RAM size, and the guest bare (raw image started at its load
//! address). With a shared-CPU image (the probe's mode 18 with two vCPUs
//! on one CPU) it measures a vCPU switch and the timer latency beside
//! a spinning vCPU, against the same mode bare on two CPUs. With the blk
//! options (aarch64) it runs the Linux block benchmark (see `blk.rs`):
//! under the FS=y hypervisor image with the boot disk holding the raw
//! image, and bare with that kernel and initramfs on QEMU's own
//! virtio-blk over the raw image, each on a fresh copy. With the net
//! options (aarch64) it runs the Linux network benchmark (see `net.rs`):
//! the hypervisor image with the two network VMs, and the script that runs
//! the same two guests bare (scripts/net-bare-baseline.sh). With a channel
//! image (two probe VMs sharing a channel, on two CPUs) it times the
//! channel round trip (see `channel.rs`), beside the IPI ping-pong of two
//! vCPUs of one VM on two CPUs (the baseline image). Without
//! `--hypervisor`/`--bare` the probe's runs are left out.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use probe_bench::{
    BOOT_RUNS, BenchError, Distribution, Provenance, Samples, blk_figures, channel_figures, boot_figures, distributions, hello_time,
    json_with_distributions, linux_figure, net_figures, shared_figures, table, wall_figure,
};
use qemu_boot_tests::{Arch, Run, attach_disk, bare_command, bare_raw_command, count_instructions, qemu_command, run};

const TIMEOUT: Duration = Duration::from_secs(300);

struct Args {
    probe: Option<(PathBuf, PathBuf)>,
    arch: Arch,
    out: PathBuf,
    linux: Option<LinuxArgs>,
    blk: Option<BlkArgs>,
    boot: BootArgs,
    shared: Option<PathBuf>,
    net: Option<NetArgs>,
    channel: Option<(PathBuf, Option<PathBuf>)>,
}

/// The network benchmark runs: the hypervisor with the two network VMs,
/// and the script running the same guests bare.
struct NetArgs {
    hypervisor: PathBuf,
    bare_script: PathBuf,
}

/// The boot runs: hypervisor images by guest RAM in MiB, host device
/// trees by `-m` value, the guest's raw image and load address bare.
#[derive(Default)]
struct BootArgs {
    images: Vec<(u32, PathBuf)>,
    dtbs: Vec<(String, PathBuf)>,
    bare: Option<(PathBuf, u64)>,
}

fn key_path(flag: &str, value: &str) -> Result<(String, PathBuf), String> {
    let (key, path) = value.split_once('=').ok_or(format!("{flag} {value}: expected KEY=PATH"))?;
    Ok((key.to_string(), PathBuf::from(path)))
}

/// The Linux runs: the hypervisor with the Linux VM, and the same kernel
/// and initramfs bare.
struct LinuxArgs {
    hypervisor: PathBuf,
    kernel: PathBuf,
    initrd: PathBuf,
}

/// The block benchmark runs: the FS=y hypervisor, its boot disk with
/// the raw image on it, and that raw image, kernel and initramfs bare.
struct BlkArgs {
    hypervisor: PathBuf,
    boot_disk: PathBuf,
    image: PathBuf,
    kernel: PathBuf,
    initrd: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut hypervisor, mut bare, mut arch, mut out) = (None, None, None, None);
    let (mut linux_hv, mut linux_kernel, mut linux_initrd) = (None, None, None);
    let mut boot = BootArgs::default();
    let mut shared = None;
    let (mut channel, mut channel_baseline) = (None, None);
    let mut blk: [Option<PathBuf>; 5] = Default::default();
    let (mut net_hv, mut net_script) = (None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--hypervisor" => hypervisor = Some(PathBuf::from(value)),
            "--bare" => bare = Some(PathBuf::from(value)),
            "--arch" => {
                arch = Some(match value.as_str() {
                    "aarch64" => Arch::Aarch64,
                    "aarch64-gicv3" => Arch::Aarch64Gic3,
                    "riscv64" => Arch::Riscv64,
                    "x86_64" => Arch::X86_64,
                    other => return Err(format!("--arch {other}: aarch64, aarch64-gicv3, riscv64 or x86_64")),
                })
            }
            "--out" => out = Some(PathBuf::from(value)),
            "--linux-hypervisor" => linux_hv = Some(PathBuf::from(value)),
            "--linux-kernel" => linux_kernel = Some(PathBuf::from(value)),
            "--linux-initrd" => linux_initrd = Some(PathBuf::from(value)),
            "--boot-image" => {
                let (mib, path) = key_path(&flag, &value)?;
                let mib = mib.parse().map_err(|_| format!("--boot-image {value}: guest RAM in MiB, then =IMAGE"))?;
                boot.images.push((mib, path));
            }
            "--boot-dtb" => boot.dtbs.push(key_path(&flag, &value)?),
            "--shared-hypervisor" => shared = Some(PathBuf::from(value)),
            "--channel-hypervisor" => channel = Some(PathBuf::from(value)),
            "--channel-baseline" => channel_baseline = Some(PathBuf::from(value)),
            "--blk-hypervisor" => blk[0] = Some(PathBuf::from(value)),
            "--blk-boot-disk" => blk[1] = Some(PathBuf::from(value)),
            "--blk-image" => blk[2] = Some(PathBuf::from(value)),
            "--blk-kernel" => blk[3] = Some(PathBuf::from(value)),
            "--blk-initrd" => blk[4] = Some(PathBuf::from(value)),
            "--net-hypervisor" => net_hv = Some(PathBuf::from(value)),
            "--net-bare-script" => net_script = Some(PathBuf::from(value)),
            "--boot-bare" => {
                let (path, addr) = value.split_once('@').ok_or(format!("--boot-bare {value}: expected IMAGE@ADDR"))?;
                let addr = u64::from_str_radix(addr.trim_start_matches("0x").replace('_', "").as_str(), 16)
                    .map_err(|_| format!("--boot-bare {value}: the load address is hexadecimal"))?;
                boot.bare = Some((PathBuf::from(path), addr));
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Args {
        probe: match (hypervisor, bare) {
            (Some(hypervisor), Some(bare)) => Some((hypervisor, bare)),
            (None, None) if shared.is_none() => None,
            _ => return Err("--hypervisor and --bare go together (and --shared-hypervisor needs them)".into()),
        },
        arch: arch.ok_or("--arch is required")?,
        out: out.ok_or("--out is required")?,
        linux: match (linux_hv, linux_kernel, linux_initrd) {
            (Some(hypervisor), Some(kernel), Some(initrd)) => Some(LinuxArgs { hypervisor, kernel, initrd }),
            (None, None, None) => None,
            _ => return Err("--linux-hypervisor, --linux-kernel and --linux-initrd go together".into()),
        },
        blk: match blk {
            [Some(hypervisor), Some(boot_disk), Some(image), Some(kernel), Some(initrd)] => {
                Some(BlkArgs { hypervisor, boot_disk, image, kernel, initrd })
            }
            [None, None, None, None, None] => None,
            _ => return Err("--blk-hypervisor, --blk-boot-disk, --blk-image, --blk-kernel and --blk-initrd go together".into()),
        },
        boot,
        shared,
        net: match (net_hv, net_script) {
            (Some(hypervisor), Some(bare_script)) => Some(NetArgs { hypervisor, bare_script }),
            (None, None) => None,
            _ => return Err("--net-hypervisor and --net-bare-script go together".into()),
        },
        channel: match (channel, channel_baseline) {
            (Some(image), baseline) => Some((image, baseline)),
            (None, None) => None,
            (None, Some(_)) => return Err("--channel-baseline needs --channel-hypervisor".into()),
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

/// A bare run of the probe in `mode` on `smp` CPUs: on aarch64 the first
/// CPU starts at the image's entry for the mode (+4 * mode); on riscv64
/// and x86_64, where the firmware or the Multiboot header picks the entry,
/// a mailbox word (the probe's `MODE_MAILBOX`, "MODE" magic, the mode
/// above it) says the mode.
fn bare_mode_command(arch: Arch, elf: &std::path::Path, mode: u64, smp: usize) -> Command {
    match arch {
        Arch::Aarch64 | Arch::Aarch64Gic3 => bare_command(arch, elf, smp, "256M", Some(0x4020_0000 + 4 * mode)),
        Arch::Riscv64 | Arch::X86_64 => {
            let mut cmd = bare_command(arch, elf, smp, "256M", None);
            let at: u64 = if arch == Arch::Riscv64 { 0x8100_0000 } else { 0x0100_0000 };
            let mailbox = format!("loader,addr={at:#x},data={:#x},data-len=8", (mode << 32) | 0x4d4f_4445);
            cmd.args(["-device", &mailbox]);
            cmd
        }
    }
}

/// The probe's benchmark mode.
const BENCH_MODE: u64 = 1;
/// The probe's mode with two vCPUs on one CPU.
const SHARED_MODE: u64 = 18;

fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "aarch64",
        Arch::Aarch64Gic3 => "aarch64-gicv3",
        Arch::Riscv64 => "riscv64",
        Arch::X86_64 => "x86_64",
    }
}

fn qemu_version(arch: Arch) -> String {
    let system = match arch {
        Arch::Aarch64 | Arch::Aarch64Gic3 => "aarch64",
        Arch::Riscv64 => "riscv64",
        Arch::X86_64 => "x86_64",
    };
    Command::new(format!("qemu-system-{system}"))
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Boots the ArceOS hello guest under each hypervisor image at each host
/// RAM size of `BOOT_RUNS`, and bare; appends the boot figures.
fn boot_runs(arch: Arch, args: &BootArgs, figures: &mut Vec<probe_bench::Figure>) -> Result<Vec<(&'static str, String)>, String> {
    let mut measured = Vec::new();
    let mut lines = Vec::new();
    for run in BOOT_RUNS {
        let Some((_, image)) = args.images.iter().find(|(mib, _)| *mib == run.guest_mib) else { continue };
        let mut cmd = qemu_command(arch, image, 1, run.host_mem);
        if let Some((_, dtb)) = args.dtbs.iter().find(|(mem, _)| mem == run.host_mem) {
            cmd.arg("-dtb").arg(dtb);
        }
        count_instructions(&mut cmd);
        let (result, line) = checked_run(run.name, cmd)?;
        let insns = hello_time(&result.output).ok_or(format!("{}: no hello line with its time", run.name))?;
        measured.push((run, insns));
        lines.push((run.name, line));
    }
    let bare = match &args.bare {
        Some((image, addr)) => {
            // x86_64: QEMU's Multiboot loader places the image itself.
            let mut cmd = match arch {
                Arch::X86_64 => bare_command(arch, image, 1, "256M", None),
                _ => bare_raw_command(image, *addr, 1, "256M"),
            };
            count_instructions(&mut cmd);
            let (result, line) = checked_run("boot bare", cmd)?;
            lines.push(("boot_bare", line));
            Some(hello_time(&result.output).ok_or("boot bare: no hello line with its time")?)
        }
        None => None,
    };
    figures.extend(boot_figures(&measured, bare));
    Ok(lines)
}

/// The shared-CPU runs: `image` (two vCPUs of the probe on one CPU) and
/// the probe's shared-CPU mode bare on two CPUs; appends their figures
/// and latency distributions.
fn shared_runs(
    arch: Arch,
    image: &std::path::Path,
    elf: &std::path::Path,
    figures: &mut Vec<probe_bench::Figure>,
    dists: &mut Vec<Distribution>,
) -> Result<Vec<(&'static str, String)>, String> {
    let mut hv_cmd = qemu_command(arch, image, 1, "256M");
    count_instructions(&mut hv_cmd);
    let mut bare_cmd = bare_mode_command(arch, elf, SHARED_MODE, 2);
    count_instructions(&mut bare_cmd);
    let (hv_run, hv_line) = checked_run("shared hypervisor", hv_cmd)?;
    let (bare_run, bare_line) = checked_run("shared bare", bare_cmd)?;
    let hv = Samples::parse("shared hypervisor", &hv_run.output).map_err(|e| e.to_string())?;
    let bare = Samples::parse("shared bare", &bare_run.output).map_err(|e| e.to_string())?;
    figures.extend(shared_figures(&hv, &bare).map_err(|e| e.to_string())?);
    dists.extend(distributions(&hv, &bare));
    Ok(vec![("shared_hypervisor", hv_line), ("shared_bare", bare_line)])
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

/// The probe's benchmark mode under `image` and bare from `elf`; appends
/// its figures and latency distributions.
fn probe_runs(
    args: &Args,
    image: &Path,
    elf: &Path,
    figures: &mut Vec<probe_bench::Figure>,
    dists: &mut Vec<Distribution>,
) -> Result<Vec<(&'static str, String)>, String> {
    let mut hv_cmd = qemu_command(args.arch, image, 1, "256M");
    if let Some((_, dtb)) = args.boot.dtbs.iter().find(|(mem, _)| mem == "256M") {
        hv_cmd.arg("-dtb").arg(dtb);
    }
    count_instructions(&mut hv_cmd);
    let mut bare_cmd = bare_mode_command(args.arch, elf, BENCH_MODE, 1);
    count_instructions(&mut bare_cmd);
    let (hv_run, hv_line) = checked_run("hypervisor", hv_cmd)?;
    let (bare_run, bare_line) = checked_run("bare", bare_cmd)?;
    let report = || -> Result<_, BenchError> {
        let hv = Samples::parse("hypervisor", &hv_run.output)?;
        let bare = Samples::parse("bare", &bare_run.output)?;
        Ok((probe_bench::figures(&hv, &bare)?, distributions(&hv, &bare)))
    };
    let (probe_figures, probe_dists) = report().map_err(|e| e.to_string())?;
    figures.extend(probe_figures);
    dists.extend(probe_dists);
    figures.push(wall_figure(
        "wall_time",
        "probe: whole QEMU run, wall clock",
        hv_run.elapsed.as_secs_f64(),
        bare_run.elapsed.as_secs_f64(),
    ));
    Ok(vec![("hypervisor", hv_line), ("bare", bare_line)])
}

/// A fresh sparse copy of `file` beside it (`NAME.run`), for one run to
/// write on.
fn scratch_copy(file: &Path) -> Result<PathBuf, String> {
    let mut name = file.file_name().ok_or(format!("{}: not a file", file.display()))?.to_os_string();
    name.push(".run");
    let copy = file.with_file_name(name);
    let status = Command::new("cp").arg("--sparse=always").arg(file).arg(&copy).status();
    match status {
        Ok(s) if s.success() => Ok(copy),
        other => Err(format!("copying {} failed: {other:?}", file.display())),
    }
}

/// Guest RAM of the block benchmark's VM
/// (crates/probe-bench/configs/linux-aarch64-blkbench.toml), given to the
/// bare run as its RAM.
const BLK_GUEST_MEM: &str = "128M";
/// The benchmark guest's command line: the VM config's, given bare too
/// (`blk_figures` checks that the kernels saw the same).
const BLK_CMDLINE: &str = "console=ttyAMA0 panic=-1 nohlt";

/// The Linux block benchmark under the hypervisor (host RAM for the
/// guest's 128 MiB, the 64 MiB image held in RAM and the embedded
/// kernel) and bare; appends its figures.
fn blk_runs(arch: Arch, blk: &BlkArgs, figures: &mut Vec<probe_bench::Figure>) -> Result<Vec<(&'static str, String)>, String> {
    let mut hv_cmd = qemu_command(arch, &blk.hypervisor, 1, "512M");
    attach_disk(&mut hv_cmd, &scratch_copy(&blk.boot_disk)?);
    count_instructions(&mut hv_cmd);
    let mut bare_cmd = bare_command(arch, &blk.kernel, 1, BLK_GUEST_MEM, None);
    bare_cmd.arg("-initrd").arg(&blk.initrd).args(["-append", BLK_CMDLINE]);
    attach_disk(&mut bare_cmd, &scratch_copy(&blk.image)?);
    count_instructions(&mut bare_cmd);
    let (hv_run, hv_line) = checked_run("blk hypervisor", hv_cmd)?;
    let (bare_run, bare_line) = checked_run("blk bare", bare_cmd)?;
    figures.extend(blk_figures(&hv_run.output, &bare_run.output).map_err(|e| e.to_string())?);
    figures.push(wall_figure(
        "blk_wall_time",
        "Linux block benchmark: whole QEMU run, wall clock",
        hv_run.elapsed.as_secs_f64(),
        bare_run.elapsed.as_secs_f64(),
    ));
    Ok(vec![("blk_hypervisor", hv_line), ("blk_bare", bare_line)])
}

/// Seconds a network run may take: two Linux boots and 64 MiB (the
/// guests' own watchdog stops them after 600 s of guest time).
const NET_TIMEOUT: Duration = Duration::from_secs(900);

/// The Linux network benchmark under the hypervisor (two VMs, one CPU
/// each, on two host CPUs) and bare (the script: one QEMU per guest);
/// appends its figures.
fn net_runs(arch: Arch, net: &NetArgs, out_dir: &Path, figures: &mut Vec<probe_bench::Figure>) -> Result<Vec<(&'static str, String)>, String> {
    let md5 = qemu_boot_tests::net::expected_md5(qemu_boot_tests::net::STREAM_MIB);
    let hv_cmd = qemu_command(arch, &net.hypervisor, 2, "512M");
    let hv_line = describe(&hv_cmd);
    let hv_run = run(hv_cmd, NET_TIMEOUT);
    if !matches!(hv_run.status, Some(s) if s.success()) {
        return Err(format!("the net hypervisor run did not exit cleanly ({:?}); output:\n{}", hv_run.status, hv_run.output));
    }
    let mut bare_cmd = Command::new(&net.bare_script);
    bare_cmd.args([arch_name(arch), &qemu_boot_tests::net::STREAM_MIB.to_string()]).arg(out_dir);
    let bare_line = describe(&bare_cmd);
    let bare_run = run(bare_cmd, NET_TIMEOUT);
    let logs = ["server", "client"].map(|role| out_dir.join(format!("net-bare-{}-{role}.log", arch_name(arch))));
    let mut bare_output = String::new();
    for log in &logs {
        bare_output += &std::fs::read_to_string(log).map_err(|e| format!("{}: {e}; the script said:\n{}", log.display(), bare_run.output))?;
    }
    figures.extend(net_figures(&hv_run.output, &bare_output, &md5).map_err(|e| e.to_string())?);
    figures.push(wall_figure(
        "net_wall_time",
        "Linux network benchmark: whole QEMU run(s), wall clock",
        hv_run.elapsed.as_secs_f64(),
        bare_run.elapsed.as_secs_f64(),
    ));
    Ok(vec![("net_hypervisor", hv_line), ("net_bare", bare_line)])
}

fn bench() -> Result<(), String> {
    let args = parse_args()?;
    let mut figures = Vec::new();
    let mut dists = Vec::new();
    let mut runs = Vec::new();
    if let Some((image, elf)) = &args.probe {
        runs.extend(probe_runs(&args, image, elf, &mut figures, &mut dists)?);
    }
    if let Some(linux) = &args.linux {
        let mut hv_cmd = qemu_command(args.arch, &linux.hypervisor, 2, "256M");
        count_instructions(&mut hv_cmd);
        let mut bare_cmd = bare_command(args.arch, &linux.kernel, 2, "256M", None);
        let console = match args.arch {
            Arch::Aarch64 | Arch::Aarch64Gic3 => "ttyAMA0",
            Arch::Riscv64 | Arch::X86_64 => "ttyS0",
        };
        bare_cmd.arg("-initrd").arg(&linux.initrd).args(["-append", &format!("console={console} panic=-1")]);
        count_instructions(&mut bare_cmd);
        let (hv_run, hv_line) = checked_run("Linux hypervisor", hv_cmd)?;
        let (bare_run, bare_line) = checked_run("Linux bare", bare_cmd)?;
        let mut linux = linux_figure(&hv_run.output, &bare_run.output).map_err(|e| e.to_string())?;
        if matches!(args.arch, Arch::Riscv64) {
            // Bare runs of the same kernel on two harts differ by some 20 %
            // here (844 M to 1,078 M): no target until that is understood.
            linux.target = None;
        }
        figures.push(linux);
        figures.push(wall_figure(
            "linux_wall_time",
            "Linux: whole QEMU run, wall clock",
            hv_run.elapsed.as_secs_f64(),
            bare_run.elapsed.as_secs_f64(),
        ));
        runs.push(("linux_hypervisor", hv_line));
        runs.push(("linux_bare", bare_line));
    }
    if let (Some(image), Some((_, elf))) = (&args.shared, &args.probe) {
        runs.extend(shared_runs(args.arch, image, elf, &mut figures, &mut dists)?);
    }
    if let Some(blk) = &args.blk {
        runs.extend(blk_runs(args.arch, blk, &mut figures)?);
    }
    if let Some((image, baseline)) = &args.channel {
        let mut cmd = qemu_command(args.arch, image, 2, "256M");
        count_instructions(&mut cmd);
        let (run, line) = checked_run("channel hypervisor", cmd)?;
        let samples = Samples::parse("channel hypervisor", &run.output).map_err(|e| e.to_string())?;
        runs.push(("channel_hypervisor", line));
        let baseline = match baseline {
            Some(image) => {
                let mut cmd = qemu_command(args.arch, image, 2, "256M");
                count_instructions(&mut cmd);
                let (run, line) = checked_run("channel IPI baseline", cmd)?;
                runs.push(("channel_ipi_baseline", line));
                Some(Samples::parse("channel IPI baseline", &run.output).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        figures.extend(channel_figures(&samples, baseline.as_ref()).map_err(|e| e.to_string())?);
    }
    if let Some(net) = &args.net {
        let out_dir = args.out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        runs.extend(net_runs(args.arch, net, out_dir, &mut figures)?);
    }
    runs.extend(boot_runs(args.arch, &args.boot, &mut figures)?);
    let qemu = qemu_version(args.arch);
    print!("{}", table(&figures));
    println!("QEMU: {qemu}; guest time in instructions (-icount shift=0,sleep=off)");
    if args.net.is_some() {
        println!("net_*: guest uptime without -icount (follows the host's real time and load)");
    }
    let command = match args.arch {
        Arch::Aarch64Gic3 => "make ARCH=aarch64 bench (its GIC=3 runs)".to_string(),
        arch => format!("make ARCH={} bench", arch_name(arch)),
    };
    let provenance = Provenance { arch: arch_name(args.arch), qemu: &qemu, command: &command, runs: &runs };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&args.out, json_with_distributions(&provenance, &figures, &dists)).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}
