use super::*;

const HV: &str = "\
axvisor 0.1.0
bench name=counter_hz value=62500000
bench name=first_instruction ticks=1000
bench name=first_line ticks=1100
bench name=null_hypercall iters=10000 ticks=20000
bench name=mmio_read iters=10000 ticks=15000
bench name=timer_latency iters=64 ticks=3200 min=40 max=60
bench name=compute iters=1 ticks=2001000 checksum=0x3f27
bench done
";

const BARE: &str = "\
bench name=counter_hz value=62500000
bench name=first_instruction ticks=0
bench name=first_line ticks=10
bench name=mmio_read iters=10000 ticks=2500
bench name=timer_latency iters=64 ticks=0 min=0 max=0
bench name=compute iters=1 ticks=2000000 checksum=0x3f27
bench done
";

fn figure<'a>(figures: &'a [Figure], name: &str) -> &'a Figure {
    figures.iter().find(|f| f.name == name).expect("figure present")
}

#[test]
fn ticks_become_instructions_per_operation() {
    let hv = Samples::parse("hypervisor", HV).expect("parses");
    let bare = Samples::parse("bare", BARE).expect("parses");
    let figures = figures(&hv, &bare).expect("complete");
    // 62.5 MHz: 16 ns per tick, one instruction per ns.
    assert_eq!(figure(&figures, "null_hypercall").hypervisor, Some(32.0));
    assert_eq!(figure(&figures, "null_hypercall").bare, None);
    assert_eq!(figure(&figures, "mmio_read").hypervisor, Some(24.0));
    assert_eq!(figure(&figures, "timer_latency").hypervisor, Some(800.0));
    assert_eq!(figure(&figures, "timer_latency_max").hypervisor, Some(960.0));
    assert_eq!(figure(&figures, "boot_first_line").hypervisor, Some(17_600.0));
    let compute = figure(&figures, "compute");
    assert_eq!(compute.ratio(), Some(1.0005));
    assert_eq!(compute.meets_target(), Some(true));
}

#[test]
fn targets_bound_the_right_value() {
    let mut f = Figure {
        name: "x",
        description: "x",
        unit: "instructions",
        hypervisor: Some(300.0),
        bare: Some(100.0),
        target: Some((250.0, TargetOf::Hypervisor)),
    };
    assert_eq!(f.meets_target(), Some(false));
    f.target = Some((3.0, TargetOf::Ratio));
    assert_eq!(f.meets_target(), Some(true));
    f.target = None;
    assert_eq!(f.meets_target(), None);
}

#[test]
fn incomplete_or_inconsistent_runs_are_errors() {
    assert_eq!(Samples::parse("bare", "bench name=counter_hz value=1\n").err(), Some(BenchError::Incomplete("bare")));
    // A guest behind its VM's console (x86_64's COM1) prefixes its lines.
    let prefixed: String = HV.lines().map(|l| format!("[1 probe-bench] {l}\n")).collect();
    let behind = Samples::parse("hypervisor", &prefixed).expect("parses behind a console prefix");
    assert_eq!(behind.get("null_hypercall", "ticks"), Samples::parse("hypervisor", HV).expect("parses").get("null_hypercall", "ticks"));
    assert!(matches!(Samples::parse("bare", "bench value=1\nbench done"), Err(BenchError::BadLine(_))));
    assert!(matches!(Samples::parse("bare", "bench name=x ticks=ten\nbench done"), Err(BenchError::BadLine(_))));
    let hv = Samples::parse("hypervisor", HV).expect("parses");
    let other = Samples::parse("bare", &BARE.replace("0x3f27", "0x1")).expect("parses");
    assert_eq!(figures(&hv, &other).err(), Some(BenchError::ChecksumMismatch(0x3f27, 0x1)));
    let short = Samples::parse("bare", "bench name=counter_hz value=1\nbench done").expect("parses");
    assert!(matches!(figures(&hv, &short), Err(BenchError::Missing { run: "bare", .. })));
}

