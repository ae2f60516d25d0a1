//! Turns the probe guest's `bench ...` lines from a run under the
//! hypervisor and a bare run into figures: instructions per operation
//! (QEMU `-icount shift=0`: one instruction per nanosecond of guest time),
//! ratios against the bare run, and the project's targets. Renders them as
//! a table and as JSON.
#![deny(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// Why a run's output could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchError {
    /// The probe never printed `bench done`.
    Incomplete(&'static str),
    /// A `bench` line is malformed.
    BadLine(String),
    /// A value the report needs is missing.
    Missing {
        /// Which run.
        run: &'static str,
        /// Benchmark name.
        name: &'static str,
        /// Key on its line.
        key: &'static str,
    },
    /// The compute workload gave different checksums, so the runs did
    /// different work.
    ChecksumMismatch(u64, u64),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete(run) => write!(f, "the {run} run ended before the probe printed `bench done`"),
            Self::BadLine(line) => write!(f, "malformed bench line: {line:?}"),
            Self::Missing { run, name, key } => write!(f, "the {run} run printed no `{key}` for `{name}`"),
            Self::ChecksumMismatch(a, b) => {
                write!(f, "compute checksums differ ({a:#x} vs {b:#x}): the runs did not do the same work")
            }
        }
    }
}

impl std::error::Error for BenchError {}

/// The `bench name=N key=value ...` lines of one run, by name then key
/// (lines of the same name add their keys: a histogram spans lines).
#[derive(Debug, Default)]
pub struct Samples {
    run: &'static str,
    values: BTreeMap<String, BTreeMap<String, u64>>,
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

impl Samples {
    /// Reads one run's console output; `run` names it in errors.
    pub fn parse(run: &'static str, output: &str) -> Result<Self, BenchError> {
        let mut samples = Self { run, values: BTreeMap::new() };
        let mut done = false;
        for line in output.lines().map(str::trim).map(qemu_boot_tests::without_vm_prefix) {
            let Some(rest) = line.strip_prefix("bench ") else { continue };
            if rest == "done" {
                done = true;
                continue;
            }
            let mut name = None;
            let mut fields = BTreeMap::new();
            for pair in rest.split_whitespace() {
                let (key, value) = pair.split_once('=').ok_or_else(|| BenchError::BadLine(line.to_string()))?;
                if key == "name" {
                    name = Some(value.to_string());
                } else if let Some(number) = parse_number(value) {
                    fields.insert(key.to_string(), number);
                } else if key != "error" {
                    return Err(BenchError::BadLine(line.to_string()));
                }
            }
            let name = name.ok_or_else(|| BenchError::BadLine(line.to_string()))?;
            samples.values.entry(name).or_default().extend(fields);
        }
        if !done {
            return Err(BenchError::Incomplete(run));
        }
        Ok(samples)
    }

    fn get(&self, name: &'static str, key: &'static str) -> Result<u64, BenchError> {
        self.values
            .get(name)
            .and_then(|f| f.get(key))
            .copied()
            .ok_or(BenchError::Missing { run: self.run, name, key })
    }

    fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// What a target bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOf {
    /// The figure under the hypervisor.
    Hypervisor,
    /// The ratio hypervisor / bare.
    Ratio,
    /// The ratio hypervisor / bare, from below (throughput: at least).
    RatioAtLeast,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Key in the JSON.
    pub name: &'static str,
    /// What is measured.
    pub description: &'static str,
    /// Unit of the hypervisor and bare values.
    pub unit: &'static str,
    /// Under the hypervisor.
    pub hypervisor: Option<f64>,
    /// Bare.
    pub bare: Option<f64>,
    /// The project's target, and what it bounds.
    pub target: Option<(f64, TargetOf)>,
}

impl Figure {
    /// Hypervisor / bare, when both exist.
    pub fn ratio(&self) -> Option<f64> {
        match (self.hypervisor, self.bare) {
            (Some(h), Some(b)) if b > 0.0 => Some(h / b),
            _ => None,
        }
    }

    /// Whether the target is met (`None` without a target or value).
    pub fn meets_target(&self) -> Option<bool> {
        let (limit, of) = self.target?;
        Some(match of {
            TargetOf::Hypervisor => self.hypervisor? <= limit,
            TargetOf::Ratio => self.ratio()? <= limit,
            TargetOf::RatioAtLeast => self.ratio()? >= limit,
        })
    }
}

/// One run's samples read as instructions (`-icount shift=0`: one per
/// nanosecond), through the counter frequency the run reported.
struct Timed<'a> {
    samples: &'a Samples,
    hz: f64,
}

