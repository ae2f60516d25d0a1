//! The Linux network benchmark (issue 25): two Linux VMs on the
//! hypervisor's virtio-net devices and switch (one vCPU and 128 MiB each,
//! crates/qemu-boot-tests/configs/net/), against the same two guests bare,
//! one QEMU each, their QEMU virtio-net devices joined by QEMU's socket
//! network on 127.0.0.1 (scripts/net-bare-baseline.sh). The guests
//! (scripts/net-init.sh) print the figures: the receiver's 64 MiB over
//! TCP (busybox nc, first byte to end, guest uptime) and the client's
//! busybox ping average of 5.
//!
//! Fairness. The same kernel, initramfs and command lines both ways
//! (checked: the `Kernel command line:` lines must match as sets) and two
//! host CPUs: one QEMU with two CPUs, or two QEMUs with one CPU each. No
//! `-icount`: two bare QEMUs have no common instruction clock, so guest
//! time follows the host's real time under TCG, both ways, and both
//! figures vary with the host's load: compare runs made back to back.
//! The transfer must arrive whole (md5 of scripts/net-stream.sh) both ways.

use qemu_boot_tests::net::{STREAM_MIB, field, number};

use crate::{BenchError, Figure, kernel_cmdline};

/// The kernels' command lines of a run (one per guest), sorted.
fn cmdlines(output: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = output
        .lines()
        .filter_map(|l| l.split_once("Kernel command line:").map(|(_, c)| c.trim()))
        .collect();
    lines.sort_unstable();
    lines
}

/// A run's figures: (MB/s received, ping round trip in µs).
fn run_figures(run: &'static str, output: &str, md5: &str) -> Result<(f64, f64), BenchError> {
    if let Some(line) = output.lines().find(|l| l.contains("NETTEST error=")) {
        return Err(BenchError::BadLine(format!("the {run} run's guest failed: {}", line.trim())));
    }
    let bytes = STREAM_MIB << 20;
    if field(output, "rx", "md5").as_deref() != Some(md5) || number(output, "rx", "bytes") != Some(bytes as f64) {
        return Err(BenchError::BadLine(format!("the {run} run's transfer did not arrive whole (md5 {md5}, {bytes} bytes)")));
    }
    let secs = number(output, "rx", "secs").filter(|s| *s > 0.0).ok_or(BenchError::Missing { run, name: "rx", key: "secs" })?;
    let rtt = number(output, "ping ok", "rtt_avg_us").ok_or(BenchError::Missing { run, name: "ping ok", key: "rtt_avg_us" })?;
    Ok((bytes as f64 / 1e6 / secs, rtt))
}

/// The figures of a hypervisor run and the bare runs (both guests' output
/// together), `md5` being what the receiver must print.
pub fn net_figures(hv_output: &str, bare_output: &str, md5: &str) -> Result<Vec<Figure>, BenchError> {
    let (hv_cmd, bare_cmd) = (cmdlines(hv_output), cmdlines(bare_output));
    if hv_cmd.len() != 2 || hv_cmd != bare_cmd || kernel_cmdline(hv_output).is_none() {
        return Err(BenchError::BadLine(format!("kernel command lines differ: {hv_cmd:?} vs {bare_cmd:?}")));
    }
    let (hv_rate, hv_rtt) = run_figures("net hypervisor", hv_output, md5)?;
    let (bare_rate, bare_rtt) = run_figures("net bare", bare_output, md5)?;
    Ok(vec![
        Figure {
            name: "net_tcp_throughput",
            description: "Linux VM to VM TCP, 64 MiB by busybox nc (receiver)",
            unit: "MB/s",
            hypervisor: Some(hv_rate),
            bare: Some(bare_rate),
            target: None,
        },
        Figure {
            name: "net_ping_rtt",
            description: "Linux VM to VM ping round trip, mean of 5 (busybox)",
            unit: "us",
            hypervisor: Some(hv_rtt),
            bare: Some(bare_rtt),
            target: None,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(prefix: &str, secs: &str, md5: &str) -> String {
        format!(
            "[    0.000000] Kernel command line: console=ttyAMA0 panic=-1 net.role=server net.ip=10.0.2.15/24\n\
             {prefix}[    0.000000] Kernel command line: console=ttyAMA0 panic=-1 net.role=client net.ip=10.0.2.16/24 net.peer=10.0.2.15\n\
             {prefix}NETTEST ping ok sent=5 received=5 rtt_avg_us=1500\n\
             NETTEST rx md5={md5} bytes=67108864 secs={secs}\n\
             {prefix}NETTEST tx done bytes=67108864 secs=10.10\n"
        )
    }

    #[test]
    fn throughput_comes_from_the_receiver_and_rtt_from_the_client() {
        let figures = net_figures(&run("[2 net-b] ", "20.00", "aa"), &run("", "10.00", "aa"), "aa").unwrap();
        let rate = &figures[0];
        let close = |v: Option<f64>, e: f64| (v.unwrap() - e).abs() < 1e-9 * e;
        assert!(close(rate.hypervisor, 67.108864 / 20.0));
        assert!(close(rate.bare, 67.108864 / 10.0));
        assert!(close(rate.ratio(), 0.5));
        assert!(close(figures[1].hypervisor, 1500.0));
    }

    #[test]
    fn a_broken_transfer_a_failed_guest_or_other_command_lines_are_refused() {
        let good = run("", "10.00", "aa");
        assert!(net_figures(&good, &run("", "10.00", "bb"), "aa").is_err());
        let failed = format!("{good}NETTEST error=watchdog\n");
        assert!(net_figures(&failed, &good, "aa").is_err());
        let other = good.replace("10.0.2.16/24", "10.0.2.17/24");
        assert!(net_figures(&good, &other, "aa").is_err());
        assert!(net_figures(&good, &good.replace("secs=10.00", "secs=0.00"), "aa").is_err());
    }
}