#[test]
fn json_is_well_formed_and_escaped() {
    let hv = Samples::parse("hypervisor", HV).expect("parses");
    let bare = Samples::parse("bare", BARE).expect("parses");
    let mut figures = figures(&hv, &bare).expect("complete");
    figures.push(wall_figure("wall_time", "whole QEMU run, wall clock", 1.5, 0.25));
    let runs = [("hypervisor", String::from("qemu a\\b")), ("bare", String::from("qemu\n"))];
    let provenance = Provenance { arch: "aarch64", qemu: "QEMU \"10\"", command: "make bench", runs: &runs };
    let text = json(&provenance, &figures);
    assert!(text.contains("\"qemu\": \"QEMU \\\"10\\\"\""));
    assert!(text.contains("\"hypervisor\": \"qemu a\\\\b\""));
    assert!(text.contains("\"bare\": \"qemu\\u000a\""));
    assert!(text.contains("\"null_hypercall\": {\"description\": \"null hypercall round trip\", \"unit\": \"instructions\", \"hypervisor\": 32, \"bare\": null, \"ratio\": null, \"target\": 250, \"target_of\": \"hypervisor\", \"meets_target\": true}"));
    assert!(text.contains("\"wall_time\": {"));
    // Balanced braces and no trailing comma before a closing brace.
    assert_eq!(text.matches('{').count(), text.matches('}').count());
    assert!(!text.contains(",\n  }"));
    let rows = table(&figures);
    assert!(rows.contains("null hypercall round trip (instructions)"));
    assert!(rows.contains("<= 250 met"));
}

#[test]
fn linux_boot_is_read_from_the_kernel_log() {
    let hv = "[    0.0] Booting Linux\n[    1.256510] Run /init as init process\nLINUX-GUEST-UP cpus=2\n";
    let bare = "x\n[    1.000000] Run /init as init process\n";
    assert_eq!(linux_init_seconds(hv), Some(1.25651));
    let figure = linux_figure(hv, bare).expect("both runs reached /init");
    assert_eq!(figure.bare, Some(1e9));
    assert!((figure.ratio().expect("ratio") - 1.25651).abs() < 1e-9);
    assert_eq!(figure.meets_target(), Some(false));
    assert!(matches!(linux_figure("no init", bare), Err(BenchError::Missing { .. })));
}

#[test]
fn a_run_without_an_emulated_device_reports_no_mmio_figure() {
    let strip = |text: &str| text.lines().filter(|l| !l.contains("mmio_read")).collect::<Vec<_>>().join("\n");
    let hv = Samples::parse("hypervisor", &strip(HV)).expect("parses");
    let bare = Samples::parse("bare", &strip(BARE)).expect("parses");
    let figures = figures(&hv, &bare).expect("complete without MMIO");
    let mmio = figure(&figures, "mmio_read");
    assert_eq!((mmio.hypervisor, mmio.bare, mmio.meets_target()), (None, None, None));
}

#[test]
fn hello_time_is_read_from_the_guests_line() {
    let output = "noise\n\x1b[mHello, world! (ArceOS guest) [19926480 ns after reset]\nmore";
    assert_eq!(hello_time(output), Some(19_926_480.0));
    assert_eq!(hello_time("Hello, world! (ArceOS guest)"), None, "a line without the time");
    assert_eq!(hello_time("Hello, world! (ArceOS guest) [x ns after reset]"), None);
    assert_eq!(hello_time(""), None);
}

#[test]
fn boot_figures_give_each_run_and_the_cost_per_gib() {
    let run = |name: &str| *BOOT_RUNS.iter().find(|r| r.name == name).expect("a known run");
    let measured = [
        (run("boot_host256m_guest128m"), 4.0e6),
        (run("boot_host4g_guest128m"), 7.75e6),
        (run("boot_host2g_guest16m"), 5.0e6),
        (run("boot_host2g_guest1g"), 5.0e6 + 0.5e6 * 1008.0 / 1024.0),
    ];
    let figures = boot_figures(&measured, Some(90_000.0));
    assert_eq!(figures.len(), 6);
    let first = figure(&figures, "boot_host256m_guest128m");
    assert_eq!((first.hypervisor, first.bare), (Some(4.0e6), Some(90_000.0)));
    assert_eq!(first.meets_target(), Some(true), "4 M is within the 5 M target");
    assert_eq!(figure(&figures, "boot_host4g_guest128m").target, None, "only 256 MiB / 128 MiB has a target");
    let host = figure(&figures, "boot_per_host_gib");
    assert_eq!(host.hypervisor, Some(1.0e6), "3.75 M more over 3.75 GiB");
    assert_eq!(host.meets_target(), Some(true));
    let guest = figure(&figures, "boot_per_guest_gib").hypervisor.expect("both ends measured");
    assert!((guest - 0.5e6).abs() < 1.0, "{guest}");
}