impl<'a> Timed<'a> {
    fn new(samples: &'a Samples) -> Result<Self, BenchError> {
        Ok(Self { samples, hz: samples.get("counter_hz", "value")? as f64 })
    }

    /// `key` of benchmark `name`, in instructions.
    fn insns(&self, name: &'static str, key: &'static str) -> Result<f64, BenchError> {
        Ok(self.samples.get(name, key)? as f64 * 1e9 / self.hz)
    }

    /// Instructions per iteration of benchmark `name`.
    fn per_iter(&self, name: &'static str) -> Result<f64, BenchError> {
        Ok(self.insns(name, "ticks")? / self.samples.get(name, "iters")?.max(1) as f64)
    }

    /// `per_iter`, or `None` for a benchmark the run does not have.
    fn optional(&self, name: &'static str) -> Result<Option<f64>, BenchError> {
        if self.samples.has(name) { self.per_iter(name).map(Some) } else { Ok(None) }
    }
}

/// Builds the figures from a hypervisor run and a bare run.
pub fn figures(hv: &Samples, bare: &Samples) -> Result<Vec<Figure>, BenchError> {
    let (hv_t, bare_t) = (Timed::new(hv)?, Timed::new(bare)?);
    let both = |name: &'static str, key: &'static str| -> Result<(f64, f64), BenchError> {
        Ok((hv_t.insns(name, key)?, bare_t.insns(name, key)?))
    };
    let (hv_sum, bare_sum) = (hv.get("compute", "checksum")?, bare.get("compute", "checksum")?);
    if hv_sum != bare_sum {
        return Err(BenchError::ChecksumMismatch(hv_sum, bare_sum));
    }
    let (first_insn_hv, first_insn_bare) = both("first_instruction", "ticks")?;
    let (first_line_hv, first_line_bare) = both("first_line", "ticks")?;
    let (compute_hv, compute_bare) = both("compute", "ticks")?;
    let (timer_max_hv, timer_max_bare) = both("timer_latency", "max")?;
    // Figures a run may lack (no emulated device on the architecture).
    let hypercall = hv_t.optional("null_hypercall")?;
    let insn = "instructions";
    let mut out = vec![
        Figure {
            name: "boot_first_instruction",
            description: "reset -> guest's first instruction",
            unit: insn,
            hypervisor: Some(first_insn_hv),
            bare: Some(first_insn_bare),
            target: None,
        },
        Figure {
            name: "boot_first_line",
            description: "reset -> guest's first line",
            unit: insn,
            hypervisor: Some(first_line_hv),
            bare: Some(first_line_bare),
            target: Some((5e6, TargetOf::Hypervisor)),
        },
        Figure {
            name: "null_hypercall",
            description: "null hypercall round trip",
            unit: insn,
            hypervisor: hypercall,
            bare: None,
            target: Some((250.0, TargetOf::Hypervisor)),
        },
        Figure {
            name: "mmio_read",
            description: "emulated MMIO read (GICD_TYPER / PLIC priority / I/O APIC window)",
            unit: insn,
            hypervisor: hv_t.optional("mmio_read")?,
            bare: bare_t.optional("mmio_read")?,
            target: Some((300.0, TargetOf::Hypervisor)),
        },
        Figure {
            name: "timer_latency",
            description: "timer deadline -> guest handler (mean)",
            unit: insn,
            hypervisor: Some(hv_t.per_iter("timer_latency")?),
            bare: Some(bare_t.per_iter("timer_latency")?),
            target: Some((1000.0, TargetOf::Hypervisor)),
        },
        Figure {
            name: "timer_latency_max",
            description: "timer deadline -> guest handler (worst)",
            unit: insn,
            hypervisor: Some(timer_max_hv),
            bare: Some(timer_max_bare),
            target: None,
        },
        Figure {
            name: "compute",
            description: "compute workload (4 MiB shuffle, chase, hash)",
            unit: insn,
            hypervisor: Some(compute_hv),
            bare: Some(compute_bare),
            target: Some((1.005, TargetOf::Ratio)),
        },
    ];
    // Our virtio-blk device (aarch64): one 4 KiB request, driver and
    // device together (the guest's part is a few hundred instructions).
    for (name, description) in [
        ("virtio_blk_read_4k", "virtio-blk 4 KiB read request, polled (RAM disk)"),
        ("virtio_blk_write_4k", "virtio-blk 4 KiB write request, polled (RAM disk)"),
    ] {
        if let Some(per_request) = hv_t.optional(name)? {
            out.push(Figure {
                name,
                description,
                unit: insn,
                hypervisor: Some(per_request),
                bare: None,
                target: Some((2000.0, TargetOf::Hypervisor)),
            });
        }
    }
    // Our virtio-net devices (aarch64): a frame from one NIC of the probe's
    // VM to the other through the switch, transmit notify -> in the other
    // NIC's used ring (delivery is synchronous, within the notify's exit).
    for (name, description) in [
        ("virtio_net_forward_64", "virtio-net frame forwarded NIC -> switch -> NIC, 64 bytes"),
        ("virtio_net_forward_1514", "virtio-net frame forwarded NIC -> switch -> NIC, 1514 bytes"),
    ] {
        if let Some(per_frame) = hv_t.optional(name)? {
            out.push(Figure { name, description, unit: insn, hypervisor: Some(per_frame), bare: None, target: None });
        }
    }
    // The physical-timer cyclic test (aarch64 only).
    if hv.has("ptimer_latency") && bare.has("ptimer_latency") {
        let (max_hv, max_bare) = both("ptimer_latency", "max")?;
        out.push(Figure {
            name: "ptimer_latency",
            description: "physical timer 1 kHz x 30,000: deadline -> handler (mean)",
            unit: insn,
            hypervisor: Some(hv_t.per_iter("ptimer_latency")?),
            bare: Some(bare_t.per_iter("ptimer_latency")?),
            target: Some((1000.0, TargetOf::Hypervisor)),
        });
        out.push(Figure {
            name: "ptimer_latency_max",
            description: "physical timer 1 kHz x 30,000: deadline -> handler (worst)",
            unit: insn,
            hypervisor: Some(max_hv),
            bare: Some(max_bare),
            target: None,
        });
    }
    Ok(out)
}

