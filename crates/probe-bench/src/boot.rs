//! The boot table: the ArceOS hello guest's time from reset to its hello
//! line, for several host and guest RAM sizes, and what each extra GiB of
//! either costs.

use crate::{Figure, TargetOf};

/// One boot measurement: the ArceOS hello guest with `guest_mib` of RAM
/// under the hypervisor on a host with `host_mem` of RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootRun {
    /// Key in the JSON.
    pub name: &'static str,
    /// The table's text.
    pub description: &'static str,
    /// QEMU's `-m`.
    pub host_mem: &'static str,
    /// Host RAM in MiB.
    pub host_mib: u32,
    /// Guest RAM in MiB (the VM config's region).
    pub guest_mib: u32,
}

const fn run(name: &'static str, description: &'static str, host_mem: &'static str, host_mib: u32, guest_mib: u32) -> BootRun {
    BootRun { name, description, host_mem, host_mib, guest_mib }
}

/// Every boot run the benchmark knows; it makes those it has images for.
/// Host RAM varies at a 128 MiB guest (upstream AxVisor's example VM);
/// guest RAM varies on a 2 GiB host (room for a 1 GiB guest).
pub const BOOT_RUNS: [BootRun; 7] = [
    run("boot_host256m_guest128m", "ArceOS boot: reset -> hello, host 256 MiB, guest 128 MiB", "256M", 256, 128),
    run("boot_host1g_guest128m", "ArceOS boot: reset -> hello, host 1 GiB, guest 128 MiB", "1G", 1024, 128),
    run("boot_host4g_guest128m", "ArceOS boot: reset -> hello, host 4 GiB, guest 128 MiB", "4G", 4096, 128),
    run("boot_host8g_guest128m", "ArceOS boot: reset -> hello, host 8 GiB, guest 128 MiB", "8G", 8192, 128),
    run("boot_host2g_guest16m", "ArceOS boot: reset -> hello, host 2 GiB, guest 16 MiB", "2G", 2048, 16),
    run("boot_host2g_guest128m", "ArceOS boot: reset -> hello, host 2 GiB, guest 128 MiB", "2G", 2048, 128),
    run("boot_host2g_guest1g", "ArceOS boot: reset -> hello, host 2 GiB, guest 1 GiB", "2G", 2048, 1024),
];

/// The project's boot target at 256 MiB of host RAM and 128 MiB of guest
/// RAM, and per extra GiB of either.
pub const BOOT_TARGET: f64 = 5e6;
/// See [`BOOT_TARGET`].
pub const PER_GIB_TARGET: f64 = 1e6;

/// The ArceOS hello guest's time since reset on its hello line
/// (`Hello, world! (ArceOS guest) [N ns after reset]`), in nanoseconds:
/// instructions under `-icount shift=0`.
pub fn hello_time(output: &str) -> Option<f64> {
    output.lines().find_map(|line| {
        let rest = line.split_once("Hello, world! (ArceOS guest) [")?.1;
        rest.split_once(" ns after reset]")?.0.trim().parse().ok()
    })
}

/// The boot figures from the measured runs (`(run, instructions)`) and the
/// guest's own boot bare, when there is one: each run, then the cost of an
/// extra GiB of host RAM and of guest RAM where the runs give both ends.
pub fn boot_figures(measured: &[(BootRun, f64)], bare: Option<f64>) -> Vec<Figure> {
    let mut out: Vec<Figure> = measured
        .iter()
        .map(|&(run, insns)| Figure {
            name: run.name,
            description: run.description,
            unit: "instructions",
            hypervisor: Some(insns),
            bare,
            target: (run.host_mib == 256 && run.guest_mib == 128).then_some((BOOT_TARGET, TargetOf::Hypervisor)),
        })
        .collect();
    let time = |name: &str| measured.iter().find(|(run, _)| run.name == name).map(|&(run, t)| (run, t));
    let slope = |low: &str, high: &str, mib: fn(&BootRun) -> u32| {
        let ((lo, t_lo), (hi, t_hi)) = (time(low)?, time(high)?);
        let gib = f64::from(mib(&hi) - mib(&lo)) / 1024.0;
        (gib > 0.0).then(|| (t_hi - t_lo) / gib)
    };
    let per_gib = |name, description, value: Option<f64>| Figure {
        name,
        description,
        unit: "instructions",
        hypervisor: value,
        bare: None,
        target: Some((PER_GIB_TARGET, TargetOf::Hypervisor)),
    };
    if let Some(v) = slope("boot_host256m_guest128m", "boot_host4g_guest128m", |r| r.host_mib) {
        out.push(per_gib("boot_per_host_gib", "ArceOS boot: each extra GiB of host RAM", Some(v)));
    }
    let guest_high = if time("boot_host2g_guest1g").is_some() { "boot_host2g_guest1g" } else { "boot_host2g_guest128m" };
    if let Some(v) = slope("boot_host2g_guest16m", guest_high, |r| r.guest_mib) {
        out.push(per_gib("boot_per_guest_gib", "ArceOS boot: each extra GiB of guest RAM", Some(v)));
    }
    out
}