#[test]
fn boot_slopes_need_both_ends() {
    let only = [(BOOT_RUNS[0], 4.0e6)];
    let figures = boot_figures(&only, None);
    assert_eq!(figures.len(), 1, "no slope from one run");
    assert_eq!(figures[0].bare, None);
    let missed = boot_figures(&[(BOOT_RUNS[0], 6.0e6)], None);
    assert_eq!(missed[0].meets_target(), Some(false));
}

#[test]
fn physical_timer_figures_appear_when_both_runs_have_them() {
    let with_ptimer = |run: &str, line: &str| run.replace("bench done", &format!("{line}\nbench done"));
    let hv = with_ptimer(HV, "bench name=ptimer_latency iters=30000 ticks=1320000 min=44 max=75");
    let bare = with_ptimer(BARE, "bench name=ptimer_latency iters=30000 ticks=0 min=0 max=0");
    let figures = figures(&Samples::parse("hypervisor", &hv).unwrap(), &Samples::parse("bare", &bare).unwrap()).unwrap();
    // 44 ticks mean, 75 worst, at 16 instructions per tick.
    assert_eq!(figure(&figures, "ptimer_latency").hypervisor, Some(704.0));
    assert_eq!(figure(&figures, "ptimer_latency").meets_target(), Some(true));
    assert_eq!(figure(&figures, "ptimer_latency_max").hypervisor, Some(1200.0));
    assert_eq!(figure(&figures, "ptimer_latency_max").bare, Some(0.0));
    // A run without them (riscv64) has neither figure.
    let plain = figures_of(HV, BARE);
    assert!(plain.iter().all(|f| !f.name.starts_with("ptimer")));
}

fn figures_of(hv: &str, bare: &str) -> Vec<Figure> {
    figures(&Samples::parse("hypervisor", hv).unwrap(), &Samples::parse("bare", bare).unwrap()).unwrap()
}

#[test]
fn shared_cpu_figures_come_from_their_own_runs() {
    let hv = "bench name=counter_hz value=62500000\n\
              bench name=vcpu_switch iters=1000 ticks=250000\n\
              bench name=timer_latency_shared iters=64 ticks=6400 min=50 max=400\n\
              bench done\n";
    let bare = "bench name=counter_hz value=62500000\n\
                bench name=vcpu_switch iters=1000 ticks=25000\n\
                bench name=timer_latency_shared iters=64 ticks=0 min=0 max=0\n\
                bench done\n";
    let figures = shared_figures(&Samples::parse("shared hypervisor", hv).expect("parses"), &Samples::parse("shared bare", bare).expect("parses"))
        .expect("complete");
    // 250,000 ticks of 16 ns over 1,000 switches.
    assert_eq!(figure(&figures, "vcpu_switch").hypervisor, Some(4000.0));
    assert_eq!(figure(&figures, "vcpu_switch").ratio(), Some(10.0));
    assert_eq!(figure(&figures, "timer_latency_shared").hypervisor, Some(1600.0));
    assert_eq!(figure(&figures, "timer_latency_shared").meets_target(), Some(false));
    assert_eq!(figure(&figures, "timer_latency_shared_max").hypervisor, Some(6400.0));
}

#[test]
fn a_shared_run_without_its_switch_line_is_reported() {
    let hv = "bench name=counter_hz value=62500000\nbench name=vcpu_switch error=cpu-on-refused-0x2\nbench done\n";
    let samples = Samples::parse("shared hypervisor", hv).expect("parses");
    let err = shared_figures(&samples, &samples).expect_err("no switch figure");
    assert_eq!(err.to_string(), "the shared hypervisor run printed no `ticks` for `vcpu_switch`");
}

#[test]
fn net_forwarding_figures_come_only_from_a_run_with_nics() {
    let hv = format!("{HV}bench name=virtio_net_forward_64 iters=1000 ticks=250000\nbench name=virtio_net_forward_1514 iters=1000 ticks=500000\n");
    let figures = figures_of(&hv, BARE);
    // 250,000 ticks of 16 ns over 1,000 frames; no bare figure, no target.
    assert_eq!(figure(&figures, "virtio_net_forward_64").hypervisor, Some(4000.0));
    assert_eq!(figure(&figures, "virtio_net_forward_1514").hypervisor, Some(8000.0));
    assert_eq!(figure(&figures, "virtio_net_forward_64").bare, None);
    assert_eq!(figure(&figures, "virtio_net_forward_64").meets_target(), None);
    assert!(figures_of(HV, BARE).iter().all(|f| !f.name.starts_with("virtio_net")));
}