/// Figures of the shared-CPU run (probe mode 18: two vCPUs on one CPU
/// under the hypervisor; bare, the same code on two CPUs as baseline).
pub fn shared_figures(hv: &Samples, bare: &Samples) -> Result<Vec<Figure>, BenchError> {
    let (hv, bare) = (Timed::new(hv)?, Timed::new(bare)?);
    let insn = "instructions";
    Ok(vec![
        Figure {
            name: "vcpu_switch",
            description: "switch to another vCPU on a shared CPU (IPI + WFI)",
            unit: insn,
            hypervisor: Some(hv.per_iter("vcpu_switch")?),
            bare: Some(bare.per_iter("vcpu_switch")?),
            target: None,
        },
        Figure {
            name: "timer_latency_shared",
            description: "timer deadline -> handler, CPU shared with a spinner (mean)",
            unit: insn,
            hypervisor: Some(hv.per_iter("timer_latency_shared")?),
            bare: Some(bare.per_iter("timer_latency_shared")?),
            target: Some((1000.0, TargetOf::Hypervisor)),
        },
        Figure {
            name: "timer_latency_shared_max",
            description: "timer deadline -> handler, CPU shared with a spinner (worst)",
            unit: insn,
            hypervisor: Some(hv.insns("timer_latency_shared", "max")?),
            bare: Some(bare.insns("timer_latency_shared", "max")?),
            target: None,
        },
    ])
}

/// The Linux kernel's own timestamp (seconds) on its `Run /init` line.
pub fn linux_init_seconds(output: &str) -> Option<f64> {
    output.lines().find(|l| l.contains("Run /init as init process")).and_then(|line| {
        let stamp = line.split_once('[')?.1.split_once(']')?.0;
        stamp.trim().parse().ok()
    })
}

/// Linux SMP2 boot to `/init` by the kernel's own clock (nanoseconds of
/// guest time, so instructions under `-icount shift=0`), under the
/// hypervisor and bare.
pub fn linux_figure(hv_output: &str, bare_output: &str) -> Result<Figure, BenchError> {
    let missing = |run| BenchError::Missing { run, name: "linux", key: "Run /init timestamp" };
    let hv = linux_init_seconds(hv_output).ok_or(missing("Linux hypervisor"))?;
    let bare = linux_init_seconds(bare_output).ok_or(missing("Linux bare"))?;
    Ok(Figure {
        name: "linux_boot",
        description: "Linux SMP2 boot to /init (kernel's clock)",
        unit: "instructions",
        hypervisor: Some(hv * 1e9),
        bare: Some(bare * 1e9),
        target: Some((1.01, TargetOf::Ratio)),
    })
}

