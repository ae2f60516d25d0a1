//! The network tests' Linux guests (issue 25, scripts/net-init.sh): their
//! `NETTEST` lines and the md5 the receiver must print, computed here by
//! the same script the sender runs (scripts/net-stream.sh).

use std::path::PathBuf;
use std::process::Command;

use crate::{Run, vm_ended, without_vm_prefix};

/// MiB the client sends (net-init.sh's default `net.mib`).
pub const STREAM_MIB: u64 = 64;

/// The value of `key=` on the first `NETTEST {what} ...` line of `output`
/// (a VM console's prefix ignored), e.g. `field(out, "rx", "md5")`.
pub fn field(output: &str, what: &str, key: &str) -> Option<String> {
    let head = format!("NETTEST {what} ");
    let line = output.lines().map(str::trim).map(without_vm_prefix).find(|l| l.starts_with(&head))?;
    line[head.len()..].split_whitespace().find_map(|f| f.strip_prefix(key)?.strip_prefix('=')).map(str::to_string)
}

/// [`field`] read as a number.
pub fn number(output: &str, what: &str, key: &str) -> Option<f64> {
    field(output, what, key)?.parse().ok()
}

/// scripts/net-stream.sh in this repository.
pub fn stream_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/net-stream.sh")
}

/// The md5 (hex) of the `mib` MiB stream the client sends: the same
/// script, run here with the host's `seq`, `head` and `printf`.
pub fn expected_md5(mib: u64) -> String {
    let block = std::env::temp_dir().join(format!("net-stream-block-{}", std::process::id()));
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"sh "$0" block "$1" && sh "$0" send "$1" "$2" | md5sum; rm -f "$1""#)
        .arg(stream_script())
        .arg(&block)
        .arg(mib.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let md5 = text.split_whitespace().next().unwrap_or_default();
    assert!(out.status.success() && md5.len() == 32, "net-stream.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    md5.to_string()
}

/// Panics unless the run of the two network VMs (configs/net/*-net-a.toml,
/// -b.toml) shows all five pings answered, the 64 MiB stream received
/// whole (its md5 against [`expected_md5`]) and sent, both VMs powered
/// off and a clean exit; prints the guests' figures.
pub fn assert_transfer(run: &Run) {
    let want = expected_md5(STREAM_MIB);
    let out = &run.output;
    assert!(!out.contains("NETTEST error="), "a guest failed; output was:\n{out}");
    assert_eq!(field(out, "ping ok", "received").as_deref(), Some("5"), "output was:\n{out}");
    let bytes = (STREAM_MIB << 20).to_string();
    assert_eq!(field(out, "rx", "md5"), Some(want), "output was:\n{out}");
    assert_eq!(field(out, "rx", "bytes"), Some(bytes.clone()), "output was:\n{out}");
    assert_eq!(field(out, "tx done", "bytes"), Some(bytes), "output was:\n{out}");
    run.assert_line(&vm_ended(1, "net-a", "powered off"));
    run.assert_line(&vm_ended(2, "net-b", "powered off"));
    run.assert_line("all VMs stopped (2 booted, 0 rejected, 0 stopped on a fault)");
    run.assert_clean_exit();
    let secs = number(out, "rx", "secs").unwrap_or(f64::NAN);
    let rtt = number(out, "ping ok", "rtt_avg_us").unwrap_or(f64::NAN);
    eprintln!(
        "VM to VM: {STREAM_MIB} MiB received in {secs} s of guest time ({:.2} MB/s), ping {rtt} us; {:.2?} wall",
        (STREAM_MIB << 20) as f64 / 1e6 / secs,
        run.elapsed
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_behind_a_vm_prefix_and_not_from_other_lines() {
        let out = "NET: Registered PF_INET protocol family\n[2 net-b] NETTEST ping ok sent=5 received=5 rtt_avg_us=812\r\n\
                   [1 net-a] NETTEST rx md5=abc bytes=67108864 secs=12.50\n";
        assert_eq!(field(out, "ping ok", "rtt_avg_us").as_deref(), Some("812"));
        assert_eq!(number(out, "rx", "secs"), Some(12.5));
        assert_eq!(field(out, "rx", "md5").as_deref(), Some("abc"));
        assert_eq!(field(out, "rx", "md"), None);
        assert_eq!(field(out, "tx", "bytes"), None);
    }

    #[test]
    fn the_expected_md5_is_deterministic_and_depends_on_the_length() {
        let one = expected_md5(1);
        assert_eq!(one, expected_md5(1));
        assert_ne!(one, expected_md5(2));
    }
}
