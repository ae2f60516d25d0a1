//! aarch64: the management shell (`SHELL=y`), driven through QEMU's serial
//! console: list, stop, start, restart, console and back, delete, bad
//! commands, exit. VM 1 is the probe's 30-second physical-timer test
//! (mode 17), so that it is running when the shell reaches it; it has no
//! power button and is stopped by force. VM 2 is the probe waiting for its
//! power button (mode 19), which it honours; it shares the host UART's
//! address with VM 1 and so gets a virtual UART with its own prefix.
//!
//! Ignored under plain `cargo test`; `make test` builds the image and runs
//! it with `--include-ignored`.

use std::time::Duration;

use qemu_boot_tests::{Arch, image_dir, qemu_command, run_script};

const TIMEOUT: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs images built by `make test`"]
fn shell_lists_stops_starts_restarts_and_deletes_vms() {
    let cmd = qemu_command(Arch::Aarch64, &image_dir().join("axvisor-aarch64-shell.bin"), 1, "256M");
    let script = [
        ("axvisor> ", "vm list\r"),
        ("host memory free:", "vm stop 1\r"),
        ("VM[1] stopped by force (it has no power button)", "vm stop 1\r"),
        ("VM[1] is stopped already", "vm start 1\r"),
        ("VM[1] started", "frobnicate\r"),
        ("unknown command 'frobnicate'", "vm stop x\r"),
        ("'x' is not a VM id", "vm console 1\r"),
        ("console of VM[1] ptimer-cyclic", "\x1d"),
        ("axvisor> ", "vm delete 1\r"),
        ("VM[1] is running: stop it before deleting it", "vm restart 1\r"),
        ("VM[1] restarted", "vm show 1\r"),
        ("VM[1] ptimer-cyclic: running", "vm stop 1\r"),
        ("VM[1] stopped", "vm delete 1\r"),
        ("VM[1] deleted", "vm stop 2\r"),
        ("VM[2] powered off by its guest", "vm list\r"),
        ("host memory free:", "exit\r"),
    ];
    let run = run_script(cmd, &script, TIMEOUT);
    let output = &run.output;
    for (expect, _) in &script {
        run.assert_line(expect);
    }
    run.assert_line("[2 power-button] probe: waiting for the power button");
    run.assert_line("[2 power-button] probe: power button pressed: powering off");
    let list = output.lines().filter(|l| l.contains("ptimer-cyclic")).count();
    assert!(list >= 2, "the first list shows the VM:\n{output}");
    run.assert_line("all VMs stopped");
    run.assert_clean_exit();
}

/// The free memory a `vm list` printed, in KiB.
fn free_kib(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.split("host memory free: ").nth(1))
        .filter_map(|rest| rest.trim_end_matches(" KiB").trim().parse().ok())
        .collect()
}

/// Creates, stops and deletes a VM from the shell `AXVISOR_SOAK_CYCLES`
/// times (`make test`: 5; `make soak`: 100), after one warm-up cycle; the
/// hypervisor's free memory before and after must be equal.
#[test]
#[ignore = "needs images built by `make test`"]
fn soak_create_stop_delete_returns_all_memory() {
    let cycles: usize = std::env::var("AXVISOR_SOAK_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(5);
    let cmd = qemu_command(Arch::Aarch64, &image_dir().join("axvisor-aarch64-shell.bin"), 1, "256M");
    let cycle = [
        ("axvisor> ", "vm create ptimer-cyclic.toml\r"),
        ("created from ptimer-cyclic.toml", "vm stop 1\r"),
        ("VM[1] stopped", "vm delete 1\r"),
        ("VM[1] deleted", "vm list\r"),
        ("host memory free:", ""),
    ];
    let mut script = vec![("axvisor> ", "vm stop 1\r"), ("VM[1] stopped", "vm delete 1\r"), ("VM[1] deleted", "")];
    for _ in 0..=cycles {
        script.extend(cycle);
    }
    script.push(("axvisor> ", "exit\r"));
    let started = std::time::Instant::now();
    let run = run_script(cmd, &script, Duration::from_secs(60 + 2 * cycles as u64));
    let free = free_kib(&run.output);
    assert_eq!(free.len(), cycles + 1, "one free-memory line per cycle:\n{}", run.output);
    let (before, after) = (free[0], free[cycles]);
    println!(
        "soak: {cycles} cycles of create/stop/delete, free memory {before} KiB before, {after} KiB after, {:.0} ms per cycle",
        started.elapsed().as_secs_f64() * 1000.0 / (cycles + 1) as f64
    );
    assert_eq!(before, after, "memory lost over {cycles} cycles: {:?}", free);
    run.assert_clean_exit();
}