/// Wall-clock seconds of each QEMU run, as a figure.
pub fn wall_figure(name: &'static str, description: &'static str, hv_seconds: f64, bare_seconds: f64) -> Figure {
    Figure {
        name,
        description,
        unit: "seconds",
        hypervisor: Some(hv_seconds),
        bare: Some(bare_seconds),
        target: None,
    }
}

fn show(value: Option<f64>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if v >= 1e6 => format!("{:.2} M", v / 1e6),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The report as a text table.
pub fn table(figures: &[Figure]) -> String {
    let mut out = format!(
        "{:<62} {:>12} {:>12} {:>10} {:>16}\n",
        "figure", "hypervisor", "bare", "hv/bare", "target"
    );
    for f in figures {
        let target = match (f.target, f.meets_target()) {
            (Some((limit, of)), met) => {
                let (bound, of) = match of {
                    TargetOf::Hypervisor => ("<=", ""),
                    TargetOf::Ratio => ("<=", "x"),
                    TargetOf::RatioAtLeast => (">=", "x"),
                };
                let mark = match met {
                    Some(true) => "met",
                    Some(false) => "MISSED",
                    None => "?",
                };
                format!("{bound} {}{of} {mark}", show(Some(limit)))
            }
            (None, _) => String::new(),
        };
        let what = format!("{} ({})", f.description, f.unit);
        let ratio = f.ratio().map_or("-".to_string(), |r| format!("{r:.4}"));
        let _ = writeln!(out, "{what:<62} {:>12} {:>12} {ratio:>10} {target:>16}", show(f.hypervisor), show(f.bare));
    }
    out
}

fn json_number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".to_string(),
    }
}

/// Escapes text for a JSON string.
pub fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where and how the figures were made.
pub struct Provenance<'a> {
    /// Architecture.
    pub arch: &'a str,
    /// `qemu-system-* --version` first line.
    pub qemu: &'a str,
    /// The command that made the figures.
    pub command: &'a str,
    /// QEMU command line of each run, by run name.
    pub runs: &'a [(&'a str, String)],
}

/// The report as JSON.
pub fn json(p: &Provenance<'_>, figures: &[Figure]) -> String {
    json_with_distributions(p, figures, &[])
}

/// The report as JSON, with the latency distributions.
pub fn json_with_distributions(p: &Provenance<'_>, figures: &[Figure], distributions: &[Distribution]) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"arch\": {},", json_string(p.arch));
    let _ = writeln!(out, "  \"qemu\": {},", json_string(p.qemu));
    let _ = writeln!(out, "  \"command\": {},", json_string(p.command));
    let runs: Vec<String> = p.runs.iter().map(|(name, line)| format!("{}: {}", json_string(name), json_string(line))).collect();
    let _ = writeln!(out, "  \"runs\": {{{}}},", runs.join(", "));
    out += "  \"figures\": {\n";
    for (i, f) in figures.iter().enumerate() {
        let (target, of) = match f.target {
            Some((limit, TargetOf::Hypervisor)) => (Some(limit), "\"hypervisor\""),
            Some((limit, TargetOf::Ratio)) => (Some(limit), "\"ratio\""),
            Some((limit, TargetOf::RatioAtLeast)) => (Some(limit), "\"ratio_at_least\""),
            None => (None, "null"),
        };
        let met = f.meets_target().map_or("null".to_string(), |m| m.to_string());
        let _ = write!(
            out,
            "    {}: {{\"description\": {}, \"unit\": {}, \"hypervisor\": {}, \"bare\": {}, \"ratio\": {}, \"target\": {}, \"target_of\": {of}, \"meets_target\": {met}}}",
            json_string(f.name),
            json_string(f.description),
            json_string(f.unit),
            json_number(f.hypervisor),
            json_number(f.bare),
            json_number(f.ratio()),
            json_number(target),
        );
        out += if i + 1 < figures.len() { ",\n" } else { "\n" };
    }
    out += "  },\n  \"distributions\": {\n";
    out += &distributions_json(distributions);
    out += "  }\n}\n";
    out
}

mod boot;
pub use boot::{BOOT_RUNS, BootRun, boot_figures, hello_time};

mod blk;
pub use blk::{BLK_TARGET, Phase, blk_figures, kernel_cmdline, phases as blk_phases};

mod net;
pub use net::net_figures;

mod channel;
pub use channel::channel_figures;

mod dist;
pub use dist::{Distribution, Histogram, distributions, distributions_json};

#[cfg(test)]
mod tests;
